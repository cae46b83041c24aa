"""Multilingual AlpacaEval of one policy (the ``eval_alpaca`` stage's core): greedy answers to
the evaluation instructions, each judged against the same-language reference; win rates
(:mod:`xlrm.winrate`) and the answers' language fidelity."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from xlrm.alignment.config import EvalAlpacaConfig
from xlrm.journal import unit


def answer_and_judge(model_dir: str | Path, base_dir: str | Path | None, instructions: list[dict],
                     language: str, cfg: EvalAlpacaConfig, name: str
                     ) -> tuple[list[dict], dict[str, Any]]:
    """Greedy answers of one policy to the evaluation instructions, judged against the
    same-language references; returns per-instruction rows and AlpacaEval metrics."""
    from xlrm.generation.hf import generate_greedy_texts
    from xlrm.judges.base import make_judge
    from xlrm.langid import LanguageChecker
    from xlrm.modeling import load_causal, load_tokenizer
    from xlrm.winrate import language_fidelity, summarize

    def answer() -> list[str]:
        model = load_causal(model_dir, base_dir, cfg.dtype, device=cfg.device)
        tok = load_tokenizer(model_dir, fallback=base_dir)
        return generate_greedy_texts(model, tok, [r["messages"] for r in instructions],
                                     max_new_tokens=cfg.max_new_tokens,
                                     token_budget=cfg.token_budget)

    def verdicts() -> dict[str, Any]:
        prefs, stats = make_judge(cfg.judge).judge(texts, answers, refs, language=language)
        return {"prefs": [float(p) for p in prefs], "stats": stats}

    # Journal units (xlrm.journal): the answers, then the verdicts; an API judge's replies
    # are also journaled one by one (ChatClient), so a killed run pays no request twice.
    answers = unit(("answers",), answer)
    texts = [r["messages"][-1]["content"] for r in instructions]
    refs = [r["reference"] for r in instructions]
    judged = unit(("verdicts",), verdicts)
    prefs, judge_stats = np.asarray(judged["prefs"], dtype=float), judged["stats"]
    metrics = summarize(prefs, answers, refs)
    metrics["language_fidelity"] = language_fidelity(
        answers, language, LanguageChecker([language], cfg.langid_min_chars))
    metrics["judge"] = judge_stats
    rows = [{"id": r["id"], "language": language, "model": name, "output": a,
             "preference": None if math.isnan(p) else float(p)}
            for r, a, p in zip(instructions, answers, prefs)]
    return rows, metrics

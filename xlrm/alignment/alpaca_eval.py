"""Multilingual AlpacaEval of one policy (the ``eval_alpaca`` stage's core): greedy answers to
the evaluation instructions; each answer checked by its instruction's rule (the ``rule``
judge: verifiable accuracy) where the rows carry one; the answers' language fidelity; and,
in reference mode, each answer judged against the same-language reference (win rates of
:mod:`xlrm.winrate`). Policies are compared with each other by :mod:`xlrm.alignment.head_to_head`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from xlrm.alignment.config import EvalAlpacaConfig
from xlrm.errors import DataError
from xlrm.journal import unit


def greedy_answers(model_dir: str | Path, base_dir: str | Path | None, instructions: list[dict],
                   cfg: EvalAlpacaConfig) -> list[str]:
    """The policy's greedy answers to ``instructions`` (a LoRA adapter is loaded over
    ``base_dir``)."""
    from xlrm.generation.hf import generate_greedy_texts
    from xlrm.modeling import load_causal, load_tokenizer

    model = load_causal(model_dir, base_dir, cfg.dtype, device=cfg.device)
    tok = load_tokenizer(model_dir, fallback=base_dir)
    return generate_greedy_texts(model, tok, [r["messages"] for r in instructions],
                                 max_new_tokens=cfg.max_new_tokens, token_budget=cfg.token_budget)


def references(instructions: list[dict], path: str) -> list[str]:
    """Every row's ``reference``; reference mode needs one in each (a row without is an
    error naming the file, row and field)."""
    out = []
    for i, row in enumerate(instructions, start=1):
        ref = row.get("reference")
        if not isinstance(ref, str) or not ref.strip():
            raise DataError("eval_alpaca.reference is true, so every evaluation instruction "
                            "needs a reference answer (set it false to compare the policies "
                            "head to head only)", path=path, row=i, field="reference")
        out.append(ref)
    return out


def has_rules(instructions: list[dict]) -> bool:
    return any(r.get("rule") is not None for r in instructions)


def rule_checks(instructions: list[dict], answers: list[str], language: str,
                cfg: EvalAlpacaConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Pass (1) / fail (0) / no rule (NaN) per answer, and the verifiable accuracy with its
    confidence interval (bootstrap over instructions)."""
    from xlrm.judges.rule import accuracy_ci, check_answers

    passed, stats = check_answers(instructions, answers, language)
    passed = np.asarray(passed, dtype=float)
    return passed, {**accuracy_ci(passed), "by_rule": stats}


def judge_references(instructions: list[dict], answers: list[str], refs: list[str],
                     passed: np.ndarray | None, language: str, cfg: EvalAlpacaConfig
                     ) -> tuple[np.ndarray, dict[str, Any]]:
    """Reference mode: a preference in [1, 2] per instruction (2 = the answer is better than
    the reference), both orders asked; the rule judge compares the two rule checks."""
    if cfg.judge.kind == "rule":
        from xlrm.judges.rule import check_answers, rule_preferences

        if passed is None:
            raise DataError("the rule judge needs a rule in the evaluation rows; none has one")
        ref_passed, _ = check_answers(instructions, refs, language)
        prefs = rule_preferences(passed, np.asarray(ref_passed, dtype=float))
        return prefs, {"kind": "rule", "n": len(prefs)}
    from xlrm.judges.base import make_judge

    from xlrm.alignment.head_to_head import consistency_warning

    texts = [r["messages"][-1]["content"] for r in instructions]
    prefs, stats = make_judge(cfg.judge).judge(texts, answers, refs, language=language)
    stats["consistency_warning"] = consistency_warning(stats, cfg.min_consistency)
    return np.asarray(prefs, dtype=float), stats


def evaluate_policy(model_dir: str | Path, base_dir: str | Path | None, instructions: list[dict],
                    language: str, cfg: EvalAlpacaConfig, name: str, instructions_path: str
                    ) -> tuple[list[dict], dict[str, Any], dict[str, Any]]:
    """Answers of one policy with their checks; per-instruction rows, metrics and the
    judgement cache's counters (they depend on earlier runs: for MLflow, not the metrics).

    Rows: ``id``, ``language``, ``model``, ``output``, ``passed`` (1/0, null without a rule)
    and, in reference mode, ``preference``. Metrics: ``n``, ``avg_length``,
    ``language_fidelity``, ``verifiable`` (rule checks: accuracy %, CI, per rule kind) and,
    in reference mode, every AlpacaEval metric of :func:`xlrm.winrate.summarize`.

    Journal units (:mod:`xlrm.journal`): the answers, then the reference verdicts; an LLM
    judge's verdicts are also kept in the judgement cache (:mod:`xlrm.judges.cache`).
    """
    from xlrm.langid import LanguageChecker
    from xlrm.winrate import language_fidelity, summarize

    refs = references(instructions, instructions_path) if cfg.reference else None
    answers = unit(("answers",), lambda: greedy_answers(model_dir, base_dir, instructions, cfg))
    metrics: dict[str, Any] = {"n": len(answers),
                               "avg_length": int(np.mean([len(a) for a in answers]))
                               if answers else 0}
    passed = None
    if has_rules(instructions):
        passed, metrics["verifiable"] = rule_checks(instructions, answers, language, cfg)
    metrics["language_fidelity"] = language_fidelity(
        answers, language, LanguageChecker([language], cfg.langid_min_chars))
    from xlrm.alignment.head_to_head import split_cache_counters

    prefs, cache = None, {}
    if refs is not None:
        judged = unit(("verdicts",), lambda: _as_record(
            judge_references(instructions, answers, refs, passed, language, cfg)))
        prefs = np.asarray(judged["prefs"], dtype=float)
        metrics.update(summarize(prefs, answers, refs))
        metrics["judge"], cache = split_cache_counters(judged["stats"])
    rows = []
    for i, (r, a) in enumerate(zip(instructions, answers)):
        row = {"id": r["id"], "language": language, "model": name, "output": a,
               "passed": None if passed is None or math.isnan(passed[i]) else int(passed[i])}
        if prefs is not None:
            row["preference"] = None if math.isnan(prefs[i]) else float(prefs[i])
        rows.append(row)
    return rows, metrics, cache


def _as_record(result: tuple[np.ndarray, dict[str, Any]]) -> dict[str, Any]:
    prefs, stats = result
    return {"prefs": [float(p) for p in prefs], "stats": stats}

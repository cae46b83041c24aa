"""Generative judges asked about a pair in both orders, and the encoding of their verdicts
as scores rows (see :mod:`xlrm.offshelf`)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from xlrm.distributed import on_main
from xlrm.errors import ConfigError
from xlrm.journal import unit
from xlrm.judges.base import JudgeError
from xlrm.judges.config import LABELS
from xlrm.judges.hf import HFJudge
from xlrm.judges.openai import OpenAIJudge
from xlrm.offshelf.config import JudgeSpec

log = logging.getLogger(__name__)

#: Per-pair outcome of a both-orders judgement (see :mod:`xlrm.offshelf`).
OUTCOMES = ("correct", "wrong", "inconsistent", "tie", "unparseable")


def conversation_text(prompt: Sequence[dict]) -> str:
    """The ``{instruction}`` a judge sees: a lone user message as it is, a longer
    conversation as a transcript (``User: ...`` / ``Assistant: ...`` / ``System: ...``)."""
    if len(prompt) == 1 and prompt[0]["role"] == "user":
        return prompt[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in prompt)


class PairJudge:
    """A generative judge asked which of two replies is better.

    :meth:`ask` returns, per query, the judge's probability that reply **A** is the better
    one: ``P(A) / (P(A) + P(B))`` from label probabilities, 1.0 or 0.0 from a parsed text
    reply, NaN when there is no verdict. Subclasses (and test doubles) implement it.

    Under a multi-process launch a local model's batches are split between the ranks
    (:mod:`xlrm.distributed`); a judge with ``main_only`` (an endpoint that is paid per
    request) is asked by rank 0 alone, which hands the answers to the others.
    """

    kind: str = ""
    main_only: bool = False

    def __init__(self, spec: JudgeSpec | None = None):
        self.spec = spec

    def ask(self, instructions: list[str], outputs_a: list[str], outputs_b: list[str],
            language: str | None) -> tuple[np.ndarray, dict[str, Any]]:
        raise NotImplementedError


class HFPairJudge(HFJudge, PairJudge):
    """A local causal LM: the label-token probabilities of :class:`xlrm.judges.hf.HFJudge`
    (same prompt assembly, batching and ``max_input_tokens`` rule) after the pairwise
    prompt."""

    def __init__(self, spec: JudgeSpec, model: Any = None, tokenizer: Any = None):
        HFJudge.__init__(self, spec, model=model, tokenizer=tokenizer)
        self.spec = spec

    def ask(self, instructions, outputs_a, outputs_b, language):
        probs, ok = self.ask_probs(instructions, outputs_a, outputs_b, language)
        p_a = np.full(len(instructions), np.nan)
        mass = math.nan
        if ok:
            total = probs[ok].sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                p_a[ok] = np.where(total > 0, probs[ok, 0] / total, np.nan)
            mass = float(total.mean())
        return p_a, {"too_long": len(instructions) - len(ok), "label_mass_mean": mass}


class OpenAIPairJudge(OpenAIJudge, PairJudge):
    """An OpenAI-compatible endpoint, through :class:`xlrm.judges.openai.OpenAIJudge`'s
    request, counters and :class:`xlrm.openai_client.ChatClient` (retries, key redaction,
    refused redirects). The first reply token's ``top_logprobs`` give
    ``P(A) / (P(A) + P(B))``; without them the reply text is parsed. Rank 0 alone asks
    (its journal keeps every paid reply)."""

    main_only = True

    def __init__(self, spec: JudgeSpec):
        OpenAIJudge.__init__(self, spec)
        self.spec = spec

    def _ask_one(self, item: tuple[str, str, str, str | None], key: str | None) -> float:
        instruction, a, b, language = item
        choice = self.ask_choice(instruction, a, b, language, key)
        if choice is None:
            return math.nan
        probs = self.choice_probs(choice)
        if probs is not None and sum(probs) > 0:
            self._count("from_logprobs")
            return probs[0] / (probs[0] + probs[1])
        label = self.choice_label(choice)
        if label is None:
            return math.nan
        return 1.0 if LABELS[label] == "A" else 0.0

    def ask(self, instructions, outputs_a, outputs_b, language):
        snap = self.snapshot()
        items = [(i, a, b, language) for i, a, b in zip(instructions, outputs_a, outputs_b)]
        out = self.client.map(self._ask_one, items, progress="judged %d/%d queries")
        return np.array(out, dtype=float), self.stats_since(snap)


PAIR_JUDGES: dict[str, type[PairJudge]] = {"hf": HFPairJudge, "openai": OpenAIPairJudge}


def make_pair_judge(spec: JudgeSpec, **kwargs: Any) -> PairJudge:
    """The judge ``spec.kind`` names (``kwargs``, e.g. a loaded ``model``/``tokenizer`` for
    ``hf``, go to its constructor)."""
    if spec.kind not in PAIR_JUDGES:
        raise ConfigError(f"eval_offshelf.judges[{spec.name}].kind: unknown judge "
                          f"{spec.kind!r}; known: {sorted(PAIR_JUDGES)}")
    return PAIR_JUDGES[spec.kind](spec, **kwargs)


def order_verdict(p_a: float, chosen_is_a: bool) -> str | None:
    """``chosen`` / ``rejected`` / ``tie`` from ``P(A)`` in one order; None for NaN."""
    if p_a is None or not np.isfinite(p_a):
        return None
    if p_a == 0.5:
        return "tie"
    a_wins = p_a > 0.5
    return "chosen" if a_wins == chosen_is_a else "rejected"


def pair_outcome(verdicts: Sequence[str | None]) -> str:
    """One of :data:`OUTCOMES` for the two orders' verdicts."""
    if any(v is None for v in verdicts):
        return "unparseable"
    if all(v == "chosen" for v in verdicts):
        return "correct"
    if all(v == "rejected" for v in verdicts):
        return "wrong"
    if "tie" in verdicts:
        return "tie"
    return "inconsistent"


def both_orders_scores(verdicts: Sequence[str | None]) -> tuple[float, float]:
    """``(chosen_score, rejected_score)`` of :mod:`xlrm.offshelf`'s encoding: the orders
    the chosen reply won, and the orders it did not win."""
    won = sum(v == "chosen" for v in verdicts)
    return float(won), float(len(verdicts) - won)


def _counts_template() -> dict[str, int]:
    return {"n_pairs": 0, **{f"n_{o}": 0 for o in OUTCOMES}, "n_queries": 0,
            "n_queries_unparseable": 0, "n_queries_tie": 0}


def judge_pairs(judge: PairJudge, rows: list[dict], language: str | None, name: str
                ) -> tuple[list[dict], dict[str, Any]]:
    """Ask ``judge`` about every pair in both orders; scores rows (the encoding of
    :mod:`xlrm.offshelf`) and counts (``n_pairs``, ``n_<outcome>``, ``n_queries``,
    ``n_queries_unparseable``, ``n_queries_tie``) plus the judge's own counters."""
    n = len(rows)
    counts = _counts_template()
    if n == 0:
        return [], counts
    ins = [conversation_text(r["prompt"]) for r in rows]
    # queries 0..n-1: chosen shown as A; n..2n-1: chosen shown as B
    p_a, extra = judge.ask(ins + ins, [r["chosen"] for r in rows] + [r["rejected"] for r in rows],
                           [r["rejected"] for r in rows] + [r["chosen"] for r in rows], language)
    p_a = np.asarray(p_a, dtype=float)
    if p_a.shape != (2 * n,):
        raise JudgeError(f"judge {name} returned {p_a.shape} answers for {2 * n} queries")
    out = []
    for i, row in enumerate(rows):
        verdicts = [order_verdict(p_a[i], True), order_verdict(p_a[n + i], False)]
        c, r = both_orders_scores(verdicts)
        p_chosen = [p_a[i], 1.0 - p_a[n + i]]
        out.append({"rm": name, "id": row["id"], "language": language, "subset": row["subset"],
                    "category": row.get("category"), "chosen_score": c, "rejected_score": r,
                    "verdicts": verdicts,
                    "p_chosen": [round(float(p), 6) if np.isfinite(p) else None
                                 for p in p_chosen]})
        counts[f"n_{pair_outcome(verdicts)}"] += 1
        counts["n_queries_unparseable"] += sum(v is None for v in verdicts)
        counts["n_queries_tie"] += sum(v == "tie" for v in verdicts)
    counts["n_pairs"] = n
    counts["n_queries"] = 2 * n
    for k, v in extra.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            counts[k] = v
    return out, counts


def judge_eval_sets(judge: PairJudge, eval_sets: dict[str, list[dict]], name: str
                    ) -> tuple[list[dict], dict[str, Any]]:
    """:func:`judge_pairs` over every language; stats: totals, and ``per_language``."""
    rows_out: list[dict] = []
    total = _counts_template()
    per: dict[str, dict] = {}
    t0 = time.perf_counter()
    for lang, rows in eval_sets.items():
        if not rows:
            continue
        # One journal unit per language (xlrm.journal); an API judge's replies are also
        # journaled one by one (ChatClient), so a kill mid-language loses no paid request.
        def ask(rows=rows, lang=lang) -> dict:
            return dict(zip(("rows", "counts"), judge_pairs(judge, rows, lang, name)))

        done = unit(("judge", name, lang), lambda: on_main(ask) if judge.main_only else ask())
        out, counts = done["rows"], done["counts"]
        rows_out.extend(out)
        per[lang] = counts
        for k, v in counts.items():  # additive counters (not e.g. a mean label mass)
            if isinstance(v, int) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
        log.info("%s on %s: %d pairs, %d correct, %d inconsistent, %d unparseable", name, lang,
                 counts["n_pairs"], counts["n_correct"], counts["n_inconsistent"],
                 counts["n_unparseable"])
    return rows_out, {"kind": "judge", **total, "per_language": per,
                      "seconds": round(time.perf_counter() - t0, 3)}

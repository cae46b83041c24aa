"""Generative judges asked about a pair in both orders, the encoding of their verdicts as
scores rows, and the judge-quality figures (see :mod:`xlrm.offshelf`).

The judges are :mod:`xlrm.judges`' own ``hf`` and ``openai`` judges; what is asked is their
order-level primitive :meth:`xlrm.judges.base.Judge.ask` (``P(A is better)`` per query,
through the verdict cache of :mod:`xlrm.judges.cache`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from xlrm.errors import ConfigError
from xlrm.journal import unit
from xlrm.judges.base import Judge, JudgeError
from xlrm.judges.orders import BothOrders, merge_quality, order_quality
from xlrm.offshelf.config import JudgeSpec

log = logging.getLogger(__name__)

#: Per-pair outcome of a both-orders judgement (see :mod:`xlrm.offshelf`).
OUTCOMES = ("correct", "wrong", "inconsistent", "tie", "unparseable")
#: The judge kinds an off-the-shelf judge may be.
PAIR_KINDS = ("hf", "openai")
#: Counters of :meth:`Judge.ask` that depend on what an earlier run left in the cache: they
#: go to MLflow, not into the metrics file (which must not change on a rerun).
CACHE_COUNTERS = ("cache_hits", "asked")


def conversation_text(prompt: Sequence[dict]) -> str:
    """The ``{instruction}`` a judge sees: a lone user message as it is, a longer
    conversation as a transcript (``User: ...`` / ``Assistant: ...`` / ``System: ...``)."""
    if len(prompt) == 1 and prompt[0]["role"] == "user":
        return prompt[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in prompt)


def make_pair_judge(spec: JudgeSpec, **kwargs: Any) -> Judge:
    """The :mod:`xlrm.judges` judge ``spec.kind`` names (``kwargs``, e.g. a loaded
    ``model``/``tokenizer`` for ``hf``, go to its constructor)."""
    from xlrm.judges.base import make_judge

    if spec.kind not in PAIR_KINDS:
        raise ConfigError(f"eval_offshelf.judges[{spec.name}].kind: unknown judge "
                          f"{spec.kind!r}; known: {sorted(PAIR_KINDS)}")
    return make_judge(spec, **kwargs)


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


def mrb_credit(verdict: str | None) -> float:
    """M-RewardBench's credit of one order: 1 when the chosen reply won, 0 when the
    rejected one did, one half for a tie, an unparseable reply or a failure."""
    return 1.0 if verdict == "chosen" else 0.0 if verdict == "rejected" else 0.5


def mrb_rows(rows: Sequence[dict]) -> list[dict]:
    """Scores rows that make :func:`xlrm.evaluation.accuracy.accuracy_report` give the
    M-RewardBench-compatible judge score (the mean over both orders of
    :func:`mrb_credit`) with its usual subset and category weighting.

    Each judged pair becomes four rows, ``head`` 0-3 (the report averages over heads, and
    every score it makes is linear in the per-row correctness): heads 0-1 carry the first
    order, 2-3 the second; a win is correct in both heads of its order, a loss in neither,
    a half credit in one of the two.
    """
    out = []
    for row in rows:
        base = {k: v for k, v in row.items() if k not in ("verdicts", "p_chosen")}
        for order, verdict in enumerate(row["verdicts"]):
            credit = mrb_credit(verdict)
            for half in (0, 1):
                good = credit == 1.0 or (credit == 0.5 and half == 0)
                out.append({**base, "head": 2 * order + half,
                            "chosen_score": 1.0 if good else 0.0, "rejected_score": 0.0})
    return out


def _counts_template() -> dict[str, int]:
    return {"n_pairs": 0, **{f"n_{o}": 0 for o in OUTCOMES}, "n_queries": 0,
            "n_queries_unparseable": 0, "n_queries_tie": 0}


def judge_pairs(judge: Judge, rows: list[dict], language: str | None, name: str
                ) -> tuple[list[dict], dict[str, Any]]:
    """Ask ``judge`` about every pair in both orders; scores rows (the encoding of
    :mod:`xlrm.offshelf`) and counts (``n_pairs``, ``n_<outcome>``, ``n_queries``,
    ``n_queries_unparseable``, ``n_queries_tie``, ``order_quality``
    (:func:`xlrm.judges.orders.order_quality`)) plus the judge's own counters (but the
    cache counters, :data:`CACHE_COUNTERS`)."""
    n = len(rows)
    counts: dict[str, Any] = _counts_template()
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
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in CACHE_COUNTERS:
            counts[k] = v
    # P(chosen better) per order: the first and second order of xlrm.judges.orders
    counts["order_quality"] = order_quality(BothOrders(p_a[:n], 1.0 - p_a[n:]))
    return out, counts


def judge_eval_sets(judge: Judge, eval_sets: dict[str, list[dict]], name: str
                    ) -> tuple[list[dict], dict[str, Any]]:
    """:func:`judge_pairs` over every language; stats: totals (``order_quality`` over all
    languages), and ``per_language``."""
    rows_out: list[dict] = []
    total: dict[str, Any] = _counts_template()
    per: dict[str, dict] = {}
    t0 = time.perf_counter()
    for lang, rows in eval_sets.items():
        if not rows:
            continue
        # One journal unit per language (xlrm.journal); an API judge's verdicts are also
        # cached one by one (xlrm.judges.cache), so a kill mid-language loses no paid request.
        # The judge itself hands an endpoint's answers from rank 0 to the others.
        def ask(rows=rows, lang=lang) -> dict:
            return dict(zip(("rows", "counts"), judge_pairs(judge, rows, lang, name)))

        done = unit(("judge", name, lang), ask)
        out, counts = done["rows"], done["counts"]
        rows_out.extend(out)
        per[lang] = counts
        for k, v in counts.items():  # additive counters (not e.g. a mean label mass)
            if isinstance(v, int) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
        log.info("%s on %s: %d pairs, %d correct, %d inconsistent, %d unparseable", name, lang,
                 counts["n_pairs"], counts["n_correct"], counts["n_inconsistent"],
                 counts["n_unparseable"])
    total["order_quality"] = merge_quality([c["order_quality"] for c in per.values()])
    return rows_out, {"kind": "judge", **total, "per_language": per,
                      "seconds": round(time.perf_counter() - t0, 3)}

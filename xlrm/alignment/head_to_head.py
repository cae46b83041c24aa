"""Policies judged against each other (the ``head_to_head`` stage's core): for one language
and DPO seed, the English-RM-labelled DPO policy against the target-RM-labelled one, and each
against the initial policy, on the same evaluation instructions. No reference is needed.

An LLM judge (``hf``, ``openai``) is asked in both orders for every instruction
(:meth:`xlrm.judges.base.Judge.head_to_head`; verdicts cached by :mod:`xlrm.judges.cache`);
the ``rule`` judge compares the two answers' rule checks (``passed`` of ``eval_alpaca``):
2 when only the first passes, 1 when only the second does, 1.5 otherwise. Win rates use
AlpacaEval's formulas (:func:`xlrm.winrate.win_rate_metrics`) with the first system of a
pairing as the "model" and the second as the "reference"."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from xlrm.alignment.config import EvalAlpacaConfig
from xlrm.errors import DataError

#: (first, second) systems of every comparison; ``english`` against ``native`` is the headline.
PAIRINGS: tuple[tuple[str, str], ...] = (("english", "native"), ("english", "policy"),
                                         ("native", "policy"))


def pairing_name(first: str, second: str) -> str:
    return f"{first}_vs_{second}"


def read_answers(path: str | Path, ids: list[str]) -> tuple[list[str], np.ndarray]:
    """The ``output`` and ``passed`` of an ``eval_alpaca`` answers file, in the order of
    ``ids`` (the evaluation instructions'); a missing or extra id, or a malformed row, is an
    error naming the file, row and field."""
    from xlrm.io import read_jsonl

    path = str(path)
    by_id: dict[str, tuple[str, float]] = {}
    for i, r in enumerate(read_jsonl(path, nonempty=True), start=1):
        rid, out, ok = r.get("id"), r.get("output"), r.get("passed")
        if not isinstance(rid, str) or not rid:
            raise DataError("must be a non-empty string", path=path, row=i, field="id")
        if rid in by_id:
            raise DataError(f"duplicate id {rid!r}", path=path, row=i, field="id")
        if not isinstance(out, str):
            raise DataError(f"must be a string, got {type(out).__name__}", path=path, row=i,
                            field="output")
        if ok not in (None, 0, 1) or isinstance(ok, bool):
            raise DataError(f"must be 0, 1 or null, got {ok!r}", path=path, row=i,
                            field="passed")
        by_id[rid] = (out, math.nan if ok is None else float(ok))
    missing = [x for x in ids if x not in by_id]
    if missing or len(by_id) != len(ids):
        extra = sorted(set(by_id) - set(ids))
        raise DataError(f"answers do not match the evaluation instructions: missing "
                        f"{missing[:3]}{'...' if len(missing) > 3 else ''}, extra "
                        f"{extra[:3]}{'...' if len(extra) > 3 else ''} (rerun its eval_alpaca "
                        "stage)", path=path)
    return [by_id[x][0] for x in ids], np.array([by_id[x][1] for x in ids], dtype=float)


#: Judge counters that depend on what earlier runs left in the judgement cache: logged to
#: MLflow, kept out of the metrics files (which must not change on a rerun).
CACHE_COUNTERS = ("cache_hits", "asked")


def consistency_warning(stats: dict[str, Any], min_consistency: float) -> str | None:
    """The sentence that says a judge's win rates are not evidence, or None (a judge with
    no order quality, such as the rule judge, or one at or above ``min_consistency``)."""
    q = stats.get("order_quality")
    if not q or not q.get("n_queries"):
        return None
    c = q.get("position_consistency")
    if c is None or not math.isfinite(c):
        return ("the judge's position consistency could not be measured (no item got a "
                "verdict other than a tie in both orders): its win rates are not evidence")
    if c >= min_consistency:
        return None
    return (f"the judge keeps its verdict when the two outputs swap places on only "
            f"{c:.0%} of the items (under eval_alpaca.min_consistency = {min_consistency:.0%}): "
            "its win rates are not evidence")


def split_cache_counters(stats: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(stats without the cache counters, the cache counters)``."""
    return ({k: v for k, v in stats.items() if k not in CACHE_COUNTERS},
            {k: stats[k] for k in CACHE_COUNTERS if k in stats})


def compare_systems(instructions: list[dict], answers: dict[str, list[str]],
                    passed: dict[str, np.ndarray], language: str, cfg: EvalAlpacaConfig,
                    judge: Any = None
                    ) -> tuple[list[dict], dict[str, Any], dict[str, Any]]:
    """Every pairing of :data:`PAIRINGS`; rows (one per instruction and pairing, with the
    preference of the first system), metrics per pairing (AlpacaEval's win-rate metrics
    of the first system over the second, the judge's counters and order quality, and the
    consistency warning) and, per pairing, the judgement cache's counters (for MLflow).

    ``judge``: an already built judge (tests); else ``cfg.judge`` is built once.
    """
    from xlrm.winrate import win_rate_metrics

    texts = [r["messages"][-1]["content"] for r in instructions]
    rule = cfg.judge.kind == "rule"
    if not rule and judge is None:
        from xlrm.judges.base import make_judge

        judge = make_judge(cfg.judge)
    rows: list[dict] = []
    metrics: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    for first, second in PAIRINGS:
        if rule:
            from xlrm.judges.rule import rule_preferences

            if np.isnan(passed[first]).all():
                raise DataError("the rule judge needs rule checks, and the evaluation rows "
                                "carry no rule")
            prefs = np.asarray(rule_preferences(passed[first], passed[second]), dtype=float)
            stats: dict[str, Any] = {"kind": "rule", "n": len(prefs)}
        else:
            prefs, stats = judge.head_to_head(texts, answers[first], answers[second],
                                              language=language)
            prefs = np.asarray(prefs, dtype=float)
            stats, cache[pairing_name(first, second)] = split_cache_counters(stats)
        name = pairing_name(first, second)
        m = {**win_rate_metrics(prefs), "judge": stats}
        warning = consistency_warning(stats, cfg.min_consistency)
        m["consistency_warning"] = warning
        metrics[name] = m
        rows += [{"id": r["id"], "language": language, "pairing": name, "first": first,
                  "second": second,
                  "preference": None if math.isnan(p) else round(float(p), 6)}
                 for r, p in zip(instructions, prefs)]
    return rows, metrics, cache

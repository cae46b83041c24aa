"""The study's per-category table: the source-language (English) RM minus each target
language's own RM, on that target language, per M-RewardBench category (Chat, Chat Hard,
Safety, Reasoning), with paired bootstrap intervals.

It is the transfer headline (:func:`xlrm.evaluation.bootstrap.headline`) taken one category
at a time, and it reuses the headline's replicates: replicate ``b`` of both RMs' category
scores is computed on the same resampled pairs
(:attr:`~xlrm.evaluation.bootstrap.BootstrapResult.category_samples`), so the interval of a
difference is paired. The average over targets is taken replicate by replicate over the
targets that have the category.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from xlrm.evaluation.accuracy import category_order
from xlrm.evaluation.bootstrap import BootstrapResult, percentile_interval

#: Columns of the CSV the ``transfer`` stage writes (:func:`category_diff_table`).
COLUMNS = ("target", "category", "diff", "ci_low", "ci_high", "source_rm", "target_rm",
           "n_pairs", "n_targets")
MEAN = "mean"  # the ``target`` of the rows averaged over the targets


def _category_record(boot: BootstrapResult, rm: str, lang: str, cat: str
                     ) -> dict[str, Any] | None:
    return ((boot.report.get(rm) or {}).get(lang) or {}).get("categories", {}).get(cat)


def category_diff(boot: BootstrapResult, source: str, targets: Sequence[str],
                  confidence: float = 0.95) -> dict[str, Any]:
    """Source RM minus target RM per category on each target language, and on average.

    A category enters a target's row only when both RMs have pairs of it there. Returns::

        {"source": "en", "targets": [...], "categories": [...],
         "per_language": {t: {cat: {"diff", "ci_low", "ci_high", "source_rm",
                                    "target_rm", "n_pairs"}}},
         "mean": {cat: {"diff", "ci_low", "ci_high", "source_rm", "target_rm",
                        "n_pairs", "n_targets"}}}

    Scores are accuracies (0-1), ``n_pairs`` the target RM's pairs of that category (summed
    over the targets in ``mean``).
    """
    per: dict[str, dict[str, dict[str, Any]]] = {}
    reps: dict[str, list[np.ndarray]] = {}
    for t in targets:
        row: dict[str, dict[str, Any]] = {}
        for cat in category_order(c for (rm, lang, c) in boot.category_samples
                                  if lang == t and rm in (source, t)):
            a, b = _category_record(boot, source, t, cat), _category_record(boot, t, t, cat)
            if a is None or b is None:
                continue
            d = boot.category_samples[(source, t, cat)] - boot.category_samples[(t, t, cat)]
            lo, hi = percentile_interval(d, confidence)
            row[cat] = {"diff": a["accuracy"] - b["accuracy"], "ci_low": lo, "ci_high": hi,
                        "source_rm": a["accuracy"], "target_rm": b["accuracy"],
                        "n_pairs": int(b["n"])}
            reps.setdefault(cat, []).append(d)
        per[t] = row
    cats = category_order(reps)
    mean: dict[str, dict[str, Any]] = {}
    for cat in cats:
        rows = [per[t][cat] for t in targets if cat in per[t]]
        lo, hi = percentile_interval(np.mean(np.vstack(reps[cat]), axis=0), confidence)
        mean[cat] = {"diff": float(np.mean([r["diff"] for r in rows])), "ci_low": lo,
                     "ci_high": hi,
                     "source_rm": float(np.mean([r["source_rm"] for r in rows])),
                     "target_rm": float(np.mean([r["target_rm"] for r in rows])),
                     "n_pairs": int(sum(r["n_pairs"] for r in rows)), "n_targets": len(rows)}
    return {"source": str(source), "targets": list(targets), "categories": cats,
            "per_language": per, "mean": mean}


def category_diff_table(diff: dict[str, Any]) -> pd.DataFrame:
    """:func:`category_diff` as a tidy table (:data:`COLUMNS`): one row per (target,
    category), then the rows averaged over the targets, whose ``target`` is ``"mean"``."""
    rows = [{"target": t, "category": c, **v, "n_targets": 1}
            for t, cats in diff["per_language"].items() for c, v in cats.items()]
    rows += [{"target": MEAN, "category": c, **v} for c, v in diff["mean"].items()]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def rounded_category_diff(diff: dict[str, Any], digits: int = 6) -> dict[str, Any]:
    """The numbers of :func:`category_diff` rounded (what ``metrics/transfer.json`` holds)."""
    def r(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v if isinstance(v, int) else round(float(v), digits) for k, v in d.items()}

    return {"source": diff["source"], "targets": diff["targets"],
            "categories": diff["categories"],
            "per_language": {t: {c: r(v) for c, v in cats.items()}
                             for t, cats in diff["per_language"].items()},
            "mean": {c: r(v) for c, v in diff["mean"].items()}}

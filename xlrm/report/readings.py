"""The one-line readings: what each table or figure of the report shows, computed from the
numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xlrm.evaluation.bootstrap import confidence_label
from xlrm.report.blocks import CATEGORY_NAMES, as_float, is_finite, lang_name, num, pct


def headline_reading(metrics: dict) -> str | None:
    """The paper's claim, from ``metrics/transfer.json``'s ``headline`` (differences are
    accuracies, reported x 100 as points)."""
    head = (metrics or {}).get("headline")
    if not head or "mean" not in head:
        return None
    m = head["mean"]
    diff, lo, hi = (as_float(m.get(k)) * 100 for k in ("diff", "ci_low", "ci_high"))
    if not is_finite(diff):
        return None
    source = head.get("source", "en")
    who = f"The {lang_name(source)} RM"
    direction = "above" if diff >= 0 else "below"
    conf = confidence_label(head.get("confidence", 0.95))
    targets = ", ".join(head.get("targets", []))
    zero = ("the interval excludes zero" if lo > 0 or hi < 0 else "the interval includes zero")
    return (f"{who} scores {abs(diff):.1f} points {direction} the target-language RMs on their "
            f"own languages on average ({diff:+.1f}, {conf} CI {num(lo, sign=True)} to "
            f"{num(hi, sign=True)}; targets {targets}; {zero}).")


def matrix_reading(matrix: pd.DataFrame, source: str = "en") -> str:
    """Own-language vs other-language accuracy of the trained RMs (and the base)."""
    trained = [r for r in matrix.index if r != "base"]
    diag = [matrix.loc[r, r] for r in trained if r in matrix.columns and is_finite(matrix.loc[r, r])]
    off = [matrix.loc[r, c] for r in trained for c in matrix.columns
           if c != r and is_finite(matrix.loc[r, c])]
    parts = []
    if diag:
        parts.append(f"trained RMs average {pct(np.mean(diag))} on their own language")
    if off:
        parts.append(f"{pct(np.mean(off))} on the other languages")
    text = "Accuracy (%): " + " and ".join(parts) if parts else "Accuracy (%) per RM and language"
    if "base" in matrix.index:
        base = np.nanmean(matrix.loc["base"].to_numpy(float))
        text += f"; the untrained base averages {pct(base)}"
    if source in matrix.index and trained:
        sub = matrix.loc[trained]
        best = sub.idxmax(axis=0, skipna=True)
        wins = int(sum(best[c] == source for c in sub.columns if sub[c].notna().any()))
        text += (f"; the {source} RM is the best trained RM on {wins} of "
                 f"{int(sub.notna().any().sum())} eval languages")
    return text + "."


def heatmap_reading(matrix: pd.DataFrame) -> str:
    """The best RM on each eval language."""
    trained = matrix.loc[[r for r in matrix.index if r != "base"]] if len(matrix.index) > 1 \
        else matrix
    items = []
    for c in trained.columns:
        col = trained[c]
        if col.notna().any():
            r = col.idxmax()
            items.append(f"{c} → {r} ({pct(col[r])})")
    return ("Best RM per eval language: " + "; ".join(items) + ".") if items else \
        "The heatmap has no scores."


def category_reading(categories: pd.DataFrame, metrics: dict | None) -> str:
    """Hardest/easiest category overall, and where the source RM's gap is largest."""
    cat = categories[categories["level"] == "category"]
    if cat.empty:
        return "No category scores."
    means = cat.groupby("category")["accuracy"].mean()
    hard, easy = means.idxmin(), means.idxmax()
    text = (f"Averaged over RMs and languages, {CATEGORY_NAMES.get(hard, hard)} is the hardest "
            f"category ({pct(means[hard])}) and {CATEGORY_NAMES.get(easy, easy)} the easiest "
            f"({pct(means[easy])})")
    head = (metrics or {}).get("headline") or {}
    source, targets = head.get("source"), head.get("targets") or []
    if source and targets:
        gaps = {}
        for c in means.index:
            d = []
            for t in targets:
                a = cat[(cat["rm"] == source) & (cat["language"] == t) & (cat["category"] == c)]
                b = cat[(cat["rm"] == t) & (cat["language"] == t) & (cat["category"] == c)]
                if len(a) and len(b):
                    d.append(float(a["accuracy"].iloc[0]) - float(b["accuracy"].iloc[0]))
            if d:
                gaps[c] = float(np.mean(d)) * 100
        if gaps:
            hi = max(gaps, key=gaps.get)
            lo = min(gaps, key=gaps.get)
            text += (f"; the {source} RM minus the target-language RMs is largest in "
                     f"{CATEGORY_NAMES.get(hi, hi)} ({gaps[hi]:+.1f} points) and smallest in "
                     f"{CATEGORY_NAMES.get(lo, lo)} ({gaps[lo]:+.1f})")
    return text + "."


def numeric_leaves(obj: Any, prefix: str = "") -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(numeric_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list) and obj and all(is_finite(x) and not isinstance(x, bool) for x in obj):
        if len(obj) <= 6:
            for i, v in enumerate(obj):
                out.append((f"{prefix}[{i}]", float(v)))
        else:  # long series (e.g. per layer): summarise
            out.append((f"{prefix} (first)", float(obj[0])))
            out.append((f"{prefix} (last)", float(obj[-1])))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and is_finite(obj):
        out.append((prefix, float(obj)))
    return out


def _find_mapping(obj: Any, want: str, path: str = "") -> tuple[str, dict] | None:
    """First dict (depth first, a ``headline`` key first) with >= 2 values that are numbers
    (``want="number"``) or non-empty lists of numbers (``want="series"``)."""
    if not isinstance(obj, dict):
        return None

    def ok(v: Any) -> bool:
        if want == "number":
            return isinstance(v, (int, float)) and not isinstance(v, bool) and is_finite(v)
        return isinstance(v, list) and len(v) > 0 and all(is_finite(x) for x in v)

    good = {k: v for k, v in obj.items() if ok(v)}
    if len(good) >= 2:
        return path, good
    keys = sorted(obj, key=lambda k: k != "headline")
    for k in keys:
        found = _find_mapping(obj[k], want, f"{path}.{k}" if path else str(k))
        if found:
            return found
    return None


def metrics_reading(metrics: dict, what: str, want: str = "number") -> str:
    """A one-line reading of a metrics file whose layout is not fixed (module docstring)."""
    if isinstance(metrics.get("reading"), str) and metrics["reading"].strip():
        return metrics["reading"].strip()
    found = _find_mapping(metrics, want)
    if found is None and want == "series":
        found = _find_mapping(metrics, "number")
        want = "number"
    if found is None:
        return f"No summary numbers found in the {what} metrics."
    where, mapping = found
    values = {k: (float(v[-1]) if want == "series" else float(v)) for k, v in mapping.items()}
    hi = max(values, key=values.get)
    lo = min(values, key=values.get)
    label = f"{what} ({where})" if where else what
    prefix = "At the last point of each curve, " if want == "series" else ""
    return (f"{prefix}{label}: highest {hi} ({values[hi]:.3f}), lowest {lo} ({values[lo]:.3f}), "
            f"spread {values[hi] - values[lo]:.3f} over {len(values)}.")


def offshelf_reading(matrix: pd.DataFrame, metrics: dict | None,
                     transfer: pd.DataFrame | None) -> str:
    if matrix is None or matrix.empty:
        return ("No off-the-shelf models were scored (the eval_offshelf lists are empty).")
    means = matrix.mean(axis=1, skipna=True)
    best = means.idxmax()
    text = f"Best off-the-shelf model on average: {best} ({pct(means[best])})"
    if "en" in matrix.columns and matrix.shape[1] > 1:
        gap = matrix["en"] - matrix.drop(columns="en").mean(axis=1)
        if gap.notna().any():
            g = gap.idxmax()
            text += (f"; the largest drop from English to the other languages: {g} "
                     f"({gap[g] * 100:+.1f} points)")
    if transfer is not None and "en" in transfer.index:
        cols = [c for c in matrix.columns if c in transfer.columns]
        if cols:
            text += f"; the project's en RM averages {pct(transfer.loc['en', cols].mean())} there"
    models = (metrics or {}).get("models", {})
    judges = {k: v for k, v in models.items() if v.get("kind") == "judge"}
    if judges:
        inc = sum(v.get("n_inconsistent", 0) for v in judges.values())
        tot = sum(v.get("n_pairs", 0) for v in judges.values())
        text += f"; judges were inconsistent across the two orders on {inc} of {tot} pairs"
    return text + "."


"""The study's tables in the report: the source-language (English) RM minus the
target-language RMs per M-RewardBench category, with intervals (``category_diff`` input,
written by the ``transfer`` stage), and the note that explains missing length-controlled
win rates in the alignment table."""

from __future__ import annotations

import pandas as pd

from xlrm.evaluation.bootstrap import confidence_label
from xlrm.report.blocks import CATEGORY_NAMES, Block, Heading, Para, Table, is_finite, lang_name, num
from xlrm.report.inputs import ReportInputs

MEAN = "mean"  # the ``target`` of the averaged rows (xlrm.evaluation.category_diff.MEAN)
DIFF_COLUMNS = {"target", "category", "diff", "ci_low", "ci_high"}


def _points(v) -> float:
    return float(v) * 100 if is_finite(v) else float("nan")


def _cell(r) -> str:
    """A difference in points with its interval: ``+3.1 [+0.2, +6.0]``."""
    d, lo, hi = _points(r["diff"]), _points(r["ci_low"]), _points(r["ci_high"])
    if not is_finite(d):
        return "–"
    if not (is_finite(lo) and is_finite(hi)):
        return num(d, sign=True)
    return f"{num(d, sign=True)} [{num(lo, sign=True)}, {num(hi, sign=True)}]"


def interval_words(metrics: dict | None) -> str:
    """What the transfer intervals resample, from the metrics' ``rm_seeds`` and
    ``eval_pairs``: pairs only, or the RMs' training seeds and then pairs."""
    metrics = metrics or {}
    seeds = int(metrics.get("rm_seeds") or 1)
    pairs = metrics.get("eval_pairs") or {}
    counts = sorted(set(pairs.values()))
    n = (f"{counts[0]} pairs per language" if len(counts) == 1 else
         f"{counts[0]}-{counts[-1]} pairs per language" if counts else "the pairs")
    if seeds > 1:
        return (f"two-level bootstrap interval (each RM's {seeds} training seeds resampled, "
                f"then {n}; every score is the mean over seeds)")
    return f"bootstrap interval over {n} (one training seed per RM)"


def category_diff_reading(table: pd.DataFrame, source: str, confidence: float) -> str:
    """Where the source RM's advantage (on average over targets) is largest and smallest,
    and which categories' intervals exclude zero."""
    mean = table[table["target"].astype(str) == MEAN]
    mean = mean[[is_finite(v) for v in mean["diff"]]]
    if mean.empty:
        return "No category has scores of both RMs."
    name = {c: CATEGORY_NAMES.get(c, c) for c in mean["category"]}
    hi = mean.loc[mean["diff"].idxmax()]
    lo = mean.loc[mean["diff"].idxmin()]
    text = (f"Averaged over the targets, the {lang_name(source)} RM's difference is largest on "
            f"{name[hi['category']]} ({_cell(hi)} points) and smallest on "
            f"{name[lo['category']]} ({_cell(lo)})")
    above = [name[r["category"]] for _, r in mean.iterrows() if _points(r["ci_low"]) > 0]
    below = [name[r["category"]] for _, r in mean.iterrows() if _points(r["ci_high"]) < 0]
    conf = confidence_label(confidence)
    parts = []
    if above:
        parts.append(f"above zero on {', '.join(above)}")
    if below:
        parts.append(f"below zero on {', '.join(below)}")
    text += (f"; the {conf} interval lies " + " and ".join(parts) if parts
             else f"; every {conf} interval includes zero")
    return text + "."


def section_category_diff(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading("English vs target-language RMs per category",
                                   anchor="category-diff")]
    table = inputs.category_diff
    if table is None:
        return blocks + [Para(inputs.note("category_diff"), "missing")]
    if not DIFF_COLUMNS <= set(table.columns):
        return blocks + [Para(f"unreadable: {inputs.paths.category_diff} (columns "
                              f"{sorted(DIFF_COLUMNS - set(table.columns))} missing)",
                              "missing")]
    met = inputs.transfer_metrics or {}
    info = met.get("category_diff") or met.get("headline") or {}
    source = info.get("source", "en")
    confidence = float(info.get("confidence") or met.get("confidence") or 0.95)
    if table.empty:
        why = met.get("no_headline")
        return blocks + [Para("No per-category comparison"
                              + (f": {why}." if why else " (no target language)."), "note")]
    cats = [c for c in CATEGORY_NAMES if c in set(table["category"])]
    cats += sorted(set(table["category"]) - set(cats))
    targets = [t for t in dict.fromkeys(table["target"].astype(str)) if t != MEAN]
    rows = []
    for t in targets + [MEAN]:
        sub = table[table["target"].astype(str) == t].set_index("category")
        if sub.empty:
            continue
        label = "**mean**" if t == MEAN else t
        cells = [_cell(sub.loc[c]) if c in sub.index else "–" for c in cats]
        pairs = sub["n_pairs"].sum() if "n_pairs" in sub.columns else None
        rows.append([label] + cells + [str(int(pairs)) if is_finite(pairs) else "–"])
    conf = confidence_label(confidence)
    blocks.append(Para(f"Accuracy of the {source} RM minus that of the target language's own "
                       "RM, both on the target language, per category, in points, with the "
                       f"{conf} paired {interval_words(met)} (the same resampled pairs "
                       "for both RMs); the mean row averages the targets replicate by "
                       "replicate."))
    blocks.append(Table(["target"] + [CATEGORY_NAMES.get(c, c) for c in cats] + ["pairs"], rows))
    blocks.append(Para(category_diff_reading(table, source, confidence), "reading"))
    return blocks


def length_control_note(table: pd.DataFrame) -> Para | None:
    """Why some runs have no length-controlled win rate (None when every run has one).

    The reason comes from the table's ``length_controlled_reason`` column when it has one
    (one line per distinct reason, naming the runs); otherwise the rule is stated."""
    col = "length_controlled_minimal"
    if col not in table.columns:
        return None
    missing = table[[not is_finite(v) for v in table[col]]]
    if missing.empty:
        return None
    names = [str(r) for r in missing["run"]] if "run" in missing.columns else []
    text = (f"No length-controlled win rate (–) for {len(missing)} of {len(table)} runs: it is "
            "reported only where equal length lies inside the data (enough answers at most, "
            "and enough at least, as long as the reference) and the length GLM converged to "
            "a bounded fit (xlrm.winrate); otherwise it is an extrapolation, not a measurement.")
    if "length_controlled_reason" in missing.columns:
        by_reason: dict[str, list[str]] = {}
        for i, (_, r) in enumerate(missing.iterrows()):
            why = r["length_controlled_reason"]
            if isinstance(why, str) and why:
                by_reason.setdefault(why, []).append(names[i] if names else str(i))
        text += "".join(f" {', '.join(runs)}: {why}." for why, runs in by_reason.items())
    elif names:
        text += f" Runs: {', '.join(names)}."
    return Para(text, "note")

"""The report's alignment section and its one-line reading (inputs: ``metrics/alignment.json``
of :func:`xlrm.alignment.summary.alignment_summary`, the runs' table and the plot)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xlrm.evaluation.bootstrap import confidence_label
from xlrm.report.blocks import Block, Heading, Para, Table, as_float, is_finite, num, pct
from xlrm.report.inputs import ReportInputs

SYSTEM_NAMES = {"policy": "initial policy", "english": "DPO, English-RM labels",
                "native": "DPO, target-RM labels"}
METRIC_NAMES = {"verifiable_accuracy": "verifiable accuracy (rule checks)",
                "head_to_head": "head-to-head win rate (English-RM over target-RM labels)",
                "reference": "win rate against the references"}


def _ci(d: dict[str, Any], sign: bool = False) -> str:
    return (f"{num(d.get('value'), sign=sign)} [{num(d.get('ci_low'), sign=sign)}, "
            f"{num(d.get('ci_high'), sign=sign)}]")


def alignment_reading(metrics: dict | None) -> str | None:
    """One sentence: the headline's English-minus-target difference, its CI and what it
    compares."""
    head = (metrics or {}).get("headline") or {}
    m = head.get("mean")
    if not m:
        return None
    diff, lo, hi = as_float(m.get("diff")), as_float(m.get("ci_low")), as_float(m.get("ci_high"))
    if not is_finite(diff):
        return None
    langs = ", ".join(head.get("per_language", {}))
    level = confidence_label((metrics or {}).get("confidence", 0.95))
    zero = "the interval excludes zero" if lo > 0 or hi < 0 else "the interval includes zero"
    metric = head.get("metric", "reference")
    if metric == "head_to_head":
        what = (f"the English-RM-labelled policy wins {num(m.get('english'))}% of the "
                f"head-to-head comparisons with the target-RM-labelled one, {diff:+.1f} points "
                "from an even split")
    else:
        what = (f"labelling DPO pairs with the English RM instead of the target-language RM "
                f"changes the {METRIC_NAMES.get(metric, metric)} by {diff:+.1f} points "
                f"({num(m.get('english'))}% vs {num(m.get('native'))}%)")
    text = f"Over {langs}, {what} ({level} CI {num(lo, sign=True)} to {num(hi, sign=True)}; {zero})."
    warnings = ((metrics or {}).get("head_to_head") or {}).get("warnings") or []
    if warnings and metric == "head_to_head":
        text += " The judge fails the position-consistency check: these win rates are not evidence."
    return text[0].upper() + text[1:]


def _accuracy_blocks(acc: dict[str, Any], level: str) -> list[Block]:
    systems, diff = acc["systems"], acc["difference"]["per_language"]
    rows = []
    for lang in diff:
        cells = [lang] + [_ci(systems[s]["per_language"].get(lang, {})) for s in SYSTEM_NAMES]
        d = diff[lang]
        rows.append(cells + [_ci(d, sign=True), str(d.get("seeds", "–")),
                             str(d.get("instructions", "–"))])
    if "mean" in acc["difference"]:
        rows.append(["mean", "", "", "", _ci(acc["difference"]["mean"], sign=True), "", ""])
    return [Para("Verifiable accuracy (%): the share of answers that pass the rule their "
                 "instruction was written with (the right number, the user's language, the "
                 f"stated constraint, refusing or helping), with {level} intervals (seeds, then "
                 "instructions), and the English-minus-target difference in points."),
            Table(["language", *SYSTEM_NAMES.values(), "English minus target", "seeds",
                   "instructions"], rows)]


def _h2h_blocks(h2h: dict[str, Any], level: str) -> list[Block]:
    rows = []
    for name, comp in h2h.items():
        if not isinstance(comp, dict) or "per_language" not in comp:
            continue
        first, second = name.split("_vs_")
        for lang, d in comp["per_language"].items():
            rows.append([lang, f"{SYSTEM_NAMES[first]} over {SYSTEM_NAMES[second]}", _ci(d),
                         pct(d.get("position_consistency")) if "position_consistency" in d
                         else "–", str(d.get("seeds", "–")), str(d.get("instructions", "–"))])
    kind = h2h.get("judge_kind", "–")
    how = ("the rule judge prefers the answer that passes its instruction's rule (a draw when "
           "both or neither do; no order is shown)" if kind == "rule" else
           f"the judge ({kind}) compares the two answers, asked in both orders")
    blocks: list[Block] = [
        Para(f"Head to head, two policies on the same instructions: {how}; win rate (%) of "
             f"the first over the second (AlpacaEval's formula, 50 = even), {level} intervals. "
             "Position consistency is the share of items whose verdict survives swapping the "
             "two answers (worst over seeds)."),
        Table(["language", "comparison", "win rate", "position consistency", "seeds",
               "instructions"], rows)]
    for w in h2h.get("warnings") or []:
        blocks.append(Para(f"Warning: {w}.", "missing"))
    return blocks


def _runs_table(table: pd.DataFrame) -> list[Block]:
    cols = [c for c in ("language", "model", "seed", "verifiable_accuracy", "win_rate",
                        "standard_error", "length_controlled_minimal", "language_fidelity",
                        "avg_length", "n") if c in table.columns and table[c].notna().any()]
    rows = []
    for _, r in table.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c in ("seed", "n", "avg_length"):
                cells.append(str(int(v)) if is_finite(v) else "–")
            elif c == "language_fidelity":
                cells.append(pct(v))
            elif isinstance(v, (int, float, np.floating)) or v is None:
                cells.append(num(v))
            else:
                cells.append(str(v))
        rows.append(cells)
    from xlrm.report.study_tables import length_control_note

    blocks: list[Block] = [
        Para("Every evaluated policy: verifiable accuracy (%), the win rate against the "
             "references (reference mode), language fidelity of the answers and their mean "
             "length in characters."), Table(cols, rows)]
    reference_mode = "win_rate" in table.columns and table["win_rate"].notna().any()
    note = length_control_note(table) if reference_mode else None
    return blocks + ([note] if note is not None else [])


def section_alignment(inputs: ReportInputs) -> list[Block]:
    from xlrm.report.sections import _confidence, _figure, _missing

    blocks: list[Block] = [Heading("Multilingual alignment (DPO)", anchor="alignment")]
    blocks += _missing(inputs, "alignment_table", "alignment_metrics")
    met = inputs.alignment_metrics or {}
    level = confidence_label(_confidence(met))
    if "verifiable_accuracy" in met:
        blocks += _accuracy_blocks(met["verifiable_accuracy"], level)
    if "head_to_head" in met:
        blocks += _h2h_blocks(met["head_to_head"], level)
    if "reference" in met:
        rows = [[lang, num(d.get("english")), num(d.get("native")), _ci(d, sign=True),
                 str(d.get("seeds", "–"))] for lang, d in met["reference"]["per_language"].items()]
        blocks += [Para("Against the references: each policy's AlpacaEval win rate (%) against "
                        "the same-language reference, and the English-minus-target difference."),
                   Table(["language", "English-RM labels", "target-RM labels",
                          "difference (points)", "seeds"], rows)]
    if inputs.alignment_table is not None:
        blocks += _runs_table(inputs.alignment_table)
    reading = alignment_reading(met) if met else None
    if reading:
        blocks.append(Para(reading, "reading"))
    blocks += _figure(inputs, "alignment_plot", "Alignment of the DPO policies",
                      "Per language: each policy's verifiable accuracy, the head-to-head win "
                      "rates and (reference mode) the English-minus-target difference against "
                      "the references, with their intervals.")
    return blocks


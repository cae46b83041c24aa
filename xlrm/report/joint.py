"""The table of :mod:`xlrm.compare`: one column (group) per base model, one row per
quantity (transfer headline, per-category differences, alignment headline), in points.

It reads runs duck-typed (:class:`xlrm.compare.Run`): ``label``, ``base_model``, ``kind``,
``timestamp``, ``metrics`` (path -> the file's data) and ``missing`` (path -> why not).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlrm.io import atomic_path
from xlrm.report.blocks import CATEGORY_NAMES, is_finite, lang_name, num

TRANSFER = "metrics/transfer.json"
ALIGNMENT = "metrics/alignment.json"

#: A cell: a difference with its interval (diff, ci_low, ci_high; the bounds may be None),
#: a plain value, a text, or None (missing). Numbers are points.
Cell = tuple[float, float | None, float | None] | float | str | None


@dataclass
class Row:
    section: str
    quantity: str
    key: str  # language code, category or "mean"
    cells: list[Cell]


def _triple(d: Any, scale: float) -> Cell:
    """``d``'s diff and interval, times ``scale``; None when ``d`` has no finite diff."""
    if not isinstance(d, dict) or not is_finite(d.get("diff")):
        return None
    lo, hi = d.get("ci_low"), d.get("ci_high")
    return (float(d["diff"]) * scale, float(lo) * scale if is_finite(lo) else None,
            float(hi) * scale if is_finite(hi) else None)


def _value(d: Any, key: str, scale: float) -> Cell:
    return float(d[key]) * scale if isinstance(d, dict) and is_finite(d.get(key)) else None


def _union(lists: list[list[str]]) -> list[str]:
    out: list[str] = []
    for items in lists:
        out += [i for i in items if i not in out]
    return out


def joint_rows(runs: list) -> list[Row]:
    """The table's rows, one cell per run (same order as ``runs``)."""
    heads = [(r.metrics.get(TRANSFER) or {}).get("headline") or {} for r in runs]
    cats = [((r.metrics.get(TRANSFER) or {}).get("category_diff") or {}).get("mean") or {}
            for r in runs]
    aligns = [(r.metrics.get(ALIGNMENT) or {}).get("headline") or {} for r in runs]
    sources = {h.get("source") for h in heads if h.get("source")}
    src = lang_name(sources.pop()) if len(sources) == 1 else "source-language"
    rm = f"{src} RM − target RM"
    rows = [Row("transfer", f"{rm}, mean over targets", "mean",
                [_triple(h.get("mean"), 100) for h in heads])]
    for lang in _union([list(h.get("per_language") or {}) for h in heads]):
        rows.append(Row("transfer", f"{rm} on {lang_name(lang)}", lang,
                        [_triple((h.get("per_language") or {}).get(lang), 100)
                         for h in heads]))
    for side, label in (("en_rm", f"{src} RM accuracy"), ("target_rm", "target RM accuracy")):
        rows.append(Row("transfer", f"{label}, mean over targets", side,
                        [_value(h.get("mean"), side, 100) for h in heads]))
    order = list(CATEGORY_NAMES)
    found = _union([list(c) for c in cats])
    for cat in sorted(found, key=lambda c: order.index(c) if c in order else len(order)):
        rows.append(Row("category", f"{rm} on {CATEGORY_NAMES.get(cat, cat)}, mean over "
                        "targets", cat, [_triple(c.get(cat), 100) for c in cats]))
    rows.append(Row("alignment", "alignment headline metric", "metric",
                    [a.get("metric") or None for a in aligns]))
    lab = "English- minus native-labelled DPO"
    rows.append(Row("alignment", f"{lab}, mean over languages", "mean",
                    [_triple(a.get("mean"), 1) for a in aligns]))
    for lang in _union([list(a.get("per_language") or {}) for a in aligns]):
        rows.append(Row("alignment", f"{lab} on {lang_name(lang)}", lang,
                        [_triple((a.get("per_language") or {}).get(lang), 1) for a in aligns]))
    return rows


def _md_cell(c: Cell) -> str:
    if c is None:
        return "–"
    if isinstance(c, str):
        return c
    if not isinstance(c, tuple):
        return num(c)
    v, lo, hi = c
    if lo is None or hi is None:
        return num(v, sign=True)
    return f"{num(v, sign=True)} [{num(lo, sign=True)}, {num(hi, sign=True)}]"


def _esc(text: str) -> str:
    return str(text).replace("|", "\\|")


def missing_notes(runs: list) -> list[str]:
    notes = []
    for r in runs:
        for path in (TRANSFER, ALIGNMENT):
            if path in r.missing:
                notes.append(f"{r.label} ({r.base_model}): {r.missing[path]}")
        t = r.metrics.get(TRANSFER) or {}
        if t and "headline" not in t:
            notes.append(f"{r.label} ({r.base_model}): {TRANSFER} has no headline"
                         + (f" ({t['no_headline']})" if t.get("no_headline") else ""))
        elif t and "category_diff" not in t:
            notes.append(f"{r.label} ({r.base_model}): {TRANSFER} has no category_diff")
        a = r.metrics.get(ALIGNMENT) or {}
        if a and "mean" not in (a.get("headline") or {}):
            notes.append(f"{r.label} ({r.base_model}): {ALIGNMENT} has no headline mean")
    return notes


def _confidence(runs: list) -> str:
    levels = set()
    for r in runs:
        for path in (TRANSFER, ALIGNMENT):
            c = (r.metrics.get(path) or {}).get("confidence")
            if is_finite(c):
                levels.add(round(float(c) * 100, 1))
    if not levels:
        return "intervals"
    return "/".join(f"{lv:g}%" for lv in sorted(levels)) + " bootstrap intervals"


def markdown(runs: list, rows: list[Row], notes: list[str]) -> str:
    cols = ["quantity"] + [f"{r.base_model} ({r.name})" for r in runs]
    lines = ["# Base models side by side", "",
             f"Differences in points with {_confidence(runs)} in brackets; "
             "`–`: the run has no such result (see the notes). Alignment: the English- "
             "minus native-labelled policy's verifiable accuracy or reference win rate, or "
             "(head_to_head) the English-labelled policy's win rate over the native-labelled "
             "one minus 50.", "",
             "| " + " | ".join(_esc(c) for c in cols) + " |",
             "| " + " | ".join(["---"] + ["---:"] * len(runs)) + " |"]
    for row in rows:
        lines.append("| " + " | ".join([_esc(row.quantity)]
                                      + [_esc(_md_cell(c)) for c in row.cells]) + " |")
    lines += ["", "Runs shown:"]
    for r in runs:
        when = f", {r.timestamp.isoformat(sep=' ')}" if r.timestamp else ""
        what = "the workspace" if r.kind == "workspace" else f"{r.kind} {r.label}"
        lines.append(f"- {r.base_model}: {what}{when}")
    all_notes = missing_notes(runs) + notes
    if all_notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in all_notes]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, runs: list, rows: list[Row]) -> None:
    """Long rows (section, quantity, key), then a column group per base model: its
    value, ci_low and ci_high in points (the metric row carries the metric's name)."""
    header = ["section", "quantity", "key"]
    for r in runs:
        header += [f"{r.base_model} {part}" for part in ("value", "ci_low", "ci_high")]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            out = [row.section, row.quantity, row.key]
            for c in row.cells:
                if isinstance(c, tuple):
                    out += ["" if v is None else round(v, 4) for v in c]
                elif isinstance(c, float):
                    out += [round(c, 4), "", ""]
                else:
                    out += [c or "", "", ""]
            w.writerow(out)

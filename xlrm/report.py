"""The study's report: one Markdown file and one self-contained HTML page (the ``report`` stage).

:func:`load_report_inputs` reads the pipeline's result files (:class:`ReportPaths`) into a
:class:`ReportInputs`; :func:`build_report` is a pure function of that object returning
``(markdown, html)``. Every section states what its table or figure shows in one line
computed from the numbers (a *reading*). An input that is absent or unreadable is reported
where its section would use it, as a visible ``missing: <path>`` (or ``unreadable: <path>``)
note, and in the closing list of inputs; the rest of the report is still built.

The HTML page needs nothing outside itself: CSS inline, every figure embedded as a base64
``data:`` URI, no external URL of any kind (links are ``#fragment`` only). A short inline
script marks ``<body>`` with ``data-images`` (the number of images) and ``data-loaded`` (how
many decoded, ``img.complete && img.naturalWidth > 0``) once the page has loaded, so a
headless browser can check that every image rendered. The Markdown file links the figures
by relative path (from :attr:`ReportInputs.markdown_dir`). Output is deterministic: no
timestamps.

Representation and embedding metrics (``metrics/representations.json``,
``metrics/embeddings.json``) are read without assuming their layout: a top-level string
``"reading"`` is used as the reading when present; otherwise the reading names the highest
and lowest value of the first mapping of numbers found (a ``headline`` mapping first), and
for the per-layer figure the last value of the first mapping of number lists.
"""

from __future__ import annotations

import base64
import dataclasses
import html as _html
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xlrm.errors import DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CATEGORY_NAMES = {"chat": "Chat", "chat-hard": "Chat Hard", "safety": "Safety",
                  "reasoning": "Reasoning"}


# =========================================================================== config and inputs


@dataclass
class ReportConfig:
    """The ``report`` params section.

    Attributes:
        title: the report's title.
        max_metric_rows: at most this many numbers of a representation/embedding metrics
            file are tabulated (the figures carry the rest).
    """

    title: str = "Cross-lingual transfer of reward models: results"
    max_metric_rows: int = 40

    def __post_init__(self) -> None:
        if self.max_metric_rows < 0:
            raise ValueError("max_metric_rows must be >= 0")


@dataclass
class ReportPaths:
    """Where each input of the report lives (the defaults are the pipeline's paths)."""

    transfer_matrix: str = "results/transfer_matrix.csv"
    transfer_ci: str = "results/transfer_matrix_ci.csv"
    category_scores: str = "results/category_scores.csv"
    transfer_metrics: str = "metrics/transfer.json"
    transfer_heatmap: str = "plots/transfer_heatmap.png"
    representations_metrics: str = "metrics/representations.json"
    representations_layers: str = "plots/representations_layers.png"
    representations_bar: str = "plots/representations_bar.png"
    embeddings_metrics: str = "metrics/embeddings.json"
    embedding_norms: str = "plots/embedding_norms.png"
    alignment_table: str = "results/alignment_winrates.csv"
    alignment_metrics: str = "metrics/alignment.json"
    alignment_plot: str = "plots/alignment_winrate.png"
    offshelf_matrix: str = "results/offshelf_matrix.csv"
    offshelf_metrics: str = "metrics/offshelf.json"


#: How each input is read: ``matrix`` (CSV, first column = index), ``csv``, ``json``, ``png``.
INPUT_KINDS: dict[str, str] = {
    "transfer_matrix": "matrix", "transfer_ci": "csv", "category_scores": "csv",
    "transfer_metrics": "json", "transfer_heatmap": "png",
    "representations_metrics": "json", "representations_layers": "png",
    "representations_bar": "png", "embeddings_metrics": "json", "embedding_norms": "png",
    "alignment_table": "csv", "alignment_metrics": "json", "alignment_plot": "png",
    "offshelf_matrix": "matrix", "offshelf_metrics": "json",
}


@dataclass
class ReportInputs:
    """Everything the report shows, already loaded. A field left ``None`` is missing: its
    path (from :attr:`paths`) is named in the report, with the reason from
    :attr:`problems` when there is one (e.g. ``unreadable: ...``)."""

    paths: ReportPaths = field(default_factory=ReportPaths)
    title: str = ReportConfig.title
    max_metric_rows: int = ReportConfig.max_metric_rows
    markdown_dir: str = "report"  # the Markdown file's folder: figure links are relative to it
    transfer_matrix: pd.DataFrame | None = None
    transfer_ci: pd.DataFrame | None = None
    category_scores: pd.DataFrame | None = None
    transfer_metrics: dict | None = None
    transfer_heatmap: bytes | None = None
    representations_metrics: dict | None = None
    representations_layers: bytes | None = None
    representations_bar: bytes | None = None
    embeddings_metrics: dict | None = None
    embedding_norms: bytes | None = None
    alignment_table: pd.DataFrame | None = None
    alignment_metrics: dict | None = None
    alignment_plot: bytes | None = None
    offshelf_matrix: pd.DataFrame | None = None
    offshelf_metrics: dict | None = None
    problems: dict[str, str] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """Keys of the inputs that are not available, in :data:`INPUT_KINDS` order."""
        return [k for k in INPUT_KINDS if getattr(self, k) is None]

    def note(self, key: str) -> str:
        """``missing: <path>`` or ``unreadable: <path> (why)``."""
        path = getattr(self.paths, key)
        problem = self.problems.get(key)
        return f"unreadable: {path} ({problem})" if problem else f"missing: {path}"


def _read_input(kind: str, path: Path) -> Any:
    from xlrm.io import read_json

    if kind == "png":
        data = path.read_bytes()
        if not data.startswith(PNG_MAGIC):
            raise DataError("not a PNG file", path=str(path))
        return data
    if kind == "json":
        obj = read_json(path)
        if not isinstance(obj, dict):
            raise DataError("expected a JSON object", path=str(path))
        return obj
    try:
        if kind == "matrix":
            return pd.read_csv(path, index_col=0)
        return pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(f"invalid CSV: {e}", path=str(path)) from None


def load_report_inputs(paths: ReportPaths | None = None, *, cfg: ReportConfig | None = None,
                       markdown_dir: str | os.PathLike = "report") -> ReportInputs:
    """Read every input that exists; record each absent or unreadable one (never raises for
    a missing file: :meth:`ReportInputs.missing` lists them)."""
    paths = paths or ReportPaths()
    cfg = cfg or ReportConfig()
    inputs = ReportInputs(paths=paths, title=cfg.title, max_metric_rows=cfg.max_metric_rows,
                          markdown_dir=str(markdown_dir))
    for key, kind in INPUT_KINDS.items():
        path = Path(getattr(paths, key))
        if not path.is_file():
            continue
        try:
            setattr(inputs, key, _read_input(kind, path))
        except (DataError, OSError, UnicodeDecodeError) as e:
            inputs.problems[key] = str(e).replace(f"file {path}: ", "")
    return inputs


# =========================================================================== blocks


@dataclass
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass
class Para:
    text: str
    kind: str = "text"  # text | reading | missing | note


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    key: str
    data: bytes
    path: str
    alt: str
    reading: str


@dataclass
class Bullets:
    items: list[str]


Block = Heading | Para | Table | Figure | Bullets


# =========================================================================== formatting


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _float(v: Any) -> float:
    """A number, or NaN for None / text / anything not finite."""
    return float(v) if _finite(v) else math.nan


def pct(v: Any, digits: int = 1) -> str:
    """An accuracy (0-1) as percent, ``–`` for missing."""
    return f"{float(v) * 100:.{digits}f}" if _finite(v) else "–"


def num(v: Any, digits: int = 1, sign: bool = False) -> str:
    if not _finite(v):
        return "–"
    return f"{float(v):+.{digits}f}" if sign else f"{float(v):.{digits}f}"


def lang_name(code: str) -> str:
    from xlrm.languages import LANGUAGES

    return LANGUAGES[code][1] if code in LANGUAGES else str(code)


def _join(items: Iterable[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# =========================================================================== readings


def headline_reading(metrics: dict) -> str | None:
    """The paper's claim, from ``metrics/transfer.json``'s ``headline`` (differences are
    accuracies, reported x 100 as points)."""
    head = (metrics or {}).get("headline")
    if not head or "mean" not in head:
        return None
    m = head["mean"]
    diff, lo, hi = (_float(m.get(k)) * 100 for k in ("diff", "ci_low", "ci_high"))
    if not _finite(diff):
        return None
    source = head.get("source", "en")
    who = f"The {lang_name(source)} RM"
    direction = "above" if diff >= 0 else "below"
    conf = round(float(head.get("confidence", 0.95)) * 100)
    targets = ", ".join(head.get("targets", []))
    zero = ("the interval excludes zero" if lo > 0 or hi < 0 else "the interval includes zero")
    return (f"{who} scores {abs(diff):.1f} points {direction} the target-language RMs on their "
            f"own languages on average ({diff:+.1f}, {conf}% CI {num(lo, sign=True)} to "
            f"{num(hi, sign=True)}; targets {targets}; {zero}).")


def matrix_reading(matrix: pd.DataFrame, source: str = "en") -> str:
    """Own-language vs other-language accuracy of the trained RMs (and the base)."""
    trained = [r for r in matrix.index if r != "base"]
    diag = [matrix.loc[r, r] for r in trained if r in matrix.columns and _finite(matrix.loc[r, r])]
    off = [matrix.loc[r, c] for r in trained for c in matrix.columns
           if c != r and _finite(matrix.loc[r, c])]
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


def _numeric_leaves(obj: Any, prefix: str = "") -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_numeric_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list) and obj and all(_finite(x) and not isinstance(x, bool) for x in obj):
        if len(obj) <= 6:
            for i, v in enumerate(obj):
                out.append((f"{prefix}[{i}]", float(v)))
        else:  # long series (e.g. per layer): summarise
            out.append((f"{prefix} (first)", float(obj[0])))
            out.append((f"{prefix} (last)", float(obj[-1])))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and _finite(obj):
        out.append((prefix, float(obj)))
    return out


def _find_mapping(obj: Any, want: str, path: str = "") -> tuple[str, dict] | None:
    """First dict (depth first, a ``headline`` key first) with >= 2 values that are numbers
    (``want="number"``) or non-empty lists of numbers (``want="series"``)."""
    if not isinstance(obj, dict):
        return None

    def ok(v: Any) -> bool:
        if want == "number":
            return isinstance(v, (int, float)) and not isinstance(v, bool) and _finite(v)
        return isinstance(v, list) and len(v) > 0 and all(_finite(x) for x in v)

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


def alignment_reading(metrics: dict | None) -> str | None:
    head = (metrics or {}).get("headline") or {}
    m = head.get("mean")
    if not m:
        return None
    langs = ", ".join(head.get("per_language", {}))
    diff, lo, hi = _float(m.get("diff")), _float(m.get("ci_low")), _float(m.get("ci_high"))
    if not _finite(diff):
        return None
    zero = "the interval excludes zero" if lo > 0 or hi < 0 else "the interval includes zero"
    return (f"Labelling DPO pairs with the English RM instead of the target-language RM changes "
            f"the AlpacaEval win rate by {diff:+.1f} points on average over {langs} "
            f"(95% CI {num(lo, sign=True)} to {num(hi, sign=True)}; {zero}): "
            f"{num(m.get('english_win_rate'))}% vs {num(m.get('native_win_rate'))}%.")


def winrate_plot_reading(table: pd.DataFrame) -> str:
    if table.empty or "model" not in table or "win_rate" not in table:
        return "No win rates."
    per = table.groupby(["model", "language"])["win_rate"].mean().groupby("model").mean()
    names = {"policy": "initial policy", "english": "DPO with English-RM labels",
             "native": "DPO with target-RM labels"}
    parts = [f"{names.get(k, k)} {per[k]:.1f}%" for k in ("policy", "english", "native")
             if k in per]
    parts += [f"{k} {v:.1f}%" for k, v in per.items() if k not in names]
    return "Mean win rate against the reference over languages (and seeds): " + \
        ", ".join(parts) + "."


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


# =========================================================================== sections


def _figure(inputs: ReportInputs, key: str, alt: str, reading: str) -> list[Block]:
    data = getattr(inputs, key)
    if data is None:
        return [Para(inputs.note(key), "missing")]
    return [Figure(key, data, getattr(inputs.paths, key), alt, reading)]


def _missing(inputs: ReportInputs, *keys: str) -> list[Block]:
    return [Para(inputs.note(k), "missing") for k in keys if getattr(inputs, k) is None]


def _ci_lookup(ci: pd.DataFrame | None) -> dict[tuple[str, str], tuple[float, float]]:
    if ci is None or not {"rm", "language", "ci_low", "ci_high"} <= set(ci.columns):
        return {}
    return {(str(r.rm), str(r.language)): (r.ci_low, r.ci_high) for r in ci.itertuples()}


def section_transfer(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading("Transfer matrix", anchor="transfer")]
    m = inputs.transfer_matrix
    source = ((inputs.transfer_metrics or {}).get("headline") or {}).get("source", "en")
    blocks += _missing(inputs, "transfer_matrix", "transfer_ci")
    if m is not None:
        ci = _ci_lookup(inputs.transfer_ci)
        rows = []
        for rm in m.index:
            cells = [str(rm)]
            for lang in m.columns:
                cell = pct(m.loc[rm, lang])
                lohi = ci.get((str(rm), str(lang)))
                if lohi and all(_finite(x) for x in lohi):
                    cell += f" [{pct(lohi[0])}, {pct(lohi[1])}]"
                cells.append(cell)
            rows.append(cells)
        blocks.append(Para("M-RewardBench language score (%) of each RM (rows: training "
                           "language; base = untrained, mean of random heads) on each "
                           "evaluation language (columns), with its 95% bootstrap interval."))
        blocks.append(Table(["RM \\ eval"] + [str(c) for c in m.columns], rows))
        blocks.append(Para(matrix_reading(m, source), "reading"))
    reading = heatmap_reading(m) if m is not None else "The transfer matrix as a heatmap."
    blocks += _figure(inputs, "transfer_heatmap", "Transfer matrix heatmap", reading)
    return blocks


def section_headline(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading("English vs target-language RMs", anchor="headline")]
    met = inputs.transfer_metrics
    if met is None:
        return blocks + _missing(inputs, "transfer_metrics")
    head = met.get("headline")
    if not head:
        return blocks + [Para("The transfer metrics have no headline (no source-language RM "
                              "with a target-language RM to compare).", "note")]
    source = head.get("source", "en")
    def row(label: str, d: dict) -> list[str]:
        pts = {k: _float(d.get(k)) * 100 for k in ("diff", "ci_low", "ci_high")}
        return [label, pct(d.get("en_rm")), pct(d.get("target_rm")),
                num(pts["diff"], sign=True),
                f"{num(pts['ci_low'], sign=True)} to {num(pts['ci_high'], sign=True)}"]

    rows = [row(t, d) for t, d in head.get("per_language", {}).items()]
    if head.get("mean"):
        rows.append(row("**mean**", head["mean"]))
    conf = round(float(head.get("confidence", 0.95)) * 100)
    blocks.append(Para(f"Each target language scored by the {source} RM and by the RM trained "
                       f"on that language (accuracy %), their difference in points and its "
                       f"{conf}% paired bootstrap interval over pairs."))
    blocks.append(Table(["target", f"{source} RM", "target RM", "difference (points)",
                         f"{conf}% CI"], rows))
    blocks.append(Para(headline_reading(met) or "", "reading"))
    return blocks


def section_categories(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading("Per-category scores", anchor="categories")]
    cs = inputs.category_scores
    if cs is None:
        return blocks + _missing(inputs, "category_scores")
    need = {"rm", "language", "level", "category", "accuracy"}
    if not need <= set(cs.columns):
        return blocks + [Para(f"unreadable: {inputs.paths.category_scores} (columns "
                              f"{sorted(need - set(cs.columns))} missing)", "missing")]
    cat = cs[cs["level"] == "category"]
    cats = [c for c in CATEGORY_NAMES if c in set(cat["category"])]
    lang_rows = cs[cs["level"] == "language"].set_index(["rm", "language"])["accuracy"]
    pivot = cat.pivot_table(index=["language", "rm"], columns="category", values="accuracy",
                            sort=False)
    rows = []
    for lang, rm in pivot.index:
        rows.append([str(lang), str(rm)] + [pct(pivot.loc[(lang, rm)].get(c)) for c in cats]
                    + [pct(lang_rows.get((rm, lang)))])
    blocks.append(Para("Accuracy (%) per category on each evaluation language, for every RM; "
                       "the language score is the plain mean of the categories present."))
    blocks.append(Table(["eval language", "RM"] + [CATEGORY_NAMES[c] for c in cats]
                        + ["language score"], rows))
    blocks.append(Para(category_reading(cs, inputs.transfer_metrics), "reading"))
    return blocks


def _metrics_table(metrics: dict, limit: int) -> Table | None:
    leaves = [(k, v) for k, v in _numeric_leaves(metrics) if k != "reading"]
    if not leaves or limit == 0:
        return None
    rows = [[k, f"{v:.4g}"] for k, v in leaves[:limit]]
    caption = f"first {limit} of {len(leaves)} numbers" if len(leaves) > limit else ""
    return Table(["metric", "value"], rows, caption)


def section_representations(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading("Representations", anchor="representations")]
    met = inputs.representations_metrics
    blocks.append(Para("Share of the largest singular value, σ1 / Σσi, of each RM's hidden "
                       "states for the same contexts in every language (higher = more "
                       "homogeneous across languages); the instruct base is the reference."))
    blocks += _missing(inputs, "representations_metrics")
    layers = metrics_reading(met, "per-layer σ1 share", "series") if met is not None else \
        "Per-layer curves of the σ1 share."
    bar = metrics_reading(met, "σ1 share") if met is not None else "The σ1 share per RM."
    blocks += _figure(inputs, "representations_layers", "σ1 share per layer", layers)
    blocks += _figure(inputs, "representations_bar", "σ1 share per RM", bar)
    if met is not None:
        t = _metrics_table(met, inputs.max_metric_rows)
        if t is not None:
            blocks.append(t)
    return blocks


def section_embeddings(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading("Embedding norms", anchor="embeddings")]
    met = inputs.embeddings_metrics
    blocks.append(Para("Token-embedding norms of English tokens against tokens of other "
                       "languages: English-centric models separate the languages, multilingual "
                       "ones should not."))
    blocks += _missing(inputs, "embeddings_metrics")
    reading = metrics_reading(met, "embedding norms") if met is not None else \
        "Distribution of token-embedding norms per language."
    blocks += _figure(inputs, "embedding_norms", "Token-embedding norms per language", reading)
    if met is not None:
        t = _metrics_table(met, inputs.max_metric_rows)
        if t is not None:
            blocks.append(t)
    return blocks


def section_alignment(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading("Multilingual alignment (DPO)", anchor="alignment")]
    table = inputs.alignment_table
    blocks += _missing(inputs, "alignment_table", "alignment_metrics")
    if table is not None:
        cols = [c for c in ("language", "model", "seed", "win_rate", "standard_error",
                            "length_controlled_minimal", "discrete_win_rate",
                            "language_fidelity", "n_total") if c in table.columns]
        rows = []
        for _, r in table.iterrows():
            cells = []
            for c in cols:
                v = r[c]
                if c == "seed":
                    cells.append(str(int(v)) if _finite(v) else "–")
                elif c == "language_fidelity":
                    cells.append(pct(v))
                elif c == "n_total":
                    cells.append(str(int(v)) if _finite(v) else "–")
                elif isinstance(v, (int, float, np.floating)):
                    cells.append(num(v))
                else:
                    cells.append(str(v))
            rows.append(cells)
        blocks.append(Para("Multilingual AlpacaEval win rate (%) against a same-language "
                           "reference of the initial policy and of the DPO policies trained on "
                           "pairs labelled by the English RM (english) or the target-language "
                           "RM (native)."))
        blocks.append(Table(cols, rows))
    met = inputs.alignment_metrics
    if met is not None:
        head = met.get("headline") or {}
        rows = [[lang, num(d.get("english_win_rate")), num(d.get("native_win_rate")),
                 num(d.get("diff"), sign=True),
                 f"{num(d.get('ci_low'), sign=True)} to {num(d.get('ci_high'), sign=True)}",
                 str(d.get("seeds", "–"))] for lang, d in head.get("per_language", {}).items()]
        if rows:
            blocks.append(Table(["language", "English-RM labels", "target-RM labels",
                                 "difference (points)", "95% CI", "seeds"], rows))
        reading = alignment_reading(met)
        if reading:
            blocks.append(Para(reading, "reading"))
    plot_reading = winrate_plot_reading(table) if table is not None else \
        "Win rates per language and policy."
    blocks += _figure(inputs, "alignment_plot", "AlpacaEval win rates", plot_reading)
    return blocks


def section_offshelf(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading("Off-the-shelf reward models", anchor="offshelf")]
    m = inputs.offshelf_matrix
    blocks += _missing(inputs, "offshelf_matrix", "offshelf_metrics")
    if m is None:
        return blocks
    models = (inputs.offshelf_metrics or {}).get("models", {})
    if not m.empty:
        rows = []
        for name in m.index:
            info = models.get(str(name), {})
            kind = info.get("kind", "–")
            judge = (f"{info.get('n_inconsistent', 0)} / {info.get('n_unparseable', 0)}"
                     if kind == "judge" else "–")
            rows.append([str(name), kind] + [pct(m.loc[name, c]) for c in m.columns]
                        + [pct(m.loc[name].mean(skipna=True)), judge])
        blocks.append(Para("M-RewardBench language score (%) of published reward models on the "
                           "same evaluation sets, with the same scorer. Generative judges are "
                           "asked in both orders and a pair counts only when the chosen reply "
                           "wins both; the last column counts their inconsistent and "
                           "unparseable pairs."))
        blocks.append(Table(["model", "kind"] + [str(c) for c in m.columns]
                            + ["mean", "inconsistent / unparseable"], rows))
    blocks.append(Para(offshelf_reading(m, inputs.offshelf_metrics, inputs.transfer_matrix),
                       "reading"))
    return blocks


def section_inputs(inputs: ReportInputs) -> list[Block]:
    rows = []
    for key in INPUT_KINDS:
        path = getattr(inputs.paths, key)
        if getattr(inputs, key) is not None:
            status = "ok"
        elif key in inputs.problems:
            status = f"unreadable: {inputs.problems[key]}"
        else:
            status = "missing"
        rows.append([path, status])
    return [Heading("Inputs", anchor="inputs"), Table(["file", "status"], rows)]


def summary_blocks(inputs: ReportInputs) -> list[Block]:
    items = []
    if inputs.transfer_metrics is not None:
        r = headline_reading(inputs.transfer_metrics)
        if r:
            items.append(r)
    if inputs.alignment_metrics is not None:
        r = alignment_reading(inputs.alignment_metrics)
        if r:
            items.append(r)
    if inputs.offshelf_matrix is not None:
        items.append(offshelf_reading(inputs.offshelf_matrix, inputs.offshelf_metrics,
                                      inputs.transfer_matrix))
    missing = inputs.missing()
    blocks: list[Block] = [Heading("Summary", anchor="summary")]
    if items:
        blocks.append(Bullets(items))
    if missing:
        blocks.append(Para(f"{len(missing)} of {len(INPUT_KINDS)} inputs are missing or "
                           "unreadable: " + "; ".join(inputs.note(k) for k in missing),
                           "missing"))
    return blocks


SECTIONS = (section_transfer, section_headline, section_categories, section_representations,
            section_embeddings, section_alignment, section_offshelf, section_inputs)


def report_blocks(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading(inputs.title, level=1, anchor="top")]
    blocks += summary_blocks(inputs)
    for section in SECTIONS:
        blocks += section(inputs)
    return blocks


# =========================================================================== renderers


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block], markdown_dir: str) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            if b.kind == "reading":
                out.append(f"*Reading:* {b.text}")
            elif b.kind == "missing":
                out.append(f"> **{b.text}**")
            else:
                out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {i}" for i in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_cell(c) for c in b.columns) + " |",
                     "|" + "|".join("---" for _ in b.columns) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            if b.caption:
                lines.append(f"\n({b.caption})")
            out.append("\n".join(lines))
        elif isinstance(b, Figure):
            rel = Path(os.path.relpath(os.path.abspath(b.path), os.path.abspath(markdown_dir)))
            out.append(f"![{b.alt}]({rel.as_posix()})\n\n*Reading:* {b.reading}")
    return "\n\n".join(out) + "\n"


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #1b1f23; line-height: 1.45; background: #fff; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: right; }
th { background: #f6f8fa; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption, p.reading { font-style: italic; color: #374151; }
p.missing { background: #fff4e5; border-left: 4px solid #d97706; padding: .5em .8em;
            font-weight: bold; color: #7c2d12; }
nav a { margin-right: 1em; }
.caption { font-size: .85em; color: #57606a; }
"""

IMAGE_CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
  }
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-loaded', String(ok));
});
"""


def _inline_md(text: str) -> str:
    """Escape, then render ``**bold**`` (the only inline markup the blocks use)."""
    esc = _html.escape(text, quote=False)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", esc)


def render_html(blocks: list[Block], title: str) -> str:
    body: list[str] = []
    nav = [b for b in blocks if isinstance(b, Heading) and b.level == 2]
    for b in blocks:
        if isinstance(b, Heading):
            anchor = b.anchor or _slug(b.text)
            body.append(f'<h{b.level} id="{_html.escape(anchor)}">{_html.escape(b.text)}'
                        f'</h{b.level}>')
            if b.level == 1 and nav:
                links = " ".join(f'<a href="#{_html.escape(h.anchor or _slug(h.text))}">'
                                 f"{_html.escape(h.text)}</a>" for h in nav)
                body.append(f"<nav>{links}</nav>")
        elif isinstance(b, Para):
            cls = f' class="{b.kind}"' if b.kind != "text" else ""
            prefix = "<strong>Reading:</strong> " if b.kind == "reading" else ""
            body.append(f"<p{cls}>{prefix}{_inline_md(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline_md(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_html.escape(c)}</th>" for c in b.columns)
            rows = "".join("<tr>" + "".join(f"<td>{_inline_md(c)}</td>" for c in row) + "</tr>"
                           for row in b.rows)
            cap = f'<p class="caption">({_html.escape(b.caption)})</p>' if b.caption else ""
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
                        + cap)
        elif isinstance(b, Figure):
            uri = "data:image/png;base64," + base64.b64encode(b.data).decode("ascii")
            body.append(f'<figure id="fig-{_html.escape(b.key)}"><img src="{uri}" '
                        f'alt="{_html.escape(b.alt)}"><figcaption><strong>Reading:</strong> '
                        f"{_inline_md(b.reading)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + f"\n<script>{IMAGE_CHECK_SCRIPT}</script>\n</body>\n</html>\n")


def build_report(inputs: ReportInputs) -> tuple[str, str]:
    """The report as ``(markdown, html)``: a pure function of ``inputs``."""
    blocks = report_blocks(inputs)
    return render_markdown(blocks, inputs.markdown_dir), render_html(blocks, inputs.title)


def write_report(inputs: ReportInputs, markdown_path: str | os.PathLike,
                 html_path: str | os.PathLike) -> dict[str, Any]:
    """Build and write both files atomically; returns a small summary."""
    from xlrm.io import atomic_path

    md, page = build_report(inputs)
    with atomic_path(markdown_path) as tmp:
        tmp.write_text(md, encoding="utf-8")
    with atomic_path(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return {"missing": [getattr(inputs.paths, k) for k in inputs.missing()],
            "figures": sum(1 for k, kind in INPUT_KINDS.items()
                           if kind == "png" and getattr(inputs, k) is not None),
            "markdown_bytes": len(md.encode("utf-8")), "html_bytes": len(page.encode("utf-8"))}


def paths_from_dict(values: dict[str, str | None]) -> ReportPaths:
    """A :class:`ReportPaths` with the given fields replaced (None keeps the default)."""
    names = {f.name for f in dataclasses.fields(ReportPaths)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown report input(s) {unknown}")
    return ReportPaths(**{k: v for k, v in values.items() if v is not None})


__all__ = [
    "INPUT_KINDS", "ReportConfig", "ReportInputs", "ReportPaths", "build_report",
    "category_reading", "headline_reading", "load_report_inputs", "matrix_reading",
    "metrics_reading", "paths_from_dict", "render_html", "render_markdown", "report_blocks",
    "write_report",
]

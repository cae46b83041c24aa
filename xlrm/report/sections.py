"""The report's sections, one function each, and the whole report as blocks
(:func:`report_blocks`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlrm.evaluation.bootstrap import confidence_label
from xlrm.report.blocks import (CATEGORY_NAMES, Block, Bullets, Figure, Heading, Para, Table,
                                as_float, is_finite, num, pct)
from xlrm.report.inputs import INPUT_KINDS, ReportInputs
from xlrm.report.alignment import alignment_reading, section_alignment
from xlrm.report.readings import (category_reading, headline_reading, heatmap_reading,
                                  matrix_reading, metrics_reading, numeric_leaves,
                                  offshelf_reading)
from xlrm.report.study_tables import interval_words, section_category_diff


def _confidence(metrics: dict | None) -> float:
    """The level of a stage's intervals as its metrics record it (0.95 when absent)."""
    metrics = metrics or {}
    return float(metrics.get("confidence") or (metrics.get("headline") or {}).get("confidence")
                 or 0.95)


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
                if lohi and all(is_finite(x) for x in lohi):
                    cell += f" [{pct(lohi[0])}, {pct(lohi[1])}]"
                cells.append(cell)
            rows.append(cells)
        blocks.append(Para("M-RewardBench language score (%) of each RM (rows: training "
                           "language; base = untrained, mean of random heads) on each "
                           "evaluation language (columns), with its "
                           f"{confidence_label(_confidence(inputs.transfer_metrics))} "
                           f"{interval_words(inputs.transfer_metrics)}."))
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
        pts = {k: as_float(d.get(k)) * 100 for k in ("diff", "ci_low", "ci_high")}
        return [label, pct(d.get("en_rm")), pct(d.get("target_rm")),
                num(pts["diff"], sign=True),
                f"{num(pts['ci_low'], sign=True)} to {num(pts['ci_high'], sign=True)}"]

    rows = [row(t, d) for t, d in head.get("per_language", {}).items()]
    if head.get("mean"):
        rows.append(row("**mean**", head["mean"]))
    conf = confidence_label(_confidence(met))
    blocks.append(Para(f"Each target language scored by the {source} RM and by the RM trained "
                       f"on that language (accuracy %), their difference in points and its "
                       f"{conf} paired {interval_words(met)}."))
    blocks.append(Table(["target", f"{source} RM", "target RM", "difference (points)",
                         f"{conf} CI"], rows))
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


def _metrics_table(metrics: dict | None, limit: int) -> list[Block]:
    """At most ``limit`` numbers of a metrics file whose layout is not fixed, as a table."""
    leaves = [(k, v) for k, v in numeric_leaves(metrics or {}) if k != "reading"]
    if not leaves or limit == 0:
        return []
    rows = [[k, f"{v:.4g}"] for k, v in leaves[:limit]]
    caption = f"first {limit} of {len(leaves)} numbers" if len(leaves) > limit else ""
    return [Table(["metric", "value"], rows, caption)]


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
    return blocks + _metrics_table(met, inputs.max_metric_rows)


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
    return blocks + _metrics_table(met, inputs.max_metric_rows)


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
    blocks += judge_quality_blocks(inputs.offshelf_metrics or {})
    blocks.append(Para(offshelf_reading(m, inputs.offshelf_metrics, inputs.transfer_matrix),
                       "reading"))
    return blocks


def judge_quality_blocks(metrics: dict) -> list[Block]:
    """Per generative judge of ``metrics/offshelf.json``: the M-RewardBench-compatible
    score beside the strict one, position consistency, flip and unparseable shares; and,
    when its consistency is under ``min_consistency``, a plain warning."""
    judges = {k: v for k, v in metrics.get("models", {}).items() if v.get("kind") == "judge"}
    if not judges or not any("order_quality" in v for v in judges.values()):
        return []
    rows, warnings = [], []
    for name, v in judges.items():
        q = v.get("order_quality", {})
        rows.append([name, pct(v.get("mean_mrb_accuracy")), pct(v.get("mean_accuracy")),
                     pct(q.get("position_consistency")), pct(q.get("flip_share")),
                     pct(q.get("unparseable_share")), pct(q.get("first_shown_win_share"))])
        if v.get("consistency_warning"):
            c = q.get("position_consistency")
            how = (f"keeps its verdict when the order of the two replies flips on only "
                   f"{pct(c)}% of pairs" if is_finite(c) else
                   "gave too few two-order verdicts for its consistency to be measured")
            warnings.append(f"Warning: the judge {name} {how} (the minimum is "
                            f"{pct(metrics.get('min_consistency'))}%), so its scores and "
                            "win rates are not evidence of which reply is better.")
    blocks: list[Block] = [
        Para("Judge quality (%): the M-RewardBench-compatible score (mean over both orders; a "
             "tie, unparseable reply or failure counts one half) beside the strict "
             "both-orders score above; position consistency is the share of pairs whose "
             "winner stays when the order flips."),
        Table(["judge", "M-RB score", "strict score", "position consistency", "flips",
               "unparseable", "first shown wins"], rows)]
    blocks += [Para(w, "note") for w in warnings]
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


SECTIONS = (section_transfer, section_headline, section_category_diff, section_categories,
            section_representations, section_embeddings, section_alignment, section_offshelf,
            section_inputs)


def report_blocks(inputs: ReportInputs) -> list[Block]:
    blocks: list[Block] = [Heading(inputs.title, level=1, anchor="top")]
    blocks += summary_blocks(inputs)
    for section in SECTIONS:
        blocks += section(inputs)
    return blocks


"""DVC stage `report`: the study's results as one Markdown file and one self-contained HTML page.

Collects the transfer matrix (table and heatmap), per-category scores, the English-vs-target
headline with confidence intervals (overall and per category), the representation and
embedding figures, the DPO win rates and the off-the-shelf table, each with a one-line
reading computed from the numbers. Every input path is given on the command line (dvc.yaml writes each one once).
Every input must exist (pass --allow-missing to draft a report that marks the absent ones
as "missing: <path>" instead of failing).
"""

from xlrm.stage import Stage, StageContext

INPUTS = {  # option -> xlrm.report.inputs.ReportPaths field
    "--transfer-matrix": "transfer_matrix", "--transfer-ci": "transfer_ci",
    "--categories": "category_scores", "--category-diff": "category_diff",
    "--transfer-metrics": "transfer_metrics",
    "--heatmap": "transfer_heatmap", "--representations-metrics": "representations_metrics",
    "--representations-layers": "representations_layers",
    "--representations-bar": "representations_bar", "--embeddings-metrics": "embeddings_metrics",
    "--embedding-norms": "embedding_norms", "--alignment-table": "alignment_table",
    "--alignment-metrics": "alignment_metrics", "--alignment-plot": "alignment_plot",
    "--offshelf-matrix": "offshelf_matrix", "--offshelf-metrics": "offshelf_metrics",
}

STAGE = Stage("report", __doc__, params=["report"])
for _option, _name in INPUTS.items():
    STAGE.add(_option, dest=_name, required=True, help=f"input: {_name.replace('_', ' ')}")
STAGE.add("--markdown", required=True, help="output Markdown file")
STAGE.add("--html", required=True, help="output HTML file")
STAGE.add("--allow-missing", action="store_true",
          help="write the report even when inputs are absent (marked missing)")


def main(ctx: StageContext) -> str:
    from pathlib import Path

    from xlrm.errors import DataError
    from xlrm.report.inputs import ReportPaths, load_report_inputs
    from xlrm.report.render import write_report

    args = ctx.args
    paths = ReportPaths(**{name: getattr(args, name) for name in INPUTS.values()})
    inputs = load_report_inputs(paths, cfg=ctx["report"], markdown_dir=Path(args.markdown).parent)
    absent = inputs.missing()
    if absent and not args.allow_missing:
        raise DataError("report inputs missing or unreadable: "
                        + "; ".join(inputs.note(k) for k in absent))
    summary = write_report(inputs, args.markdown, args.html)
    ctx.log_metrics({"missing_inputs": len(summary["missing"]), "figures": summary["figures"]},
                    "report")
    ctx.artifact(args.markdown, args.html)
    note = f" ({len(summary['missing'])} inputs missing)" if summary["missing"] else ""
    return f"report: {summary['figures']} figures{note} -> {args.markdown}, {args.html}"


if __name__ == "__main__":
    STAGE.run(main)

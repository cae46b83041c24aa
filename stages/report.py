"""DVC stage `report`: the study's results as one Markdown file and one self-contained HTML page.

Collects the transfer matrix (table and heatmap), per-category scores, the English-vs-target
headline with confidence intervals, the representation and embedding figures, the DPO
win rates and the off-the-shelf table, each with a one-line reading computed from the
numbers. Every declared input must exist (pass --allow-missing to draft a report that
marks the absent ones as "missing: <path>" instead of failing).
"""

from xlrm import stage

INPUTS = {  # option -> ReportPaths field
    "--transfer-matrix": "transfer_matrix", "--transfer-ci": "transfer_ci",
    "--categories": "category_scores", "--transfer-metrics": "transfer_metrics",
    "--heatmap": "transfer_heatmap", "--representations-metrics": "representations_metrics",
    "--representations-layers": "representations_layers",
    "--representations-bar": "representations_bar", "--embeddings-metrics": "embeddings_metrics",
    "--embedding-norms": "embedding_norms", "--alignment-table": "alignment_table",
    "--alignment-metrics": "alignment_metrics", "--alignment-plot": "alignment_plot",
    "--offshelf-matrix": "offshelf_matrix", "--offshelf-metrics": "offshelf_metrics",
}


def main() -> None:
    p = stage.parser(__doc__)
    for option, name in INPUTS.items():
        p.add_argument(option, dest=name, default=None,
                       help=f"input ({name.replace('_', ' ')}; default: the pipeline's path)")
    p.add_argument("--markdown", required=True, help="output Markdown file")
    p.add_argument("--html", required=True, help="output HTML file")
    p.add_argument("--allow-missing", action="store_true",
                   help="write the report even when inputs are absent (marked missing)")
    args = p.parse_args()

    from pathlib import Path

    from xlrm.config import load_section, to_dict
    from xlrm.errors import DataError
    from xlrm.report import (ReportConfig, load_report_inputs, paths_from_dict,
                             write_report)
    from xlrm.tracking import stage_run

    cfg = load_section(ReportConfig, "report", args.params)
    paths = paths_from_dict({name: getattr(args, name) for name in INPUTS.values()})
    inputs = load_report_inputs(paths, cfg=cfg, markdown_dir=Path(args.markdown).parent)
    absent = inputs.missing()
    if absent and not args.allow_missing:
        raise DataError("report inputs missing or unreadable: "
                        + "; ".join(inputs.note(k) for k in absent))
    with stage_run("report", params={"report": to_dict(cfg)}) as mlflow:
        summary = write_report(inputs, args.markdown, args.html)
        mlflow.log_metrics({"report.missing_inputs": len(summary["missing"]),
                            "report.figures": summary["figures"]})
        mlflow.log_artifact(args.markdown)
        mlflow.log_artifact(args.html)
    note = f" ({len(summary['missing'])} inputs missing)" if summary["missing"] else ""
    print(f"report: {summary['figures']} figures{note} -> {args.markdown}, {args.html}")


if __name__ == "__main__":
    stage.main(main)

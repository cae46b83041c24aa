"""DVC stage `analyze_representations`: how homogeneous each model's representations of one
context are across languages (the study's Figure 1).

For the base model and every RM of ``rm_languages``: per layer, the share of the largest
singular value of each parallel context's [languages x hidden] matrix, mean and std over
contexts (CSV), a per-layer line plot, a bar chart at one layer, and metrics (each RM's value
there and its distance from the base's).
"""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--base", required=True, help="base model folder")
    p.add_argument("--rm-dir", required=True, help="folder of trained RMs, one sub-folder per language")
    p.add_argument("--eval-dir", required=True, help="folder of M-RewardBench-format files")
    p.add_argument("--table", required=True, help="output CSV: model, layer, mean, std, n_contexts")
    p.add_argument("--layers-plot", required=True, help="output per-layer line plot PNG")
    p.add_argument("--bar-plot", required=True, help="output bar chart PNG")
    p.add_argument("--metrics", required=True, help="output metrics JSON")
    args = p.parse_args()

    from pathlib import Path

    from xlrm.analysis import AnalyzeRepresentationsConfig, run_analyze_representations
    from xlrm.config import from_dict, read_params, to_dict
    from xlrm.data.loaders import load_eval_set
    from xlrm.tracking import log_metrics, stage_run

    params = read_params(args.params)
    cfg = from_dict(AnalyzeRepresentationsConfig, params.get("analyze_representations"),
                    f"{args.params}: analyze_representations")
    rm_languages = list(params.get("rm_languages") or [])
    languages = cfg.languages or list(params["eval_languages"])
    eval_sets = load_eval_set(args.eval_dir, languages)
    rms = {lang: Path(args.rm_dir) / lang for lang in rm_languages}
    with stage_run("analyze_representations", params={
            "analyze_representations": to_dict(cfg), "eval_languages": languages,
            "rm_languages": rm_languages}) as mlflow:
        metrics = run_analyze_representations(cfg, args.base, rms, eval_sets,
                                              table_csv=args.table, layers_png=args.layers_plot,
                                              bar_png=args.bar_plot, metrics_json=args.metrics)
        log_metrics(metrics, "repr")
        for path in (args.table, args.layers_plot, args.bar_plot, args.metrics):
            mlflow.log_artifact(path)
    values = ", ".join(f"{m} {r['mean']:.3f}" for m, r in
                       {"base": metrics.get("base", {}), **metrics.get("rm", {})}.items() if r)
    print(f"sigma-1 share at layer {metrics['bar_layer']}: {values} -> {args.metrics}, {args.bar_plot}")


if __name__ == "__main__":
    stage.main(main)

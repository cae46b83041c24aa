"""DVC stage `analyze_representations`: how homogeneous each model's representations of one
context are across languages (the study's Figure 1).

For the base model and every RM of ``rm_languages``: per layer, the share of the largest
singular value of each parallel context's [languages x hidden] matrix, mean and std over
contexts (CSV), a per-layer line plot, a bar chart at one layer, and metrics (each RM's value
there and its distance from the base's).
"""

from xlrm.stage import Stage, StageContext

STAGE = Stage("analyze_representations", __doc__,
              params=["analyze_representations", "rm_languages", "eval_languages"])
STAGE.add("--base", required=True, help="base model folder")
STAGE.add("--rm-dir", required=True, help="folder of trained RMs, one sub-folder per language")
STAGE.add("--eval-dir", required=True, help="folder of M-RewardBench-format files")
STAGE.add("--table", required=True, help="output CSV: model, layer, mean, std, n_contexts")
STAGE.add("--layers-plot", required=True, help="output per-layer line plot PNG")
STAGE.add("--bar-plot", required=True, help="output bar chart PNG")
STAGE.add("--metrics", required=True, help="output metrics JSON")


def main(ctx: StageContext) -> str:
    from pathlib import Path

    from xlrm.analysis.representations import run_analyze_representations
    from xlrm.data.loaders import load_eval_set

    args, cfg = ctx.args, ctx["analyze_representations"]
    eval_sets = load_eval_set(args.eval_dir, cfg.languages or ctx["eval_languages"])
    rms = {lang: Path(args.rm_dir) / lang for lang in ctx["rm_languages"]}
    metrics = run_analyze_representations(cfg, args.base, rms, eval_sets, table_csv=args.table,
                                          layers_png=args.layers_plot, bar_png=args.bar_plot)
    ctx.write_json(args.metrics, metrics, metrics="repr")
    ctx.artifact(args.table, args.layers_plot, args.bar_plot)
    values = ", ".join(f"{m} {r['mean']:.3f}" for m, r in
                       {"base": metrics.get("base", {}), **metrics.get("rm", {})}.items() if r)
    return (f"sigma-1 share at layer {metrics['bar_layer']}: {values} -> {args.metrics}, "
            f"{args.bar_plot}")


if __name__ == "__main__":
    STAGE.run(main)

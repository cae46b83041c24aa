"""DVC stage `transfer`: the train-language x eval-language transfer matrix and the headline.

Reads every RM's pair scores (``base`` plus ``rm_languages`` for each of ``rm_seeds``, on
``eval_languages``; several seeds are averaged, their intervals two-level) and
writes the matrix (CSV, its bootstrap intervals next to it as ``<matrix>_ci.csv``, heatmap
PNG), the per-category table, and the source-language (English) RM minus target-language RM
difference with paired bootstrap confidence intervals over pairs, at the level
``transfer.confidence`` (95% by default), overall (``headline``) and per M-RewardBench
category (``category_diff``, also as a CSV). Without a source-language RM or a target
language to compare it with, the metrics carry ``no_headline`` (the reason) instead of both,
and the category-difference CSV has no rows.
"""

from xlrm.stage import Stage, StageContext

STAGE = Stage("transfer", __doc__,
              params=["transfer", "rm_languages", "rm_seeds", "eval_languages"])
STAGE.add("--scores-dir", required=True,
          help="eval_rms' scores folder: base.jsonl and seed<S>/<lang>.jsonl")
STAGE.add("--matrix", required=True, help="output transfer matrix CSV")
STAGE.add("--categories", required=True, help="output per-category accuracy CSV")
STAGE.add("--category-diff", required=True,
          help="output CSV: source minus target-language RM per category, with intervals")
STAGE.add("--heatmap", required=True, help="output heatmap PNG")
STAGE.add("--metrics", required=True, help="output metrics JSON")


def main(ctx: StageContext) -> str:
    from xlrm.evaluation.bootstrap import confidence_label
    from xlrm.evaluation.heatmap import heatmap
    from xlrm.evaluation.transfer import ci_csv_path, read_scores, transfer_results

    args, cfg = ctx.args, ctx["transfer"]
    # Exactly the RMs and languages the params list: scores that an earlier run left for an
    # RM or language since removed from params stay out of the matrix.
    scores = read_scores(args.scores_dir, ["base", *ctx["rm_languages"]], ctx["eval_languages"],
                         seeds=ctx["rm_seeds"])
    result = transfer_results(cfg, scores)
    with ctx.out_file(args.matrix) as tmp:
        result.matrix.round(6).to_csv(tmp, index_label="rm")
    with ctx.out_file(ci_csv_path(args.matrix)) as tmp:
        result.ci.round(6).to_csv(tmp, index=False)
    with ctx.out_file(args.categories) as tmp:
        result.categories.round(6).to_csv(tmp, index=False)
    with ctx.out_file(args.category_diff) as tmp:
        result.category_diff.round(6).to_csv(tmp, index=False)
    with ctx.out_file(args.heatmap) as tmp:
        heatmap(result.matrix, tmp, ci=result.ci)
    ctx.artifact(args.matrix, args.categories, args.category_diff, args.heatmap)
    ctx.write_json(args.metrics, result.metrics, metrics="transfer")

    if result.no_headline is not None:
        return f"no headline: {result.no_headline} -> {args.metrics}, {args.heatmap}"
    h = result.metrics["headline"]["mean"]
    return (f"{cfg.source_language} RM minus target-language RM: {h['diff']:+.3f} "
            f"({confidence_label(cfg.confidence)} CI {h['ci_low']:+.3f} to "
            f"{h['ci_high']:+.3f}) -> {args.metrics}, {args.heatmap}")


if __name__ == "__main__":
    STAGE.run(main)

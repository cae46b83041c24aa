"""DVC stage `transfer`: the train-language x eval-language transfer matrix and the headline.

Reads every RM's pair scores and writes the matrix (CSV, heatmap PNG), the
per-category table, and the English-RM minus target-language-RM difference
with 95% bootstrap confidence intervals over pairs.
"""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--scores-dir", required=True, help="folder of per-RM scores JSONL")
    p.add_argument("--matrix", required=True, help="output transfer matrix CSV")
    p.add_argument("--categories", required=True, help="output per-category accuracy CSV")
    p.add_argument("--heatmap", required=True, help="output heatmap PNG")
    p.add_argument("--metrics", required=True, help="output metrics JSON")
    args = p.parse_args()

    from xlrm.config import read_params, section_of, to_dict
    from xlrm.tracking import log_metrics, stage_run
    from xlrm.transfer import TransferConfig, run_transfer

    params = read_params(args.params)
    cfg = section_of(TransferConfig, params, "transfer", args.params)
    # Exactly the RMs and languages the params list: scores that an earlier run left for an
    # RM or language since removed from params stay out of the matrix.
    rms = ["base", *params["rm_languages"]]
    languages = list(params["eval_languages"])
    with stage_run("transfer", params={"transfer": to_dict(cfg), "rm_languages": rms[1:],
                                       "eval_languages": languages}) as mlflow:
        metrics = run_transfer(cfg, args.scores_dir, matrix_csv=args.matrix,
                               categories_csv=args.categories, heatmap_png=args.heatmap,
                               metrics_json=args.metrics, rms=rms, languages=languages)
        log_metrics(metrics, "transfer")
        for path in (args.matrix, args.categories, args.heatmap, args.metrics):
            mlflow.log_artifact(path)
    h = metrics["headline"]["mean"]
    print(f"English RM minus target-language RM: {h['diff']:+.3f} "
          f"(95% CI {h['ci_low']:+.3f} to {h['ci_high']:+.3f}) -> {args.metrics}, {args.heatmap}")


if __name__ == "__main__":
    stage.main(main)

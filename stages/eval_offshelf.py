"""DVC stage `eval_offshelf`: off-the-shelf reward models on the same M-RewardBench sets.

Scores every classifier RM and generative judge of the `eval_offshelf` params section
(judges asked in both orders; a pair counts only when the chosen reply wins both) and
writes one scores file per model, the model x eval-language matrix of language scores, and
the metrics (accuracies, categories, and the judges' inconsistent/unparseable counts).
With both lists empty it writes empty outputs.
"""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--eval-dir", required=True, help="folder of M-RewardBench-format files")
    p.add_argument("--scores-dir", required=True, help="output folder: <name>.jsonl per model")
    p.add_argument("--matrix", required=True, help="output matrix CSV (rows: model)")
    p.add_argument("--metrics", required=True, help="output metrics JSON")
    args = p.parse_args()

    from xlrm.config import read_params, to_dict
    from xlrm.data.loaders import load_eval_set
    from xlrm.offshelf import EvalOffshelfConfig, run_offshelf
    from xlrm.tracking import log_metrics, stage_run

    params = read_params(args.params)
    cfg = EvalOffshelfConfig.from_dict(params.get("eval_offshelf"),
                                       f"{args.params}: eval_offshelf")
    languages = params["eval_languages"]
    eval_sets = load_eval_set(args.eval_dir, languages)
    with stage_run("eval_offshelf", params={"eval_offshelf": to_dict(cfg),
                                            "eval_languages": languages}) as mlflow:
        metrics = run_offshelf(cfg, eval_sets, scores_dir=args.scores_dir,
                               matrix_csv=args.matrix, metrics_json=args.metrics)
        log_metrics({name: {k: v for k, v in m.items() if k in ("accuracy", "mean_accuracy")}
                     for name, m in metrics["models"].items()}, "offshelf")
        for path in (args.matrix, args.metrics):
            mlflow.log_artifact(path)
    if not metrics["models"]:
        print(f"no off-the-shelf models configured: empty outputs -> {args.matrix}")
    for name, m in metrics["models"].items():
        accs = ", ".join(f"{lang} {v:.3f}" for lang, v in m["accuracy"].items())
        print(f"{name}: {accs} -> {args.matrix}")


if __name__ == "__main__":
    stage.main(main)

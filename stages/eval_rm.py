"""DVC stage `eval_rm@RM` / `eval_base`: score one reward model on every eval language.

Writes every pair's two scores (id, language, subset, category, chosen and
rejected score) and the model's accuracies (subset, category, language).
"""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--rm", required=True, help="RM name: its training language, or 'base'")
    p.add_argument("--model", default=None, help="trained RM folder (omit for the untrained base)")
    p.add_argument("--base", required=True, help="base model folder")
    p.add_argument("--eval-dir", required=True, help="folder of M-RewardBench-format files")
    p.add_argument("--scores", required=True, help="output scores JSONL")
    p.add_argument("--metrics", required=True, help="output metrics JSON")
    args = p.parse_args()

    import pandas as pd

    from xlrm.config import from_dict, read_params, to_dict
    from xlrm.data.loaders import load_eval_set
    from xlrm.evaluation import accuracy_report
    from xlrm.io import write_json, write_jsonl
    from xlrm.rm_eval import EvalRMConfig, evaluate_model
    from xlrm.tracking import log_metrics, stage_run

    params = read_params(args.params)
    cfg = from_dict(EvalRMConfig, params.get("eval_rm"), f"{args.params}: eval_rm")
    languages = params["eval_languages"]
    eval_sets = load_eval_set(args.eval_dir, languages)
    with stage_run("eval_rm", args.rm, params={"eval_rm": to_dict(cfg),
                                               "eval_languages": languages}) as mlflow:
        scores, stats = evaluate_model(args.model, args.base, eval_sets, args.rm, cfg)
        report = accuracy_report(pd.DataFrame(scores))[args.rm]
        langs = {lang: round(rec["score"], 6) for lang, rec in report.items()}
        metrics = {"accuracy": langs, "mean_accuracy": round(sum(langs.values()) / len(langs), 6)}
        write_jsonl(args.scores, scores)
        write_json(args.metrics, metrics)
        log_metrics({**metrics, "scoring": stats}, "eval")
        mlflow.log_artifact(args.metrics)
    summary = ", ".join(f"{lang} {v:.3f}" for lang, v in langs.items())
    print(f"RM {args.rm}: {summary} -> {args.metrics}")


if __name__ == "__main__":
    stage.main(main)

"""DVC stage `eval_rm@RM` / `eval_base`: score one reward model on every eval language.

Writes every pair's two scores (id, language, subset, category, chosen and
rejected score) and the model's accuracies (subset, category, language).
"""

from xlrm.stage import Stage, StageContext

STAGE = Stage("eval_rm", __doc__,
              params=["eval_rm", "eval_languages", "launch.eval_rm"],
              optional=["launch.eval_rm"], item="rm")
STAGE.add("--rm", required=True, help="RM name: its training language, or 'base'")
STAGE.add("--model", default=None, help="trained RM folder (omit for the untrained base)")
STAGE.add("--base", required=True, help="base model folder")
STAGE.add("--eval-dir", required=True, help="folder of M-RewardBench-format files")
STAGE.add("--scores", required=True, help="output scores JSONL")
STAGE.add("--metrics", required=True, help="output metrics JSON")


def main(ctx: StageContext) -> str:
    import pandas as pd

    from xlrm.data.loaders import load_eval_set
    from xlrm.evaluation.accuracy import accuracy_report
    from xlrm.reward.evaluate import evaluate_model

    args = ctx.args
    eval_sets = load_eval_set(args.eval_dir, ctx["eval_languages"])
    # Killed runs resume: each scored language is journaled beside args.scores (the rerun
    # may use another launch: ctx.journal leaves launch.eval_rm out of the fingerprint).
    with ctx.journal(args.scores, inputs=eval_sets, models=[args.model, args.base]):
        scores, stats = evaluate_model(args.model, args.base, eval_sets, args.rm,
                                       ctx["eval_rm"])
        report = accuracy_report(pd.DataFrame(scores))[args.rm]
        langs = {lang: round(rec["score"], 6) for lang, rec in report.items()}
        metrics = {"accuracy": langs,
                   "mean_accuracy": round(sum(langs.values()) / len(langs), 6)}
        ctx.write_jsonl(args.scores, scores)
        ctx.write_json(args.metrics, metrics)
    ctx.log_metrics({**metrics, "scoring": stats}, "eval")
    summary = ", ".join(f"{lang} {v:.3f}" for lang, v in langs.items())
    return f"RM {args.rm}: {summary} -> {args.metrics}"


if __name__ == "__main__":
    STAGE.run(main)

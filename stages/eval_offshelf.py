"""DVC stage `eval_offshelf`: off-the-shelf reward models on the same M-RewardBench sets.

Scores every classifier RM and generative judge of the `eval_offshelf` params section
(judges asked in both orders; a pair counts only when the chosen reply wins both) and
writes one scores file per model, the model x eval-language matrix of language scores, and
the metrics (accuracies, categories; for judges also the M-RewardBench-compatible score,
the inconsistent/unparseable counts, position consistency and its warning flag). Judge
verdicts are cached across runs (xlrm/judges/cache.py).
With both lists empty it writes empty outputs.
"""

from xlrm.stage import Stage, StageContext

STAGE = Stage("eval_offshelf", __doc__,
              params=["eval_offshelf", "eval_languages", "launch.eval_offshelf"],
              optional=["launch.eval_offshelf"])
STAGE.add("--eval-dir", required=True, help="folder of M-RewardBench-format files")
STAGE.add("--scores-dir", required=True, help="output folder: <name>.jsonl per model")
STAGE.add("--matrix", required=True, help="output matrix CSV (rows: model)")
STAGE.add("--metrics", required=True, help="output metrics JSON")


def main(ctx: StageContext) -> str:
    from xlrm.data.loaders import load_eval_set
    from xlrm.offshelf.run import run_offshelf

    args = ctx.args
    eval_sets = load_eval_set(args.eval_dir, ctx["eval_languages"])
    # Killed runs resume: each model x language (and each API reply) is journaled beside
    # args.scores_dir.
    cfg = ctx["eval_offshelf"]
    with ctx.journal(args.scores_dir, inputs=eval_sets,
                     models=[s.model for s in [*cfg.classifiers, *cfg.judges]]) as journal:
        metrics = run_offshelf(cfg, eval_sets, scores_dir=args.scores_dir,
                               matrix_csv=args.matrix, metrics_json=args.metrics)
    ctx.log_metrics({"resumed": journal.hits}, "offshelf")
    ctx.log_metrics({name: {k: v for k, v in m.items()
                            if k in ("accuracy", "mean_accuracy", "mrb_accuracy",
                                     "mean_mrb_accuracy", "order_quality")}
                     for name, m in metrics["models"].items()}, "offshelf")
    ctx.artifact(args.matrix, args.metrics)
    if not metrics["models"]:
        return f"no off-the-shelf models configured: empty outputs -> {args.matrix}"
    lines = []
    for name, m in metrics["models"].items():
        accs = ", ".join(f"{lang} {v:.3f}" for lang, v in m["accuracy"].items())
        lines.append(f"{name}: {accs} -> {args.matrix}")
        if m.get("consistency_warning"):
            q = m.get("order_quality", {}).get("position_consistency")
            lines.append(f"  warning: {name} keeps its verdict when the order flips on "
                         f"{'no measurable share' if q is None else f'{q:.0%}'} of pairs "
                         f"(min_consistency {metrics['min_consistency']}): its scores are "
                         "not evidence")
    return "\n".join(lines)


if __name__ == "__main__":
    STAGE.run(main)

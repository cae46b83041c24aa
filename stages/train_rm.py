"""DVC stage `train_rm@LANG`: train one Bradley-Terry reward model on one language's pairs."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("train_rm", __doc__,
              params=["train_rm", "languages", "launch.train_rm"],
              optional=["launch.train_rm"], item="lang")
STAGE.add("--lang", required=True, help="training language, or 'multi' for all mixed")
STAGE.add("--base", required=True, help="base model folder")
STAGE.add("--train-dir", required=True, help="folder of per-language training files")
STAGE.add("--out", required=True, help="output folder of the final model or adapter")
STAGE.add("--metrics", required=True, help="output metrics JSON")
STAGE.add("--scratch", default=".scratch", help="ignored folder for checkpoints")


def main(ctx: StageContext) -> str:
    from pathlib import Path

    from xlrm.data.pairs import training_rows
    from xlrm.reward.train import split_timings, train_reward_model

    args = ctx.args
    rows = training_rows(Path(args.train_dir), args.lang, ctx["languages"])
    with ctx.out_dir(args.out) as tmp:
        stats = train_reward_model(args.base, rows, tmp, ctx["train_rm"],
                                   scratch_dir=Path(args.scratch) / "train_rm" / args.lang)
    stats, timings = split_timings(stats)  # wall times to MLflow only
    ctx.log_metrics(timings, "rm")
    ctx.write_json(args.metrics, {"language": args.lang, **stats}, metrics="rm")
    return (f"RM {args.lang}: {stats['pairs_kept']} pairs ({stats['dropped_too_long']} dropped "
            f"for length), loss {stats.get('first_loss', float('nan')):.4f} -> "
            f"{stats.get('last_loss', float('nan')):.4f} -> {args.out}")


if __name__ == "__main__":
    STAGE.run(main)

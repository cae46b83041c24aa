"""DVC stage `train_rm@LANG-SEED`: train one Bradley-Terry reward model on one language's
pairs with one training seed (the top-level list ``rm_seeds``; RewardConfig's ``seed``)."""

from xlrm.stage import Stage, StageContext


def run_name(args) -> str:
    """The MLflow run's item, as DVC names the matrix stage: ``train_rm@en-42``."""
    return f"{args.lang}-{args.seed}"


STAGE = Stage("train_rm", __doc__,
              params=["train_rm", "languages", "launch.train_rm"],
              optional=["launch.train_rm"], item=run_name)
STAGE.add("--lang", required=True, help="training language, or 'multi' for all mixed")
STAGE.add("--seed", required=True, type=int,
          help="training seed (batch order, head and adapter initialisation): one of rm_seeds")
STAGE.add("--base", required=True, help="base model folder")
STAGE.add("--train-dir", required=True, help="folder of per-language training files")
STAGE.add("--out", required=True, help="output folder of the final model or adapter")
STAGE.add("--metrics", required=True, help="output metrics JSON")
STAGE.add("--scratch", default=".scratch", help="ignored folder for checkpoints")


def with_seed(cfg, seed: int, where: str):
    """``cfg`` (the train_rm section) training with ``seed``; a section that sets its own
    ``seed`` is refused: the seeds are the top-level list ``rm_seeds``."""
    import dataclasses

    from xlrm.errors import ConfigError

    if "seed" in cfg.reward_config:
        raise ConfigError(f"{where}: train_rm.seed is no longer read; RMs are trained once per "
                          "seed of the top-level list rm_seeds (e.g. rm_seeds: [42]): move "
                          "the value there and remove train_rm.seed")
    return dataclasses.replace(cfg, reward_config={**cfg.reward_config, "seed": seed})


def main(ctx: StageContext) -> str:
    from pathlib import Path

    from xlrm.data.pairs import training_rows
    from xlrm.reward.train import split_timings, train_reward_model

    args = ctx.args
    cfg = with_seed(ctx["train_rm"], args.seed, str(ctx.params_path))
    rows = training_rows(Path(args.train_dir), args.lang, ctx["languages"])
    with ctx.out_dir(args.out) as tmp:
        stats = train_reward_model(args.base, rows, tmp, cfg,
                                   scratch_dir=Path(args.scratch) / "train_rm" /
                                   f"seed{args.seed}" / args.lang)
    stats, timings = split_timings(stats)  # wall times to MLflow only
    ctx.log_metrics(timings, "rm")
    ctx.write_json(args.metrics, {"language": args.lang, "seed": args.seed, **stats}, metrics="rm")
    return (f"RM {args.lang} (seed {args.seed}): {stats['pairs_kept']} pairs "
            f"({stats['dropped_too_long']} dropped for length), loss "
            f"{stats.get('first_loss', float('nan')):.4f} -> "
            f"{stats.get('last_loss', float('nan')):.4f} -> {args.out}")


if __name__ == "__main__":
    STAGE.run(main)

"""DVC stage `train_rm@LANG`: train one Bradley-Terry reward model on one language's pairs."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--lang", required=True, help="training language, or 'multi' for all mixed")
    p.add_argument("--base", required=True, help="base model folder")
    p.add_argument("--train-dir", required=True, help="folder of per-language training files")
    p.add_argument("--out", required=True, help="output folder of the final model or adapter")
    p.add_argument("--metrics", required=True, help="output metrics JSON")
    p.add_argument("--scratch", default=".scratch", help="ignored folder for checkpoints")
    args = p.parse_args()

    from pathlib import Path

    from xlrm.config import read_params
    from xlrm.data.mix import training_rows
    from xlrm.io import atomic_path, write_json
    from xlrm.reward import TrainRMConfig, train_reward_model
    from xlrm.tracking import log_metrics, stage_run

    params = read_params(args.params)
    cfg = TrainRMConfig.from_section(params.get("train_rm"), f"{args.params}: train_rm")
    rows = training_rows(Path(args.train_dir), args.lang, params.get("languages", []))
    scratch = Path(args.scratch) / "train_rm" / args.lang
    with stage_run("train_rm", args.lang, params={"train_rm": cfg.to_params()}) as mlflow:
        with atomic_path(args.out, is_dir=True) as tmp:
            stats = train_reward_model(args.base, rows, tmp, cfg, scratch_dir=scratch)
        stats = {"language": args.lang, **stats}
        log_metrics({k: v for k, v in stats.items() if k != "language"}, "rm")
        write_json(args.metrics, stats)
        mlflow.log_artifact(args.metrics)
    print(f"RM {args.lang}: {stats['pairs_kept']} pairs ({stats['dropped_too_long']} dropped for length), "
          f"loss {stats.get('first_loss', float('nan')):.4f} -> {stats.get('last_loss', float('nan')):.4f} -> {args.out}")


if __name__ == "__main__":
    stage.main(main)

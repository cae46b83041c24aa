"""DVC stage `train_dpo@LANG-LABELLER-SEED`: DPO of the policy on one labeller's pairs."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--lang", required=True)
    p.add_argument("--labeller", required=True, choices=["english", "native"])
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--policy", required=True, help="initial policy folder")
    p.add_argument("--labels-dir", required=True, help="output folder of label@LANG")
    p.add_argument("--out", required=True, help="output model (or adapter) folder")
    p.add_argument("--metrics", required=True)
    p.add_argument("--scratch", default=".scratch")
    args = p.parse_args()

    from pathlib import Path

    from xlrm.alignment import TrainDPOConfig, train_dpo
    from xlrm.config import read_params
    from xlrm.data.mix import read_pairs
    from xlrm.io import atomic_path, write_json
    from xlrm.tracking import log_metrics, stage_run

    cfg = TrainDPOConfig.from_section(read_params(args.params).get("train_dpo"),
                                      f"{args.params}: train_dpo")
    pairs = read_pairs(Path(args.labels_dir) / f"{args.labeller}.jsonl")
    name = f"{args.lang}__{args.labeller}__{args.seed}"
    with stage_run("train_dpo", name, params={"train_dpo": cfg.to_params()}) as mlflow:
        with atomic_path(args.out, is_dir=True) as tmp:
            stats = train_dpo(args.policy, pairs, tmp, cfg, scratch_dir=Path(args.scratch) / "dpo" / name,
                              seed=args.seed)
        write_json(args.metrics, {"run": name, **stats})
        log_metrics(stats, "dpo")
        mlflow.log_artifact(args.metrics)
    print(f"DPO {name}: {stats['pairs']} pairs, loss {stats.get('first_loss', float('nan')):.4f} -> "
          f"{stats.get('last_loss', float('nan')):.4f} -> {args.out}")


if __name__ == "__main__":
    stage.main(main)

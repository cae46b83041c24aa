"""DVC stage `train_dpo@LANG-LABELLER-SEED`: DPO of the policy on one labeller's pairs."""

from xlrm.stage import Stage, StageContext


def run_name(args) -> str:
    return f"{args.lang}__{args.labeller}__{args.seed}"


STAGE = Stage("train_dpo", __doc__, params=["train_dpo", "launch.train_dpo"],
              optional=["launch.train_dpo"], item=run_name)
STAGE.add("--lang", required=True)
STAGE.add("--labeller", required=True, choices=["english", "native"])
STAGE.add("--seed", required=True, type=int)
STAGE.add("--policy", required=True, help="initial policy folder")
STAGE.add("--labels-dir", required=True, help="output folder of label@LANG")
STAGE.add("--out", required=True, help="output model (or adapter) folder")
STAGE.add("--metrics", required=True)
STAGE.add("--scratch", default=".scratch")


def main(ctx: StageContext) -> str:
    from pathlib import Path

    from xlrm.alignment.dpo import train_dpo
    from xlrm.data.pairs import read_pairs

    args, name = ctx.args, run_name(ctx.args)
    pairs = read_pairs(Path(args.labels_dir) / f"{args.labeller}.jsonl")
    with ctx.out_dir(args.out) as tmp:
        stats = train_dpo(args.policy, pairs, tmp, ctx["train_dpo"],
                          scratch_dir=Path(args.scratch) / "dpo" / name, seed=args.seed)
    ctx.write_json(args.metrics, {"run": name, **stats}, metrics="dpo")
    return (f"DPO {name}: {stats['pairs']} pairs, loss {stats.get('first_loss', float('nan')):.4f}"
            f" -> {stats.get('last_loss', float('nan')):.4f} -> {args.out}")


if __name__ == "__main__":
    STAGE.run(main)

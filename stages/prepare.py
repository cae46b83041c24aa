"""DVC stage `prepare`: read preference data, normalise it, validate every row, split train/test."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("prepare", __doc__, params=["prepare"])
STAGE.add("--out-dir", required=True, help="output folder (train.jsonl, test.jsonl)")
STAGE.add("--metrics", required=True, help="output summary JSON")


def main(ctx: StageContext) -> str:
    from xlrm.data.prepare import prepare

    args = ctx.args
    with ctx.out_dir(args.out_dir) as tmp:
        summary = prepare(ctx["prepare"], tmp)
    ctx.write_json(args.metrics, summary, metrics="prepare")
    return (f"prepared {summary['train_pairs']} train / {summary['test_pairs']} test pairs -> "
            f"{args.out_dir}")


if __name__ == "__main__":
    STAGE.run(main)

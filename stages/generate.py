"""DVC stage `generate@LANG`: the policy samples N responses per on-policy prompt (resumable)."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("generate", __doc__, params=["generate"], item="lang")
STAGE.add("--lang", required=True)
STAGE.add("--policy", required=True, help="policy model folder")
STAGE.add("--instructions", required=True, help="<lang>.train.jsonl of `instructions`")
STAGE.add("--out", required=True, help="output samples JSONL")


def main(ctx: StageContext) -> str:
    from xlrm.generation.prompts import read_prompt_file
    from xlrm.generation.run import generate_to_file

    args = ctx.args
    prompts = read_prompt_file(args.instructions)
    # generate_to_file writes args.out atomically itself, beside its resumable partial file.
    stats = generate_to_file(args.policy, prompts, args.out, ctx["generate"], language=args.lang)
    ctx.log_metrics(stats, "generate")
    return (f"generate {args.lang}: {stats.get('samples')} samples for {stats.get('prompts')} "
            f"prompts ({stats.get('resumed', 0)} resumed) -> {args.out}")


if __name__ == "__main__":
    STAGE.run(main)

"""DVC stage `generate@LANG`: the policy samples N responses per on-policy prompt (resumable)."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--lang", required=True)
    p.add_argument("--policy", required=True, help="policy model folder")
    p.add_argument("--instructions", required=True, help="<lang>.train.jsonl of `instructions`")
    p.add_argument("--out", required=True, help="output samples JSONL")
    args = p.parse_args()

    from xlrm.config import load_section, to_dict
    from xlrm.generation import GenerateConfig, generate_to_file
    from xlrm.io import read_jsonl
    from xlrm.tracking import log_metrics, stage_run

    cfg = load_section(GenerateConfig, "generate", args.params)
    prompts = [{"id": r["id"], "messages": r["messages"]} for r in read_jsonl(args.instructions)]
    with stage_run("generate", args.lang, params={"generate": to_dict(cfg)}):
        stats = generate_to_file(args.policy, prompts, args.out, cfg, language=args.lang)
        log_metrics(stats, "generate")
    print(f"generate {args.lang}: {stats.get('samples')} samples for {stats.get('prompts')} prompts "
          f"({stats.get('resumed', 0)} resumed) -> {args.out}")


if __name__ == "__main__":
    stage.main(main)

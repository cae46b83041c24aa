"""DVC stage `instructions`: on-policy prompts and AlpacaEval-style evaluation instructions
(with same-language references) for every alignment language. On-policy prompts that are
also evaluation instructions (same id or text) are dropped, so the two are disjoint."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--prepared-dir", required=True, help="output folder of `prepare` (seed source)")
    p.add_argument("--out-dir", required=True, help="output folder: <lang>.train.jsonl, <lang>.eval.jsonl")
    args = p.parse_args()

    from pathlib import Path

    from xlrm.config import from_dict, read_params, to_dict
    from xlrm.data.instructions import InstructionsConfig, drop_overlap, load_instructions
    from xlrm.io import atomic_path, write_jsonl
    from xlrm.tracking import log_metrics, stage_run

    params = read_params(args.params)
    cfg = from_dict(InstructionsConfig, params.get("instructions"), f"{args.params}: instructions")
    langs = params["alignment_languages"]
    counts = {}
    with stage_run("instructions", params={"instructions": to_dict(cfg), "alignment_languages": langs}):
        with atomic_path(args.out_dir, is_dir=True) as tmp:
            for lang in langs:
                train = load_instructions(cfg.train, lang, split="train", prepared_dir=Path(args.prepared_dir))
                evaluation = load_instructions(cfg.eval, lang, split="eval", prepared_dir=Path(args.prepared_dir))
                train, overlap = drop_overlap(train, evaluation)
                write_jsonl(tmp / f"{lang}.train.jsonl", train)
                write_jsonl(tmp / f"{lang}.eval.jsonl", evaluation)
                counts[lang] = {"train": len(train), "eval": len(evaluation),
                                "train_dropped_overlap": overlap}
        log_metrics(counts, "instructions")
    print("instructions: " + ", ".join(f"{k} {v['train']}/{v['eval']}" for k, v in counts.items())
          + f" (on-policy/eval) -> {args.out_dir}")


if __name__ == "__main__":
    stage.main(main)

"""DVC stage `instructions`: on-policy prompts and AlpacaEval-style evaluation instructions
(with same-language references) for every alignment language. On-policy prompts that are
also evaluation instructions (same id or text) are dropped, so the two are disjoint. Seed
rows carry the rule their item was made with (what the ``rule`` judge checks)."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("instructions", __doc__, params=["instructions", "alignment_languages"])
STAGE.add("--prepared-dir", required=True, help="output folder of `prepare` (seed source)")
STAGE.add("--out-dir", required=True,
          help="output folder: <lang>.train.jsonl, <lang>.eval.jsonl")


def main(ctx: StageContext) -> str:
    from pathlib import Path

    from xlrm.data.instructions import drop_overlap, load_instructions
    from xlrm.io import write_jsonl

    args, cfg = ctx.args, ctx["instructions"]
    prepared = Path(args.prepared_dir)
    counts = {}
    with ctx.out_dir(args.out_dir) as tmp:
        for lang in ctx["alignment_languages"]:
            train = load_instructions(cfg.train, lang, split="train", prepared_dir=prepared)
            evaluation = load_instructions(cfg.eval, lang, split="eval", prepared_dir=prepared)
            train, overlap = drop_overlap(train, evaluation)
            write_jsonl(tmp / f"{lang}.train.jsonl", train)
            write_jsonl(tmp / f"{lang}.eval.jsonl", evaluation)
            counts[lang] = {"train": len(train), "eval": len(evaluation),
                            "train_dropped_overlap": overlap,
                            "eval_with_rule": sum("rule" in r for r in evaluation)}
    ctx.log_metrics(counts, "instructions")
    return ("instructions: " + ", ".join(f"{k} {v['train']}/{v['eval']}" for k, v in counts.items())
            + f" (on-policy/eval) -> {args.out_dir}")


if __name__ == "__main__":
    STAGE.run(main)

"""DVC stage `eval_data`: fetch or build the M-RewardBench-format eval set of every eval language."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("eval_data", __doc__, params=["eval_data", "eval_languages"])
STAGE.add("--prepared-test", required=True, help="held-out split of `prepare`")
STAGE.add("--out-dir", required=True,
          help="output folder, one <FLORES code>.jsonl per language")


def main(ctx: StageContext) -> str:
    from xlrm.data.loaders import to_mrewardbench_rows
    from xlrm.data.prepare import eval_sets_for
    from xlrm.io import write_jsonl
    from xlrm.languages import flores

    args = ctx.args
    pairs: dict[str, int] = {}
    with ctx.out_dir(args.out_dir) as tmp:
        # One language at a time: only its rows are held.
        for lang, rows in eval_sets_for(ctx["eval_data"], ctx["eval_languages"],
                                        args.prepared_test):
            pairs[lang] = write_jsonl(tmp / f"{flores(lang)}.jsonl", to_mrewardbench_rows(rows))
    ctx.log_metrics({"pairs": pairs}, "eval_data")
    return ("eval sets: " + ", ".join(f"{lang} {n}" for lang, n in pairs.items())
            + f" -> {args.out_dir}")


if __name__ == "__main__":
    STAGE.run(main)

"""DVC stage `label@LANG`: the English RM and the LANG RM each pick chosen (best) and
rejected (worst) among every prompt's samples; their agreement is recorded."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("label", __doc__,
              params=["label", "translate.source_language", "launch.label"],
              optional=["launch.label"], item="lang")
STAGE.add("--lang", required=True)
STAGE.add("--rm-dir", required=True, help="folder of trained RMs (models/rm)")
STAGE.add("--base", required=True, help="RM base model folder")
STAGE.add("--samples", required=True)
STAGE.add("--instructions", required=True)
STAGE.add("--out-dir", required=True, help="output folder: english.jsonl, native.jsonl")
STAGE.add("--metrics", required=True)


def main(ctx: StageContext) -> str:
    from xlrm.alignment.label import (LABELLERS, label, labeller_rm, load_labelling_rms,
                                      read_samples)
    from xlrm.data.instructions import read_prompts
    from xlrm.io import write_jsonl
    from xlrm.modeling import load_tokenizer

    args, cfg = ctx.args, ctx["label"]
    prompts = read_prompts(args.instructions)
    samples = read_samples(args.samples)
    src = ctx["translate.source_language"]
    rms = load_labelling_rms(args.rm_dir, args.base, args.lang, src, cfg)
    # Killed runs resume: each labelling RM's scores are journaled beside args.out_dir.
    with ctx.journal(args.out_dir, inputs=[samples, prompts],
                     models=[args.base, *(f"{args.rm_dir}/{labeller_rm(n, args.lang, src)}"
                                          for n in LABELLERS)]) as journal:
        pairs, stats = label(samples, prompts, rms, load_tokenizer(args.base), args.lang, cfg)
        with ctx.out_dir(args.out_dir) as tmp:
            for name, rows in pairs.items():
                write_jsonl(tmp / f"{name}.jsonl", rows)
        ctx.write_json(args.metrics, {"language": args.lang, **stats}, metrics="label")
    ctx.log_metrics({"resumed": journal.hits}, "label")
    return (f"label {args.lang}: " + ", ".join(f"{n} {stats[n]['pairs']} pairs" for n in LABELLERS)
            + f"; same chosen sample on {stats.get('agreement', float('nan')):.0%} of prompts")


if __name__ == "__main__":
    STAGE.run(main)

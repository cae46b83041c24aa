"""DVC stage `alignment`: English-RM-labelled against target-RM-labelled DPO, per language
and on average over the DPO seeds, with two-level bootstrap CIs (seeds, then instructions)
at the level `alignment.confidence`: the verifiable accuracy of each policy (rule checks),
the head-to-head win rates and, in reference mode, the win rates against the references;
the runs' table, a plot and the headline (`alignment.headline`)."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("alignment", __doc__, params=["alignment", "alignment_languages", "dpo_seeds"])
STAGE.add("--alpaca-dir", required=True, help="folder of eval_alpaca outputs")
STAGE.add("--h2h-dir", required=True, help="folder of head_to_head outputs")
STAGE.add("--table", required=True, help="output CSV: one row per evaluated policy")
STAGE.add("--plot", required=True, help="output PNG")
STAGE.add("--metrics", required=True)


def main(ctx: StageContext) -> str:
    import pandas as pd

    from xlrm.alignment.summary import alignment_plot, alignment_summary, read_runs, rounded
    from xlrm.evaluation.bootstrap import confidence_label

    args, cfg = ctx.args, ctx["alignment"]
    langs, seeds = ctx["alignment_languages"], ctx["dpo_seeds"]
    runs = read_runs(args.alpaca_dir, args.h2h_dir, langs, seeds)
    summary = alignment_summary(runs, langs, seeds, cfg)
    with ctx.out_file(args.table) as tmp:
        pd.DataFrame(runs["records"]).round(6).to_csv(tmp, index=False)
    with ctx.out_file(args.plot) as tmp:
        alignment_plot(summary, tmp)
    ctx.artifact(args.table, args.plot)
    ctx.write_json(args.metrics, rounded(summary))
    head = summary["headline"]
    ctx.log_metrics(rounded(head), "alignment")
    if "mean" not in head:
        return f"alignment: no language with both labellers' runs -> {args.metrics}"
    h = head["mean"]
    return (f"English-RM minus target-RM labels ({head['metric']}): {h['diff']:+.2f} points "
            f"({confidence_label(cfg.confidence)} CI {h['ci_low']:+.2f} to {h['ci_high']:+.2f})"
            f" -> {args.metrics}")


if __name__ == "__main__":
    STAGE.run(main)

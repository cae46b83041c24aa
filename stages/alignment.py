"""DVC stage `alignment`: English-RM-labelled minus native-RM-labelled AlpacaEval win rate,
per language and on average, mean over DPO seeds with a two-level bootstrap CI (seeds, then
instructions) at the level ``alignment.confidence``; table and plot."""

from xlrm.stage import Stage, StageContext

STAGE = Stage("alignment", __doc__, params=["alignment", "alignment_languages", "dpo_seeds"])
STAGE.add("--alpaca-dir", required=True, help="folder of eval_alpaca outputs")
STAGE.add("--table", required=True, help="output CSV: one row per evaluated policy")
STAGE.add("--plot", required=True, help="output PNG")
STAGE.add("--metrics", required=True)


def main(ctx: StageContext) -> str:
    import pandas as pd

    from xlrm.alignment.summary import (alignment_headline, read_alpaca_runs, rounded_headline,
                                        winrate_plot)
    from xlrm.evaluation.bootstrap import confidence_label

    args = ctx.args
    records, prefs = read_alpaca_runs(args.alpaca_dir, ctx["alignment_languages"],
                                      ctx["dpo_seeds"])
    table = pd.DataFrame(records)
    head = alignment_headline(prefs, ctx["alignment"])
    with ctx.out_file(args.table) as tmp:
        table.round(6).to_csv(tmp, index=False)
    with ctx.out_file(args.plot) as tmp:
        winrate_plot(table, tmp)
    ctx.artifact(args.table, args.plot)
    rounded = rounded_headline(head, ctx["alignment"].confidence)
    ctx.write_json(args.metrics, {"headline": rounded})
    ctx.log_metrics(rounded, "alignment")
    if "mean" not in head:
        return f"alignment: no language with both labellers' runs -> {args.metrics}"
    h = head["mean"]
    return (f"English-RM minus target-RM labels: {h['diff']:+.2f} win-rate points "
            f"({confidence_label(ctx['alignment'].confidence)} CI {h['ci_low']:+.2f} to {h['ci_high']:+.2f}) -> {args.metrics}")


if __name__ == "__main__":
    STAGE.run(main)

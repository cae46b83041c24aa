"""DVC stage `alignment`: English-RM-labelled minus native-RM-labelled AlpacaEval win rate,
per language and on average, mean over DPO seeds with a 95% bootstrap CI; table and plot."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--alpaca-dir", required=True, help="folder of eval_alpaca outputs")
    p.add_argument("--table", required=True, help="output CSV: one row per evaluated policy")
    p.add_argument("--plot", required=True, help="output PNG")
    p.add_argument("--metrics", required=True)
    args = p.parse_args()

    import pandas as pd

    from xlrm.alignment import AlignmentConfig, alignment_headline, read_alpaca_runs, winrate_plot
    from xlrm.config import read_params, section_of, to_dict
    from xlrm.io import atomic_path, write_json
    from xlrm.tracking import log_metrics, stage_run

    params = read_params(args.params)
    cfg = section_of(AlignmentConfig, params, "alignment", args.params)
    languages, seeds = list(params["alignment_languages"]), list(params["dpo_seeds"])
    records, prefs = read_alpaca_runs(args.alpaca_dir, languages, seeds)
    table = pd.DataFrame(records)
    with stage_run("alignment", params={"alignment": to_dict(cfg), "alignment_languages": languages,
                                        "dpo_seeds": seeds}) as mlflow:
        head = alignment_headline(prefs, cfg)
        with atomic_path(args.table) as tmp:
            table.round(6).to_csv(tmp, index=False)
        with atomic_path(args.plot) as tmp:
            winrate_plot(table, tmp)
        rounded = {"per_language": {k: {kk: round(vv, 4) for kk, vv in v.items()}
                                    for k, v in head["per_language"].items()}}
        if "mean" in head:
            rounded["mean"] = {k: round(v, 4) for k, v in head["mean"].items()}
        write_json(args.metrics, {"headline": rounded})
        log_metrics(rounded, "alignment")
        for path in (args.table, args.plot, args.metrics):
            mlflow.log_artifact(path)
    if "mean" in head:
        h = head["mean"]
        print(f"English-RM minus target-RM labels: {h['diff']:+.2f} win-rate points "
              f"(95% CI {h['ci_low']:+.2f} to {h['ci_high']:+.2f}) -> {args.metrics}")


if __name__ == "__main__":
    stage.main(main)

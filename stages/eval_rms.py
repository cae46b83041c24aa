"""DVC stage `eval_rms`: score the untrained base and every RM (rm_languages x rm_seeds) on
every eval language, the frozen trunk they share computed once (params ``eval_rm``).

Writes ``<scores-dir>/base.jsonl`` and ``<scores-dir>/seed<S>/<lang>.jsonl`` (one row per
pair, and per random head for the base: id, language, subset, category, chosen and rejected
score; RM rows also carry ``rm_seed``) and one metrics file: each model's accuracy per
language and mean, the trunk split, how each model was scored, and the pairs per language.
"""

from xlrm.stage import Stage, StageContext

STAGE = Stage("eval_rms", __doc__,
              params=["eval_rm", "eval_languages", "rm_languages", "rm_seeds", "launch.eval_rm"],
              optional=["launch.eval_rm"])
STAGE.add("--base", required=True, help="base model folder")
STAGE.add("--rm-dir", required=True, help="folder of trained RMs: seed<S>/<lang> (models/rm)")
STAGE.add("--eval-dir", required=True, help="folder of M-RewardBench-format files")
STAGE.add("--scores-dir", required=True, help="output folder of scores JSONL files")
STAGE.add("--metrics", required=True, help="output metrics JSON")


def accuracies(rows: list[dict], rm: str) -> dict:
    """``{"accuracy": {lang: x}, "mean_accuracy": m}`` of one model's scores rows."""
    import pandas as pd

    from xlrm.evaluation.accuracy import accuracy_report

    report = accuracy_report(pd.DataFrame(rows))[rm]
    langs = {lang: round(rec["score"], 6) for lang, rec in report.items()}
    return {"accuracy": langs, "mean_accuracy": round(sum(langs.values()) / len(langs), 6)}


def main(ctx: StageContext) -> str:
    from pathlib import Path

    from xlrm.data.loaders import load_eval_set
    from xlrm.reward.evaluate import BASE, evaluate_rms, model_name

    args = ctx.args
    seeds, langs = ctx["rm_seeds"], ctx["rm_languages"]
    eval_sets = load_eval_set(args.eval_dir, ctx["eval_languages"])
    rms = {model_name(s, lang): Path(args.rm_dir) / f"seed{s}" / lang
           for s in seeds for lang in langs}
    labels = {BASE: {"rm": BASE}, **{model_name(s, lang): {"rm": lang, "rm_seed": s}
                                     for s in seeds for lang in langs}}
    # Killed runs resume (xlrm.reward.evaluate: a unit per language, or per model and
    # language); the rerun may use another launch (ctx.journal leaves launch.eval_rm out).
    with ctx.journal(args.scores_dir, inputs=eval_sets, models=[args.base, *rms.values()]):
        rows, info = evaluate_rms(args.base, rms, labels, eval_sets, ctx["eval_rm"])
        metrics = {BASE: accuracies(rows[BASE], BASE)}
        for s in seeds:
            metrics[f"seed{s}"] = {lang: accuracies(rows[model_name(s, lang)], lang)
                                   for lang in langs}
        metrics.update({"split_layer": info["split_layer"], "layers": info["layers"],
                        "shared_models": sum(v in ("reference", "shared")
                                             for v in info["trunk"].values()),
                        "trunk": info["trunk"],
                        "eval_pairs": {lang: len(r) for lang, r in eval_sets.items()}})
        with ctx.out_dir(args.scores_dir) as tmp:
            for name, model_rows in rows.items():
                path = tmp / f"{name}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                ctx.write_jsonl(path, model_rows)
        ctx.write_json(args.metrics, metrics)
    ctx.log_metrics({**metrics, "scoring": {"seconds": info["seconds"],
                                            "resumed": info["resumed"],
                                            "models": info["stats"]}}, "eval")
    ctx.tags({"xlrm.trunk.split_layer": str(info["split_layer"]),
              **{f"xlrm.trunk.{n}": v[:250] for n, v in info["trunk"].items()}})
    summary = ", ".join(f"{n} {metrics[n]['mean_accuracy']:.3f}" if n == BASE else
                        f"{n} {metrics[n.split('/')[0]][n.split('/')[1]]['mean_accuracy']:.3f}"
                        for n in rows)
    return (f"{len(rows)} models (trunk split at layer {info['split_layer']} of "
            f"{info['layers']}): {summary} -> {args.scores_dir}, {args.metrics}")


if __name__ == "__main__":
    STAGE.run(main)

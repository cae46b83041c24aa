"""DVC stage `analyze_embeddings`: input-embedding norms of English tokens against tokens of
other languages (the study's Figure 2).

For every model of ``analyze_embeddings.models`` (local folders or hub ids): the L2 norm of
each input-embedding row whose token is assigned a language (rule: xlrm.analysis.tokens.
assign_token_languages), summary statistics per language (CSV), histograms (PNG), and the
Kolmogorov-Smirnov statistic and Wasserstein distance from English (metrics).
"""

from xlrm.stage import Stage, StageContext

STAGE = Stage("analyze_embeddings", __doc__, params=["analyze_embeddings"])
STAGE.add("--eval-dir", default=None,
          help="folder of M-RewardBench-format files (the corpus when corpus: eval)")
STAGE.add("--stats", required=True, help="output CSV: summary per (model, language)")
STAGE.add("--plot", required=True, help="output histogram PNG")
STAGE.add("--metrics", required=True, help="output metrics JSON")
STAGE.add("--tokens", default=None, help="output CSV of every analysed token (optional)")


def main(ctx: StageContext) -> str:
    from xlrm.analysis.embeddings import load_corpus, run_analyze_embeddings

    args, cfg = ctx.args, ctx["analyze_embeddings"]
    corpus = load_corpus(cfg, args.eval_dir)
    metrics = run_analyze_embeddings(cfg, corpus, stats_csv=args.stats, plot_png=args.plot,
                                     tokens_csv=args.tokens)
    ctx.write_json(args.metrics, metrics)
    ctx.log_metrics(metrics["models"], "emb")
    ctx.artifact(args.stats, args.plot)
    lines = []
    for model, per_lang in metrics["models"].items():
        ks = ", ".join(f"{lang} {r['ks']:.2f}" for lang, r in per_lang.items()
                       if lang != cfg.reference_language and r["ks"] is not None)
        lines.append(f"{model}: KS vs {cfg.reference_language}: {ks}")
    return "\n".join([*lines, f"-> {args.stats}, {args.plot}, {args.metrics}"])


if __name__ == "__main__":
    STAGE.run(main)

"""DVC stage `analyze_embeddings`: input-embedding norms of English tokens against tokens of
other languages (the study's Figure 2).

For every model of ``analyze_embeddings.models`` (local folders or hub ids): the L2 norm of
each input-embedding row whose token is assigned a language (rule: xlrm.analysis.
assign_token_languages), summary statistics per language (CSV), histograms (PNG), and the
Kolmogorov-Smirnov statistic and Wasserstein distance from English (metrics).
"""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--eval-dir", default=None,
                   help="folder of M-RewardBench-format files (the corpus when corpus: eval)")
    p.add_argument("--stats", required=True, help="output CSV: summary per (model, language)")
    p.add_argument("--plot", required=True, help="output histogram PNG")
    p.add_argument("--metrics", required=True, help="output metrics JSON")
    p.add_argument("--tokens", default=None, help="output CSV of every analysed token (optional)")
    args = p.parse_args()

    from xlrm.analysis import (AnalyzeEmbeddingsConfig, corpus_from_rows, run_analyze_embeddings,
                               seed_corpus)
    from xlrm.config import from_dict, read_params, to_dict
    from xlrm.errors import ConfigError
    from xlrm.tracking import log_metrics, stage_run

    params = read_params(args.params)
    cfg = from_dict(AnalyzeEmbeddingsConfig, params.get("analyze_embeddings"),
                    f"{args.params}: analyze_embeddings")
    if cfg.corpus == "eval":
        from xlrm.data.loaders import load_eval_set

        if args.eval_dir is None:
            raise ConfigError("analyze_embeddings.corpus is 'eval': pass --eval-dir")
        corpus = corpus_from_rows(load_eval_set(args.eval_dir, cfg.languages))
    else:
        corpus = seed_corpus(cfg.languages, cfg.seed_items_per_subset)
    with stage_run("analyze_embeddings", params={"analyze_embeddings": to_dict(cfg)}) as mlflow:
        metrics = run_analyze_embeddings(cfg, corpus, stats_csv=args.stats, plot_png=args.plot,
                                         metrics_json=args.metrics, tokens_csv=args.tokens)
        log_metrics(metrics["models"], "emb")
        for path in (args.stats, args.plot, args.metrics):
            mlflow.log_artifact(path)
    for model, per_lang in metrics["models"].items():
        ks = ", ".join(f"{lang} {r['ks']:.2f}" for lang, r in per_lang.items()
                       if lang != cfg.reference_language and r["ks"] is not None)
        print(f"{model}: KS vs {cfg.reference_language}: {ks}")
    print(f"-> {args.stats}, {args.plot}, {args.metrics}")


if __name__ == "__main__":
    stage.main(main)

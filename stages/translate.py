"""DVC stage `translate@LANG`: the English training set in language LANG (ids kept aligned).

For the source language itself the rows pass through the same language check.
"""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--lang", required=True, help="target language (ISO 639-1)")
    p.add_argument("--prepared", required=True, help="prepared train.jsonl")
    p.add_argument("--out", required=True, help="output JSONL of the target language")
    p.add_argument("--metrics", required=True, help="output stats JSON")
    args = p.parse_args()

    from xlrm.config import load_section, to_dict
    from xlrm.data.mix import read_pairs
    from xlrm.errors import DataError
    from xlrm.io import write_json, write_jsonl
    from xlrm.languages import check
    from xlrm.tracking import log_metrics, stage_run
    from xlrm.translation import TranslateConfig, translate_rows

    from pathlib import Path

    cfg = load_section(TranslateConfig, "translate", args.params)
    check(args.lang)
    all_rows = read_pairs(Path(args.prepared))
    source = [r for r in all_rows if r["language"] == cfg.source_language]
    if not source:
        raise DataError(f"no rows in the source language {cfg.source_language!r}", path=args.prepared)
    # Secrets never reach MLflow: the config names the env var holding the key, not the key.
    with stage_run("translate", args.lang, params={"translate": to_dict(cfg)}) as mlflow:
        rows, stats = translate_rows(source, args.lang, cfg, all_rows=all_rows)
        if not rows:
            raise DataError(f"translation to {args.lang!r} left no rows ({stats})", path=args.prepared)
        write_jsonl(args.out, rows)
        write_json(args.metrics, {"language": args.lang, **stats})
        log_metrics({k: v for k, v in stats.items() if k != "language"}, "translate")
        mlflow.log_artifact(args.metrics)
    print(f"translate {cfg.source_language}->{args.lang} ({cfg.backend}): {stats.get('rows_out', len(rows))} "
          f"of {stats.get('rows_in', len(source))} rows kept -> {args.out}")


if __name__ == "__main__":
    stage.main(main)

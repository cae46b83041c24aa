"""DVC stage `translate@LANG`: the English training set in language LANG (ids kept aligned).

For the source language itself the rows pass through the same language check.
"""

from xlrm.stage import Stage, StageContext

STAGE = Stage("translate", __doc__, params=["translate"], item="lang")
STAGE.add("--lang", required=True, help="target language (ISO 639-1)")
STAGE.add("--prepared", required=True, help="prepared train.jsonl")
STAGE.add("--out", required=True, help="output JSONL of the target language")
STAGE.add("--metrics", required=True, help="output stats JSON")


def main(ctx: StageContext) -> str:
    from pathlib import Path

    from xlrm.data.pairs import read_pairs_of
    from xlrm.errors import DataError
    from xlrm.languages import check
    from xlrm.translation.rows import translate_rows

    args, cfg = ctx.args, ctx["translate"]
    check(args.lang)
    # The whole file is validated, but only the rows of the source and target languages are
    # kept (the reference backend looks up the target's rows; the others need none).
    by_lang = read_pairs_of(Path(args.prepared), [cfg.source_language, args.lang])
    source = by_lang[cfg.source_language]
    if not source:
        raise DataError(f"no rows in the source language {cfg.source_language!r}",
                        path=args.prepared)
    # Secrets never reach MLflow: the config names the env var holding the key, not the key.
    # Killed runs resume: translated segments / API replies are journaled beside args.out.
    # The section's throughput-only settings (TranslateConfig.journal_params) are left out
    # of the journal's fingerprint.
    local = cfg.backend in ("hf", "vllm")
    model = (cfg.hf.models.get(args.lang) or cfg.hf.model) if local else None
    with ctx.journal(args.out, inputs=source, models=[model],
                     params={"translate": cfg.journal_params()}) as journal:
        rows, stats = translate_rows(source, args.lang, cfg, all_rows=by_lang[args.lang])
        ctx.log_metrics({"resumed": journal.hits}, "translate")
        if not rows:
            raise DataError(f"translation to {args.lang!r} left no rows ({stats})",
                            path=args.prepared)
        ctx.write_jsonl(args.out, rows)
        ctx.write_json(args.metrics, {"language": args.lang, **stats}, metrics="translate")
    return (f"translate {cfg.source_language}->{args.lang} ({cfg.backend}): "
            f"{stats['rows_out']} of {stats['rows_in']} rows kept -> {args.out}")


if __name__ == "__main__":
    STAGE.run(main)

"""The ``prepare`` and ``eval_data`` stages' cores: load, normalise, validate, split.

Their params sections are :class:`xlrm.data.config.PrepareConfig` and
:class:`xlrm.data.config.EvalDataConfig`.
"""

from __future__ import annotations

from pathlib import Path

from xlrm.data.config import EvalDataConfig, PrepareConfig
from xlrm.errors import ConfigError


def load_prepare_source(cfg: PrepareConfig) -> tuple[list[dict], dict]:
    """Rows of the configured source, normalised and validated, plus load stats."""
    if cfg.source == "seed":
        from xlrm.data import seed
        from xlrm.schema import validate_pair

        rows = [validate_pair(r) for r in seed.generate(cfg.seed.seed, cfg.seed.items_per_subset,
                                                        cfg.seed.languages)]
        if cfg.max_pairs is not None:
            keep = set(sorted({r["id"] for r in rows})[: cfg.max_pairs])
            rows = [r for r in rows if r["id"] in keep]
        return rows, {"rows_read": len(rows), "rows_kept": len(rows), "rows_skipped": 0}
    from xlrm.data.loaders import load_preferences

    return load_preferences(cfg.source, format=cfg.format, language=cfg.language,
                            hub_config=cfg.hub_config, hub_split=cfg.hub_split,
                            on_bad_row=cfg.on_bad_row, max_pairs=cfg.max_pairs)


def prepare(cfg: PrepareConfig) -> tuple[list[dict], list[dict], dict]:
    """Load and split; returns (train rows, test rows, summary)."""
    from xlrm.data.loaders import split_train_test

    rows, stats = load_prepare_source(cfg)
    train, test = split_train_test(rows, cfg.test_fraction, cfg.split_seed)
    summary = {"load": stats, "train_pairs": len(train), "test_pairs": len(test)}
    for name, part in (("train", train), ("test", test)):
        by_lang: dict[str, int] = {}
        for r in part:
            by_lang[r["language"]] = by_lang.get(r["language"], 0) + 1
        summary[f"{name}_by_language"] = dict(sorted(by_lang.items()))
    return train, test, summary


def eval_sets_for(cfg: EvalDataConfig, languages: list[str], prepared_test: Path
                  ) -> dict[str, list[dict]]:
    """M-RewardBench-format rows per eval language from the configured source."""
    from xlrm.data.loaders import load_eval_set
    from xlrm.io import read_jsonl
    from xlrm.schema import validate_file_rows

    if cfg.source != "prepared":
        return load_eval_set(cfg.source, languages, max_per_language=cfg.max_per_language)
    rows = validate_file_rows(read_jsonl(prepared_test, nonempty=True),
                              str(prepared_test))
    out = {}
    for lang in languages:
        part = [r for r in rows if r["language"] == lang]
        if not part:
            raise ConfigError(f"eval_data: the prepared test split {prepared_test} has no rows in "
                              f"language {lang!r}")
        missing = [r["id"] for r in part if r.get("category") is None]
        if missing:
            raise ConfigError(f"eval_data: prepared rows need a category to be scored; "
                              f"{len(missing)} in {lang} have none (first id {missing[0]})")
        out[lang] = part[: cfg.max_per_language] if cfg.max_per_language else part
    return out

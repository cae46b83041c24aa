"""The ``prepare`` and ``eval_data`` stages' cores: load, normalise, validate, split.

Their params sections are :class:`xlrm.data.config.PrepareConfig` and
:class:`xlrm.data.config.EvalDataConfig`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xlrm.data.config import EvalDataConfig, PrepareConfig
from xlrm.errors import ConfigError


def iter_prepare_source(cfg: PrepareConfig, stats: dict[str, Any]) -> Iterator[dict]:
    """Rows of the configured source, normalised and validated, one at a time (files are
    read line by line where their format allows); ``stats`` gets the load stats once the
    rows are exhausted."""
    if cfg.source == "seed":
        from xlrm.data import seed
        from xlrm.schema import validate_pair

        rows = [validate_pair(r) for r in seed.generate(cfg.seed.seed, cfg.seed.items_per_subset,
                                                        cfg.seed.languages)]
        if cfg.max_pairs is not None:
            keep = set(sorted({r["id"] for r in rows})[: cfg.max_pairs])
            rows = [r for r in rows if r["id"] in keep]
        yield from rows
        stats.update({"rows_read": len(rows), "rows_kept": len(rows), "rows_skipped": 0})
        return
    from xlrm.data.loaders import iter_preferences

    yield from iter_preferences(cfg.source, stats, format=cfg.format, language=cfg.language,
                                hub_config=cfg.hub_config, hub_split=cfg.hub_split,
                                on_bad_row=cfg.on_bad_row, max_pairs=cfg.max_pairs)


def _digest(*parts: Any) -> bytes:
    return hashlib.blake2b(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode("utf-8"),
                           digest_size=16).digest()


def prepare(cfg: PrepareConfig, out_dir: Path) -> dict:
    """Load, split and write ``out_dir/train.jsonl`` and ``out_dir/test.jsonl`` (the rows in
    input order); returns the summary.

    With ``drop_duplicates`` an id whose pair repeats an earlier id's (same language, prompt,
    chosen and rejected) is dropped in every language. The split is by id
    (:func:`xlrm.data.split.split_ids`) or, with ``split_by: prompt``, by groups of ids that
    share a prompt in any language (:func:`xlrm.data.split.split_grouped`, stratified by
    subset), so nothing of a test prompt is trained on.

    Streams: each valid row is written once, as its output line, to an unnamed spill file
    in ``out_dir`` while its keys (id, language and two 16-byte digests) are collected; once
    every id is known the split is drawn and the lines are copied to train or test. Memory
    holds the keys, not the rows.
    """
    from xlrm.data.split import split_grouped, split_ids

    stats: dict[str, Any] = {}
    keys: list[tuple[str, str, bytes, Any]] = []
    first_pair: dict[bytes, str] = {}
    duplicates: set[str] = set()
    with tempfile.TemporaryFile(dir=out_dir) as spill:
        for row in iter_prepare_source(cfg, stats):
            item_id, lang = row["id"], sys.intern(row["language"])
            prompt_key = _digest(lang, row["prompt"])
            pair_key = _digest(lang, row["prompt"], row["chosen"], row["rejected"])
            if first_pair.setdefault(pair_key, item_id) != item_id:
                duplicates.add(item_id)
            keys.append((item_id, lang, prompt_key, row.get("subset")))
            spill.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
        del first_pair
        if not cfg.drop_duplicates:
            duplicates = set()
        kept = [k for k in keys if k[0] not in duplicates]
        if cfg.split_by == "prompt":
            test_ids, group_stats = split_grouped(((i, p, s) for i, _, p, s in kept),
                                                  cfg.test_fraction, cfg.split_seed)
        else:
            test_ids = split_ids({k[0] for k in kept}, cfg.test_fraction, cfg.split_seed)
            group_stats = {}
        spill.seek(0)
        counts: dict[str, Counter] = {"train": Counter(), "test": Counter()}
        with open(out_dir / "train.jsonl", "wb") as train, \
                open(out_dir / "test.jsonl", "wb") as test:
            for (item_id, lang, _, _), line in zip(keys, spill):
                if item_id in duplicates:
                    continue
                part = "test" if item_id in test_ids else "train"
                (test if part == "test" else train).write(line)
                counts[part][lang] += 1
    summary: dict[str, Any] = {"load": stats, "split_by": cfg.split_by,
                               "duplicate_ids_dropped": len(duplicates), **group_stats,
                               "train_pairs": sum(counts["train"].values()),
                               "test_pairs": sum(counts["test"].values())}
    for name in ("train", "test"):
        summary[f"{name}_by_language"] = dict(sorted(counts[name].items()))
    return summary


def eval_sets_for(cfg: EvalDataConfig, languages: list[str], prepared_test: Path
                  ) -> Iterator[tuple[str, list[dict]]]:
    """M-RewardBench-format rows per eval language from the configured source, one
    language at a time: ``(iso_code, rows)``."""
    from xlrm.data.loaders import iter_eval_sets
    from xlrm.io import read_jsonl
    from xlrm.schema import validate_file_rows

    if cfg.source != "prepared":
        yield from iter_eval_sets(cfg.source, languages, max_per_language=cfg.max_per_language,
                                  mrewardbench=cfg.mrewardbench, rewardbench=cfg.rewardbench)
        return
    rows = validate_file_rows(read_jsonl(prepared_test, nonempty=True),
                              str(prepared_test))
    for lang in languages:
        part = [r for r in rows if r["language"] == lang]
        if not part:
            raise ConfigError(f"eval_data: the prepared test split {prepared_test} has no rows in "
                              f"language {lang!r}")
        missing = [r["id"] for r in part if r.get("category") is None]
        if missing:
            raise ConfigError(f"eval_data: prepared rows need a category to be scored; "
                              f"{len(missing)} in {lang} have none (first id {missing[0]})")
        yield lang, (part[: cfg.max_per_language] if cfg.max_per_language else part)

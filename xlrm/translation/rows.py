"""The ``translate`` stage's core: :func:`translate_rows` (backend, validation, language
check) and :func:`language_filter`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from xlrm import languages
from xlrm.errors import DataError
from xlrm.langid import LanguageChecker
from xlrm.schema import validate_pair
from xlrm.tracking import log_effective_config
from xlrm.translation.backends import Backend, make_backend
from xlrm.translation.config import TranslateConfig

log = logging.getLogger(__name__)


def _prompt_text(row: dict) -> str:
    return "\n".join(m["content"] for m in row["prompt"])


def language_filter(rows: list[dict], lang: str, checker: LanguageChecker,
                    fields_checked: Sequence[str] = ("prompt", "chosen", "rejected"),
                    ) -> tuple[list[dict], dict[str, int]]:
    """Keep rows whose checked fields (prompt, chosen, rejected) are each identified as ``lang``."""
    getters = {"prompt": _prompt_text, "chosen": lambda r: r["chosen"],
               "rejected": lambda r: r["rejected"]}
    fields = {name: [getters[name](r) for r in rows] for name in fields_checked}
    ok = {name: checker.are_language(texts, lang) for name, texts in fields.items()}
    kept = [r for i, r in enumerate(rows) if all(ok[n][i] for n in fields)]
    counts = {f"langid_failed_{n}": sum(not x for x in ok[n]) for n in fields}
    return kept, counts


def effective_settings(cfg: TranslateConfig, target: str, backend: Backend | None,
                       checker: LanguageChecker | None) -> dict[str, Any]:
    """What translating into ``target`` actually runs with: the backend's resolved settings
    (under its name; none for the pass-through of the source language) and the language
    check's candidate set."""
    out: dict[str, Any] = {
        "backend": cfg.backend, "source_language": cfg.source_language, "target": target,
        "passthrough": backend is None, "max_rows": cfg.max_rows, "langid": checker is not None}
    if checker is not None:
        out.update(langid_fields=list(cfg.langid_fields), langid_min_chars=checker.min_chars,
                   langid_candidates=sorted(checker.candidates))
    if backend is not None:
        out[backend.name] = backend.settings(target)
    return out


def translate_rows(rows: list[dict], target: str, cfg: TranslateConfig, *,
                   all_rows: list[dict] | None = None,
                   backend: Backend | None = None) -> tuple[list[dict], dict]:
    """Translate source-language ``rows`` into ``target``.

    Args:
        rows: normalised rows in ``cfg.source_language``.
        target: xlrm language code to translate into.
        cfg: the ``translate`` section.
        all_rows: prepared rows of every language (the ``reference`` backend needs them).
        backend: a backend from :func:`make_backend` to reuse (its model and cache);
            by default one is made from ``cfg``.

    Returns:
        The target rows (same ids, ``language=target``, in input order, each passing
        :func:`validate_pair`) and stats: ``rows_in``, ``rows_out``, ``dropped_langid``,
        ``dropped_empty``, ``dropped_failed``, ``missing_reference``, ``backend``,
        ``source_language``, ``target``, ``passthrough`` and backend-specific counters.
        When ``target`` is the source language the rows pass through untranslated and
        only the language check applies.

    Raises:
        DataError: an input row is not in the source language or is malformed.
        ConfigError, TranslationError: a backend is misconfigured or unreachable.
    """
    source = cfg.source_language
    languages.check(target)
    if cfg.max_rows is not None:
        rows = rows[:cfg.max_rows]
    for i, row in enumerate(rows, start=1):
        validate_pair(row, row_num=i)
        if row["language"] != source:
            raise DataError(f"expected source language {source!r}, got {row['language']!r}",
                            row=i, field="language")
    stats: dict[str, Any] = {"rows_in": len(rows), "rows_out": 0, "dropped_langid": 0,
                             "dropped_empty": 0, "dropped_failed": 0, "missing_reference": 0,
                             "backend": cfg.backend, "source_language": source,
                             "target": target, "passthrough": target == source}
    checker = (LanguageChecker(list(dict.fromkeys([target, source])), cfg.langid_min_chars)
               if cfg.langid else None)
    if target == source:
        log_effective_config("translate", effective_settings(cfg, target, None, checker))
        produced: list[dict | None] = [dict(r) for r in rows]
    else:
        backend = backend or make_backend(cfg)
        log_effective_config("translate", effective_settings(cfg, target, backend, checker))
        produced, bstats = backend.translate_rows(rows, source, target, all_rows=all_rows)
        stats.update(bstats)
    valid: list[dict] = []
    for row in produced:
        if row is None:
            continue
        try:
            valid.append(validate_pair(row))
        except DataError:
            stats["dropped_empty"] += 1
    if checker is not None and valid:
        kept, counts = language_filter(valid, target, checker, cfg.langid_fields)
        stats["dropped_langid"] = len(valid) - len(kept)
        stats.update(counts)
        valid = kept
    stats["rows_out"] = len(valid)
    log.info("translate %s -> %s (%s): %d of %d rows kept", source, target, cfg.backend,
             len(valid), len(rows))
    return valid, stats

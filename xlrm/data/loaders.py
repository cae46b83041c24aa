"""Load preference data of many shapes into the normalised schema (:mod:`xlrm.schema`).

Entry points:

* :func:`load_preferences` reads local files (``.json``, ``.jsonl``, ``.json.gz``,
  ``.jsonl.gz``, ``.parquet``), directories of them, or a Hugging Face hub data set
  (:mod:`xlrm.data.sources`), in one of the shapes registered in
  :data:`xlrm.data.formats.PARSERS` (``pairs``, ``sharegpt``, ``hh-rlhf``, ``llmbar``,
  ``mrewardbench``), auto-detected per file by default, and returns validated rows + stats;
  :func:`iter_preferences` gives the same rows one at a time (JSON-lines files are read
  line by line).
* :func:`split_train_test` splits rows by item id with a seeded hash (:mod:`xlrm.data.split`).
* :func:`load_eval_set` loads Multilingual RewardBench (hub or a local directory), one list
  of rows per language, with each row's ``category`` filled in; :func:`iter_eval_sets`
  gives them one language at a time.
* :func:`to_mrewardbench_rows` turns normalised single-turn rows back into the
  M-RewardBench schema.

Bad rows raise :class:`~xlrm.errors.DataError` naming the file, the 1-based row number (the
line number for JSON-lines files) and the field, or, with ``on_bad_row="skip"``, are
skipped and counted by reason in the stats (reasons:
:data:`xlrm.data.formats.SKIP_REASONS`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlrm import languages as langs
from xlrm.data.formats import DEFAULT_SUBSET, PARSERS, BadRow, Parsed, detect_format
from xlrm.data.sources import (DATA_SUFFIXES, InvalidJson, Source, expand_sources, file_source,
                               hub_source)
from xlrm.data.split import split_ids, split_train_test  # noqa: F401 (part of this API)
from xlrm.errors import ConfigError, DataError
from xlrm.evaluation.weights import MREWARDBENCH_WEIGHTS
from xlrm.schema import CATEGORIES, validate_pair

# subset -> (category, weight): M-RewardBench's counts; the one table lives with the scorer.
MREWARDBENCH_SUBSETS = MREWARDBENCH_WEIGHTS

MREWARDBENCH_HUB_ID = "CohereLabsCommunity/multilingual-reward-bench"
REWARDBENCH_HUB_ID = "allenai/reward-bench"
# Older revisions of M-RewardBench name the split "filtered", newer ones "test" (same rows).
EVAL_SPLITS = ("filtered", "test")


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------


def _norm_language(value: Any, default: str) -> str:
    """The row's language (FLORES-200 codes mapped to ISO 639-1), else ``default``."""
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise BadRow("wrong_type", "language", f"must be a string, got {type(value).__name__}")
    value = value.strip()
    if value in langs.LANGUAGES:
        return value
    try:
        return langs.from_flores(value)
    except ConfigError:
        return value


def _norm_category(value: Any) -> str | None:
    """``Chat Hard`` / ``chat_hard`` / ``chat-hard`` -> ``chat-hard``; None stays None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRow("wrong_type", "category", f"must be a string, got {type(value).__name__}")
    norm = re.sub(r"[\s_]+", "-", value.strip().lower())
    if norm not in CATEGORIES:
        raise BadRow("bad_category", "category", f"must be one of {CATEGORIES}, got {value!r}")
    return norm


def _str_field(value: Any, key: str) -> str:
    """A string field; integer ids (also integer-valued floats, as pandas writes them when a
    column has gaps) become their decimal string."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRow("wrong_type", key, f"must be a string, got {type(value).__name__}")
    value = str(value)
    if not value.strip():
        raise BadRow("empty_text", key, "is empty")
    return value


def _normalise(parsed: Parsed, *, default_id: str, language: str, source: str,
               subset: str) -> dict[str, Any]:
    """Fill the schema fields from the parsed row and the source's defaults."""
    extra = parsed.extra
    row: dict[str, Any] = {
        "id": _str_field(extra["id"], "id") if "id" in extra else default_id,
        "language": _norm_language(extra.get("language"), language),
        "prompt": parsed.prompt,
        "chosen": parsed.chosen,
        "rejected": parsed.rejected,
        "source": _str_field(extra["source"], "source") if "source" in extra else source,
        "subset": _str_field(extra["subset"], "subset") if "subset" in extra else subset,
    }
    if parsed.prompt[-1]["role"] != "user":
        raise BadRow("unparseable_dialogue", "prompt",
                     "the last prompt message must be a user turn")
    if parsed.chosen.strip() == parsed.rejected.strip():
        raise BadRow("identical_responses", "chosen", "chosen and rejected are identical")
    category = _norm_category(extra.get("category"))
    if category is None and row["subset"] in MREWARDBENCH_SUBSETS:
        category = MREWARDBENCH_SUBSETS[row["subset"]][0]
    if category is not None:
        row["category"] = category
    return row


@dataclass
class _Stats:
    rows_read: int = 0
    rows_kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    formats: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"rows_read": self.rows_read, "rows_kept": self.rows_kept,
                "rows_skipped": sum(self.skipped.values()),
                "skipped_by_reason": dict(sorted(self.skipped.items())),
                "formats": dict(self.formats)}


def _load(sources: Iterable[Source], **kwargs: Any) -> tuple[list[dict], dict]:
    """:func:`_iter_load` into a list, and its stats."""
    stats = _Stats()
    rows = [row for _, row in _iter_load(sources, stats, **kwargs)]
    return rows, stats.as_dict()


def _iter_load(sources: Iterable[Source], stats: _Stats, *, fmt: str, language: str,
               on_bad_row: str, max_pairs: int | None, id_prefix: str | None,
               set_language: str | None = None,
               hint: str = "; pass on_bad_row='skip' to skip bad rows"
               ) -> Iterator[tuple[int, dict]]:
    """The shared row loop of :func:`load_preferences` and :func:`load_eval_set`: the
    valid rows one at a time with their row numbers (``stats`` counts as they go);
    ``set_language`` overrides every raw row's language."""
    if fmt != "auto" and fmt not in PARSERS:
        raise ConfigError(f"unknown data format {fmt!r}; known: {['auto', *PARSERS]}")
    if on_bad_row not in ("error", "skip"):
        raise ConfigError(f"on_bad_row must be 'error' or 'skip', got {on_bad_row!r}")
    if max_pairs is not None and (isinstance(max_pairs, bool) or not isinstance(max_pairs, int)
                                  or max_pairs < 0):
        raise ConfigError(f"max_pairs must be a non-negative integer or null, got {max_pairs!r}")

    seen: dict[tuple[str, str], tuple[str, int]] = {}  # -> (where, row number)
    counters: Counter = Counter()  # running row index per id prefix (stable ids)
    for src in sources:
        if max_pairs is not None and stats.rows_kept >= max_pairs:
            break
        src_fmt = fmt
        if fmt == "auto":
            first = next((r for r in src.rows if isinstance(r, dict)), None)
            if first is None:
                stats.formats[src.where] = "empty"
            else:
                detected = detect_format(first)
                if detected is None:
                    raise DataError(
                        f"cannot detect the data format from the keys {sorted(first)}; pass "
                        f"format= one of {list(PARSERS)}", path=src.where)
                src_fmt = detected
        if src_fmt != "auto":
            stats.formats[src.where] = src_fmt
        parser = PARSERS.get(src_fmt)
        prefix = id_prefix or src.stem
        subset = DEFAULT_SUBSET.get(src_fmt, lambda s: s)(src.stem)
        n_raw = 0
        for row_num, raw in src.numbered():
            if max_pairs is not None and stats.rows_kept >= max_pairs:
                break
            n_raw += 1
            stats.rows_read += 1
            if set_language is not None and isinstance(raw, dict):
                raw = {**raw, "language": set_language}
            default_id = f"{prefix}-{counters[prefix]:06d}"
            counters[prefix] += 1
            try:
                if isinstance(raw, InvalidJson):
                    raise BadRow("invalid_json", None, raw.message)
                if not isinstance(raw, dict):
                    raise BadRow("wrong_type", None,
                                 f"expected an object, got {type(raw).__name__}")
                assert parser is not None
                row = _normalise(parser(raw), default_id=default_id, language=language,
                                 source=src.source, subset=subset)
                try:
                    row = validate_pair(row)
                except DataError as e:  # only field (if any) in its prefix
                    message = str(e)
                    if e.field is not None:
                        message = message.removeprefix(f"field '{e.field}': ")
                    raise BadRow("invalid", e.field, message) from None
                key = (row["id"], row["language"])
                if key in seen:
                    where, first = seen[key]
                    raise BadRow("duplicate", "id",
                                 f"duplicate (id, language) {key}, first seen in {where}, "
                                 f"row {first}")
                seen[key] = (src.where, row_num)
            except BadRow as bad:
                if on_bad_row == "error":
                    raise DataError(f"{bad.message} (reason: {bad.reason}{hint})",
                                    path=src.where, row=row_num, field=bad.field) from None
                stats.skipped[bad.reason] += 1
                continue
            stats.rows_kept += 1
            yield row_num, row
        if n_raw == 0 and not (max_pairs is not None and stats.rows_kept >= max_pairs):
            raise DataError("no rows: the file is empty (or holds only blank lines or an "
                            "empty list)", path=src.where)
    if stats.rows_kept == 0 and max_pairs != 0:
        read = stats.as_dict()
        raise DataError(f"no usable row: {read['rows_read']} read, every one skipped "
                        f"(by reason: {read['skipped_by_reason']})",
                        path=", ".join(stats.formats) or None)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def load_preferences(source: str | os.PathLike | Sequence[str | os.PathLike], *,
                     format: str = "auto", language: str = "en",
                     hub_config: str | None = None, hub_split: str = "train",
                     on_bad_row: str = "error", max_pairs: int | None = None,
                     source_name: str | None = None) -> tuple[list[dict], dict]:
    """Load preference pairs and normalise them to the :mod:`xlrm.schema` row schema.

    Args:
        source: a file, a directory (searched recursively, files in sorted order), a list of
            them, or a Hugging Face hub data set id (anything that is not an existing path and
            looks like ``name`` or ``owner/name``).
        format: ``"auto"`` (detected per file from its first row) or one of :data:`PARSERS`.
        language: language of rows that carry none (a row's FLORES code is mapped to ISO).
        hub_config, hub_split: config and split for a hub data set.
        on_bad_row: ``"error"`` raises DataError naming file, row and field; ``"skip"``
            skips the row and counts it under its reason in the stats.
        max_pairs: stop after this many kept rows.
        source_name: the ``source`` field and id prefix of rows that carry none (default:
            ``<parent folder>/<file stem>`` as source, the file stem as id prefix; the hub id).

    Returns:
        ``(rows, stats)``; every row passed :func:`xlrm.schema.validate_pair`, and
        ``(id, language)`` is unique. ``stats`` has ``rows_read``, ``rows_kept``,
        ``rows_skipped``, ``skipped_by_reason`` and ``formats`` (source -> detected format).
        Rows without an id get ``f"{prefix}-{index:06d}"``, ``index`` counting every row read
        under that prefix (skipped ones too), so ids do not shift when a bad row is skipped.

    Raises:
        DataError: a bad row (in error mode), an unreadable file, an undetectable format,
            a file without a single row, or no usable row at all (every row skipped).
        MissingResourceError: a hub data set that is neither reachable nor cached.
        ConfigError: an unknown ``format`` / ``on_bad_row`` or a bad ``max_pairs``.
    """
    stats: dict[str, Any] = {}
    rows = list(iter_preferences(source, stats, format=format, language=language,
                                 hub_config=hub_config, hub_split=hub_split,
                                 on_bad_row=on_bad_row, max_pairs=max_pairs,
                                 source_name=source_name))
    return rows, stats


def iter_preferences(source: str | os.PathLike | Sequence[str | os.PathLike],
                     stats: dict[str, Any], *, format: str = "auto", language: str = "en",
                     hub_config: str | None = None, hub_split: str = "train",
                     on_bad_row: str = "error", max_pairs: int | None = None,
                     source_name: str | None = None) -> Iterator[dict]:
    """:func:`load_preferences` one row at a time (JSON-lines files are read line by line):
    ``stats`` gets the same keys once the rows are exhausted."""
    counts = _Stats()
    sources = expand_sources(source, source_name, hub_config, hub_split)
    for _, row in _iter_load(sources, counts, fmt=format, language=language,
                             on_bad_row=on_bad_row, max_pairs=max_pairs,
                             id_prefix=source_name):
        yield row
    stats.update(counts.as_dict())


def _eval_file(directory: Path, lang: str) -> Path:
    """The one file for ``lang`` in an eval directory, named by FLORES or ISO code."""
    names = [f"{stem}{suffix}" for stem in (langs.flores(lang), lang) for suffix in DATA_SUFFIXES]
    found = [directory / n for n in names if (directory / n).is_file()]
    if not found:
        raise DataError(f"no evaluation file for language {lang!r}; expected one of: "
                        + ", ".join(str(directory / n) for n in names), path=str(directory))
    if len(found) > 1:
        raise DataError(f"several evaluation files for language {lang!r}: "
                        + ", ".join(map(str, found)) + "; keep one", path=str(directory))
    return found[0]


def _load_eval_hub(lang: str, max_rows: int | None, mrewardbench: str,
                   rewardbench: str) -> Source:
    if lang == "en":
        hub_id, config = rewardbench, None
    else:
        hub_id, config = mrewardbench, langs.flores(lang)
    for split in EVAL_SPLITS:
        try:
            return hub_source(hub_id, config, split, None, max_rows)
        except ValueError as e:  # datasets: 'Unknown split "filtered". Should be one of [...]'
            if "split" not in str(e).lower() or split == EVAL_SPLITS[-1]:
                raise
    raise AssertionError("unreachable")


def load_eval_set(source: str | os.PathLike, languages: Sequence[str], *,
                  max_per_language: int | None = None, mrewardbench: str = MREWARDBENCH_HUB_ID,
                  rewardbench: str = REWARDBENCH_HUB_ID) -> dict[str, list[dict]]:
    """Load Multilingual RewardBench: ``{iso_code: rows}`` in the normalised schema.

    ``source == "hub"``: M-RewardBench (``CohereLabsCommunity/multilingual-reward-bench``,
    config = the language's FLORES-200 code, split ``filtered``; ``test`` in newer revisions)
    and, for ``en``, RewardBench (``allenai/reward-bench``, split ``filtered``). Otherwise a
    local directory with one file per language named by FLORES or ISO code
    (``kor_Hang.jsonl``, ``ko.parquet``, ...) in the M-RewardBench schema.

    Each row's prompt becomes one user message, its ``language`` the requested ISO code, and
    its ``category`` comes from :data:`MREWARDBENCH_SUBSETS` when the subset is known, else
    from the row's own ``category``; a row with neither, or any bad row, raises DataError.
    ``max_per_language`` keeps N rows of each language, taken from its subsets in turn
    (:func:`subsets_in_turn`: the first row of each subset, then the second, ...), so that a
    file sorted by subset is not cut to its first one. ``mrewardbench`` and
    ``rewardbench`` name the two hub data sets (or local folders laid out as them).
    """
    return dict(iter_eval_sets(source, languages, max_per_language=max_per_language,
                               mrewardbench=mrewardbench, rewardbench=rewardbench))


def iter_eval_sets(source: str | os.PathLike, languages: Sequence[str], *,
                   max_per_language: int | None = None, mrewardbench: str = MREWARDBENCH_HUB_ID,
                   rewardbench: str = REWARDBENCH_HUB_ID) -> Iterator[tuple[str, list[dict]]]:
    """:func:`load_eval_set` one language at a time: ``(iso_code, rows)`` (a local JSON-lines
    file is read line by line, and only one language's rows are held)."""
    if max_per_language is not None and (isinstance(max_per_language, bool)
                                         or not isinstance(max_per_language, int)
                                         or max_per_language < 1):
        raise ConfigError(f"max_per_language must be a positive integer or null, "
                          f"got {max_per_language!r}")
    for lang in languages:
        langs.check(lang)
        if str(source) == "hub":
            src = _load_eval_hub(lang, None, mrewardbench, rewardbench)
        else:
            directory = Path(source)
            if not directory.is_dir():
                raise DataError("evaluation data directory not found (or pass 'hub')",
                                path=str(directory))
            path = _eval_file(directory, lang)
            src = file_source(path, None)
            src.source = f"{directory.name}/{src.stem}" if directory.name else src.stem
        rows = []
        # M-RewardBench rows may carry ISO or FLORES codes (or none): the requested code wins
        for row_num, row in _iter_load([src], _Stats(), fmt="mrewardbench", language=lang,
                                       on_bad_row="error", max_pairs=None,
                                       id_prefix=None, set_language=lang, hint=""):
            subset = row["subset"]
            if subset in MREWARDBENCH_SUBSETS:
                row["category"] = MREWARDBENCH_SUBSETS[subset][0]
            elif row.get("category") is None:
                raise DataError(f"subset {subset!r} is not an M-RewardBench subset and the row "
                                f"has no category", path=src.where, row=row_num,
                                field="category")
            rows.append(row)
        yield lang, subsets_in_turn(rows, max_per_language)


def subsets_in_turn(rows: list[dict], n: int | None) -> list[dict]:
    """``n`` of ``rows`` (all when ``n`` is None), the subsets taken in turn: the first row of
    each subset (in order of first appearance), then each one's second, and so on; the kept
    rows stay in file order."""
    if n is None or n >= len(rows):
        return rows
    rank: dict[str, int] = {}
    keyed = []
    for i, row in enumerate(rows):
        k = rank[row["subset"]] = rank.get(row["subset"], -1) + 1
        keyed.append((k, i))
    keep = sorted(i for _, i in sorted(keyed)[:n])
    return [rows[i] for i in keep]


def to_mrewardbench_rows(rows: Iterable[dict]) -> list[dict]:
    """Normalised single-turn rows -> M-RewardBench schema dicts
    ``{id, language, prompt (str), chosen, rejected, subset, category}``.

    A row whose prompt is not exactly one user message raises DataError (row = 1-based
    position in ``rows``). ``category`` is None when the row has none.
    """
    out = []
    for i, row in enumerate(rows, start=1):
        prompt = row.get("prompt")
        if not (isinstance(prompt, list) and len(prompt) == 1
                and isinstance(prompt[0], dict) and prompt[0].get("role") == "user"):
            raise DataError("M-RewardBench rows are single-turn: the prompt must be exactly "
                            "one user message", row=i, field="prompt")
        out.append({"id": row["id"], "language": row["language"],
                    "prompt": prompt[0]["content"], "chosen": row["chosen"],
                    "rejected": row["rejected"], "subset": row["subset"],
                    "category": row.get("category")})
    return out

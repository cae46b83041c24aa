"""Load preference data of many shapes into the normalised schema (:mod:`xlrm.schema`).

Entry points:

* :func:`load_preferences` reads local files (``.json``, ``.jsonl``, ``.json.gz``,
  ``.jsonl.gz``, ``.parquet``), directories of them, or a Hugging Face hub data set, in one of
  the shapes registered in :data:`PARSERS` (``pairs``, ``sharegpt``, ``hh-rlhf``, ``llmbar``,
  ``mrewardbench``), auto-detected per file by default, and returns validated rows + stats.
* :func:`split_train_test` splits rows by item id with a seeded hash.
* :func:`load_eval_set` loads Multilingual RewardBench (hub or a local directory), one list
  of rows per language, with each row's ``category`` filled in.
* :func:`to_mrewardbench_rows` turns normalised single-turn rows back into the
  M-RewardBench schema.

Bad rows raise :class:`~xlrm.errors.DataError` naming the file, the 1-based row number (the
line number for JSON-lines files) and the field, or, with ``on_bad_row="skip"``, are
skipped and counted by reason in the stats (reasons: :data:`SKIP_REASONS`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlrm import languages as langs
from xlrm.errors import ConfigError, DataError, MissingResourceError
from xlrm.evaluation import MREWARDBENCH_WEIGHTS
from xlrm.schema import CATEGORIES, validate_pair

Message = dict[str, str]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

# subset -> (category, weight): M-RewardBench's counts; the one table lives with the scorer.
MREWARDBENCH_SUBSETS = MREWARDBENCH_WEIGHTS

# LLMBar file stems -> RewardBench subset names (so category chat-hard is filled in).
LLMBAR_SUBSETS: dict[str, str] = {
    "natural": "llmbar-natural",
    "adversarial-neighbor": "llmbar-adver-neighbor",
    "adversarial-gptinst": "llmbar-adver-GPTInst",
    "adversarial-gptout": "llmbar-adver-GPTOut",
    "adversarial-manual": "llmbar-adver-manual",
}

MREWARDBENCH_HUB_ID = "CohereLabsCommunity/multilingual-reward-bench"
REWARDBENCH_HUB_ID = "allenai/reward-bench"
# Older revisions of M-RewardBench name the split "filtered", newer ones "test" (same rows).
EVAL_SPLITS = ("filtered", "test")

DATA_SUFFIXES = (".jsonl.gz", ".json.gz", ".jsonl", ".json", ".parquet")

SKIP_REASONS = (
    "invalid_json",         # a JSON-lines line that does not parse, or not an object
    "missing_field",
    "wrong_type",
    "empty_text",
    "identical_responses",
    "unparseable_dialogue",
    "bad_label",
    "bad_category",
    "duplicate",            # (id, language) already seen
    "invalid",              # anything else validate_pair rejects
)

ROLE_ALIASES: dict[str, str] = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_HH_TURN = re.compile(r"\n\n(Human|Assistant):")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


# --------------------------------------------------------------------------------------------
# Row-level parsing
# --------------------------------------------------------------------------------------------


class BadRow(Exception):
    """One raw row cannot be normalised; carries the skip reason and the field at fault."""

    def __init__(self, reason: str, field: str | None, message: str):
        assert reason in SKIP_REASONS, reason
        super().__init__(message)
        self.reason, self.field, self.message = reason, field, message


@dataclass
class Parsed:
    """What a format parser extracts from one raw row.

    ``extra`` holds the optional pass-through fields the row itself carries
    (``id``, ``language``, ``subset``, ``source``, ``category``), still raw.
    """

    prompt: list[Message]
    chosen: str
    rejected: str
    extra: dict[str, Any] = field(default_factory=dict)


Parser = Callable[[dict[str, Any]], Parsed]
PASS_THROUGH = ("id", "language", "subset", "source", "category")


def _require(row: dict[str, Any], key: str) -> Any:
    if key not in row or row[key] is None:
        raise BadRow("missing_field", key, "missing")
    return row[key]


def _text(value: Any, key: str) -> str:
    """A non-empty string, else BadRow (wrong_type / empty_text)."""
    if not isinstance(value, str):
        raise BadRow("wrong_type", key, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise BadRow("empty_text", key, "is empty")
    return value


def _message(value: Any, key: str, i: int) -> Message:
    """One ``{role, content}`` (or ShareGPT ``{from, value}``) message, roles normalised."""
    if not isinstance(value, dict):
        raise BadRow("wrong_type", key,
                     f"message {i} must be an object, got {type(value).__name__}")
    if "role" in value or "content" in value:
        role, content = value.get("role"), value.get("content")
    else:
        role, content = value.get("from"), value.get("value")
    if not isinstance(role, str) or role.lower() not in ROLE_ALIASES:
        raise BadRow("unparseable_dialogue", key,
                     f"message {i} has role {role!r}; expected one of {sorted(ROLE_ALIASES)}")
    if not isinstance(content, str):
        raise BadRow("wrong_type", key,
                     f"message {i} content must be a string, got {type(content).__name__}")
    if not content.strip():
        raise BadRow("empty_text", key, f"message {i} is empty")
    return {"role": ROLE_ALIASES[role.lower()], "content": content}


def _messages(value: Any, key: str) -> list[Message]:
    """A non-empty list of messages."""
    if not isinstance(value, list):
        raise BadRow("wrong_type", key, f"must be a list of messages, got {type(value).__name__}")
    if not value:
        raise BadRow("empty_text", key, "is an empty list of messages")
    return [_message(m, key, i) for i, m in enumerate(value)]


def _prompt(value: Any, key: str = "prompt") -> list[Message]:
    """A prompt given as a string (one user turn) or as a list of messages."""
    if isinstance(value, str):
        return [{"role": "user", "content": _text(value, key)}]
    if not isinstance(value, list):
        raise BadRow("wrong_type", key,
                     f"must be a string or a list of messages, got {type(value).__name__}")
    return _messages(value, key)


def _reply(value: Any, key: str, prompt: list[Message]) -> str:
    """A response given as a string, one message, or a conversation ending in the reply.

    A conversation must be ``prompt + [reply]`` or ``[reply]``, the reply an assistant turn.
    """
    if isinstance(value, str):
        return _text(value, key)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise BadRow("wrong_type", key,
                     f"must be a string or a list of messages, got {type(value).__name__}")
    msgs = _messages(value, key)
    head, last = msgs[:-1], msgs[-1]
    if last["role"] != "assistant":
        raise BadRow("unparseable_dialogue", key, "the final message must be an assistant turn")
    if head and head != prompt:
        raise BadRow("unparseable_dialogue", key,
                     "the conversation before the final reply differs from the prompt")
    return last["content"]


def _is_missing(value: Any) -> bool:
    """None, an empty string, or a float NaN (how pandas-written files mark a gap)."""
    return value is None or value == "" or (isinstance(value, float) and value != value)


def _pass_through(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in PASS_THROUGH if not _is_missing(row.get(k))}


def parse_pairs(row: dict[str, Any]) -> Parsed:
    """``prompt``/``chosen``/``rejected`` (text or messages), or ``chosen``/``rejected`` alone
    as conversations sharing everything but the final assistant reply."""
    chosen_raw, rejected_raw = _require(row, "chosen"), _require(row, "rejected")
    if row.get("prompt") is not None:
        prompt = _prompt(row["prompt"])
    else:
        if "prompt" in row:
            raise BadRow("missing_field", "prompt", "missing")
        chosen_msgs = _messages(chosen_raw, "chosen")
        rejected_msgs = _messages(rejected_raw, "rejected")
        prompt = chosen_msgs[:-1]
        if not prompt:
            raise BadRow("unparseable_dialogue", "chosen",
                         "no prompt column and the conversation has no turn before the reply")
        if rejected_msgs[:-1] != prompt:
            raise BadRow("unparseable_dialogue", "rejected",
                         "chosen and rejected differ before their final replies")
    return Parsed(prompt, _reply(chosen_raw, "chosen", prompt),
                  _reply(rejected_raw, "rejected", prompt), _pass_through(row))


def parse_sharegpt(row: dict[str, Any]) -> Parsed:
    """LLaMA-Factory ShareGPT preference rows: ``conversations`` + ``chosen``/``rejected``
    as ``{from, value}``; an optional ``system`` string is prepended."""
    prompt = _messages(_require(row, "conversations"), "conversations")
    system = row.get("system")
    if system is not None:
        prompt = [{"role": "system", "content": _text(system, "system")}, *prompt]
    return Parsed(prompt, _reply(_require(row, "chosen"), "chosen", prompt),
                  _reply(_require(row, "rejected"), "rejected", prompt), _pass_through(row))


def _hh_turns(text: str, key: str) -> list[Message]:
    """Parse ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` into messages (contents stripped)."""
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise BadRow("unparseable_dialogue", key, "text before the first '\\n\\nHuman:' turn")
    msgs = []
    for speaker, content in zip(parts[1::2], parts[2::2]):
        if not content.strip():
            raise BadRow("empty_text", key, f"an empty {speaker} turn in the dialogue")
        msgs.append({"role": _HH_ROLES[speaker], "content": content.strip()})
    return msgs


def parse_hh_rlhf(row: dict[str, Any]) -> Parsed:
    """Anthropic HH-RLHF: ``chosen`` and ``rejected`` are whole dialogues.

    The prompt is the dialogue the two share, up to its last ``\\n\\nAssistant:``; each
    response is the rest of its dialogue, which must be a single assistant turn.
    """
    chosen = _text(_require(row, "chosen"), "chosen")
    rejected = _text(_require(row, "rejected"), "rejected")
    shared = os.path.commonprefix([chosen, rejected])
    cut = shared.rfind("\n\nAssistant:")
    if cut < 0:
        raise BadRow("unparseable_dialogue", "chosen",
                     "chosen and rejected share no dialogue up to an '\\n\\nAssistant:' turn")
    prompt = _hh_turns(shared[:cut], "chosen")
    if not prompt or prompt[-1]["role"] != "user":
        raise BadRow("unparseable_dialogue", "chosen",
                     "the shared dialogue does not end with a Human turn")
    start = cut + len("\n\nAssistant:")
    replies = []
    for key, text in (("chosen", chosen), ("rejected", rejected)):
        reply = text[start:]
        if _HH_TURN.search(reply):
            raise BadRow("unparseable_dialogue", key,
                         "the reply runs on into further Human/Assistant turns")
        if not reply.strip():
            raise BadRow("empty_text", key, "the final Assistant turn is empty")
        replies.append(reply.strip())
    return Parsed(prompt, replies[0], replies[1], _pass_through(row))


def parse_llmbar(row: dict[str, Any]) -> Parsed:
    """LLMBar: ``input``, ``output_1``, ``output_2``, ``label`` (1 or 2 = the better one)."""
    prompt = [{"role": "user", "content": _text(_require(row, "input"), "input")}]
    out1 = _text(_require(row, "output_1"), "output_1")
    out2 = _text(_require(row, "output_2"), "output_2")
    label = _require(row, "label")
    if isinstance(label, str) and label.strip() in ("1", "2"):
        label = int(label)
    if isinstance(label, bool) or label not in (1, 2):
        raise BadRow("bad_label", "label", f"must be 1 or 2, got {label!r}")
    chosen, rejected = (out1, out2) if label == 1 else (out2, out1)
    return Parsed(prompt, chosen, rejected, _pass_through(row))


def parse_mrewardbench(row: dict[str, Any]) -> Parsed:
    """(M-)RewardBench: ``id``, ``prompt`` (a string), ``chosen``, ``rejected``, ``subset``
    (+ optional ``language``, ``category``); other columns (``chosen_model``, ...) ignored."""
    prompt = _text(_require(row, "prompt"), "prompt")
    chosen = _text(_require(row, "chosen"), "chosen")
    rejected = _text(_require(row, "rejected"), "rejected")
    return Parsed([{"role": "user", "content": prompt}], chosen, rejected, _pass_through(row))


PARSERS: dict[str, Parser] = {
    "pairs": parse_pairs,
    "sharegpt": parse_sharegpt,
    "hh-rlhf": parse_hh_rlhf,
    "llmbar": parse_llmbar,
    "mrewardbench": parse_mrewardbench,
}


def _llmbar_subset(stem: str) -> str:
    return LLMBAR_SUBSETS.get(stem.lower(), stem)


# format -> default subset name from the file stem (identity for formats not listed).
DEFAULT_SUBSET: dict[str, Callable[[str], str]] = {"llmbar": _llmbar_subset}


def detect_format(row: Any) -> str | None:
    """Guess the shape from the keys (and value types) of one raw row; None if unknown."""
    if not isinstance(row, dict):
        return None
    keys = {k for k, v in row.items() if not _is_missing(v)}  # parquet fills gaps with nulls
    if "conversations" in keys:
        return "sharegpt"
    if {"input", "output_1", "output_2", "label"} <= keys:
        return "llmbar"
    if not {"chosen", "rejected"} <= keys:
        return None
    if "prompt" in keys:
        text_only = all(isinstance(row[k], str) for k in ("prompt", "chosen", "rejected"))
        return "mrewardbench" if text_only and "subset" in keys else "pairs"
    if isinstance(row["chosen"], str) and "\n\nAssistant:" in row["chosen"]:
        return "hh-rlhf"
    if isinstance(row["chosen"], list):
        return "pairs"
    return None


# --------------------------------------------------------------------------------------------
# Sources: local files and hub data sets
# --------------------------------------------------------------------------------------------


class _InvalidJson:
    """Stand-in for a JSON-lines line that failed to parse (so skip mode can count it)."""

    def __init__(self, message: str):
        self.message = message


@dataclass
class _Source:
    """One file or hub split: display name, default names and its raw rows."""

    where: str                 # used as DataError's ``path``
    stem: str                  # default id prefix and subset
    source: str                # default ``source`` field
    rows: Sequence[Any]        # raw rows (dicts, or _InvalidJson)
    row_numbers: Sequence[int] | None = None  # 1-based numbers; None -> index + 1

    def number(self, index: int) -> int:
        return self.row_numbers[index] if self.row_numbers is not None else index + 1


def _strip_suffix(path: Path) -> str:
    name = path.name
    for suffix in DATA_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _is_data_file(path: Path, root: Path) -> bool:
    """A data file by suffix, not hidden and not inside a hidden folder below ``root``."""
    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    return path.is_file() and not hidden and path.name.lower().endswith(DATA_SUFFIXES)


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_rows(path: Path) -> tuple[list[Any], list[int] | None]:
    """Raw rows of one data file and their 1-based row numbers (line numbers for JSON lines;
    None means index + 1). A file that cannot be read as a whole raises DataError."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist(), None
        if name.endswith((".jsonl", ".jsonl.gz")):
            rows: list[Any] = []
            numbers: list[int] = []
            with _open_text(path) as f:
                for i, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        obj = _InvalidJson(f"invalid JSON ({e.msg})")
                    if not isinstance(obj, (dict, _InvalidJson)):
                        obj = _InvalidJson(f"expected a JSON object, got {type(obj).__name__}")
                    rows.append(obj)
                    numbers.append(i)
            return rows, numbers
        with _open_text(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise DataError(f"invalid JSON at line {e.lineno} ({e.msg})",
                                path=str(path)) from None
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DataError(f"cannot read: {e}", path=str(path)) from None
    except DataError:
        raise
    except Exception as e:  # pyarrow errors have no common public base class
        raise DataError(f"cannot read: {type(e).__name__}: {e}", path=str(path)) from None
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list of objects, got {type(data).__name__}",
                        path=str(path))
    return data, None


def _file_source(path: Path, source_name: str | None) -> _Source:
    rows, numbers = read_rows(path)
    stem = _strip_suffix(path)
    parent = path.resolve().parent.name
    return _Source(where=str(path), stem=stem,
                   source=source_name or (f"{parent}/{stem}" if parent else stem),
                   rows=rows, row_numbers=numbers)


def load_hub_dataset(hub_id: str, config: str | None = None, split: str = "train"):
    """``datasets.load_dataset(hub_id, config, split=split)``, with hub/cache failures turned
    into MissingResourceError (offline mode, no connection, not cached, not found)."""
    import datasets

    try:
        return datasets.load_dataset(hub_id, config, split=split)
    except OSError as e:  # ConnectionError (offline, no network), FileNotFoundError (not
        # cached / no such data set) and huggingface_hub's HTTP errors are all OSErrors
        cfg = f", config {config!r}" if config else ""
        offline = bool(getattr(datasets.config, "HF_HUB_OFFLINE", False))
        raise MissingResourceError(
            f"Hugging Face data set {hub_id!r}{cfg}, split {split!r} is neither reachable on "
            f"the hub nor in the local cache ({type(e).__name__}: {e}). "
            + ("HF_HUB_OFFLINE is set, so only the local cache is used. " if offline else "")
            + "Either run once with hub access to fill the cache (then set HF_HUB_OFFLINE=1), "
            "pre-download it on a machine with access and copy the cache (HF_HOME / "
            "HF_DATASETS_CACHE), or export it to a local .jsonl/.parquet file and give that "
            "path instead."
        ) from None


def _looks_like_hub_id(source: str) -> bool:
    return bool(_HUB_ID.match(source)) and not source.lower().endswith(DATA_SUFFIXES)


def _hub_source(hub_id: str, config: str | None, split: str, source_name: str | None,
                max_rows: int | None = None) -> _Source:
    ds = load_hub_dataset(hub_id, config, split)
    n = len(ds) if max_rows is None else min(len(ds), max_rows)
    rows = ds.select(range(n)) if n < len(ds) else ds
    cfg = f"/{config}" if config else ""
    return _Source(where=f"hub data set {hub_id}{cfg} (split {split})",
                   stem=source_name or hub_id, source=source_name or hub_id, rows=rows)


def _expand(source: str | os.PathLike | Sequence[str | os.PathLike], source_name: str | None,
            hub_config: str | None, hub_split: str) -> Iterator[_Source]:
    """Resolve paths, directories (recursively, sorted) and hub ids into sources, lazily."""
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not items:
        raise DataError("no data source given")
    for item in items:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if _is_data_file(p, path))
            if not files:
                raise DataError(f"no data files ({', '.join(DATA_SUFFIXES)}) in this directory",
                                path=str(path))
            for f in files:
                yield _file_source(f, source_name)
        elif path.is_file():
            if not path.name.lower().endswith(DATA_SUFFIXES):
                raise DataError(f"unsupported file type; expected one of {DATA_SUFFIXES}",
                                path=str(path))
            yield _file_source(path, source_name)
        elif _looks_like_hub_id(str(item)):
            yield _hub_source(str(item), hub_config, hub_split, source_name)
        else:
            raise DataError("no such file or directory (and not a hub data set id)",
                            path=str(path))


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


def _load(sources: Iterable[_Source], *, fmt: str, language: str, on_bad_row: str,
          max_pairs: int | None, id_prefix: str | None,
          hint: str = "; pass on_bad_row='skip' to skip bad rows") -> tuple[list[dict], dict]:
    """The shared row loop of :func:`load_preferences` and :func:`load_eval_set`."""
    if fmt != "auto" and fmt not in PARSERS:
        raise ConfigError(f"unknown data format {fmt!r}; known: {['auto', *PARSERS]}")
    if on_bad_row not in ("error", "skip"):
        raise ConfigError(f"on_bad_row must be 'error' or 'skip', got {on_bad_row!r}")
    if max_pairs is not None and (isinstance(max_pairs, bool) or not isinstance(max_pairs, int)
                                  or max_pairs < 0):
        raise ConfigError(f"max_pairs must be a non-negative integer or null, got {max_pairs!r}")

    stats = _Stats()
    out: list[dict] = []
    seen: dict[tuple[str, str], str] = {}
    counters: Counter = Counter()  # running row index per id prefix (stable ids)
    for src in sources:
        if max_pairs is not None and len(out) >= max_pairs:
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
        for index, raw in enumerate(src.rows):
            if max_pairs is not None and len(out) >= max_pairs:
                break
            stats.rows_read += 1
            row_num = src.number(index)
            default_id = f"{prefix}-{counters[prefix]:06d}"
            counters[prefix] += 1
            try:
                if isinstance(raw, _InvalidJson):
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
                    raise BadRow("duplicate", "id",
                                 f"duplicate (id, language) {key}, first seen in {seen[key]}")
                seen[key] = f"{src.where}, row {row_num}"
            except BadRow as bad:
                if on_bad_row == "error":
                    raise DataError(f"{bad.message} (reason: {bad.reason}{hint})",
                                    path=src.where, row=row_num, field=bad.field) from None
                stats.skipped[bad.reason] += 1
                continue
            out.append(row)
            stats.rows_kept += 1
    return out, stats.as_dict()


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
        DataError: a bad row (in error mode), an unreadable file, an undetectable format.
        MissingResourceError: a hub data set that is neither reachable nor cached.
        ConfigError: an unknown ``format`` / ``on_bad_row`` or a bad ``max_pairs``.
    """
    sources = _expand(source, source_name, hub_config, hub_split)
    return _load(sources, fmt=format, language=language, on_bad_row=on_bad_row,
                 max_pairs=max_pairs, id_prefix=source_name)


def _hash_unit(seed: int, item_id: str) -> float:
    digest = hashlib.sha256(f"{seed}\x00{item_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_train_test(rows: Sequence[dict], test_fraction: float,
                     seed: int) -> tuple[list[dict], list[dict]]:
    """Split rows into (train, test) by item id; all languages of an id land on one side.

    The distinct ids are ranked by ``sha256(seed, id)`` and the first
    ``round(test_fraction * n_ids)`` go to test (at least one when ``test_fraction > 0`` and
    there are two or more ids; never all of them). The result depends only on the set of ids
    and the seed, not on row order; both lists keep the input order of the rows.
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) \
            or not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    ids = sorted({str(r["id"]) for r in rows}, key=lambda i: (_hash_unit(seed, i), i))
    n_test = round(test_fraction * len(ids))
    if test_fraction > 0 and len(ids) >= 2:
        n_test = min(max(n_test, 1), len(ids) - 1)
    test_ids = set(ids[:n_test])
    train = [r for r in rows if str(r["id"]) not in test_ids]
    test = [r for r in rows if str(r["id"]) in test_ids]
    return train, test


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


def _load_eval_hub(lang: str, max_rows: int | None) -> _Source:
    if lang == "en":
        hub_id, config = REWARDBENCH_HUB_ID, None
    else:
        hub_id, config = MREWARDBENCH_HUB_ID, langs.flores(lang)
    for split in EVAL_SPLITS:
        try:
            return _hub_source(hub_id, config, split, hub_id, max_rows)
        except ValueError as e:  # datasets: 'Unknown split "filtered". Should be one of [...]'
            if "split" not in str(e).lower() or split == EVAL_SPLITS[-1]:
                raise
    raise AssertionError("unreachable")


def load_eval_set(source: str | os.PathLike, languages: Sequence[str], *,
                  max_per_language: int | None = None) -> dict[str, list[dict]]:
    """Load Multilingual RewardBench: ``{iso_code: rows}`` in the normalised schema.

    ``source == "hub"``: M-RewardBench (``CohereLabsCommunity/multilingual-reward-bench``,
    config = the language's FLORES-200 code, split ``filtered``; ``test`` in newer revisions)
    and, for ``en``, RewardBench (``allenai/reward-bench``, split ``filtered``). Otherwise a
    local directory with one file per language named by FLORES or ISO code
    (``kor_Hang.jsonl``, ``ko.parquet``, ...) in the M-RewardBench schema.

    Each row's prompt becomes one user message, its ``language`` the requested ISO code, and
    its ``category`` comes from :data:`MREWARDBENCH_SUBSETS` when the subset is known, else
    from the row's own ``category``; a row with neither, or any bad row, raises DataError.
    ``max_per_language`` keeps the first N rows of each language.
    """
    if max_per_language is not None and (isinstance(max_per_language, bool)
                                         or not isinstance(max_per_language, int)
                                         or max_per_language < 1):
        raise ConfigError(f"max_per_language must be a positive integer or null, "
                          f"got {max_per_language!r}")
    out: dict[str, list[dict]] = {}
    for lang in languages:
        langs.check(lang)
        if str(source) == "hub":
            src = _load_eval_hub(lang, max_per_language)
        else:
            directory = Path(source)
            if not directory.is_dir():
                raise DataError("evaluation data directory not found (or pass 'hub')",
                                path=str(directory))
            path = _eval_file(directory, lang)
            src = _file_source(path, None)
            src.source = f"{directory.name}/{src.stem}" if directory.name else src.stem
        # M-RewardBench rows may carry ISO or FLORES codes (or none): the requested code wins
        src.rows = [{**r, "language": lang} if isinstance(r, dict) else r for r in src.rows]
        rows, _ = _load([src], fmt="mrewardbench", language=lang, on_bad_row="error",
                        max_pairs=max_per_language, id_prefix=None, hint="")
        for i, row in enumerate(rows):
            subset = row["subset"]
            if subset in MREWARDBENCH_SUBSETS:
                row["category"] = MREWARDBENCH_SUBSETS[subset][0]
            elif row.get("category") is None:
                raise DataError(f"subset {subset!r} is not an M-RewardBench subset and the row "
                                f"has no category", path=src.where, row=src.number(i),
                                field="category")
        out[lang] = rows
    return out


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

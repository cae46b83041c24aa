"""The one normalised schema every xlrm data file uses.

A *preference pair* row (JSON lines, one object per line)::

    {
      "id": "seed-00042",            # item id, shared by the parallel versions of an item
      "language": "en",              # ISO 639-1 code (see xlrm.languages)
      "prompt": [{"role": "user", "content": "..."}],   # conversation so far, ends with a user turn
      "chosen": "...",               # the better assistant reply
      "rejected": "...",             # the worse assistant reply
      "source": "llmbar/natural",    # where the pair came from
      "subset": "llmbar-natural",    # finer grouping (M-RewardBench subset names for eval sets)
      "category": "chat-hard"        # optional: chat | chat-hard | safety | reasoning
    }

``(id, language)`` is unique within a file; the same ``id`` in two languages
means the two rows are translations of each other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from xlrm.errors import DataError
from xlrm.languages import LANGUAGES

ROLES = ("system", "user", "assistant")
REQUIRED = ("id", "language", "prompt", "chosen", "rejected", "source", "subset")
OPTIONAL = ("category",)
CATEGORIES = ("chat", "chat-hard", "safety", "reasoning")


def validate_pair(row: Any, *, path: str | None = None, row_num: int | None = None) -> dict:
    """Check one normalised row; return it with fields in canonical order.

    Raises DataError naming the file, row and field of the first problem.
    """

    def err(msg: str, field: str | None = None) -> DataError:
        return DataError(msg, path=path, row=row_num, field=field)

    if not isinstance(row, dict):
        raise err(f"expected an object, got {type(row).__name__}")
    for key in REQUIRED:
        if key not in row:
            raise err("missing", key)
    for key in ("id", "language", "chosen", "rejected", "source", "subset"):
        if not isinstance(row[key], str):
            raise err(f"must be a string, got {type(row[key]).__name__}", key)
    for key in ("id", "language", "chosen", "rejected"):
        if not row[key].strip():
            raise err("is empty", key)
    if row["language"] not in LANGUAGES:
        raise err(f"unknown language code {row['language']!r}; expected one of "
                  f"{sorted(LANGUAGES)}", "language")
    prompt = row["prompt"]
    if not isinstance(prompt, list) or not prompt:
        raise err("must be a non-empty list of {role, content} messages", "prompt")
    for i, msg in enumerate(prompt):
        if not isinstance(msg, dict) or set(msg) != {"role", "content"}:
            raise err(f"message {i} must be an object with exactly 'role' and 'content'", "prompt")
        if msg["role"] not in ROLES:
            raise err(f"message {i} has role {msg['role']!r}; expected one of {ROLES}", "prompt")
        if not isinstance(msg["content"], str) or not msg["content"].strip():
            raise err(f"message {i} has empty or non-string content", "prompt")
    if prompt[-1]["role"] != "user":
        raise err("the last message must be a user turn", "prompt")
    if row["chosen"] == row["rejected"]:
        raise err("chosen and rejected are identical", "chosen")
    extra = set(row) - set(REQUIRED) - set(OPTIONAL)
    if extra:
        raise err(f"unknown field(s) {sorted(extra)}")
    category = row.get("category")
    if category is not None and category not in CATEGORIES:
        raise err(f"must be one of {CATEGORIES} or null, got {category!r}", "category")
    out = {k: row[k] for k in REQUIRED}
    if category is not None:
        out["category"] = category
    return out


# Rule kinds an instruction row may carry (``"rule": {"kind": ..., <fields>}``), checked by
# :mod:`xlrm.judges.rule`: each kind's fields, required unless listed in RULE_OPTIONAL.
RULE_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "number": {"value": (int, float)},          # the answer's last number equals value
    "language": {"language": str},              # the answer is written in that language
    "mentions": {"word": str},                  # the answer contains the word
    "numbered_list": {"n": int},                # exactly n numbered lines
    "one_sentence_without": {"word": str},      # one sentence, the word not in it
    "starts_with": {"word": str},               # the answer's first word is the word
    "refuse": {},                               # the answer is a refusal
    "help": {},                                 # the answer is not a refusal
}
RULE_OPTIONAL = {"language": {"language"}}  # default: the evaluation language


def validate_rule(rule: Any, *, path: str | None = None, row_num: int | None = None) -> dict:
    """Check the shape of an instruction row's ``rule``; return it (a new dict).

    Raises DataError naming the file, row and field ``rule``.
    """

    def err(msg: str) -> DataError:
        return DataError(msg, path=path, row=row_num, field="rule")

    if not isinstance(rule, dict):
        raise err(f"must be an object with a 'kind', got {type(rule).__name__}")
    kind = rule.get("kind")
    if kind not in RULE_FIELDS:
        raise err(f"unknown kind {kind!r}; expected one of {sorted(RULE_FIELDS)}")
    fields = RULE_FIELDS[kind]
    extra = set(rule) - {"kind"} - set(fields)
    if extra:
        raise err(f"kind {kind!r} takes {sorted(fields) or 'no fields'}, got extra {sorted(extra)}")
    for name, types in fields.items():
        if name not in rule:
            if name in RULE_OPTIONAL.get(kind, ()):
                continue
            raise err(f"kind {kind!r} needs {name!r}")
        value = rule[name]
        if isinstance(value, bool) or not isinstance(value, types):
            raise err(f"{name!r} of kind {kind!r} has the wrong type ({type(value).__name__})")
        if isinstance(value, str) and not value.strip():
            raise err(f"{name!r} of kind {kind!r} is empty")
    if kind == "numbered_list" and rule["n"] < 1:
        raise err(f"'n' must be at least 1, got {rule['n']}")
    if kind == "number" and not math.isfinite(rule["value"]):
        raise err(f"'value' must be a finite number, got {rule['value']}")
    if kind == "language" and "language" in rule and rule["language"] not in LANGUAGES:
        raise err(f"unknown language code {rule['language']!r}")
    return dict(rule)


def iter_valid_rows(rows: Iterable[dict], path: str) -> Iterator[dict]:
    """Validate every row and the (id, language) uniqueness of a whole file, one row at a
    time (only the keys seen are kept)."""
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows, start=1):
        row = validate_pair(row, path=path, row_num=i)
        key = (row["id"], row["language"])
        if key in seen:
            raise DataError(f"duplicate (id, language) {key}, first seen at row {seen[key]}",
                            path=path, row=i, field="id")
        seen[key] = i
        yield row


def validate_file_rows(rows: Iterable[dict], path: str) -> list[dict]:
    """Validate every row and the (id, language) uniqueness of a whole file."""
    return list(iter_valid_rows(rows, path))


def messages_for(row: dict, response: str) -> list[dict]:
    """The full conversation a reward model scores: the prompt plus one reply."""
    return [*row["prompt"], {"role": "assistant", "content": response}]

"""Row parsers, one per preference-data shape, and the detection of a file's shape.

Each parser in :data:`PARSERS` turns one raw row (a dict) into :class:`Parsed` (prompt
messages, chosen and rejected reply, pass-through fields) or raises :class:`BadRow` with a
skip reason (:data:`SKIP_REASONS`) and the field at fault:

* ``pairs``: ``prompt``/``chosen``/``rejected`` as text or messages, or ``chosen`` and
  ``rejected`` alone as conversations that differ only in the final reply;
* ``sharegpt``: LLaMA-Factory ShareGPT preference rows (``conversations``, ``{from, value}``);
* ``hh-rlhf``: Anthropic HH-RLHF whole dialogues;
* ``llmbar``: LLMBar (``input``, ``output_1``, ``output_2``, ``label``);
* ``mrewardbench``: (M-)RewardBench rows (``prompt``, ``chosen``, ``rejected``, ``subset``).

:func:`detect_format` guesses the shape from one row's keys. Reading files is
:mod:`xlrm.data.sources`; normalising and loading is :mod:`xlrm.data.loaders`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]

# LLMBar file stems -> RewardBench subset names (so category chat-hard is filled in).
LLMBAR_SUBSETS: dict[str, str] = {
    "natural": "llmbar-natural",
    "adversarial-neighbor": "llmbar-adver-neighbor",
    "adversarial-gptinst": "llmbar-adver-GPTInst",
    "adversarial-gptout": "llmbar-adver-GPTOut",
    "adversarial-manual": "llmbar-adver-manual",
}

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

_HH_TURN = re.compile(r"\n\n(Human|Assistant):")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


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

"""Prompts in, replies out: prompt checks, chat-template rendering, stop tokens, and the
cut of a generated sequence into a reply (:class:`Completion`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from xlrm.errors import ConfigError, DataError

# End-of-turn markers of common chat templates; those the model's own chat template uses
# (and its tokenizer knows as single tokens) stop generation besides the EOS token(s).
END_OF_TURN_MARKERS = ("<|end|>", "<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>")

FinishReason = Literal["stop", "length"]


def validate_prompts(prompts: Sequence[dict], path: str | None = None) -> list[dict]:
    """Check ``{"id", "messages"}`` prompts; ids must be unique non-empty strings. ``path``
    (the file they came from, if any) is named in the error."""
    seen: set[str] = set()
    for i, p in enumerate(prompts, start=1):
        if not isinstance(p, dict) or "id" not in p or "messages" not in p:
            raise DataError("a prompt must be an object with 'id' and 'messages'", path=path,
                            row=i)
        pid, msgs = p["id"], p["messages"]
        if not isinstance(pid, str) or not pid:
            raise DataError("must be a non-empty string", path=path, row=i, field="id")
        if pid in seen:
            raise DataError(f"duplicate prompt id {pid!r}", path=path, row=i, field="id")
        seen.add(pid)
        if (not isinstance(msgs, list) or not msgs
                or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                           and isinstance(m.get("content"), str) for m in msgs)):
            raise DataError("must be a non-empty list of {role, content} messages", path=path,
                            row=i, field="messages")
    return list(prompts)


def read_prompt_file(path: str) -> list[dict]:
    """The ``{"id", "messages"}`` prompts of an instructions JSONL file, checked (rows are
    counted from 1 over the file's non-blank lines); an empty file is an error."""
    from xlrm.io import read_jsonl

    rows = validate_prompts(read_jsonl(path, nonempty=True), str(path))
    return [{"id": r["id"], "messages": r["messages"]} for r in rows]


def render_prompt_ids(tokenizer: Any, messages: list[dict]) -> list[int]:
    """Token ids of a conversation through the chat template, ready for the reply."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("the tokenizer has no chat template (the base_model stage adds one)")
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                        return_dict=True)
    return list(out["input_ids"])


def stop_token_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """Token ids that end a reply.

    The union of the generation config's ``eos_token_id`` (an int or a list), the
    tokenizer's EOS token, and the end-of-turn markers of :data:`END_OF_TURN_MARKERS` that
    occur in the tokenizer's chat template and are single tokens of its vocabulary.
    """
    ids: list[int] = []
    eos = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    if isinstance(eos, int):
        ids.append(eos)
    elif isinstance(eos, (list, tuple)):
        ids.extend(int(e) for e in eos)
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, str):
        vocab = tokenizer.get_vocab()
        ids.extend(vocab[m] for m in END_OF_TURN_MARKERS if m in template and m in vocab)
    return sorted(set(ids))


@dataclass
class Completion:
    """One generated reply."""

    token_ids: list[int]
    text: str
    finish_reason: FinishReason

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


def cut_at_stop(ids: list[int], stop: set[int]) -> tuple[list[int], FinishReason]:
    """Reply tokens up to the first stop token, and why generation ended."""
    for j, t in enumerate(ids):
        if t in stop:
            return ids[:j], "stop"
    return ids, "length"

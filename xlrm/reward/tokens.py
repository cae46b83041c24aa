"""How a conversation becomes token ids, the same for training and scoring: the prompt
messages plus one assistant reply through the tokenizer's chat template
(``apply_chat_template(..., tokenize=True)``, as TRL does)."""

from __future__ import annotations

from xlrm.schema import messages_for


def render_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of a conversation through the chat template (as TRL tokenizes it)."""
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
    return list(out["input_ids"])


def tokenize_pairs(rows: list[dict], tokenizer, max_length: int | None,
                   truncation: str = "drop") -> tuple[dict[str, list], dict[str, int]]:
    """Tokenize chosen and rejected conversations; drop or left-truncate long pairs.

    Returns columns ``chosen_ids``, ``rejected_ids``, ``id`` and counts
    ``{"pairs_in", "pairs_kept", "dropped_too_long", "truncated"}``.
    """
    cols: dict[str, list] = {"chosen_ids": [], "rejected_ids": [], "id": []}
    dropped = truncated = 0
    for row in rows:
        c = render_ids(tokenizer, messages_for(row, row["chosen"]))
        r = render_ids(tokenizer, messages_for(row, row["rejected"]))
        if max_length is not None and max(len(c), len(r)) > max_length:
            if truncation == "drop":
                dropped += 1
                continue
            c, r = c[-max_length:], r[-max_length:]
            truncated += 1
        cols["chosen_ids"].append(c)
        cols["rejected_ids"].append(r)
        cols["id"].append(row["id"])
    stats = {"pairs_in": len(rows), "pairs_kept": len(cols["id"]), "dropped_too_long": dropped,
             "truncated": truncated}
    return cols, stats


def encode_conversations(tokenizer, convs: list[list[dict]], max_length: int | None
                         ) -> tuple[list[list[int]], int]:
    """Token ids per conversation, truncated from the left to ``max_length``."""
    ids, truncated = [], 0
    for conv in convs:
        t = render_ids(tokenizer, conv)
        if max_length is not None and len(t) > max_length:
            t = t[-max_length:]
            truncated += 1
        ids.append(t)
    return ids, truncated

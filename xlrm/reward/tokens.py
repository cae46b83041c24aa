"""How a conversation becomes token ids, the same for training and scoring: the prompt
messages plus one assistant reply through the tokenizer's chat template
(``apply_chat_template(..., tokenize=True)``, as TRL does)."""

from __future__ import annotations

from pathlib import Path

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


def cached_tokenize_pairs(rows: list[dict], tokenizer, max_length: int | None, truncation: str,
                          *, cache_dir: str | Path, model_dir: str | Path
                          ) -> tuple[dict[str, list], dict[str, int]]:
    """:func:`tokenize_pairs`, built once and kept in ``cache_dir`` (an ignored scratch folder).

    The cache is keyed by the rows, the tokenizer's files (``model_dir``), ``max_length``,
    ``truncation`` and this module's source, so any change builds it anew (the old one is
    deleted). Under several processes the main process builds it first and the others read
    it (accelerate's ``main_process_first``): at paper scale (86k pairs, 2,048 tokens) the
    chat-template loop runs once, not once per rank and rerun.
    """
    import hashlib
    import json

    import numpy as np
    from accelerate import PartialState

    from xlrm.checkpoints import file_fingerprint, rows_digest

    key = hashlib.sha256(json.dumps({
        "rows": rows_digest(rows), "model": file_fingerprint(model_dir),
        "max_length": max_length, "truncation": truncation,
        "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    }, sort_keys=True).encode()).hexdigest()[:24]
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{key}.npz"
    state = PartialState()
    with state.main_process_first():
        if path.is_file():
            try:
                data = np.load(path, allow_pickle=False)
                cols = {name: _split(data[name], data[f"{name}_offsets"])
                        for name in ("chosen_ids", "rejected_ids")}
                cols["id"] = json.loads(str(data["id"]))
                return cols, json.loads(str(data["stats"]))
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache is rebuilt
        cols, stats = tokenize_pairs(rows, tokenizer, max_length, truncation)
        if state.is_main_process:
            cache_dir.mkdir(parents=True, exist_ok=True)
            for old in cache_dir.glob("*.npz"):
                old.unlink()
            arrays = {}
            for name in ("chosen_ids", "rejected_ids"):
                arrays[name], arrays[f"{name}_offsets"] = _join(cols[name])
            tmp = cache_dir / f".{key}.tmp.npz"
            np.savez(tmp, id=json.dumps(cols["id"]), stats=json.dumps(stats), **arrays)
            tmp.replace(path)
    return cols, stats


def _join(seqs: list[list[int]]):
    import numpy as np

    offsets = np.cumsum([0, *map(len, seqs)], dtype=np.int64)
    flat = np.fromiter((t for s in seqs for t in s), dtype=np.int64, count=int(offsets[-1]))
    return flat, offsets


def _split(flat, offsets) -> list[list[int]]:
    return [flat[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]

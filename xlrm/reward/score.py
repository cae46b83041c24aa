"""Scoring with a reward model: the last real token's final hidden state times a bias-free
linear head, sequences batched by length to fill a token budget; random heads for the
untrained base."""

from __future__ import annotations

import numpy as np

from xlrm.reward.tokens import encode_conversations
from xlrm.schema import messages_for


def length_batches(lengths: list[int] | np.ndarray, token_budget: int,
                   max_batch: int = 256) -> list[np.ndarray]:
    """Group indices into batches of similar length whose padded size fits a token budget.

    Sequences are sorted longest first, so the first batch shows the peak memory.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(-lengths, kind="stable")
    batches, cur, cur_max = [], [], 0
    for i in order:
        L = int(lengths[i])
        new_max = max(cur_max, L)
        if cur and (new_max * (len(cur) + 1) > token_budget or len(cur) >= max_batch):
            batches.append(np.array(cur))
            cur, new_max = [], L
        cur.append(i)
        cur_max = new_max
    if cur:
        batches.append(np.array(cur))
    return batches


def _last_hidden(model, input_ids, attention_mask):
    """Final hidden state at each sequence's last real token (right padding)."""
    backbone = getattr(model, model.base_model_prefix)
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    last = attention_mask.sum(dim=1) - 1
    return hidden[range(hidden.shape[0]), last]


def padded_batches(ids: list[list[int]], pad_id: int, token_budget: int = 8192):
    """Token sequences as right-padded batches of similar length (:func:`length_batches`):
    yields ``(indices, input_ids, attention_mask)``, the tensors on the CPU."""
    import torch

    lengths = [len(x) for x in ids]
    for batch in length_batches(lengths, token_budget):
        width = max(lengths[i] for i in batch)
        inp = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for j, i in enumerate(batch):
            inp[j, : lengths[i]] = torch.tensor(ids[i])
            mask[j, : lengths[i]] = 1
        yield batch, inp, mask


def pooled_states(model, ids: list[list[int]], pad_id: int, token_budget: int = 8192,
                  device: str | None = None):
    """Last-token final hidden states for token sequences, batched by length.

    Returns a float32 tensor ``[len(ids), hidden]`` in input order. Under a multi-process
    launch the batches (cut from all ``ids``, as one process cuts them) are split between
    the ranks and every rank gets all states (:func:`xlrm.distributed.map_shared`).
    """
    import torch

    from xlrm.distributed import map_shared

    device = device or next(model.parameters()).device
    batches = list(padded_batches(ids, pad_id, token_budget))

    def run(b):
        _, inp, mask = b
        with torch.inference_mode():
            return _last_hidden(model, inp.to(device), mask.to(device)).float().cpu().numpy()

    states = map_shared(batches, run, costs=[inp.numel() for _, inp, _ in batches])
    if not states:
        return None
    out = torch.empty((len(ids), states[0].shape[-1]), dtype=torch.float32)
    for (batch, _, _), h in zip(batches, states):
        out[torch.as_tensor(batch)] = torch.from_numpy(h)
    return out


def score_head_weights(model):
    """The score head's weight matrix ``[num_labels, hidden]`` as float32."""
    return model.score.weight.detach().float().cpu()


def random_heads(hidden_size: int, n_heads: int, std: float, seed: int = 0):
    """``n_heads`` random score heads drawn as a fresh head is initialised (normal, std)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn((n_heads, hidden_size), generator=g) * std


def score_conversations(model, tokenizer, convs: list[list[dict]], *, max_length: int | None = None,
                        token_budget: int = 8192, heads=None) -> tuple[np.ndarray, dict]:
    """Reward of each conversation (prompt + reply), batched by length.

    With ``heads`` (``[K, hidden]``) returns ``[K, n]`` scores of K heads, else ``[n]``
    from the model's own score head.
    """
    ids, truncated = encode_conversations(tokenizer, convs, max_length)
    pooled = pooled_states(model, ids, tokenizer.pad_token_id, token_budget)
    w = heads if heads is not None else score_head_weights(model)
    scores = (pooled @ w.T).T.numpy().astype(np.float64)  # [K, n]
    stats = {"sequences": len(convs), "truncated_sequences": truncated,
             "tokens": int(sum(len(x) for x in ids))}
    return (scores if heads is not None else scores[0]), stats


def score_pairs(model, tokenizer, rows: list[dict], *, max_length: int | None = None,
                token_budget: int = 8192, heads=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Score every pair's chosen and rejected conversation.

    All 2N conversations are batched together by length. With ``heads``
    (``[K, hidden]``) the scores of K heads are returned (shape ``[K, N]``);
    otherwise the model's own head (shape ``[N]``).
    Returns ``(chosen_scores, rejected_scores, stats)``.
    """
    convs = [messages_for(r, r["chosen"]) for r in rows] + [messages_for(r, r["rejected"]) for r in rows]
    scores, stats = score_conversations(model, tokenizer, convs, max_length=max_length,
                                        token_budget=token_budget, heads=heads)
    n = len(rows)
    stats = {"pairs": n, **stats}
    return scores[..., :n], scores[..., n:], stats

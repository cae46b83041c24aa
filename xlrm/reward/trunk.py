"""Scoring several reward models that share a frozen trunk.

The default trains LoRA adapters on the last ``train_rm.trainable_layers`` decoder layers
(and the score head) with everything below frozen, so for a given input the hidden states
entering the first trainable layer are the same for the untrained base and for every RM.
:func:`score_pairs_shared` computes them once per batch with a reference model (the first
model given) and runs only each model's own top layers, final norm and score head on them.

Batches are exactly :func:`xlrm.reward.score.score_pairs`' (same token ids, left
truncation, length batching and right padding), and each part runs through the model's own
``forward``: the trunk is the reference backbone with its layer list cut at the split and
its final norm skipped; a model's top is its own backbone with the layers below the split
replaced by stand-ins that hand over the trunk states. Masks (causal, sliding-window),
rotary embeddings (one per attention kind in Gemma 3) and every other per-layer input are
therefore built by the model's own code, not reproduced here.

Sharing is checked, never assumed (:func:`trunk_difference`): the text config (minus keys
that do not change what the backbone computes), the attention implementation, and every
parameter and buffer of the backbone outside the top layers and the final norm must be
equal (``torch.equal``: same dtype, shape, device, values). A model that differs is scored
with the full forward pass and a warning says why (``on_mismatch="fallback"``), or refused
with :class:`xlrm.errors.ConfigError` (``on_mismatch="error"``). Before the shared batches
run, the smallest batch is scored both ways with the reference model (``check``): a backbone
whose forward does not fit the stand-in scheme is caught there, not trusted.

Models must be plain transformers models (``load_reward_model`` merges LoRA adapters); a
``PeftModel`` is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from typing import Any

import numpy as np
import torch

from xlrm.errors import ConfigError
from xlrm.reward.score import _last_hidden, padded_batches, score_head_weights, score_pairs
from xlrm.reward.tokens import encode_conversations
from xlrm.schema import messages_for

log = logging.getLogger(__name__)

# Config keys that name, label or wrap a model but do not change what its backbone computes.
IGNORED_CONFIG_KEYS = frozenset({
    "_name_or_path", "architectures", "id2label", "label2id", "num_labels", "problem_type",
    "transformers_version", "_commit_hash", "finetuning_task", "tokenizer_class",
    "task_specific_params", "output_attentions", "output_hidden_states", "return_dict",
    "use_cache", "dtype", "torch_dtype",  # the tensors' own dtypes are compared instead
})



def head_scores(pooled, w) -> np.ndarray:
    """``[K, n]`` float64 scores of the K heads ``w`` (``[K, hidden]``) on pooled states
    ``[n, hidden]``: the expression :func:`xlrm.reward.score.score_conversations` uses."""
    return (pooled @ w.T).T.numpy().astype(np.float64)

def backbone(model):
    """The decoder stack of a sequence-classification model (``model.model`` for Llama,
    Qwen2, Gemma 3); refused when it has no ``layers`` and final ``norm``."""
    bb = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if bb is None or not isinstance(getattr(bb, "layers", None), torch.nn.ModuleList) \
            or not isinstance(getattr(bb, "norm", None), torch.nn.Module):
        raise ConfigError(f"{type(model).__name__}: not a decoder backbone with .layers and "
                          ".norm (a PeftModel must be merged first, as load_reward_model does)")
    return bb


def split_layer(model, trainable_layers: int) -> int:
    """Index of the first trainable layer when the last ``trainable_layers`` train (as
    :func:`xlrm.training.freeze` and :func:`xlrm.training.lora_config` place them)."""
    return max(0, len(backbone(model).layers) - int(trainable_layers))


def _config(model) -> dict[str, Any]:
    cfg = model.config.get_text_config()
    out = {k: v for k, v in cfg.to_dict().items() if k not in IGNORED_CONFIG_KEYS}
    out["attn_implementation"] = getattr(cfg, "_attn_implementation", None)
    return out


def trunk_tensors(model, split: int) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of the backbone that the trunk below ``split`` uses:
    all but those of layers ``split..`` and of the final norm."""
    bb = backbone(model)
    top = tuple(f"layers.{i}." for i in range(split, len(bb.layers))) + ("norm.",)
    items = [*bb.named_parameters(remove_duplicate=False), *bb.named_buffers(remove_duplicate=False)]
    return {name: t for name, t in items if not name.startswith(top)}


def trunk_difference(reference, model, split: int) -> str | None:
    """Why ``model`` does not compute the same trunk below layer ``split`` as ``reference``
    (the first difference found), or ``None`` when it does."""
    if model is reference:
        return None
    if type(backbone(reference)) is not type(backbone(model)):
        return f"backbone {type(backbone(model)).__name__} != {type(backbone(reference)).__name__}"
    cr, cm = _config(reference), _config(model)
    for key in sorted(set(cr) | set(cm)):
        if cr.get(key) != cm.get(key):
            return f"config {key}: {cm.get(key)!r} != {cr.get(key)!r}"
    return _tensors_difference(trunk_tensors(reference, split), trunk_tensors(model, split))


def _tensors_difference(tr: dict[str, torch.Tensor], tm: dict[str, torch.Tensor]) -> str | None:
    if tr.keys() != tm.keys():
        return f"trunk tensors differ in name: {sorted(set(tr) ^ set(tm))[:5]}"
    for name, a in tr.items():
        b = tm[name]
        if a is b:
            continue
        if (a.dtype, a.shape, a.device) != (b.dtype, b.shape, b.device):
            return f"{name}: {b.dtype} {tuple(b.shape)} on {b.device} != {a.dtype} {tuple(a.shape)} on {a.device}"
        if not torch.equal(a, b):
            diff = (a.detach().float() - b.detach().float()).abs().max().item()
            return f"{name} differs (max |diff| {diff:.3g})"
    return None


def shared_depth(reference, model) -> tuple[int, str | None]:
    """How many bottom layers of ``model`` compute exactly what ``reference``'s do (the
    largest split :func:`trunk_difference` accepts), and the first difference above them
    (``None`` when every layer is equal). 0 when the config, embeddings or other
    non-layer tensors already differ."""
    n = len(backbone(reference).layers)
    if model is reference:
        return n, None
    why = trunk_difference(reference, model, 0)
    if why is not None:
        return 0, why
    mine = backbone(model).layers
    if len(mine) != n:
        return 0, f"{len(mine)} layers != {n}"

    def tensors(layer, i):
        items = [*layer.named_parameters(remove_duplicate=False),
                 *layer.named_buffers(remove_duplicate=False)]
        return {f"layers.{i}.{name}": t for name, t in items}

    for i in range(n):
        why = _tensors_difference(tensors(backbone(reference).layers[i], i), tensors(mine[i], i))
        if why is not None:
            return i, why
    return n, None


def trunk_fingerprint(model, split: int) -> str:
    """sha256 of what the trunk below ``split`` computes with (config and tensors): the key
    a trunk cached on disk would be valid under."""
    h = hashlib.sha256(json.dumps({"split": split, "config": _config(model)}, sort_keys=True,
                                  default=str).encode())
    for name, t in sorted(trunk_tensors(model, split).items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def share_trunk(reference, model, split: int) -> str | None:
    """Point ``model``'s trunk modules (embeddings, rotary tables, layers below ``split``) at
    ``reference``'s when they are equal, so one copy stays in memory; returns the
    difference (and shares nothing) when they are not."""
    reason = trunk_difference(reference, model, split)
    if reason is None and model is not reference:
        bb_r, bb_m = backbone(reference), backbone(model)
        for name, _ in list(bb_m.named_children()):
            if name not in ("layers", "norm"):
                setattr(bb_m, name, getattr(bb_r, name))
        for i in range(split):
            bb_m.layers[i] = bb_r.layers[i]
    return reason


class _Handover(torch.nn.Module):
    """Stands in for the first trunk layer in a model's own forward: returns the trunk
    states whatever comes in."""

    def __init__(self, states):
        super().__init__()
        self.states = states

    def forward(self, hidden_states, *args, **kwargs):
        return self.states


class _Pass(torch.nn.Module):
    """Stands in for the other trunk layers: hands its input on."""

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


@contextlib.contextmanager
def _swapped(bb, layers, norm=None):
    old_layers, old_norm = bb.layers, bb.norm
    bb.layers = torch.nn.ModuleList(layers)
    if norm is not None:
        bb.norm = norm
    try:
        yield
    finally:
        bb.layers, bb.norm = old_layers, old_norm


def trunk_states(reference, input_ids, attention_mask, split: int):
    """Hidden states entering layer ``split``: the reference's own forward, cut there."""
    bb = backbone(reference)
    with _swapped(bb, list(bb.layers[:split]), torch.nn.Identity()):
        return bb(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state


def top_pooled(model, states, input_ids, attention_mask, split: int):
    """Final hidden state at each sequence's last real token, from trunk ``states``
    through ``model``'s own layers ``split..`` and final norm (its own forward)."""
    bb = backbone(model)
    stand_ins = [_Handover(states), *(_Pass() for _ in range(split - 1))]
    with _swapped(bb, [*stand_ins, *bb.layers[split:]]):
        hidden = bb(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    last = attention_mask.sum(dim=1) - 1
    return hidden[range(hidden.shape[0]), last]


def check_path(reference, batch, split: int, device) -> float:
    """Largest relative difference between the shared path and the full forward pass on
    one batch, with the reference model."""
    _, inp, mask = batch
    inp, mask = inp.to(device), mask.to(device)
    with torch.inference_mode():
        full = _last_hidden(reference, inp, mask).float()
        shared = top_pooled(reference, trunk_states(reference, inp, mask, split), inp, mask, split).float()
    return ((full - shared).abs().max() / full.abs().max().clamp_min(1e-12)).item()


def score_pairs_shared(models: dict[str, Any], tokenizer, rows: list[dict], *, split: int,
                       max_length: int | None = None, token_budget: int = 8192,
                       heads: dict[str, Any] | None = None, on_mismatch: str = "fallback",
                       check: bool = True, check_tolerance: float = 1e-4
                       ) -> dict[str, tuple[np.ndarray, np.ndarray, dict]]:
    """:func:`xlrm.reward.score.score_pairs` for several models at once, the trunk below
    layer ``split`` computed once per batch by the first model (the reference).

    ``heads`` maps a model name to score heads ``[K, hidden]`` (as score_pairs' ``heads``;
    the untrained base's random heads); other models use their own head. Returns
    ``{name: (chosen_scores, rejected_scores, stats)}``; ``stats`` is score_pairs' plus
    ``trunk`` (``shared`` or ``full: <why>``), ``top_seconds`` (this model's own layers)
    and ``trunk_seconds`` (the shared part, the same for all).
    """
    if on_mismatch not in ("fallback", "error"):
        raise ConfigError(f"on_mismatch must be 'fallback' or 'error', got {on_mismatch!r}")
    heads = heads or {}
    names = list(models)
    if not names:
        return {}
    ref = models[names[0]]
    full: dict[str, str] = {}
    for name in names:
        reason = ("no frozen layers below the split" if split <= 0
                  else trunk_difference(ref, models[name], split))
        if reason is not None:
            if on_mismatch == "error":
                raise ConfigError(f"reward model {name!r} does not share the trunk below layer "
                                  f"{split} with {names[0]!r}: {reason}")
            full[name] = reason
    convs = [messages_for(r, r["chosen"]) for r in rows] + [messages_for(r, r["rejected"]) for r in rows]
    ids, truncated = encode_conversations(tokenizer, convs, max_length)
    batches = list(padded_batches(ids, tokenizer.pad_token_id, token_budget))
    device = next(ref.parameters()).device
    shared = [n for n in names if n not in full]
    if shared and batches and check:
        gap = check_path(ref, batches[-1], split, device)
        if not gap <= check_tolerance:
            reason = (f"the shared path differs from {type(ref).__name__}'s full forward pass "
                      f"(relative {gap:.3g} > {check_tolerance:g})")
            if on_mismatch == "error":
                raise ConfigError(reason)
            full.update({n: reason for n in shared})
            shared = []
    for name, reason in full.items():
        log.warning("%s: scored with the full forward pass (%s)", name, reason)

    from xlrm.distributed import map_shared

    timing = {"trunk": 0.0, **{n: 0.0 for n in shared}}

    def run(b):
        _, inp, mask = b
        inp, mask = inp.to(device), mask.to(device)
        with torch.inference_mode():
            t0 = time.perf_counter()
            states = trunk_states(ref, inp, mask, split)
            timing["trunk"] += time.perf_counter() - t0
            out = []
            for n in shared:
                t0 = time.perf_counter()
                out.append(top_pooled(models[n], states, inp, mask, split).float().cpu().numpy())
                timing[n] += time.perf_counter() - t0
        return out

    pooled = map_shared(batches, run, costs=[inp.numel() for _, inp, _ in batches]) if shared else []
    n = len(rows)
    base = {"pairs": n, "sequences": len(convs), "truncated_sequences": truncated,
            "tokens": int(sum(len(x) for x in ids))}
    results: dict[str, tuple[np.ndarray, np.ndarray, dict]] = {}
    for j, name in enumerate(shared):
        states = torch.empty((len(ids), pooled[0][j].shape[-1]), dtype=torch.float32)
        for (batch, _, _), per_model in zip(batches, pooled):
            states[torch.as_tensor(batch)] = torch.from_numpy(per_model[j])
        w = heads[name] if name in heads else score_head_weights(models[name])
        scores = head_scores(states, w)
        scores = scores if name in heads else scores[0]
        results[name] = (scores[..., :n], scores[..., n:],
                         {**base, "trunk": "shared", "top_seconds": timing[name],
                          "trunk_seconds": timing["trunk"]})
    for name, reason in full.items():
        t0 = time.perf_counter()
        c, r, st = score_pairs(models[name], tokenizer, rows, max_length=max_length,
                               token_budget=token_budget, heads=heads.get(name))
        results[name] = (c, r, {**st, "trunk": f"full: {reason}",
                                "top_seconds": time.perf_counter() - t0, "trunk_seconds": 0.0})
    return {name: results[name] for name in names}

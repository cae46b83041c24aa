"""Keyed sampling: each generated row's random stream is a pure function of its key.

Determinism (HF backend)
------------------------
Sampling does not use torch's global RNG. Each generated row -- one ``(prompt_id, sample)``
-- owns a counter-based noise stream keyed by ``(seed, prompt_id, sample)``: at decoding
step ``t`` token ``v`` gets the Gumbel noise ``G(key, t, v)``, computed from a 32-bit
integer hash of ``(key, t, v)``, and the next token is
``argmax(top_p(logits / temperature) + G)``, an exact sample from the temperature-scaled,
nucleus-filtered distribution (the Gumbel-max trick). What is guaranteed:

1. Greedy decoding (``greedy=True`` or ``temperature == 0``) in float32 gives the same
   tokens as a per-prompt, unbatched ``model.generate(do_sample=False)`` loop with the same
   stop tokens (tested on CPU; also seen on an H200). In bfloat16/float16 the batched
   (left-padded) and unbatched forward passes round differently, so a near-tie can go the
   other way -- that is inherent to batched HF generation, not to this module.
2. Same model, config, device, dtype and library versions and the same batch plan
   (same prompts, ``token_budget``, ``max_batch``): bit-for-bit the same samples (tested;
   also seen on an H200 in float32 and bfloat16).
3. A sample's random stream does not depend on the batch it lands in, its position there,
   the other prompts, ``token_budget``/``max_batch``, or an interruption and resume. Only
   the *logits* can differ between batch plans, through floating-point rounding (another
   padded width or batch size may pick other kernels); a sample changes only where that
   flips a near-tie. On CPU in float32 resumed and re-planned runs matched the
   uninterrupted run exactly in the tests; in bfloat16 expect a few samples to differ.
   The hash uses only integer operations, exact on any device, but the float
   ``-log(-log(u))`` transform rounds differently on CPU and CUDA (the noise tensors were
   not bit-identical on an H200), so samples are not guaranteed portable across devices.
4. Prefix consistency: a larger ``max_new_tokens`` extends the same samples (the noise of
   step ``t`` does not depend on the limit), up to the same floating-point caveat.

vLLM backend: each prompt gets its own request seed derived from ``(seed, prompt_id)``
(``SamplingParams(seed=...)``), so its ``N`` samples are reproducible whatever else is in
the batch, subject to the same floating-point caveat; vLLM and HF do not produce the same
samples as each other (different samplers), only the same schema.
"""

from __future__ import annotations

import hashlib
from typing import Any

_MASK32 = 0xFFFFFFFF


def _mul32(x: Any, c: int) -> Any:
    """``(x * c) mod 2**32`` for int64 tensors with ``0 <= x < 2**32``, without overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK32


def _mix32(x: Any) -> Any:
    """A 32-bit integer finaliser (``lowbias32``) on int64 tensors holding 32-bit values."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def row_key(seed: int, prompt_id: str, sample: int) -> int:
    """The 32-bit key of one sample's random stream."""
    digest = hashlib.blake2b(f"{seed}\x1f{prompt_id}\x1f{sample}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def prompt_seed(seed: int, prompt_id: str) -> int:
    """A per-prompt 31-bit seed (vLLM request seed)."""
    digest = hashlib.blake2b(f"{seed}\x1f{prompt_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def keyed_gumbel(keys: Any, step: int, vocab_size: int | None = None,
                 token_ids: Any = None) -> Any:
    """Gumbel(0, 1) noise, a pure function of (key, step, token id).

    ``keys`` is an int64 tensor of 32-bit keys (:func:`row_key`) on the target device. With
    ``vocab_size`` the noise of every token, ``[len(keys), vocab_size]``; with ``token_ids``
    (int64 ``[len(keys), k]``) only that of those tokens, the same values.
    """
    import torch

    device = keys.device
    step_t = torch.tensor([(step * 0x9E3779B9 + 0x7F4A7C15) & _MASK32], dtype=torch.int64,
                          device=device)
    k1 = _mix32(keys ^ _mix32(step_t))                       # [B]
    k2 = _mix32(k1 ^ 0x5BD1E995)                             # [B]
    if token_ids is None:
        tok = _mix32(torch.arange(vocab_size, dtype=torch.int64, device=device) ^ 0x27D4EB2F)[None, :]
    else:
        tok = _mix32(token_ids.to(torch.int64) ^ 0x27D4EB2F)
    h = _mix32(_mix32(k1[:, None] ^ tok) ^ k2[:, None])
    u = ((h >> 8).to(torch.float32) + 0.5) * (2.0 ** -24)    # 24 bits: exact in float32, in (0, 1)
    return -torch.log(-torch.log(u))


# Candidates taken with topk before the top-p cut; rows whose nucleus is larger fall back to
# a full sort. A full sort of a 262k vocabulary per row and step dominated CPU sampling.
NUCLEUS_CANDIDATES = 1024


def keyed_nucleus_choice(scores: Any, keys: Any, step: int, top_p: float,
                         candidates: int = NUCLEUS_CANDIDATES) -> Any:
    """The sampled token of each row: argmax of ``scores`` + keyed Gumbel noise over the
    top-p nucleus (the smallest set of most likely tokens whose mass reaches ``top_p``,
    transformers' ``TopPLogitsWarper`` rule). Noise is drawn for nucleus tokens only, so the
    choice equals the argmax over the whole masked vocabulary.
    """
    import torch

    probs = torch.softmax(scores, dim=-1)
    vocab = scores.shape[-1]
    k = min(vocab, candidates)
    top_p_vals, top_idx = torch.topk(probs, k, dim=-1)        # descending
    if top_p < 1.0:
        # a token stays when the mass ranked strictly above it is below top_p
        keep = (torch.cumsum(top_p_vals, dim=-1) - top_p_vals) < top_p
        keep[:, 0] = True
        wide = keep[:, -1] & (k < vocab)
    else:
        keep = torch.ones_like(top_p_vals, dtype=torch.bool)
        wide = torch.full((scores.shape[0],), k < vocab, device=scores.device)
    choice = torch.empty(scores.shape[0], dtype=torch.int64, device=scores.device)
    narrow = ~wide
    if narrow.any():
        rows = narrow.nonzero().squeeze(1)
        idx = top_idx[rows]
        val = scores[rows].gather(1, idx) + keyed_gumbel(keys[rows], step, token_ids=idx)
        val = val.masked_fill(~keep[rows], float("-inf"))
        choice[rows] = idx.gather(1, val.argmax(dim=1, keepdim=True)).squeeze(1)
    if wide.any():
        rows = wide.nonzero().squeeze(1)
        sub = scores[rows]
        if top_p < 1.0:
            sp, si = torch.sort(torch.softmax(sub, dim=-1), dim=-1, descending=True)
            drop_sorted = (torch.cumsum(sp, dim=-1) - sp) >= top_p
            drop_sorted[:, 0] = False
            drop = torch.zeros_like(drop_sorted).scatter(1, si, drop_sorted)
            sub = sub.masked_fill(drop, float("-inf"))
        val = sub + keyed_gumbel(keys[rows], step, vocab_size=vocab)
        choice[rows] = val.argmax(dim=1)
    return choice


def sampler_class() -> type:
    from transformers import LogitsProcessor

    class KeyedGumbelSampler(LogitsProcessor):
        """Turns greedy decoding into sampling with per-row keyed noise.

        Applies the temperature, cuts to the top-p nucleus and picks each row's token by
        keyed Gumbel-max (:func:`keyed_nucleus_choice`); returns scores whose only finite
        entry is that token, so ``generate(do_sample=False)`` takes it.
        """

        def __init__(self, keys: Any, prompt_width: int, temperature: float, top_p: float):
            self.keys = keys
            self.prompt_width = prompt_width
            self.temperature = temperature
            self.top_p = top_p

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            import torch

            scores = scores.float()
            if self.temperature != 1.0:
                scores = scores / self.temperature
            step = input_ids.shape[1] - self.prompt_width
            choice = keyed_nucleus_choice(scores, self.keys.to(scores.device), step, self.top_p)
            out = torch.full_like(scores, float("-inf"))
            return out.scatter_(1, choice[:, None], 0.0)

    return KeyedGumbelSampler

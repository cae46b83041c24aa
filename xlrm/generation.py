"""Sampling from a policy: on-policy samples for alignment, greedy answers for AlpacaEval.

Two entry points share one batching core:

- :func:`generate_to_file` writes ``N`` samples per prompt (or one greedy answer) to a
  JSON-lines file, resumably: a killed run picks up where it stopped, with no duplicate
  and no lost sample.
- :func:`generate_greedy_texts` answers conversations greedily in memory (AlpacaEval).

Prompts are rendered with the tokenizer's chat template
(``apply_chat_template(messages, add_generation_prompt=True)``) and both backends are fed
the resulting *token ids*, so HF and vLLM see exactly the same prompt tokens (passing the
rendered text to vLLM would re-tokenize it and add a second BOS for templates that write
``{{ bos_token }}`` themselves).

Output rows (one per sample, sorted by ``(prompt_id, sample)``)::

    {"prompt_id": "seed-00042", "language": "ko", "sample": 0, "text": "...",
     "num_tokens": 57, "backend": "hf", "seed": 0, "finish_reason": "stop"}

``num_tokens`` counts the generated tokens of the reply, not counting the stop token that
ended it; ``finish_reason`` is ``"stop"`` (a stop token was generated) or ``"length"``
(``max_new_tokens`` was reached, then ``num_tokens == max_new_tokens``). ``text`` is the
reply decoded with ``skip_special_tokens=True``. Generation stops at the model's EOS
token(s) and at the end-of-turn marker its chat template uses (see :func:`stop_token_ids`).

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

Resume protocol
---------------
Rows are appended, one complete line at a time, to ``<out>.partial`` (flushed after every
batch, ``fsync``-ed every ``flush_every`` samples). ``<out>.partial.meta.json`` holds a
fingerprint of everything that determines the samples (model files, prompts, sampling
settings, backend, language). On start, a partial file with a matching fingerprint is
reused: a torn last line is cut off, complete rows are kept and only missing
``(prompt_id, sample)`` pairs are generated; a mismatching or fingerprint-less partial is
discarded with a warning. At the end every expected pair must be present exactly once;
the final file is written atomically and both side files are removed. Both side files
sit beside the output, so a DVC stage declares only the final path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from xlrm.devices import resolve_device  # noqa: F401  (re-exported)
from xlrm.errors import ConfigError, DataError, XlrmError
from xlrm.io import write_json, write_jsonl
from xlrm.reward import length_batches

log = logging.getLogger(__name__)

# Test-only hook: seconds to sleep after each batch (HF) or chunk (vLLM) has been written
# to the partial file, so a test can kill the run half-way. Unset in normal use.
TEST_SLEEP_ENV = "XLRM_GENERATE_TEST_SLEEP"

# End-of-turn markers of common chat templates; those the model's own chat template uses
# (and its tokenizer knows as single tokens) stop generation besides the EOS token(s).
END_OF_TURN_MARKERS = ("<|end|>", "<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>")

ROW_KEYS = ("prompt_id", "language", "sample", "text", "num_tokens", "backend", "seed",
            "finish_reason")


@dataclass
class GenerateConfig:
    """The ``generate`` params section.

    Attributes:
        backend: ``hf`` (transformers ``generate``, any device) or ``vllm`` (optional
            package, CUDA).
        num_samples: samples per prompt (``N``); greedy runs write one answer per prompt.
        temperature: sampling temperature; ``0`` means greedy.
        top_p: nucleus sampling threshold (``1.0`` keeps the whole distribution).
        max_new_tokens: most tokens generated per sample.
        seed: the sampling seed; with the prompt id and sample index it keys each
            sample's random stream.
        token_budget: HF batches hold at most this many (padded prompt + new) tokens.
        max_batch: HF batches hold at most this many sequences.
        dtype: weights dtype; ``auto`` is float32 on CPU and the checkpoint's dtype on GPU.
        device: ``auto`` (cuda, then mps, then cpu) or a torch device string (HF only).
        flush_every: samples written between two ``fsync`` calls of the partial file; for
            vLLM also the number of samples submitted per chunk.
    """

    backend: Literal["hf", "vllm"] = "hf"
    num_samples: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 256
    seed: int = 0
    token_budget: int = 8192
    max_batch: int = 64
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"
    flush_every: int = 256

    def __post_init__(self) -> None:
        # ValueError: xlrm.config.from_dict reports it with the params file and section.
        for name in ("num_samples", "max_new_tokens", "token_budget", "max_batch", "flush_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


# ---------------------------------------------------------------------------- prompts


def validate_prompts(prompts: Sequence[dict]) -> list[dict]:
    """Check ``{"id", "messages"}`` prompts; ids must be unique non-empty strings."""
    seen: set[str] = set()
    for i, p in enumerate(prompts, start=1):
        if not isinstance(p, dict) or "id" not in p or "messages" not in p:
            raise DataError("a prompt must be an object with 'id' and 'messages'", row=i)
        pid, msgs = p["id"], p["messages"]
        if not isinstance(pid, str) or not pid:
            raise DataError("must be a non-empty string", row=i, field="id")
        if pid in seen:
            raise DataError(f"duplicate prompt id {pid!r}", row=i, field="id")
        seen.add(pid)
        if (not isinstance(msgs, list) or not msgs
                or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                           and isinstance(m.get("content"), str) for m in msgs)):
            raise DataError("must be a non-empty list of {role, content} messages", row=i,
                            field="messages")
    return list(prompts)


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


FinishReason = Literal["stop", "length"]


def _finish(ids: list[int], stop: set[int]) -> tuple[list[int], FinishReason]:
    """Reply tokens up to the first stop token, and why generation ended."""
    for j, t in enumerate(ids):
        if t in stop:
            return ids[:j], "stop"
    return ids, "length"


# ---------------------------------------------------------------------------- keyed sampling

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


def _sampler_class() -> type:
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


# ---------------------------------------------------------------------------- HF batching core


@dataclass
class Completion:
    """One generated reply."""

    token_ids: list[int]
    text: str
    finish_reason: FinishReason

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


def _test_pause() -> None:
    delay = os.environ.get(TEST_SLEEP_ENV)
    if delay:
        time.sleep(float(delay))


def hf_generate_batches(model: Any, tokenizer: Any, prompt_ids: Sequence[list[int]], *,
                        max_new_tokens: int, token_budget: int, max_batch: int = 64,
                        keys: Sequence[int] | None = None, temperature: float = 1.0,
                        top_p: float = 1.0, stop_ids: Sequence[int] | None = None,
                        ) -> Iterator[list[tuple[int, Completion]]]:
    """Generate one reply per row of ``prompt_ids``, yielding ``[(row, Completion)]`` per batch.

    Rows are sorted by length and grouped so a batch's padded size
    (``rows x (longest prompt + max_new_tokens)``) fits ``token_budget``; prompts are
    LEFT-padded with an attention mask (transformers derives the position ids from it).
    ``keys=None`` decodes greedily; otherwise row ``i`` samples with the noise stream
    ``keys[i]`` at the given temperature and top-p (see the module docstring).
    """
    from transformers import GenerationConfig

    if keys is not None and len(keys) != len(prompt_ids):
        raise ValueError("keys must have one entry per row")
    if stop_ids is None:
        stop_ids = stop_token_ids(tokenizer, getattr(model, "generation_config", None))
    stop = set(stop_ids)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = stop_ids[0] if stop_ids else 0
    # Pin the settings a checkpoint's generation_config.json commonly sets (sampling knobs,
    # repetition penalty), so they are not inherited: sampling is done by the keyed sampler.
    gen_cfg = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, num_return_sequences=1,
        temperature=1.0, top_p=1.0, top_k=50, repetition_penalty=1.0, no_repeat_ngram_size=0,
        min_length=0, eos_token_id=list(stop_ids) or None, pad_token_id=pad_id,
    )
    sampler_cls = _sampler_class() if keys is not None else None
    device = next(model.parameters()).device
    lengths = [len(p) + max_new_tokens for p in prompt_ids]
    was_training = model.training
    model.eval()
    try:
        yield from _generate_planned(model, tokenizer, prompt_ids, lengths, token_budget,
                                     max_batch, pad_id, gen_cfg, sampler_cls, keys,
                                     temperature, top_p, stop, device)
    finally:
        model.train(was_training)


def _generate_planned(model: Any, tokenizer: Any, prompt_ids: Sequence[list[int]],
                      lengths: list[int], token_budget: int, max_batch: int, pad_id: int,
                      gen_cfg: Any, sampler_cls: type | None, keys: Sequence[int] | None,
                      temperature: float, top_p: float, stop: set[int], device: Any,
                      ) -> Iterator[list[tuple[int, Completion]]]:
    import torch
    from transformers import LogitsProcessorList

    with torch.inference_mode():
        for batch in length_batches(lengths, token_budget, max_batch):
            rows = [int(i) for i in batch]
            width = max(len(prompt_ids[i]) for i in rows)
            inp = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, i in enumerate(rows):
                ids = prompt_ids[i]
                inp[j, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
                mask[j, width - len(ids):] = 1
            processors = LogitsProcessorList()
            if sampler_cls is not None and keys is not None:
                batch_keys = torch.tensor([keys[i] for i in rows], dtype=torch.int64)
                processors.append(sampler_cls(batch_keys, width, temperature, top_p))
            out = model.generate(input_ids=inp.to(device), attention_mask=mask.to(device),
                                 generation_config=gen_cfg, logits_processor=processors)
            new = out[:, width:].tolist()
            results = []
            for j, i in enumerate(rows):
                ids, reason = _finish(new[j], stop)
                text = tokenizer.decode(ids, skip_special_tokens=True)
                results.append((i, Completion(ids, text, reason)))
            yield results


def generate_greedy_texts(model: Any, tokenizer: Any, messages_list: Sequence[list[dict]],
                          max_new_tokens: int = 256, token_budget: int = 8192,
                          max_batch: int = 64) -> list[str]:
    """Greedy replies to conversations, in input order (AlpacaEval answering).

    Same rendering, batching and stop tokens as :func:`generate_to_file`; in float32
    identical to an unbatched greedy ``model.generate`` loop.
    """
    prompt_ids = [render_prompt_ids(tokenizer, m) for m in messages_list]
    texts: list[str] = [""] * len(prompt_ids)
    for batch in hf_generate_batches(model, tokenizer, prompt_ids, max_new_tokens=max_new_tokens,
                                     token_budget=token_budget, max_batch=max_batch):
        for i, c in batch:
            texts[i] = c.text
    return texts


# ---------------------------------------------------------------------------- model loading


def load_policy(model_dir: str | os.PathLike, dtype: str = "auto", device: str = "auto"
                ) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from a local folder, in eval mode on ``device``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = resolve_device(device)
    torch_dtype: Any = ("auto" if dev != "cpu" else torch.float32) if dtype == "auto" \
        else getattr(torch, dtype)
    try:
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype)
    except OSError as e:
        raise XlrmError(f"cannot load the policy model from {model_dir}: {e}") from None
    model.to(dev).eval()
    return model, tok


# ---------------------------------------------------------------------------- resume bookkeeping


def _model_fingerprint(model_dir: Path) -> list[list]:
    """Names, sizes and modification times of the model folder's files (cheap, safe side:
    a re-saved model starts the samples over)."""
    if not model_dir.is_dir():
        return [[str(model_dir)]]
    out = []
    for p in sorted(model_dir.rglob("*")):
        if p.is_file():
            st = p.stat()
            out.append([p.relative_to(model_dir).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def run_fingerprint(model_dir: Path, prompts: Sequence[dict], cfg: GenerateConfig, *,
                    language: str, greedy: bool) -> str:
    """Hash of everything that determines the samples.

    Batching and durability settings (``token_budget``, ``max_batch``, ``flush_every``,
    ``device``) are left out: they do not change the random stream of a (prompt, sample),
    only (through floating-point rounding, see the module docstring) possibly near-ties.
    """
    prompts_digest = hashlib.sha256()
    for p in prompts:
        prompts_digest.update(json.dumps([p["id"], p["messages"]], ensure_ascii=False,
                                         sort_keys=True).encode())
        prompts_digest.update(b"\n")
    payload = {
        "format": 1, "model": _model_fingerprint(model_dir), "prompts": prompts_digest.hexdigest(),
        "language": language, "greedy": greedy, "backend": cfg.backend,
        "num_samples": 1 if greedy else cfg.num_samples, "temperature": cfg.temperature,
        "top_p": cfg.top_p, "max_new_tokens": cfg.max_new_tokens, "seed": cfg.seed,
        "dtype": cfg.dtype,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _valid_row(row: Any, expected: set[tuple[str, int]]) -> tuple[str, int] | None:
    if not isinstance(row, dict) or set(row) != set(ROW_KEYS):
        return None
    key = (row["prompt_id"], row["sample"])
    if not isinstance(key[0], str) or not isinstance(key[1], int) or key not in expected:
        return None
    if not isinstance(row["text"], str):
        return None
    return key


def load_partial(partial: Path, expected: set[tuple[str, int]]) -> dict[tuple[str, int], dict]:
    """Complete, valid rows of a partial file, keyed by ``(prompt_id, sample)``.

    A torn last line (no final newline: the run died mid-write) is cut off the file. Lines
    that are unreadable, unexpected or repeated are dropped and the file is rewritten
    without them, so it again holds each key at most once.
    """
    data = partial.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        log.warning("%s: dropping a torn last line (%d bytes)", partial, len(data) - cut)
        with open(partial, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
        data = data[:cut]
    done: dict[tuple[str, int], dict] = {}
    dropped = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            dropped += 1
            continue
        key = _valid_row(row, expected)
        if key is None or key in done:
            dropped += 1
            continue
        done[key] = row
    if dropped:
        log.warning("%s: dropping %d unreadable, unexpected or repeated line(s)", partial, dropped)
        write_jsonl(partial, done.values())
    return done


class _Appender:
    """Appends complete JSON lines to the partial file; fsyncs every ``flush_every`` rows."""

    def __init__(self, path: Path, flush_every: int):
        self.f = open(path, "a", encoding="utf-8")
        self.flush_every = flush_every
        self.unsynced = 0

    def write(self, rows: Sequence[dict]) -> None:
        for row in rows:
            self.f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.f.flush()
        self.unsynced += len(rows)
        if self.unsynced >= self.flush_every:
            os.fsync(self.f.fileno())
            self.unsynced = 0

    def close(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


def _side_paths(out_path: Path) -> tuple[Path, Path]:
    return Path(f"{out_path}.partial"), Path(f"{out_path}.partial.meta.json")


# ---------------------------------------------------------------------------- backends

# (prompt index, sample index) pairs to generate
Todo = list[tuple[int, int]]
RowSink = Callable[[list[tuple[int, int, Completion]]], None]


def _run_hf(model_dir: Path, prompts: list[dict], todo: Todo, cfg: GenerateConfig,
            greedy: bool, sink: RowSink) -> None:
    model, tok = load_policy(model_dir, cfg.dtype, cfg.device)
    rendered = [render_prompt_ids(tok, p["messages"]) for p in prompts]
    row_ids = [rendered[pi] for pi, _ in todo]
    keys = None if greedy else [row_key(cfg.seed, prompts[pi]["id"], s) for pi, s in todo]
    for batch in hf_generate_batches(
            model, tok, row_ids, max_new_tokens=cfg.max_new_tokens,
            token_budget=cfg.token_budget, max_batch=cfg.max_batch, keys=keys,
            temperature=cfg.temperature, top_p=cfg.top_p):
        sink([(todo[r][0], todo[r][1], c) for r, c in batch])
        _test_pause()


def _import_vllm() -> tuple[Any, Any]:
    """``(vllm.LLM, vllm.SamplingParams)``, or a clear error when vLLM is not installed."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        raise XlrmError("generate.backend is 'vllm' but the vllm package is not installed "
                        "(pip install vllm, on a CUDA machine), or set generate.backend: hf"
                        ) from None
    return LLM, SamplingParams


def _run_vllm(model_dir: Path, prompts: list[dict], todo: Todo, cfg: GenerateConfig,
              greedy: bool, sink: RowSink) -> None:
    """vLLM backend: one request per prompt with ``n`` samples and a per-prompt seed.

    Prompts with missing samples are submitted in chunks of about ``flush_every`` samples;
    each chunk's rows are saved before the next starts. A prompt with only some samples
    missing is regenerated whole (its seeded request gives the same samples) and only the
    missing ones are kept.
    """
    LLM, SamplingParams = _import_vllm()
    from transformers import AutoTokenizer, GenerationConfig

    tok = AutoTokenizer.from_pretrained(model_dir)
    try:
        gen_config = GenerationConfig.from_pretrained(model_dir)
    except OSError:
        gen_config = None
    stop_ids = stop_token_ids(tok, gen_config)
    stop = set(stop_ids)
    n = 1 if greedy else cfg.num_samples
    llm = LLM(model=str(model_dir), tokenizer=str(model_dir), dtype=cfg.dtype, seed=cfg.seed)

    missing: dict[int, set[int]] = {}
    for pi, s in todo:
        missing.setdefault(pi, set()).add(s)
    order = sorted(missing)
    chunk = max(1, cfg.flush_every // n)
    for start in range(0, len(order), chunk):
        pis = order[start:start + chunk]
        requests = [{"prompt_token_ids": render_prompt_ids(tok, prompts[pi]["messages"])}
                    for pi in pis]
        params = [SamplingParams(
            n=n, temperature=0.0 if greedy else cfg.temperature, top_p=1.0 if greedy else cfg.top_p,
            max_tokens=cfg.max_new_tokens, seed=prompt_seed(cfg.seed, prompts[pi]["id"]),
            stop_token_ids=stop_ids, repetition_penalty=1.0) for pi in pis]
        outputs = llm.generate(requests, sampling_params=params, use_tqdm=False)
        rows: list[tuple[int, int, Completion]] = []
        for pi, out in zip(pis, outputs):
            for comp in out.outputs:
                if comp.index not in missing[pi]:
                    continue
                ids = list(comp.token_ids)
                ids, reason = _finish(ids, stop)  # vLLM keeps the EOS id in token_ids
                if comp.finish_reason == "length":
                    reason = "length"
                text = tok.decode(ids, skip_special_tokens=True)
                rows.append((pi, comp.index, Completion(ids, text, reason)))
        sink(rows)
        _test_pause()


# ---------------------------------------------------------------------------- entry point


def generate_to_file(model_dir: str | os.PathLike, prompts: Sequence[dict],
                     out_path: str | os.PathLike, cfg: GenerateConfig, *, language: str,
                     greedy: bool = False) -> dict[str, Any]:
    """Generate ``cfg.num_samples`` replies per prompt (one if ``greedy``) into ``out_path``.

    ``prompts`` are ``{"id": str, "messages": [{"role", "content"}, ...]}``. The run is
    resumable (see the module docstring); ``temperature == 0`` is treated as greedy.
    Returns stats: counts of prompts, expected/resumed/generated samples, finish reasons,
    mean reply length and wall time.
    """
    t0 = time.time()
    model_dir, out_path = Path(model_dir), Path(out_path)
    prompts = validate_prompts(prompts)
    greedy = greedy or cfg.temperature == 0.0
    n = 1 if greedy else cfg.num_samples
    expected_order = [(p["id"], s) for p in prompts for s in range(n)]
    expected = set(expected_order)
    if cfg.backend == "vllm":
        _import_vllm()  # fail before touching any file
    partial, meta = _side_paths(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    fingerprint = run_fingerprint(model_dir, prompts, cfg, language=language, greedy=greedy)
    done: dict[tuple[str, int], dict] = {}
    old = None
    if meta.exists():
        try:
            old = json.loads(meta.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, json.JSONDecodeError, AttributeError):
            old = None
    if old == fingerprint and partial.exists():
        done = load_partial(partial, expected)
        log.info("%s: resuming, %d of %d samples already done", out_path, len(done), len(expected))
    elif partial.exists() or meta.exists():
        log.warning("%s: the partial results were made with another model, prompts or "
                    "sampling settings; starting over", out_path)
        partial.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
    if old != fingerprint or not meta.exists():
        write_json(meta, {"fingerprint": fingerprint, "output": out_path.name})

    index = {p["id"]: i for i, p in enumerate(prompts)}
    todo: Todo = [(index[pid], s) for pid, s in expected_order if (pid, s) not in done]
    resumed = len(done)

    if todo:
        appender = _Appender(partial, cfg.flush_every)

        def sink(rows: list[tuple[int, int, Completion]]) -> None:
            appender.write([{
                "prompt_id": prompts[pi]["id"], "language": language, "sample": s,
                "text": c.text, "num_tokens": c.num_tokens, "backend": cfg.backend,
                "seed": cfg.seed, "finish_reason": c.finish_reason,
            } for pi, s, c in rows])

        try:
            runner = {"hf": _run_hf, "vllm": _run_vllm}[cfg.backend]
            runner(model_dir, prompts, todo, cfg, greedy, sink)
        finally:
            appender.close()

    # Verify: every expected (prompt_id, sample) exactly once, nothing else.
    counts: dict[tuple[str, int], int] = {}
    rows: list[dict] = []
    if partial.exists():
        for line in partial.read_bytes().split(b"\n"):
            if line.strip():
                row = json.loads(line.decode("utf-8"))
                key = (row["prompt_id"], row["sample"])
                counts[key] = counts.get(key, 0) + 1
                rows.append(row)
    lost = expected - set(counts)
    dup = sorted(k for k, c in counts.items() if c > 1)
    extra = sorted(set(counts) - expected)
    if lost or dup or extra:
        raise XlrmError(f"{partial}: generation incomplete or inconsistent: {len(lost)} missing, "
                        f"{len(dup)} duplicated, {len(extra)} unexpected sample(s) "
                        f"(first: {(sorted(lost) + dup + extra)[:3]}); rerun to resume")
    rows.sort(key=lambda r: (r["prompt_id"], r["sample"]))
    write_jsonl(out_path, rows)
    partial.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)

    lengths = [r["num_tokens"] for r in rows]
    return {
        "backend": cfg.backend, "language": language, "greedy": greedy, "prompts": len(prompts),
        "num_samples": n, "samples": len(rows), "resumed": resumed, "generated": len(todo),
        "finish_length": sum(r["finish_reason"] == "length" for r in rows),
        "mean_num_tokens": (sum(lengths) / len(lengths)) if lengths else 0.0,
        "seconds": round(time.time() - t0, 3),
    }

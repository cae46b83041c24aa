"""The HF batching core (length-grouped, left-padded ``model.generate`` batches), greedy
answers in memory, and the HF backend of :func:`xlrm.generation.run.generate_to_file`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xlrm.generation.prompts import Completion, cut_at_stop, render_prompt_ids, stop_token_ids
from xlrm.generation.resume import RowSink, Todo, pause_for_tests
from xlrm.generation.sampling import row_key, sampler_class

if TYPE_CHECKING:
    from xlrm.generation.config import GenerateConfig


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
    ``keys[i]`` at the given temperature and top-p (see :mod:`xlrm.generation.sampling`).
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
    sampler_cls = sampler_class() if keys is not None else None
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

    from xlrm.reward.score import length_batches

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
                ids, reason = cut_at_stop(new[j], stop)
                text = tokenizer.decode(ids, skip_special_tokens=True)
                results.append((i, Completion(ids, text, reason)))
            yield results


def generate_greedy_texts(model: Any, tokenizer: Any, messages_list: Sequence[list[dict]],
                          max_new_tokens: int = 256, token_budget: int = 8192,
                          max_batch: int = 64) -> list[str]:
    """Greedy replies to conversations, in input order (AlpacaEval answering).

    Same rendering, batching and stop tokens as :func:`xlrm.generation.run.generate_to_file`;
    in float32 identical to an unbatched greedy ``model.generate`` loop.
    """
    prompt_ids = [render_prompt_ids(tokenizer, m) for m in messages_list]
    texts: list[str] = [""] * len(prompt_ids)
    for batch in hf_generate_batches(model, tokenizer, prompt_ids, max_new_tokens=max_new_tokens,
                                     token_budget=token_budget, max_batch=max_batch):
        for i, c in batch:
            texts[i] = c.text
    return texts


def run_hf(model_dir: Path, prompts: list[dict], todo: Todo, cfg: GenerateConfig,
           greedy: bool, sink: RowSink) -> None:
    """HF backend: the policy on ``cfg.device`` in ``cfg.dtype`` (the rules of
    :mod:`xlrm.modeling`), rows batched by :func:`hf_generate_batches`, each batch handed to
    ``sink`` as soon as it is done."""
    from xlrm.modeling import dtype_name, load_causal, load_tokenizer, resolve_device
    from xlrm.tracking import log_effective_config

    device = resolve_device(cfg.device)
    model = load_causal(model_dir, dtype=cfg.dtype, device=device)
    tok = load_tokenizer(model_dir, require_pad=False)
    stop_ids = stop_token_ids(tok, getattr(model, "generation_config", None))
    log_effective_config("generate", {
        "backend": "hf", "device": device, "dtype": dtype_name(model.dtype),
        "sampler": "greedy" if greedy else "keyed-gumbel", "greedy": greedy,
        "num_samples": 1 if greedy else cfg.num_samples,
        "temperature": None if greedy else cfg.temperature,
        "top_p": None if greedy else cfg.top_p, "seed": None if greedy else cfg.seed,
        "max_new_tokens": cfg.max_new_tokens, "token_budget": cfg.token_budget,
        "max_batch": cfg.max_batch, "flush_every": cfg.flush_every,
        "stop_token_ids": stop_ids,
    })
    rendered = [render_prompt_ids(tok, p["messages"]) for p in prompts]
    row_ids = [rendered[pi] for pi, _ in todo]
    keys = None if greedy else [row_key(cfg.seed, prompts[pi]["id"], s) for pi, s in todo]
    for batch in hf_generate_batches(
            model, tok, row_ids, max_new_tokens=cfg.max_new_tokens,
            token_budget=cfg.token_budget, max_batch=cfg.max_batch, keys=keys,
            temperature=cfg.temperature, top_p=cfg.top_p, stop_ids=stop_ids):
        sink([(todo[r][0], todo[r][1], c) for r, c in batch])
        pause_for_tests()

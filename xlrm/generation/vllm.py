"""The vLLM backend of :func:`xlrm.generation.run.generate_to_file` (optional package, CUDA).

The engine is built from ``generate.vllm`` (:mod:`xlrm.vllm_engine`: vLLM's own
engine-argument names); prompts go to it in large calls of ``generate.chunk_samples``
samples, which vLLM schedules itself (continuous batching).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from xlrm.generation.prompts import Completion, cut_at_stop, render_prompt_ids, stop_token_ids
from xlrm.generation.resume import RowSink, Todo, pause_for_tests
from xlrm.generation.sampling import prompt_seed
from xlrm.vllm_engine import (build_engine, check_engine_args, check_prompt_fits, engine_kwargs,
                              import_vllm)

if TYPE_CHECKING:
    from xlrm.generation.config import GenerateConfig


def generate_engine_kwargs(model_dir: Path, cfg: GenerateConfig) -> dict[str, Any]:
    """``vllm.LLM(**kwargs)`` of the ``generate`` section: ``cfg.vllm``, with
    ``cfg.dtype``/``cfg.seed`` where ``vllm.dtype``/``vllm.seed`` are unset. ``dtype``
    goes to vLLM as is: there ``auto`` is vLLM's own rule (the checkpoint's dtype, float16
    for a float32 checkpoint), not :func:`xlrm.modeling.resolve_dtype`, whose GPU check
    would initialise CUDA in this process before vLLM starts its workers."""
    return engine_kwargs(cfg.vllm, model=str(model_dir), dtype=cfg.dtype, seed=cfg.seed)


def preflight(model_dir: Path, cfg: GenerateConfig) -> None:
    """Fail before any file is touched: vLLM missing, or an engine argument it lacks."""
    check_engine_args(import_vllm("generate"), generate_engine_kwargs(model_dir, cfg),
                      "generate")


def run_vllm(model_dir: Path, prompts: list[dict], todo: Todo, cfg: GenerateConfig,
             greedy: bool, sink: RowSink) -> None:
    """vLLM backend: one request per prompt with ``n`` samples and a per-prompt seed.

    Prompts with missing samples go to ``llm.generate`` in calls of about
    ``cfg.chunk_samples`` samples (``chunk_samples // n`` prompts, at least one); each
    call's rows are saved before the next call. A prompt with only some samples missing is
    regenerated whole (its seeded request gives the same samples) and only the missing
    ones are kept.
    """
    vllm = import_vllm("generate")
    from transformers import GenerationConfig

    from xlrm.modeling import load_tokenizer
    from xlrm.tracking import log_effective_config

    tok = load_tokenizer(model_dir, require_pad=False)
    try:
        gen_config = GenerationConfig.from_pretrained(model_dir)
    except OSError:
        gen_config = None
    stop_ids = stop_token_ids(tok, gen_config)
    stop = set(stop_ids)
    n = 1 if greedy else cfg.num_samples
    engine = generate_engine_kwargs(model_dir, cfg)
    sampling = {"n": n, "temperature": 0.0 if greedy else cfg.temperature,
                "top_p": 1.0 if greedy else cfg.top_p, "max_tokens": cfg.max_new_tokens,
                "stop_token_ids": stop_ids, "repetition_penalty": 1.0}
    per_call = max(1, cfg.chunk_samples // n)
    log_effective_config("generate", {
        "backend": "vllm", "engine": engine,
        "sampling": {**sampling, "seed": "per prompt, from (seed, prompt_id)"},
        "greedy": greedy, "prompts_per_call": per_call, "chunk_samples": cfg.chunk_samples,
        "flush_every": cfg.flush_every,
    })
    missing: dict[int, set[int]] = {}
    for pi, s in todo:
        missing.setdefault(pi, set()).add(s)
    order = sorted(missing)
    rendered = {pi: render_prompt_ids(tok, prompts[pi]["messages"]) for pi in order}
    for pi in order:
        check_prompt_fits(cfg.vllm, len(rendered[pi]), f"prompt {prompts[pi]['id']!r}",
                          "generate")
    llm = build_engine(vllm, engine, "generate")
    for start in range(0, len(order), per_call):
        pis = order[start:start + per_call]
        requests = [{"prompt_token_ids": rendered[pi]} for pi in pis]
        params = [vllm.SamplingParams(**sampling, seed=prompt_seed(cfg.seed, prompts[pi]["id"]))
                  for pi in pis]
        outputs = llm.generate(requests, sampling_params=params, use_tqdm=False)
        rows: list[tuple[int, int, Completion]] = []
        for pi, out in zip(pis, outputs, strict=True):
            for comp in out.outputs:
                if comp.index not in missing[pi]:
                    continue
                ids, reason = cut_at_stop(list(comp.token_ids), stop)  # vLLM keeps the EOS id
                if comp.finish_reason == "length":
                    reason = "length"
                text = tok.decode(ids, skip_special_tokens=True)
                rows.append((pi, comp.index, Completion(ids, text, reason)))
        sink(rows)
        pause_for_tests()

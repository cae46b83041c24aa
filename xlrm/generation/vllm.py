"""The vLLM backend of :func:`xlrm.generation.run.generate_to_file` (optional package, CUDA)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from xlrm.errors import XlrmError
from xlrm.generation.prompts import Completion, cut_at_stop, render_prompt_ids, stop_token_ids
from xlrm.generation.resume import RowSink, Todo, pause_for_tests
from xlrm.generation.sampling import prompt_seed

if TYPE_CHECKING:
    from xlrm.generation.config import GenerateConfig


def import_vllm() -> tuple[Any, Any]:
    """``(vllm.LLM, vllm.SamplingParams)``, or a clear error when vLLM is not installed."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        raise XlrmError("generate.backend is 'vllm' but the vllm package is not installed "
                        "(pip install vllm, on a CUDA machine), or set generate.backend: hf"
                        ) from None
    return LLM, SamplingParams


def run_vllm(model_dir: Path, prompts: list[dict], todo: Todo, cfg: GenerateConfig,
             greedy: bool, sink: RowSink) -> None:
    """vLLM backend: one request per prompt with ``n`` samples and a per-prompt seed.

    Prompts with missing samples are submitted in chunks of about ``flush_every`` samples;
    each chunk's rows are saved before the next starts. A prompt with only some samples
    missing is regenerated whole (its seeded request gives the same samples) and only the
    missing ones are kept. ``cfg.dtype`` goes to vLLM as is: there ``auto`` is vLLM's own
    rule (the checkpoint's dtype, float16 for a float32 checkpoint), not
    :func:`xlrm.modeling.resolve_dtype`, whose GPU check would initialise CUDA in this
    process before vLLM starts its workers.
    """
    LLM, SamplingParams = import_vllm()
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
    engine = {"model": str(model_dir), "tokenizer": str(model_dir),
              "dtype": cfg.dtype, "seed": cfg.seed, "trust_remote_code": False}
    sampling = {"n": n, "temperature": 0.0 if greedy else cfg.temperature,
                "top_p": 1.0 if greedy else cfg.top_p, "max_tokens": cfg.max_new_tokens,
                "stop_token_ids": stop_ids, "repetition_penalty": 1.0}
    chunk = max(1, cfg.flush_every // n)
    log_effective_config("generate", {
        "backend": "vllm", "engine": engine,
        "sampling": {**sampling, "seed": "per prompt, from (seed, prompt_id)"},
        "greedy": greedy, "prompts_per_chunk": chunk, "flush_every": cfg.flush_every,
    })
    llm = LLM(**engine)

    missing: dict[int, set[int]] = {}
    for pi, s in todo:
        missing.setdefault(pi, set()).add(s)
    order = sorted(missing)
    for start in range(0, len(order), chunk):
        pis = order[start:start + chunk]
        requests = [{"prompt_token_ids": render_prompt_ids(tok, prompts[pi]["messages"])}
                    for pi in pis]
        params = [SamplingParams(**sampling, seed=prompt_seed(cfg.seed, prompts[pi]["id"]))
                  for pi in pis]
        outputs = llm.generate(requests, sampling_params=params, use_tqdm=False)
        rows: list[tuple[int, int, Completion]] = []
        for pi, out in zip(pis, outputs):
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

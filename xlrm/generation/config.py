"""The ``generate`` params section (light: no torch/transformers at import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from xlrm.vllm_engine import VLLMEngineConfig


@dataclass
class GenerateConfig:
    """The ``generate`` params section.

    Attributes:
        backend: ``hf`` (transformers ``generate``, any device) or ``vllm`` (optional
            package, CUDA: ``pip install -e '.[vllm]'``).
        num_samples: samples per prompt (``N``); greedy runs write one answer per prompt.
        temperature: sampling temperature; ``0`` means greedy.
        top_p: nucleus sampling threshold (``1.0`` keeps the whole distribution).
        max_new_tokens: most tokens generated per sample.
        seed: the sampling seed; with the prompt id and sample index it keys each
            sample's random stream.
        token_budget: HF batches hold at most this many (padded prompt + new) tokens.
        max_batch: HF batches hold at most this many sequences.
        dtype: weights dtype; for HF ``auto`` is float32 on CPU and bfloat16 on an
            accelerator (:func:`xlrm.modeling.resolve_dtype`); vLLM gets it as is (unless
            ``vllm.dtype`` is set), where ``auto`` is vLLM's own rule.
        device: ``auto`` (cuda, then mps, then cpu) or a torch device string (HF only).
        flush_every: samples written between two ``fsync`` calls of the partial file.
        chunk_samples: vLLM only: samples submitted in one ``llm.generate`` call (whole
            prompts of ``num_samples`` each); vLLM batches them itself, continuously, and
            the call's rows are saved when it returns, so a kill loses at most one call.
        vllm: vLLM engine arguments (:class:`xlrm.vllm_engine.VLLMEngineConfig`: the
            names of ``vllm.EngineArgs``), e.g. ``{tensor_parallel_size: 2,
            gpu_memory_utilization: 0.9, max_model_len: 4096}``; unset keys keep vLLM's
            defaults, ``vllm.seed``/``vllm.dtype`` default to ``seed``/``dtype``.
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
    chunk_samples: int = 8192
    vllm: VLLMEngineConfig = field(default_factory=VLLMEngineConfig)

    def __post_init__(self) -> None:
        # ValueError: xlrm.config.from_dict reports it with the params file and section.
        for name in ("num_samples", "max_new_tokens", "token_budget", "max_batch", "flush_every",
                     "chunk_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

"""vLLM engine arguments (the ``vllm`` sub-section of ``generate`` and ``translate``) and the
one way an engine is built from them. Light at import: vLLM is imported only to build one.

The section's keys are vLLM's own engine-argument names (fields of ``vllm.EngineArgs``,
keyword arguments of ``vllm.LLM``), so vLLM's documentation of each applies as written::

    generate:
      backend: vllm
      vllm:
        tensor_parallel_size: 1
        gpu_memory_utilization: 0.90
        max_model_len: 4096

Only the keys of :class:`VLLMEngineConfig` are accepted (a typo is a ConfigError naming it);
before an engine starts, the names are also checked against the ``EngineArgs`` fields of
the installed vLLM (:func:`check_engine_args`), so a key that version dropped is refused
with its version named. A key left unset (``null``) is not passed: vLLM's default applies.

What the resume fingerprints cover (:data:`NUMERIC_KEYS`, :func:`numerics`): the settings
that change what the model computes -- ``dtype``, ``quantization``, ``kv_cache_dtype``,
``max_model_len``, ``seed``, ``tensor_parallel_size``, ``pipeline_parallel_size`` and
``trust_remote_code`` (which modelling code runs) -- besides the model files themselves.
Left out are the memory and scheduling settings: ``gpu_memory_utilization``,
``max_num_seqs``, ``max_num_batched_tokens``, ``enable_prefix_caching`` and
``enforce_eager``. They decide how many requests run together and whether a shared
prompt prefix's KV cache is reused or recomputed, not the model, the sampler or the
per-request seeds; like HF's ``token_budget`` they can change a reply only where
batch-dependent floating-point rounding flips a near-tie, so changing them resumes a
partial run rather than starting it over.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from xlrm.errors import ConfigError, DataError, XlrmError

# Engine arguments that change the numbers (and so belong in a resume fingerprint).
NUMERIC_KEYS = ("dtype", "quantization", "kv_cache_dtype", "max_model_len", "seed",
                "tensor_parallel_size", "pipeline_parallel_size", "trust_remote_code")

# vLLM's aliases of one dtype, so that `half` and `float16` fingerprint alike.
_DTYPE_ALIASES = {"half": "float16", "float": "float32"}


@dataclass
class VLLMEngineConfig:
    """``generate.vllm`` / ``translate.vllm``: vLLM engine arguments (``vllm.EngineArgs``).

    Attributes:
        tensor_parallel_size: GPUs each layer is split over.
        pipeline_parallel_size: GPU groups the layers are split into (stages).
        dtype: weights and activations dtype (``auto``, ``half``/``float16``,
            ``bfloat16``, ``float``/``float32``); ``null`` takes the section's own
            ``dtype`` (``generate.dtype``, ``translate.hf.dtype``), where ``auto`` is
            vLLM's rule (the checkpoint's dtype, float16 for a float32 checkpoint).
        quantization: weight quantization method (``fp8``, ``awq``, ``gptq``, ...);
            ``null``: what the checkpoint's config says, if anything.
        kv_cache_dtype: KV-cache storage dtype (``auto`` = the model's; ``fp8``, ...).
        max_model_len: longest prompt + reply in tokens; ``null``: the model's context.
        seed: the engine's seed; ``null`` takes ``generate.seed`` (translation decodes
            greedily and leaves vLLM's default). Sampled requests also carry their own
            seed (:func:`xlrm.generation.sampling.prompt_seed`).
        trust_remote_code: run modelling code shipped with the checkpoint (off: a hub
            checkpoint cannot run its own code here unless asked).
        gpu_memory_utilization: share of each GPU's memory vLLM may take, in (0, 1].
        max_num_seqs: most sequences scheduled in one engine step.
        max_num_batched_tokens: most tokens processed in one engine step.
        enable_prefix_caching: reuse the KV cache of prompt prefixes already computed
            (``null``: vLLM's default, on in its V1 engine).
        enforce_eager: run without CUDA graphs (slower, less memory, quicker start).

    ``swap_space`` is not accepted: vLLM 0.18 removed it (the V1 engine never swaps to CPU).
    """

    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] | None = None
    quantization: str | None = None
    kv_cache_dtype: str = "auto"
    max_model_len: int | None = None
    seed: int | None = None
    trust_remote_code: bool = False
    gpu_memory_utilization: float | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    enable_prefix_caching: bool | None = None
    enforce_eager: bool = False

    # Keys older guides use that the supported vLLM no longer has (xlrm.config.from_dict
    # adds the note to its unknown-key error).
    REMOVED_KEYS: ClassVar[dict[str, str]] = {
        "swap_space": "removed from vLLM in 0.18 (its V1 engine never swaps to CPU); delete it"}

    def __post_init__(self) -> None:
        for name in ("tensor_parallel_size", "pipeline_parallel_size", "max_model_len",
                     "max_num_seqs", "max_num_batched_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        gmu = self.gpu_memory_utilization
        if gmu is not None and not 0.0 < gmu <= 1.0:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gmu}")
        if self.seed is not None and self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not self.kv_cache_dtype:
            raise ValueError("kv_cache_dtype must not be empty (auto = the model's dtype)")


def engine_kwargs(cfg: VLLMEngineConfig, *, model: str, dtype: str,
                  seed: int | None) -> dict[str, Any]:
    """The keyword arguments of ``vllm.LLM``: the model (also its tokenizer) and every key
    of ``cfg`` that is set; ``dtype``/``seed`` stand in for the section's unset ones."""
    out: dict[str, Any] = {"model": model, "tokenizer": model}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value is None and f.name == "dtype":
            value = dtype
        elif value is None and f.name == "seed":
            value = seed
        if value is not None:
            out[f.name] = value
    return out


def numerics(cfg: VLLMEngineConfig, *, dtype: str, seed: int | None) -> dict[str, Any]:
    """The engine settings a resume fingerprint covers (:data:`NUMERIC_KEYS`, resolved)."""
    kwargs = engine_kwargs(cfg, model="", dtype=dtype, seed=seed)
    out = {key: kwargs.get(key) for key in NUMERIC_KEYS}
    out["dtype"] = _DTYPE_ALIASES.get(out["dtype"], out["dtype"])
    return out


def import_vllm(section: str) -> Any:
    """The ``vllm`` module, or a clear error naming ``section`` when it is not installed."""
    try:
        import vllm
    except ImportError:
        raise XlrmError(f"{section}.backend is 'vllm' but the vllm package is not installed "
                        f"(pip install -e '.[vllm]', on a CUDA machine), or set "
                        f"{section}.backend: hf") from None
    return vllm


def check_engine_args(vllm: Any, kwargs: dict[str, Any], section: str) -> None:
    """Refuse engine arguments the installed vLLM's ``EngineArgs`` does not have."""
    engine_args = getattr(vllm, "EngineArgs", None)
    if engine_args is None or not dataclasses.is_dataclass(engine_args):
        return
    known = {f.name for f in dataclasses.fields(engine_args)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        version = getattr(vllm, "__version__", "?")
        raise ConfigError(f"{section}.vllm: {unknown} not engine argument(s) of the installed "
                          f"vLLM {version} (vllm.EngineArgs); remove them or change the vLLM "
                          "version")


def check_prompt_fits(cfg: VLLMEngineConfig, length: int, what: str, section: str) -> None:
    """Refuse, before the engine sees it, a prompt that leaves no room for a reply within
    ``max_model_len`` (vLLM would fail the whole ``llm.generate`` call over it; a prompt
    that fits only partly gets a reply cut at ``max_model_len``, finish reason length)."""
    if cfg.max_model_len is not None and length >= cfg.max_model_len:
        raise DataError(f"{what} has {length} tokens, leaving no room for a reply within "
                        f"{section}.vllm.max_model_len = {cfg.max_model_len}; raise it or "
                        "drop the prompt")


def build_engine(vllm: Any, kwargs: dict[str, Any], section: str) -> Any:
    """``vllm.LLM(**kwargs)`` after :func:`check_engine_args`."""
    check_engine_args(vllm, kwargs, section)
    return vllm.LLM(**kwargs)

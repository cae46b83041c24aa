"""A stand-in for the ``vllm`` package, which needs CUDA and cannot be installed here.

Tests put it in ``sys.modules["vllm"]`` (:func:`install`), or, for a subprocess, on its
``PYTHONPATH`` as a package named ``vllm`` (:func:`package_dir`). It keeps the parts of
vLLM 0.33's offline API that xlrm uses, with their names and shapes: ``EngineArgs`` (a
dataclass whose fields are the engine arguments accepted), ``LLM(model, **kwargs)``,
``LLM.generate(prompts, sampling_params, use_tqdm=...)`` taking ``{"prompt_token_ids":
[...]}`` prompts and returning one ``RequestOutput`` per prompt, in order, whose
``outputs[i]`` are ``CompletionOutput(index, text, token_ids, finish_reason, ...)``.

What it generates is a pure function of the prompt's token ids, the request's seed, the
sample index and the sampling settings -- never of the other prompts in the call -- so a
resumed run can be compared with an uninterrupted one. By default: hashed token ids, the
first stop token appended (and kept in ``token_ids``, as vLLM does) when the reply ends
before ``max_tokens``. ``RESPONDER(prompt_text, params, index)`` (set by a test) returns the
reply text instead; stop strings then cut it the way vLLM does.

Every engine built is appended to :data:`ENGINES`; each keeps its constructor kwargs and
its ``generate`` calls, so tests can check what reached vLLM.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__version__ = "0.33.0+fake"

ENGINES: list[LLM] = []
RESPONDER = None  # fn(prompt_text, SamplingParams, index) -> reply text
FAIL_ON_CALL: int | None = None  # generate() call number (1-based) that raises, if any


@dataclass
class EngineArgs:
    """The engine arguments this stand-in accepts (a subset of vLLM 0.33's, same names)."""

    model: str = ""
    tokenizer: str | None = None
    trust_remote_code: bool = False
    dtype: str = "auto"
    kv_cache_dtype: str = "auto"
    seed: int = 0
    max_model_len: int | None = None
    pipeline_parallel_size: int = 1
    tensor_parallel_size: int = 1
    enable_prefix_caching: bool | None = None
    gpu_memory_utilization: float = 0.92
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    quantization: str | None = None
    enforce_eager: bool = False


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = 16
    seed: int | None = None
    stop: list[str] | None = None
    stop_token_ids: list[int] | None = None
    repetition_penalty: float = 1.0


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None = None
    logprobs: Any = None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)
    finished: bool = True


def _hash(*parts: Any) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


class LLM:
    def __init__(self, model: str, **kwargs: Any):
        EngineArgs(model=model, **kwargs)  # an unknown name is a TypeError, as in vLLM
        from transformers import AutoTokenizer

        self.kwargs = {"model": model, **kwargs}
        self.calls: list[tuple[list[dict], Any]] = []
        self.tokenizer = AutoTokenizer.from_pretrained(kwargs.get("tokenizer") or model)
        ENGINES.append(self)

    def generate(self, prompts: list[dict], sampling_params: Any = None, *,
                 use_tqdm: bool = True) -> list[RequestOutput]:
        self.calls.append((list(prompts), sampling_params))
        if FAIL_ON_CALL is not None and sum(len(e.calls) for e in ENGINES) == FAIL_ON_CALL:
            raise RuntimeError("fake vLLM: engine died (test)")
        params = (sampling_params if isinstance(sampling_params, list)
                  else [sampling_params or SamplingParams()] * len(prompts))
        assert len(params) == len(prompts), "one SamplingParams per prompt, or one for all"
        out = []
        for r, (prompt, sp) in enumerate(zip(prompts, params)):
            ids = list(prompt["prompt_token_ids"])
            comps = [self._complete(ids, sp, i) for i in range(sp.n)]
            out.append(RequestOutput(str(r), None, ids, comps))
        return out

    def _complete(self, prompt_ids: list[int], sp: SamplingParams, index: int
                  ) -> CompletionOutput:
        tok, limit = self.tokenizer, sp.max_tokens or 16
        key = (tuple(prompt_ids), index, sp.temperature, sp.top_p,
               None if sp.temperature == 0 else sp.seed)
        if RESPONDER is not None:
            reply = RESPONDER(tok.decode(prompt_ids), sp, index)
            ids = tok(reply, add_special_tokens=False)["input_ids"]
            reason = "length" if len(ids) > limit else "stop"
            ids = ids[:limit]
            for k in range(1, len(ids) + 1):  # a stop string ends it (token kept, text cut)
                text = tok.decode(ids[:k], skip_special_tokens=True)
                hit = [text.index(s) for s in sp.stop or () if s in text]
                if hit:
                    return CompletionOutput(index, text[:min(hit)], ids[:k],
                                            finish_reason="stop")
            return CompletionOutput(index, tok.decode(ids, skip_special_tokens=True), ids,
                                    finish_reason=reason)
        stop = list(sp.stop_token_ids or [])
        allowed = [t for t in range(len(tok)) if t not in stop]
        length = 1 + _hash(*key) % limit
        ids = [allowed[_hash(*key, t) % len(allowed)] for t in range(length)]
        reason = "length"
        if length < limit and stop:
            ids.append(stop[0])
            reason = "stop"
        return CompletionOutput(index, tok.decode(ids, skip_special_tokens=True), ids,
                                finish_reason=reason)


def install(monkeypatch) -> Any:
    """Make ``import vllm`` give this module (fresh engine list) for one test."""
    module = sys.modules[__name__]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(module, "ENGINES", [])
    monkeypatch.setattr(module, "RESPONDER", None)
    monkeypatch.setattr(module, "FAIL_ON_CALL", None)
    return module


def package_dir(root: Path) -> Path:
    """A folder holding a package ``vllm`` that is this module (for a subprocess's path)."""
    pkg = root / "fake-vllm" / "vllm"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(
        "import sys\nimport fake_vllm\nsys.modules[__name__] = fake_vllm\n", encoding="utf-8")
    return pkg.parent

"""The ``vllm`` backend: the causal translator of ``translate.hf`` (X-ALMA and the like) run
by vLLM (optional package, CUDA), with the engine arguments of ``translate.vllm``.

Everything but the engine is the ``hf`` backend's (it is a subclass): the model per target
(``hf.model`` / ``hf.models``), the prompt (``hf.prompt_template`` in the chat template),
line-by-line segments, the cache, the journal and the row assembly. Decoding is greedy and
the translation is the continuation up to its first line break, as with ``hf``; vLLM is
told to stop there (``stop=["\\n"]``), so it does not spend tokens past it. Segments go to
the engine in calls of ``translate.chunk_segments``; each call's results are journaled.
One engine is held at a time: a target served by another model replaces it.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

from xlrm.errors import ConfigError
from xlrm.translation.backends import TranslationError, register_backend
from xlrm.translation.config import TranslateConfig
from xlrm.translation.hf import HFBackend, first_line
from xlrm.translation.text import Sink
from xlrm.vllm_engine import (build_engine, check_engine_args, check_prompt_fits, engine_kwargs,
                              import_vllm)

log = logging.getLogger(__name__)


@register_backend("vllm")
class VLLMBackend(HFBackend):
    """Translates with a causal model on a vLLM engine, line by line, greedily."""

    def __init__(self, cfg: TranslateConfig):
        super().__init__(cfg)
        if self.hf.kind != "causal":
            raise ConfigError("translate.backend 'vllm' runs causal translators "
                              "(translate.hf.kind: causal); for a seq2seq MT model use "
                              "backend hf")
        if self.hf.num_beams != 1:
            raise ConfigError("translate.backend 'vllm' decodes greedily; set "
                              "translate.hf.num_beams: 1 (or use backend hf for beam search)")
        self.vllm = import_vllm("translate")
        self._engine: tuple[str, Any, Any] | None = None  # (model id, LLM, tokenizer)

    def engine_kwargs(self, model_id: str) -> dict[str, Any]:
        """``vllm.LLM(**kwargs)`` for ``model_id``: ``translate.vllm``, ``hf.dtype`` where
        ``vllm.dtype`` is unset."""
        return engine_kwargs(self.cfg.vllm, model=model_id, dtype=self.hf.dtype, seed=None)

    def load(self, model_id: str) -> tuple[Any, Any]:
        """The engine and tokenizer of ``model_id`` (the engine of another model is let go)."""
        if self._engine is not None and self._engine[0] == model_id:
            return self._engine[1], self._engine[2]
        if self._engine is not None:
            log.info("releasing the vLLM engine of %s", self._engine[0])
            self._engine = None
            gc.collect()
        from xlrm.modeling import load_tokenizer

        kwargs = self.engine_kwargs(model_id)
        check_engine_args(self.vllm, kwargs, "translate")
        tok = load_tokenizer(model_id, require_pad=False)
        log.info("starting a vLLM engine for translation model %s", model_id)
        llm = build_engine(self.vllm, kwargs, "translate")
        self._engine = (model_id, llm, tok)
        return llm, tok

    def sampling(self) -> dict[str, Any]:
        return {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": self.hf.max_new_tokens,
                "stop": ["\n"], "repetition_penalty": 1.0}

    def settings(self, target: str) -> dict[str, Any]:
        model_id = self.model_id(target)
        return {"kind": "causal", "model": model_id, "engine": self.engine_kwargs(model_id),
                "sampling": self.sampling(), "chunk_segments": self.cfg.chunk_segments,
                "by_line": self.by_line, "max_segment_chars": self.hf.max_segment_chars,
                "prompt_template": self.hf.prompt_template,
                "chat_template": self.hf.chat_template}

    def translate_texts(self, texts: list[str], source: str, target: str, *,
                        sink: Sink | None = None) -> list[str | None]:
        llm, tok = self.load(self.model_id(target))
        params = self.vllm.SamplingParams(**self.sampling())
        size = self.cfg.chunk_segments
        out: list[str | None] = []
        for start in range(0, len(texts), size):
            batch = texts[start:start + size]
            prompts, templated = self.causal_prompts(tok, batch, source, target)
            ids = tok(prompts, add_special_tokens=not templated)["input_ids"]
            for seg, p in zip(batch, ids):
                check_prompt_fits(self.cfg.vllm, len(p), f"the prompt of segment {seg[:60]!r}",
                                  "translate")
            outputs = llm.generate([{"prompt_token_ids": list(p)} for p in ids],
                                   sampling_params=params, use_tqdm=False)
            results: list[str | None] = []
            for res in outputs:
                comp = res.outputs[0]
                if comp.finish_reason == "length":
                    self.hit_max_new_tokens += 1
                # the same decoding and cut as the hf backend's (vLLM keeps the token that
                # held the line break in token_ids)
                results.append(first_line(tok.decode(list(comp.token_ids),
                                                     skip_special_tokens=True)))
            if len(results) != len(batch):
                raise TranslationError(f"vLLM returned {len(results)} outputs for "
                                       f"{len(batch)} prompts")
            out.extend(results)
            self.batches += 1
            if sink is not None:
                sink(batch, results)
            log.info("translated %d/%d segments into %s", start + len(batch), len(texts),
                     target)
        return out

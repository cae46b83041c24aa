"""Tiny random models laid out as the ``paper`` preset's hub snapshots.

Each model keeps what makes its family behave as it does in the pipeline, shrunk: the
architecture class, the ratio of query to key/value heads, tied or untied embeddings, the
RoPE settings (Llama 3.2's ``llama3`` scaling), an embedding matrix padded past the
tokenizer's length (as Qwen's is), the family's special tokens (which tokens exist, which is
BOS/EOS/pad, and whether the tokenizer adds BOS itself) and a chat template of the family's
shape. Weights are saved in bfloat16, as the hub checkpoints are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Our own templates, in the shape of each family's: Qwen2.5's ChatML turns with a default
# system turn, Llama 3's header/eot turns (BOS first, contents trimmed), Llama 2's [INST].
QWEN_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set turns = messages[1:] %}{% else %}{% set system = 'You are a helpful assistant.' %}"
    "{% set turns = messages %}{% endif %}"
    "<|im_start|>system\n{{ system }}<|im_end|>\n"
    "{% for m in turns %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{% set system = messages[0]['content'] | trim %}{% set turns = messages[1:] %}"
    "{% else %}{% set system = '' %}{% set turns = messages %}{% endif %}"
    "<|start_header_id|>system<|end_header_id|>\n\n"
    "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n{{ system }}<|eot_id|>"
    "{% for m in turns %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
LLAMA2_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
    "[INST] {{ m['content'] | trim }} [/INST]{% elif m['role'] == 'assistant' %}"
    " {{ m['content'] | trim }} {{ eos_token }}{% endif %}{% endfor %}"
)


@dataclass
class Family:
    """A tokenizer family: its special tokens and how it frames text."""

    specials: list[str]
    bos: str | None
    eos: str
    pad: str | None
    add_bos: bool                   # the tokenizer's post-processor prepends BOS
    template: str | None
    eos_ids: list[str] = field(default_factory=list)  # generation_config eos tokens
    generation: dict[str, Any] = field(default_factory=dict)


QWEN = Family(["<|endoftext|>", "<|im_start|>", "<|im_end|>"], bos=None, eos="<|im_end|>",
              pad="<|endoftext|>", add_bos=False, template=QWEN_TEMPLATE,
              eos_ids=["<|im_end|>", "<|endoftext|>"],
              generation={"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20,
                          "repetition_penalty": 1.05})
QWEN_BASE = Family(QWEN.specials, bos=None, eos="<|endoftext|>", pad="<|endoftext|>",
                   add_bos=False, template=QWEN_TEMPLATE, eos_ids=["<|endoftext|>"])
LLAMA3 = Family(["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                 "<|end_header_id|>", "<|eot_id|>"], bos="<|begin_of_text|>", eos="<|eot_id|>",
                pad=None, add_bos=True, template=LLAMA3_TEMPLATE,
                eos_ids=["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"],
                generation={"do_sample": True, "temperature": 0.6, "top_p": 0.9})
LLAMA3_BASE = Family(LLAMA3.specials, bos="<|begin_of_text|>", eos="<|end_of_text|>", pad=None,
                     add_bos=True, template=None, eos_ids=["<|end_of_text|>"])
# Llama 3 RMs on the hub carry a pad token (a batch of pairs needs one).
LLAMA3_RM = Family([*LLAMA3.specials, "<|pad|>"], bos="<|begin_of_text|>", eos="<|eot_id|>",
                   pad="<|pad|>", add_bos=True, template=LLAMA3_TEMPLATE)
LLAMA2 = Family(["<unk>", "<s>", "</s>"], bos="<s>", eos="</s>", pad=None, add_bos=True,
                template=LLAMA2_TEMPLATE, eos_ids=["</s>"])


@dataclass
class ModelSpec:
    """One hub model, shrunk: ``repo`` is its hub id, ``arch`` qwen2 or llama."""

    repo: str
    arch: str
    family: Family
    hidden: int
    heads: int
    kv_heads: int
    tied: bool
    seed: int
    layers: int = 2
    rope: dict[str, Any] = field(default_factory=dict)  # rope_theta, rope_scaling, ...
    max_positions: int = 32768
    classifier: bool = False        # LlamaForSequenceClassification with one output


LLAMA32_ROPE = {"rope_theta": 500000.0, "rope_scaling": {
    "rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192}}
QWEN_ROPE = {"rope_theta": 1000000.0}

# GQA ratios of the real models: Qwen2.5-3B 16:2, Qwen2.5-7B 28:4, Llama-3.2-3B 24:8,
# Llama-3-8B 32:8, X-ALMA-13B (Llama 2) 40:40; tied embeddings: Qwen2.5-3B and Llama-3.2-3B.
MODELS: list[ModelSpec] = [
    ModelSpec("Qwen/Qwen2.5-3B-Instruct", "qwen2", QWEN, 64, 8, 1, True, 1, rope=QWEN_ROPE),
    ModelSpec("Qwen/Qwen2.5-3B", "qwen2", QWEN_BASE, 64, 8, 1, True, 2, rope=QWEN_ROPE),
    ModelSpec("Qwen/Qwen2.5-7B-Instruct", "qwen2", QWEN, 56, 7, 1, False, 3, rope=QWEN_ROPE),
    ModelSpec("meta-llama/Llama-3.2-3B-Instruct", "llama", LLAMA3, 48, 6, 2, True, 4,
              rope=LLAMA32_ROPE, max_positions=131072),
    ModelSpec("meta-llama/Llama-3.2-3B", "llama", LLAMA3_BASE, 48, 6, 2, True, 5,
              rope=LLAMA32_ROPE, max_positions=131072),
    ModelSpec("haoranxu/X-ALMA-13B-Group2", "llama", LLAMA2, 32, 4, 4, False, 6,
              rope={"rope_theta": 10000.0}, max_positions=4096),
    ModelSpec("haoranxu/X-ALMA-13B-Group6", "llama", LLAMA2, 32, 4, 4, False, 7,
              rope={"rope_theta": 10000.0}, max_positions=4096),
    ModelSpec("NCSOFT/Llama-3-OffsetBias-RM-8B", "llama", LLAMA3_RM, 32, 4, 1, False, 8,
              rope={"rope_theta": 500000.0}, max_positions=8192, classifier=True),
]


def build_tokenizer(family: Family, vocab_size: int = 512):
    """A byte-level BPE trained on the project's seed texts, with ``family``'s tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from xlrm.tiny import tokenizer_corpus

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=family.specials,
                                  show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(tokenizer_corpus(), trainer=trainer)
    if family.add_bos:
        bos_id = tok.token_to_id(family.bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{family.bos} $A", pair=f"{family.bos} $A {family.bos} $B",
            special_tokens=[(family.bos, bos_id)])
    kwargs = {k: v for k, v in (("bos_token", family.bos), ("eos_token", family.eos),
                                ("pad_token", family.pad)) if v is not None}
    if "<unk>" in family.specials:
        kwargs["unk_token"] = "<unk>"
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
    if family.template:
        fast.chat_template = family.template
    return fast


def _config(spec: ModelSpec, tok, vocab: int):
    from transformers import LlamaConfig, Qwen2Config

    ids = {name: tok.convert_tokens_to_ids(t) if t else None
           for name, t in (("bos_token_id", spec.family.bos), ("pad_token_id", spec.family.pad))}
    eos = [tok.convert_tokens_to_ids(t) for t in spec.family.eos_ids
           if t in tok.get_vocab()] or [tok.eos_token_id]
    common = dict(vocab_size=vocab, hidden_size=spec.hidden, intermediate_size=2 * spec.hidden,
                  num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
                  num_key_value_heads=spec.kv_heads, max_position_embeddings=spec.max_positions,
                  tie_word_embeddings=spec.tied, eos_token_id=tok.eos_token_id, **ids,
                  **spec.rope)
    if spec.arch == "qwen2":
        cfg = Qwen2Config(rms_norm_eps=1e-6, use_sliding_window=False,
                          sliding_window=spec.max_positions, **common)
    else:
        cfg = LlamaConfig(rms_norm_eps=1e-5, **common)
    if spec.classifier:
        cfg.num_labels = 1
        cfg.architectures = ["LlamaForSequenceClassification"]
    return cfg, eos


def build_model(spec: ModelSpec, root: Path, tok=None) -> Path:
    """Write one model folder ``root/<repo>``; returns it."""
    import torch
    from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification,
                              GenerationConfig)

    tok = tok or build_tokenizer(spec.family)
    vocab = -(-len(tok) // 64) * 64 + 64   # padded past the tokenizer, as Qwen's matrix is
    cfg, eos = _config(spec, tok, vocab)
    torch.manual_seed(spec.seed)
    auto = AutoModelForSequenceClassification if spec.classifier else AutoModelForCausalLM
    model = auto.from_config(cfg).to(torch.bfloat16)
    out = root / spec.repo
    out.mkdir(parents=True, exist_ok=True)
    if not spec.classifier:
        model.generation_config = GenerationConfig(
            bos_token_id=cfg.bos_token_id, pad_token_id=cfg.pad_token_id,
            eos_token_id=eos if len(eos) > 1 else eos[0], **spec.family.generation)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_models(root: Path) -> list[str]:
    """Every model of :data:`MODELS` under ``root``; one tokenizer per family is trained."""
    tokenizers: dict[int, Any] = {}
    for spec in MODELS:
        key = id(spec.family)
        if key not in tokenizers:
            tokenizers[key] = build_tokenizer(spec.family)
        build_model(spec, root, tokenizers[key])
    (root / "MODELS.json").write_text(json.dumps([s.repo for s in MODELS], indent=1) + "\n",
                                      encoding="utf-8")
    return [s.repo for s in MODELS]

"""The tiny random model of ``base_model.source: tiny-random`` (tests, the ``tiny`` preset):
a byte-level BPE tokenizer trained on the project's own multilingual seed data in about a
second, and a random causal LM of the shape :class:`xlrm.base_model.TinyRandomConfig` gives.
"""

from __future__ import annotations

from xlrm.base_model import CHAT_TEMPLATES, MARKER_TOKENS, PAD_TOKEN, TinyRandomConfig


def tokenizer_corpus() -> list[str]:
    """Multilingual text to train the tiny tokenizer on: the project's own seed data."""
    from xlrm.data import seed

    rows = seed.generate(seed=0, items_per_subset=20, languages=seed.SEED_LANGUAGES)
    texts = []
    for r in rows:
        texts.extend(m["content"] for m in r["prompt"])
        texts.extend((r["chosen"], r["rejected"]))
    return texts


def build_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer trained in about a second; every script round-trips."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|bos|>", "<|eos|>", PAD_TOKEN, *MARKER_TOKENS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(tokenizer_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>", pad_token=PAD_TOKEN,
        additional_special_tokens=MARKER_TOKENS,
    )
    fast.chat_template = CHAT_TEMPLATES["xlrm-markers"]
    return fast


def build_tiny_random(cfg: TinyRandomConfig, seed: int = 0):
    """A random causal LM of the given shape plus its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    tok = build_tiny_tokenizer(cfg.vocab_size)
    config_cls = {"llama": LlamaConfig, "qwen2": Qwen2Config}[cfg.architecture]
    config = config_cls(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads, num_key_value_heads=cfg.num_key_value_heads,
        intermediate_size=cfg.intermediate_size, max_position_embeddings=cfg.max_position_embeddings,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    return model, tok

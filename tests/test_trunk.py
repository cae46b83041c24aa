"""Shared-trunk scoring (xlrm.reward.trunk) against score_pairs' full forward pass, on tiny
random 4-layer models (Llama, and Gemma 3 with sliding-window and global layers), RMs that
train only the top 2 layers, and RMs whose lower layers or embeddings differ."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from xlrm.errors import ConfigError
from xlrm.modeling import load_reward_model, load_seqcls, load_tokenizer
from xlrm.reward.score import padded_batches, random_heads, score_pairs
from xlrm.reward.tokens import encode_conversations
from xlrm.reward import trunk as T
from xlrm.schema import messages_for

LAYERS, TRAINABLE = 4, 2
SPLIT = LAYERS - TRAINABLE
MAX_LENGTH, BUDGET = 48, 512  # some conversations truncated; several batches of mixed lengths


def _gemma3_base(out: Path) -> Path:
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from xlrm.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    config = Gemma3TextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=LAYERS,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, sliding_window=8,
        layer_types=["sliding_attention", "full_attention"] * (LAYERS // 2),
        max_position_embeddings=512, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    Gemma3ForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module", params=["llama", "gemma3"])
def base_dir(request, tmp_path_factory) -> Path:
    from xlrm.base_model import BaseModelConfig, TinyRandomConfig, prepare_base_model

    out = tmp_path_factory.mktemp(f"trunk-{request.param}") / "base"
    if request.param == "gemma3":
        return _gemma3_base(out)
    prepare_base_model(BaseModelConfig(source="tiny-random",
                                       tiny=TinyRandomConfig(num_hidden_layers=LAYERS)), out)
    return out


def _lora_rm(base_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter on the top layers (xlrm.training.lora_config) with random weights."""
    from peft import get_peft_model

    from xlrm.reward.config import LoraSettings
    from xlrm.training import lora_config

    model = load_seqcls(base_dir, seed=seed)
    cfg = lora_config(model, LoraSettings(r=4, lora_alpha=8), TRAINABLE, "SEQ_CLS")
    cfg.init_lora_weights = False  # non-zero B: the adapter changes the top layers
    torch.manual_seed(seed)
    get_peft_model(model, cfg).save_pretrained(out)
    return out


def _perturbed_rm(base_dir: Path, out: Path, seed: int, where: str) -> Path:
    """A full model folder: the base with a new head and noise on ``where`` ('top': the
    trainable layers and the final norm, 'layer0': the first layer, 'embed': one row)."""
    model = load_seqcls(base_dir, seed=seed)
    g = torch.Generator().manual_seed(seed)
    bb = model.model
    with torch.no_grad():
        if where == "top":
            params = [p for layer in bb.layers[SPLIT:] for p in layer.parameters()]
            params += list(bb.norm.parameters())
        elif where == "layer0":
            params = [bb.layers[0].mlp.down_proj.weight]
        else:
            params = []
            bb.embed_tokens.weight[5] += 1e-3
        for p in params:
            p += 0.05 * torch.randn(p.shape, generator=g)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def models(base_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rms")
    base = load_seqcls(base_dir).eval()
    return base_dir, {
        "base": base,
        "lora": load_reward_model(_lora_rm(base_dir, tmp / "lora", 1), base_dir),
        "full_top": load_reward_model(_perturbed_rm(base_dir, tmp / "top", 2, "top"), base_dir),
        "lower": load_reward_model(_perturbed_rm(base_dir, tmp / "low", 3, "layer0"), base_dir),
        "embed": load_reward_model(_perturbed_rm(base_dir, tmp / "emb", 4, "embed"), base_dir),
    }


def _assert_same(got, want):
    (gc, gr, _), (wc, wr, _) = got, want
    assert gc.shape == wc.shape and gr.shape == wr.shape
    np.testing.assert_allclose(gc, wc, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gr, wr, rtol=1e-5, atol=1e-5)
    assert np.array_equal(gc > gr, wc > wr)


def test_rms_are_merged_and_share_exactly_the_frozen_layers(models):
    base_dir, m = models
    assert type(m["lora"]).__name__.endswith("ForSequenceClassification")  # merged, not a PeftModel
    assert T.split_layer(m["base"], TRAINABLE) == SPLIT
    for name in ("lora", "full_top"):
        assert T.trunk_difference(m["base"], m[name], SPLIT) is None
        # one layer higher, the RM's own (changed) layer is part of the "trunk": caught
        assert f"layers.{SPLIT}." in T.trunk_difference(m["base"], m[name], SPLIT + 1)
        assert not torch.equal(m[name].score.weight, m["base"].score.weight)
    assert "layers.0." in T.trunk_difference(m["base"], m["lower"], SPLIT)
    assert "embed_tokens" in T.trunk_difference(m["base"], m["embed"], SPLIT)
    fp = T.trunk_fingerprint(m["base"], SPLIT)
    assert fp == T.trunk_fingerprint(m["lora"], SPLIT) != T.trunk_fingerprint(m["lower"], SPLIT)


def test_shared_trunk_scores_equal_the_full_forward_pass(models, seed_rows):
    base_dir, m = models
    tok = load_tokenizer(base_dir)
    rows = seed_rows[:30]
    convs = [messages_for(r, r["chosen"]) for r in rows] + [messages_for(r, r["rejected"]) for r in rows]
    ids, truncated = encode_conversations(tok, convs, MAX_LENGTH)
    lengths = {len(x) for x in ids}
    assert truncated > 0 and len(lengths) > 5  # truncation and mixed lengths
    assert len(list(padded_batches(ids, tok.pad_token_id, BUDGET))) > 3
    heads = {"base": random_heads(m["base"].config.hidden_size, 3, 0.02, seed=0)}
    names = ("base", "lora", "full_top")
    got = T.score_pairs_shared({n: m[n] for n in names}, tok, rows, split=SPLIT,
                               max_length=MAX_LENGTH, token_budget=BUDGET, heads=heads)
    assert list(got) == list(names)
    for name in names:
        want = score_pairs(m[name], tok, rows, max_length=MAX_LENGTH, token_budget=BUDGET,
                           heads=heads.get(name))
        _assert_same(got[name], want)
        st = got[name][2]
        assert st["trunk"] == "shared" and st["truncated_sequences"] == truncated
        assert {k: st[k] for k in want[2]} == want[2]
    assert got["base"][0].shape == (3, len(rows))
    # the RMs really score differently from the base (the test is not vacuous)
    assert not np.allclose(got["lora"][0], got["full_top"][0])


def test_models_that_differ_below_the_split_fall_back_and_say_so(models, seed_rows, caplog):
    base_dir, m = models
    tok = load_tokenizer(base_dir)
    rows = seed_rows[:12]
    names = ("base", "lower", "lora", "embed")
    with caplog.at_level(logging.WARNING, logger="xlrm.reward.trunk"):
        got = T.score_pairs_shared({n: m[n] for n in names}, tok, rows, split=SPLIT,
                                   max_length=MAX_LENGTH, token_budget=BUDGET)
    assert got["lora"][2]["trunk"] == "shared"
    assert got["lower"][2]["trunk"].startswith("full:") and "layers.0." in got["lower"][2]["trunk"]
    assert got["embed"][2]["trunk"].startswith("full:") and "embed_tokens" in got["embed"][2]["trunk"]
    logged = caplog.text
    assert "lower: scored with the full forward pass" in logged and "embed:" in logged
    for name in names:
        _assert_same(got[name], score_pairs(m[name], tok, rows, max_length=MAX_LENGTH,
                                            token_budget=BUDGET))
    with pytest.raises(ConfigError, match="'lower' does not share the trunk.*layers.0"):
        T.score_pairs_shared({n: m[n] for n in ("base", "lower")}, tok, rows, split=SPLIT,
                             on_mismatch="error")


def test_a_path_that_does_not_reproduce_the_forward_pass_is_caught(models, seed_rows, monkeypatch,
                                                                   caplog):
    base_dir, m = models
    tok = load_tokenizer(base_dir)
    rows = seed_rows[:8]
    real = T.trunk_states
    monkeypatch.setattr(T, "trunk_states", lambda *a: real(*a) * 1.01)  # e.g. a skipped rescale
    with caplog.at_level(logging.WARNING, logger="xlrm.reward.trunk"):
        got = T.score_pairs_shared({"base": m["base"], "lora": m["lora"]}, tok, rows, split=SPLIT)
    assert all(st["trunk"].startswith("full: the shared path differs") for _, _, st in got.values())
    _assert_same(got["lora"], score_pairs(m["lora"], tok, rows))
    with pytest.raises(ConfigError, match="shared path differs"):
        T.score_pairs_shared({"base": m["base"]}, tok, rows, split=SPLIT, on_mismatch="error")


def test_share_trunk_keeps_one_copy_and_the_scores(base_dir, seed_rows, tmp_path):
    base = load_seqcls(base_dir).eval()
    rm = load_reward_model(_lora_rm(base_dir, tmp_path / "lora", 1), base_dir)
    bad = load_reward_model(_perturbed_rm(base_dir, tmp_path / "low", 3, "layer0"), base_dir)
    tok = load_tokenizer(base_dir)
    rows = seed_rows[:10]
    before = score_pairs(rm, tok, rows)
    assert T.share_trunk(base, rm, SPLIT) is None
    assert rm.model.embed_tokens is base.model.embed_tokens
    assert all(rm.model.layers[i] is base.model.layers[i] for i in range(SPLIT))
    assert all(rm.model.layers[i] is not base.model.layers[i] for i in range(SPLIT, LAYERS))
    _assert_same(score_pairs(rm, tok, rows), before)
    assert "layers.0." in T.share_trunk(base, bad, SPLIT)
    assert bad.model.embed_tokens is not base.model.embed_tokens


def test_a_peft_model_is_refused(base_dir, tmp_path):
    from peft import PeftModel

    peft_model = PeftModel.from_pretrained(load_seqcls(base_dir), _lora_rm(base_dir, tmp_path / "a", 1))
    with pytest.raises(ConfigError, match="merged first"):
        T.split_layer(peft_model, TRAINABLE)


@pytest.mark.parametrize("lora", [True, False])
def test_rms_trained_by_train_rm_share_the_trunk(base_dir, seed_rows, tmp_path, lora):
    """The default's recipe (LoRA on the last layers) and full fine-tuning of the last
    layers with frozen embeddings, trained for real, then scored both ways."""
    from xlrm.reward.config import TrainRMConfig
    from xlrm.reward.train import train_reward_model
    from xlrm.sections import load_config

    rows = [r for r in seed_rows if r["language"] == "en"][:16]
    section = {"learning_rate": 5e-3, "num_train_epochs": 1, "per_device_train_batch_size": 4,
               "max_length": 512, "logging_steps": 1, "report_to": "none", "seed": 1,
               "trainable_layers": TRAINABLE}
    section.update({"lora": {"r": 4, "lora_alpha": 8}} if lora else {"freeze_embeddings": True})
    cfg = load_config(TrainRMConfig, section, "train_rm")
    train_reward_model(base_dir, rows, tmp_path / "rm", cfg, scratch_dir=tmp_path / "scratch")
    base = load_seqcls(base_dir).eval()
    rm = load_reward_model(tmp_path / "rm", base_dir)
    assert T.trunk_difference(base, rm, SPLIT) is None
    assert T.trunk_difference(base, rm, SPLIT + 1) is not None  # its top layers did train
    tok = load_tokenizer(base_dir)
    got = T.score_pairs_shared({"base": base, "rm": rm}, tok, seed_rows[:12], split=SPLIT,
                               max_length=MAX_LENGTH, token_budget=BUDGET, on_mismatch="error")
    _assert_same(got["rm"], score_pairs(rm, tok, seed_rows[:12], max_length=MAX_LENGTH,
                                        token_budget=BUDGET))

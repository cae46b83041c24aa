import numpy as np
import pytest

from xlrm.modeling import load_reward_model, load_seqcls, load_tokenizer
from xlrm.reward.batching import SeparatePairCollator, SortedBatchSampler
from xlrm.reward.config import TrainRMConfig
from xlrm.reward.score import length_batches, random_heads, score_pairs
from xlrm.reward.tokens import render_ids, tokenize_pairs
from xlrm.reward.train import build_reward_trainer, train_reward_model
from xlrm.sections import load_config


def rm_config(section: dict) -> TrainRMConfig:
    return load_config(TrainRMConfig, section, "train_rm")


def test_length_batches_cover_every_index_once_within_budget():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=500)
    batches = length_batches(lengths, token_budget=1024)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(500))
    for b in batches:
        assert len(b) == 1 or lengths[b].max() * len(b) <= 1024


def test_long_pairs_are_dropped_and_counted(tiny_base, seed_rows):
    tok = load_tokenizer(tiny_base)
    cols, stats = tokenize_pairs(seed_rows, tok, max_length=None)
    longest = max(max(len(c), len(r)) for c, r in zip(cols["chosen_ids"], cols["rejected_ids"]))
    limit = int(np.median([len(c) for c in cols["chosen_ids"]]))
    _, dropped = tokenize_pairs(seed_rows, tok, max_length=limit)
    assert 0 < dropped["dropped_too_long"] < len(seed_rows)
    assert dropped["pairs_kept"] + dropped["dropped_too_long"] == len(seed_rows)
    cut, st = tokenize_pairs(seed_rows, tok, max_length=limit, truncation="left")
    assert st["truncated"] == dropped["dropped_too_long"] and st["pairs_kept"] == len(seed_rows)
    assert max(len(x) for x in cut["chosen_ids"]) <= limit < longest


@pytest.mark.parametrize("lora", [False, True])
def test_train_rm_logs_a_loss_and_changes_every_trainable_parameter(tiny_base, seed_rows, tmp_path,
                                                                    lora):
    import torch

    rows = [r for r in seed_rows if r["language"] == "en"]
    section = {"learning_rate": 5e-3, "num_train_epochs": 1, "per_device_train_batch_size": 4,
               "max_length": 512, "logging_steps": 1, "report_to": "none", "seed": 1}
    if lora:
        section["lora"] = {"r": 4, "lora_alpha": 8}
        section["train_sampling_strategy"] = "group_by_length"
    cfg = rm_config(section)
    out = tmp_path / "rm"
    stats = train_reward_model(tiny_base, rows, out, cfg, scratch_dir=tmp_path / "scratch")
    assert stats["pairs_kept"] == len(rows) and np.isfinite(stats["first_loss"])
    assert stats["train_steps"] == -(-len(rows) // 4)
    model = load_reward_model(out, tiny_base)
    base = load_seqcls(tiny_base, seed=0)
    if lora:
        assert (out / "adapter_config.json").exists()
        # the merged LoRA weights differ from the base's
        assert not torch.equal(model.model.layers[0].self_attn.q_proj.weight,
                               base.model.layers[0].self_attn.q_proj.weight)
    else:
        assert stats["params_changed_share"] == 1.0
    chosen, rejected, st = score_pairs(model, load_tokenizer(out), rows[:5])
    assert chosen.shape == (5,) and st["pairs"] == 5


def test_sorted_batch_sampler_groups_lengths_and_reshuffles_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 500, size=203).tolist()
    sampler = SortedBatchSampler(lengths, batch_size=8, seed=3)
    epochs = [list(sampler) for _ in range(2)]
    for order in epochs:
        assert sorted(order) == list(range(203))   # each index exactly once per epoch
    assert epochs[0] != epochs[1]                  # a new batch order every epoch

    def padding(order):
        batches = [np.asarray(lengths)[order[i:i + 8]] for i in range(0, len(order), 8)]
        return 1 - sum(b.sum() for b in batches) / sum(b.max() * len(b) for b in batches)

    shuffled = rng.permutation(203).tolist()
    assert padding(epochs[0]) < 0.05 < padding(shuffled)
    # the same seed and epoch give the same order (resumable, reproducible)
    assert list(SortedBatchSampler(lengths, 8, seed=3)) == epochs[0]


def test_sorted_batch_sampler_groups_the_short_replies_too():
    rng = np.random.default_rng(1)
    long_len = rng.integers(50, 500, size=400)
    short_len = (long_len * rng.uniform(0.2, 1.0, size=400)).astype(int)

    def padding(order):
        # what SeparatePairCollator pads: long replies to the batch's longest, short ones likewise
        real = total = 0
        for i in range(0, len(order), 8):
            b = np.asarray(order[i:i + 8])
            real += long_len[b].sum() + short_len[b].sum()
            total += len(b) * (long_len[b].max() + short_len[b].max())
        return 1 - real / total

    by_long = list(SortedBatchSampler(long_len, 8, seed=0))
    by_both = list(SortedBatchSampler(long_len, 8, seed=0, short_lengths=short_len))
    assert sorted(by_both) == list(range(400))
    assert padding(by_both) < 0.6 * padding(by_long)


def test_separate_pair_collator_pads_long_and_short_replies_apart():
    examples = [{"chosen_ids": [1, 2, 3, 4], "rejected_ids": [5], "margin": 0.5},
                {"chosen_ids": [6], "rejected_ids": [7, 8], "margin": 0.0}]
    out = SeparatePairCollator(pad_token_id=0)(examples)
    assert out["long_input_ids"].tolist() == [[1, 2, 3, 4], [7, 8, 0, 0]]
    assert out["short_input_ids"].tolist() == [[5], [6]]
    assert out["long_attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert out["short_attention_mask"].tolist() == [[1], [1]]
    assert out["chosen_is_long"].tolist() == [True, False]
    assert out["margin"].tolist() == [0.5, 0.0]
    wide = SeparatePairCollator(pad_token_id=0, pad_to_multiple_of=8)(examples)
    assert wide["long_input_ids"].shape == (2, 8) and wide["short_input_ids"].shape == (2, 8)


def test_separate_padding_gives_trls_loss_with_fewer_padded_tokens(tiny_base, seed_rows, tmp_path):
    """The two-pass loss on separately padded replies equals TRL's one-pass loss on jointly
    padded ones (same model, same pairs), and so do its gradients."""
    import torch

    rows = seed_rows[:8]
    section = {"per_device_train_batch_size": 8, "max_length": 512, "report_to": "none", "seed": 1}
    trainers = {}
    for mode in ("separate", "joint"):
        cfg = rm_config({**section, "pair_padding": mode})
        trainers[mode], stats = build_reward_trainer(tiny_base, rows, cfg, scratch_dir=tmp_path / mode,
                                                     eval_rows=seed_rows[8:20])
        assert stats["pair_padding"] == mode
    batches = {m: next(iter(t.get_train_dataloader())) for m, t in trainers.items()}
    assert "long_input_ids" in batches["separate"] and "input_ids" in batches["joint"]

    def padded(b):
        return sum(v.numel() for k, v in b.items() if k.endswith("attention_mask"))

    real = [sum(int(v.sum()) for k, v in b.items() if k.endswith("attention_mask")) for b in batches.values()]
    assert real[0] == real[1] and padded(batches["separate"]) < padded(batches["joint"])

    losses, grads = {}, {}
    for mode, t in trainers.items():
        model = t.model.train()   # dropout is off (disable_dropout)
        model.zero_grad()
        loss = t.compute_loss(model, batches[mode])
        loss.backward()
        losses[mode] = loss.detach()
        grads[mode] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        metrics = t._metrics["train"]
        assert 0.0 <= metrics["accuracy"][-1] <= 1.0
    torch.testing.assert_close(losses["separate"], losses["joint"], rtol=1e-5, atol=1e-6)
    # evaluation runs through the same loss (Trainer.prediction_step -> compute_loss)
    evals = {m: t.evaluate() for m, t in trainers.items()}
    for key in ("eval_loss", "eval_accuracy", "eval_mean_reward"):
        assert evals["separate"][key] == pytest.approx(evals["joint"][key], rel=1e-5, abs=1e-6)
    assert grads["separate"].keys() == grads["joint"].keys() and grads["joint"]
    for n, g in grads["joint"].items():
        torch.testing.assert_close(grads["separate"][n], g, rtol=1e-4, atol=1e-6)


def test_batched_scores_equal_one_at_a_time_scores(tiny_base, seed_rows):
    import torch

    model = load_seqcls(tiny_base, seed=0).eval()
    tok = load_tokenizer(tiny_base)
    rows = seed_rows[:12]
    batched_c, batched_r, _ = score_pairs(model, tok, rows, token_budget=4096)
    single_c, single_r, _ = score_pairs(model, tok, rows, token_budget=1)
    np.testing.assert_allclose(batched_c, single_c, rtol=1e-4, atol=1e-5)
    # and both equal the model's own forward (HF's pooling), one sequence at a time
    from xlrm.schema import messages_for

    for row, c in zip(rows[:3], batched_c):
        ids = torch.tensor([render_ids(tok, messages_for(row, row["chosen"]))])
        with torch.inference_mode():
            ref = model(input_ids=ids).logits[0, 0].item()
        assert c == pytest.approx(ref, rel=1e-4, abs=1e-5)


def test_random_heads_score_shape(tiny_base, seed_rows):
    model = load_seqcls(tiny_base).eval()
    heads = random_heads(model.config.hidden_size, 5, 0.02, seed=0)
    c, r, _ = score_pairs(model, load_tokenizer(tiny_base), seed_rows[:4], heads=heads)
    assert c.shape == (5, 4) and r.shape == (5, 4)
    assert not np.allclose(c[0], c[1])


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "full"])
def test_trainable_layers_train_only_the_last_layers_and_the_head(tiny_base, seed_rows, tmp_path,
                                                                 lora):
    """The default preset's path (LoRA on the last N layers) and full fine-tuning with
    ``trainable_layers`` + ``freeze_embeddings``: only the last N layers' parameters (their
    adapters, with LoRA) and the score head get gradients and change; the embeddings and the
    lower layers get none and stay bit-identical."""
    import re

    import torch
    from transformers import AutoConfig

    from xlrm.tracking import EFFECTIVE

    n_layers, top = AutoConfig.from_pretrained(tiny_base).num_hidden_layers, 1
    assert n_layers > top
    section = {"learning_rate": 1e-2, "max_steps": 3, "per_device_train_batch_size": 4,
               "max_length": 512, "logging_steps": 1, "report_to": "none", "seed": 1,
               "trainable_layers": top, "freeze_embeddings": True}
    if lora:
        section["lora"] = {"r": 4, "lora_alpha": 8}
    rows = [r for r in seed_rows if r["language"] == "en"]
    trainer, stats = build_reward_trainer(tiny_base, rows, rm_config(section),
                                          scratch_dir=tmp_path / "scratch")
    effective = EFFECTIVE["train_rm"]  # what TRL received: section, xlrm defaults, CPU rule
    assert effective["max_steps"] == 3 and effective["learning_rate"] == 1e-2
    assert effective["disable_dropout"] is True and effective["remove_unused_columns"] is False
    if not torch.cuda.is_available():
        assert effective["use_cpu"] is True and effective["bf16"] is False
    model = trainer.model

    def part(name: str) -> str:
        if "embed_tokens" in name:
            return "embeddings"
        if "score" in name:
            return "head" if not lora or "modules_to_save" in name else "frozen head copy"
        m = re.search(r"\.layers\.(\d+)\.", name)
        if m is None:
            return "other"  # the final norm
        if int(m.group(1)) < n_layers - top:
            return "lower"
        return "top" if not lora or "lora_" in name else "top base weights"

    params = dict(model.named_parameters())
    parts = {n: part(n) for n in params}
    trainable = {parts[n] for n, p in params.items() if p.requires_grad}
    assert trainable == ({"top", "head"} if lora else {"top", "head", "other"})
    assert stats["params_trainable"] < stats["params_total"]
    if lora:  # adapters sit on the last layers only
        assert not any("lora_" in n for n in params if parts[n] != "top")
        assert any(parts[n] == "top" for n in params)

    # one backward pass: nothing below the last layers receives a gradient
    batch = next(iter(trainer.get_train_dataloader()))
    model.train()
    trainer.compute_loss(model, batch).backward()
    for n, p in params.items():
        if parts[n] in ("embeddings", "lower"):
            assert p.grad is None or not p.grad.any(), n
    assert any(p.grad is not None and p.grad.any() for n, p in params.items() if parts[n] == "top")
    assert any(p.grad is not None and p.grad.any() for n, p in params.items() if parts[n] == "head")
    model.zero_grad(set_to_none=True)

    before = {n: p.detach().clone() for n, p in params.items()}
    trainer.train()
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    for n in params:
        if parts[n] in ("embeddings", "lower", "top base weights", "frozen head copy"):
            assert n not in changed, f"{n} ({parts[n]}) changed"
    assert {parts[n] for n in changed} >= {"top", "head"}
    if lora:  # every adapter matrix moved (lora_B from its zero start, then lora_A)
        assert {n for n in params if parts[n] in ("top", "head")} == changed


def test_rm_sections_refuse_out_of_range_values():
    from xlrm.errors import ConfigError
    from xlrm.reward.config import EvalRMConfig

    with pytest.raises(ConfigError, match=r"params.yaml: train_rm.*trainable_layers"):
        load_config(TrainRMConfig, {"trainable_layers": 0}, "params.yaml: train_rm")
    with pytest.raises(ConfigError, match=r"train_rm.*\br\b must be at least 1"):
        load_config(TrainRMConfig, {"lora": {"r": 0}}, "params.yaml: train_rm")
    with pytest.raises(ConfigError, match=r"params.yaml: eval_rm.*base_heads"):
        load_config(EvalRMConfig, {"base_heads": 0}, "params.yaml: eval_rm")
    cfg = load_config(TrainRMConfig, {"learning_rate": "2e-5", "trainable_layers": 2}, "train_rm")
    assert cfg.reward_config == {"learning_rate": 2e-5} and cfg.extras.trainable_layers == 2

import numpy as np
import pytest

from xlrm.reward import (SeparatePairCollator, TrainRMConfig, build_reward_trainer, length_batches,
                         load_reward_model, load_seqcls, load_tokenizer, score_pairs,
                         tokenize_pairs, train_reward_model)


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
    cfg = TrainRMConfig.from_section(section)
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
    from xlrm.reward import SortedBatchSampler

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
    from xlrm.reward import SortedBatchSampler

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
        cfg = TrainRMConfig.from_section({**section, "pair_padding": mode})
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
    from xlrm.reward import render_ids
    from xlrm.schema import messages_for

    for row, c in zip(rows[:3], batched_c):
        ids = torch.tensor([render_ids(tok, messages_for(row, row["chosen"]))])
        with torch.inference_mode():
            ref = model(input_ids=ids).logits[0, 0].item()
        assert c == pytest.approx(ref, rel=1e-4, abs=1e-5)


def test_random_heads_score_shape(tiny_base, seed_rows):
    from xlrm.reward import random_heads

    model = load_seqcls(tiny_base).eval()
    heads = random_heads(model.config.hidden_size, 5, 0.02, seed=0)
    c, r, _ = score_pairs(model, load_tokenizer(tiny_base), seed_rows[:4], heads=heads)
    assert c.shape == (5, 4) and r.shape == (5, 4)
    assert not np.allclose(c[0], c[1])

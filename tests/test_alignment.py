"""Tests for the alignment half: the DPO core (training on a tiny random policy, and the
dataset-fingerprint shortcut it trains under) and the summary's run reader."""

from __future__ import annotations

import numpy as np

from xlrm.alignment.config import TrainDPOConfig
from xlrm.alignment.dpo import cpu_lm_head_tiles, random_dataset_fingerprints, train_dpo
from xlrm.sections import load_config


class CountsPickling:
    """Counts how often datasets' hasher pickles it (as it pickles a tokenizer)."""

    pickled = 0

    def __reduce__(self):
        CountsPickling.pickled += 1
        return (CountsPickling, ())


def test_random_dataset_fingerprints_skips_hashing_map_arguments():
    from datasets import Dataset

    import datasets.fingerprint as fingerprint

    ds = Dataset.from_list([{"x": i} for i in range(4)])
    heavy = CountsPickling()

    def add(row, obj):
        return {"y": row["x"] + 1}

    CountsPickling.pickled = 0
    ds.map(add, fn_kwargs={"obj": heavy})
    assert CountsPickling.pickled > 0  # datasets hashes map's arguments by default
    original = fingerprint.update_fingerprint
    CountsPickling.pickled = 0
    with random_dataset_fingerprints():
        a = ds.map(add, fn_kwargs={"obj": heavy})
        b = ds.map(add, fn_kwargs={"obj": heavy})
    assert CountsPickling.pickled == 0
    assert a["y"] == [1, 2, 3, 4] and a._fingerprint != b._fingerprint
    assert fingerprint.update_fingerprint is original  # restored on exit


def test_cpu_lm_head_tiles_scores_only_completions_with_the_same_log_probs(tiny_base,
                                                                          monkeypatch):
    """TRL's fused DPO head with ``cpu_lm_head_tiles``: only the labelled (completion) tokens
    reach the projection, in the given vocabulary tiles, and the per-token log-probs,
    entropies and gradients equal TRL's own all-positions pass; TRL is restored on exit.
    Fails too when a TRL release renames what the context sets."""
    import torch
    import trl.trainer.utils as trl_utils

    from xlrm.modeling import load_causal

    assert callable(trl_utils._use_triton) and trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE > 0
    saved = trl_utils._use_triton, trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE
    model = load_causal(tiny_base)
    trl_utils.add_fused_lm_head(model, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    ids = torch.randint(5, model.config.vocab_size, (3, 12))
    labels = ids.clone()
    labels[:, :5] = -100  # the prompt
    labels[0, 9:] = -100  # padding
    scored = []
    real = trl_utils._ChunkedLogProbFunction

    class Recorder:
        @staticmethod
        def apply(hidden, weight, bias, targets, temperature, chunk, *rest):
            scored.append((hidden.shape[0], chunk))
            return real.apply(hidden, weight, bias, targets, temperature, chunk, *rest)

    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", Recorder)

    def run():
        model.zero_grad()
        out = model(input_ids=ids, labels=labels, fused_lm_head=True)
        out.log_probs.sum().backward()
        grad = model.get_input_embeddings().weight.grad.clone()
        return [out.log_probs.detach(), out.entropy, out.mean_logits, out.is_top1], grad

    full, full_grad = run()
    with cpu_lm_head_tiles(tile=128):
        assert trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE == 128
        compact, compact_grad = run()
    assert (trl_utils._use_triton, trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE) == saved
    assert scored[0][0] == 3 * 11 and scored[1] == (int((labels[:, 1:] != -100).sum()), 128)
    mask = labels[:, 1:] != -100
    for a, b in zip(full, compact):
        torch.testing.assert_close(a[mask], b[mask])
    assert bool((compact[0][~mask] == 0).all())
    torch.testing.assert_close(full_grad, compact_grad)


def test_train_dpo_lora_on_tiny_policy_lowers_the_loss(tiny_base, tmp_path):
    pairs = [{"prompt": [{"role": "user", "content": f"Name a colour, please ({i})."}],
              "chosen": "Blue is a colour.", "rejected": "I will not answer that."}
             for i in range(8)]
    cfg = load_config(TrainDPOConfig, {
        "learning_rate": 5e-3, "num_train_epochs": 4, "per_device_train_batch_size": 4,
        "max_length": 64, "beta": 0.1, "precompute_ref_log_probs": True,
        "lora": {"r": 4, "lora_alpha": 8}}, "train_dpo")
    out = tmp_path / "dpo"
    stats = train_dpo(tiny_base, pairs, out, cfg, scratch_dir=tmp_path / "scratch", seed=0)
    assert stats["pairs"] == 8 and stats["train_steps"] == 8
    assert stats["last_loss"] < stats["first_loss"]
    assert stats["rewards_margins"] > 0
    assert (out / "adapter_config.json").exists()
    from xlrm.tracking import EFFECTIVE

    effective = EFFECTIVE["train_dpo"]  # what TRL received: section, seed, xlrm defaults
    assert effective["beta"] == 0.1 and effective["seed"] == 0
    assert effective["precompute_ref_log_probs"] is True and effective["save_strategy"] == "steps"


def test_read_runs_takes_exactly_the_listed_runs(tmp_path):
    import pytest
    from alpaca_runs import write_runs, write_system

    from xlrm.alignment.summary import read_runs
    from xlrm.errors import DataError

    alpaca, h2h = write_runs(tmp_path, langs=("ko", "es"), seeds=(0,), n=4)
    write_system(alpaca, "ko", "english", 1, [1, 1, 1, 1])  # left over from an earlier run
    runs = read_runs(alpaca, h2h, ["ko"], [0])
    assert [r["run"] for r in runs["records"]] == ["ko__policy", "ko__english__0",
                                                   "ko__native__0"]
    assert set(runs["items"]) == {("ko", "policy", None), ("ko", "english", 0),
                                  ("ko", "native", 0)}
    assert set(runs["h2h"]) == {("ko", 0)}
    assert runs["h2h_items"][("ko", 0, "english_vs_native")]["q1"] == 2.0
    assert runs["items"][("ko", "native", 0)]["q1"]["passed"] == 0.0
    with pytest.raises(DataError, match=r"ko__english__2\.json.*run its stage"):
        read_runs(alpaca, h2h, ["ko"], [2])


def test_alignment_summary_equals_hand_computation(tmp_path):
    import pytest
    from alpaca_runs import write_runs

    from xlrm.alignment.config import AlignmentConfig
    from xlrm.alignment.summary import alignment_summary, read_runs

    alpaca, h2h = write_runs(tmp_path, langs=("es", "ko"), seeds=(0, 1), n=8, reference=True)
    cfg = AlignmentConfig(bootstrap_resamples=200)
    out = alignment_summary(read_runs(alpaca, h2h, ["es", "ko"], [0, 1]), ["es", "ko"], [0, 1],
                            cfg)
    acc = out["verifiable_accuracy"]
    # english passes 5 of 8 items, native 4, the initial policy 2
    assert acc["systems"]["english"]["per_language"]["es"]["value"] == pytest.approx(62.5)
    assert acc["systems"]["native"]["per_language"]["ko"]["value"] == pytest.approx(50.0)
    assert acc["systems"]["policy"]["per_language"]["es"]["value"] == pytest.approx(25.0)
    d = acc["difference"]["per_language"]["es"]
    assert d["value"] == pytest.approx(12.5) and d["seeds"] == 2 and d["instructions"] == 8
    assert d["ci_low"] <= d["value"] <= d["ci_high"]
    h = out["head_to_head"]
    assert h["english_vs_native"]["per_language"]["ko"]["value"] == pytest.approx(56.25)
    assert h["english_vs_policy"]["mean"]["value"] == pytest.approx(75.0)
    assert h["native_vs_policy"]["mean"]["value"] == pytest.approx(25.0)
    assert h["english_vs_native"]["per_language"]["es"]["position_consistency"] == 0.9
    assert h["warnings"] == []
    ref = out["reference"]["per_language"]["es"]  # (1.8 - 1) - (1.6 - 1), in points
    assert ref["value"] == pytest.approx(20.0) and ref["english"] == pytest.approx(80.0)
    head = out["headline"]  # auto: answers were checked by rules
    assert head["metric"] == "verifiable_accuracy"
    assert head["mean"]["diff"] == pytest.approx(12.5)
    assert head["mean"]["english"] == pytest.approx(62.5)
    h2h_head = alignment_summary(read_runs(alpaca, h2h, ["es"], [0, 1]), ["es"], [0, 1],
                                 AlignmentConfig(bootstrap_resamples=50,
                                                 headline="head_to_head"))["headline"]
    assert h2h_head["mean"]["diff"] == pytest.approx(6.25)
    assert h2h_head["per_language"]["es"]["native"] == pytest.approx(43.75)


def test_alignment_summary_flags_an_inconsistent_judge_and_refuses_a_missing_headline(tmp_path):
    import pytest
    from alpaca_runs import write_runs

    from xlrm.alignment.config import AlignmentConfig
    from xlrm.alignment.summary import alignment_summary, read_runs
    from xlrm.errors import DataError
    from xlrm.report.alignment import alignment_reading

    alpaca, h2h = write_runs(tmp_path, n=6, consistency=0.3)
    runs = read_runs(alpaca, h2h, ["es"], [0])
    out = alignment_summary(runs, ["es"], [0], AlignmentConfig(bootstrap_resamples=50,
                                                               headline="head_to_head"))
    assert out["head_to_head"]["warnings"] == ["es seed 0 english_vs_native: not evidence",
                                               "es seed 0 english_vs_policy: not evidence",
                                               "es seed 0 native_vs_policy: not evidence"]
    assert "not evidence" in alignment_reading(out)
    with pytest.raises(DataError, match="alignment.headline is reference"):
        alignment_summary(runs, ["es"], [0], AlignmentConfig(bootstrap_resamples=10,
                                                             headline="reference"))


def test_label_loads_each_labellers_rm_and_pairs_best_with_worst(tiny_base, tmp_path):
    import json

    from xlrm.alignment.config import LabelConfig
    from xlrm.alignment.label import LABELLERS, label, load_labelling_rms
    from xlrm.data.instructions import read_prompts
    from xlrm.modeling import load_seqcls, load_tokenizer

    for lang, seed in (("en", 0), ("ko", 1)):  # two different random score heads
        load_seqcls(tiny_base, seed=seed).save_pretrained(tmp_path / "rm" / lang)
    instructions = tmp_path / "ko.train.jsonl"
    instructions.write_text("".join(
        json.dumps({"id": f"p{i}", "language": "ko",
                    "messages": [{"role": "user", "content": f"Question {i}?"}]}) + "\n"
        for i in range(3)))
    prompts = read_prompts(instructions)
    assert list(prompts) == ["p0", "p1", "p2"] and prompts["p1"][0]["content"] == "Question 1?"
    samples = [{"prompt_id": f"p{i}", "sample": k, "text": f"Answer {k} " * (k + 1)}
               for i in range(3) for k in range(3)]
    cfg = load_config(LabelConfig, {"max_length": 128, "token_budget": 512, "device": "cpu"},
                      "label")
    rms = load_labelling_rms(tmp_path / "rm", tiny_base, "ko", "en", cfg)
    assert set(rms) == set(LABELLERS) and not rms["english"].training
    pairs, stats = label(samples, prompts, rms, load_tokenizer(tiny_base), "ko", cfg)
    assert stats["prompts"] == 3 and stats["samples"] == 9 and 0.0 <= stats["agreement"] <= 1.0
    for name in LABELLERS:
        assert stats[name]["pairs"] == len(pairs[name]) == 3
        assert all(p["chosen"] != p["rejected"] and p["prompt"] == prompts[p["id"]]
                   for p in pairs[name])


def test_alignment_sections_refuse_out_of_range_values():
    import pytest

    from xlrm.alignment.config import AlignmentConfig, LabelConfig, TrainDPOConfig
    from xlrm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"params.yaml: alignment.*confidence"):
        load_config(AlignmentConfig, {"confidence": 1.5}, "params.yaml: alignment")
    with pytest.raises(ConfigError, match=r"params.yaml: label.*token_budget"):
        load_config(LabelConfig, {"token_budget": 0}, "params.yaml: label")
    with pytest.raises(ConfigError, match=r"train_dpo.*trainable_layers"):
        load_config(TrainDPOConfig, {"trainable_layers": 0}, "params.yaml: train_dpo")


def _h2h_inputs(n: int = 4):
    instructions = [{"id": f"q{i}", "messages": [{"role": "user", "content": f"question {i}"}]}
                    for i in range(n)]
    answers = {"english": ["good answer (e)"] * n,
               "native": ["good answer (n)", "bad answer (n)", "bad answer (n)",
                          "good answer (n)"][:n],
               "policy": ["bad answer (p)"] * n}
    passed = {k: [np.nan] * n for k in answers}
    return instructions, answers, {k: np.asarray(v) for k, v in passed.items()}


def test_head_to_head_win_rates_equal_hand_computation_and_ask_both_orders():
    import pytest
    from fake_judge import FakeJudge

    from xlrm.alignment.config import EvalAlpacaConfig
    from xlrm.alignment.head_to_head import compare_systems
    from xlrm.judges.config import JudgeConfig

    def knows(_, a, b):  # P(A better): 0.9 for the good answer over the bad, in either place
        return 0.5 if ("good" in a) == ("good" in b) else (0.9 if "good" in a else 0.1)

    judge = FakeJudge(knows)
    cfg = EvalAlpacaConfig(judge=JudgeConfig(kind="hf", model="fake"))
    instructions, answers, passed = _h2h_inputs()
    rows, metrics, _ = compare_systems(instructions, answers, passed, "en", cfg, judge=judge)
    # english vs native: both good on q0 and q3 (0.5 in both orders: 1.5), 0.9 in both
    # orders on q1 and q2 -> p = 1.9; win rate = mean(p - 1) = (0.5 + 0.9 + 0.9 + 0.5) / 4
    e_n = metrics["english_vs_native"]
    assert e_n["win_rate"] == pytest.approx(70.0) and e_n["n_wins"] == 2 and e_n["n_draws"] == 2
    assert metrics["english_vs_policy"]["win_rate"] == pytest.approx(90.0)
    assert metrics["native_vs_policy"]["win_rate"] == pytest.approx((0.9 + 0.5 + 0.5 + 0.9) / 4 * 100)
    # both orders of every non-identical pair were asked, once each
    asked = [(a, b) for _, a, b in judge.queries]
    assert len(asked) == 2 * 3 * 4 and len(set(judge.queries)) == len(judge.queries)
    assert asked.count(("good answer (e)", "bad answer (p)")) == 4 == \
        asked.count(("bad answer (p)", "good answer (e)"))
    assert e_n["judge"]["order_quality"]["position_consistency"] == 1.0
    assert e_n["consistency_warning"] is None
    assert [r["preference"] for r in rows if r["pairing"] == "english_vs_native"] == \
        [1.5, 1.9, 1.9, 1.5]


def test_head_to_head_flags_a_judge_that_prefers_the_first_answer():
    from fake_judge import FakeJudge

    from xlrm.alignment.config import EvalAlpacaConfig
    from xlrm.alignment.head_to_head import compare_systems
    from xlrm.judges.config import JudgeConfig

    cfg = EvalAlpacaConfig(judge=JudgeConfig(kind="hf", model="fake"), min_consistency=0.6)
    instructions, answers, passed = _h2h_inputs()
    _, metrics, _ = compare_systems(instructions, answers, passed, "en", cfg,
                                    judge=FakeJudge(lambda *_: 0.8))  # always A
    m = metrics["english_vs_policy"]
    assert m["win_rate"] == 50.0  # 0.8 shown first, 0.2 shown second: the orders cancel
    q = m["judge"]["order_quality"]
    assert q["position_consistency"] == 0.0 and q["first_shown_win_share"] == 1.0
    assert "swap places on only 0% of the items" in m["consistency_warning"]
    assert "not evidence" in m["consistency_warning"]


def test_head_to_head_with_the_rule_judge_compares_the_checks():
    from xlrm.alignment.config import EvalAlpacaConfig
    from xlrm.alignment.head_to_head import compare_systems
    from xlrm.judges.config import JudgeConfig

    instructions, answers, _ = _h2h_inputs()
    passed = {"english": np.array([1.0, 1, 0, 0]), "native": np.array([1.0, 0, 1, 0]),
              "policy": np.array([0.0, 0, 0, 0])}
    rows, metrics, cache = compare_systems(instructions, answers, passed, "en",
                                           EvalAlpacaConfig(judge=JudgeConfig(kind="rule")))
    assert [r["preference"] for r in rows if r["pairing"] == "english_vs_native"] == \
        [1.5, 2.0, 1.0, 1.5]
    assert metrics["english_vs_policy"]["win_rate"] == 75.0  # (1 + 1 + .5 + .5) / 4
    assert metrics["english_vs_native"]["consistency_warning"] is None and cache == {}

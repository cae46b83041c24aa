"""Tests for xlrm.alignment's DPO core: training on a tiny random policy, and the
dataset-fingerprint shortcut it trains under."""

from __future__ import annotations

from xlrm.alignment import TrainDPOConfig, random_dataset_fingerprints, train_dpo


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


def test_train_dpo_lora_on_tiny_policy_lowers_the_loss(tiny_base, tmp_path):
    pairs = [{"prompt": [{"role": "user", "content": f"Name a colour, please ({i})."}],
              "chosen": "Blue is a colour.", "rejected": "I will not answer that."}
             for i in range(8)]
    cfg = TrainDPOConfig.from_section({
        "learning_rate": 5e-3, "num_train_epochs": 4, "per_device_train_batch_size": 4,
        "max_length": 64, "beta": 0.1, "precompute_ref_log_probs": True,
        "lora": {"r": 4, "lora_alpha": 8}})
    out = tmp_path / "dpo"
    stats = train_dpo(tiny_base, pairs, out, cfg, scratch_dir=tmp_path / "scratch", seed=0)
    assert stats["pairs"] == 8 and stats["train_steps"] == 8
    assert stats["last_loss"] < stats["first_loss"]
    assert stats["rewards_margins"] > 0
    assert (out / "adapter_config.json").exists()


def test_read_alpaca_runs_takes_exactly_the_listed_runs(tmp_path):
    import json

    import pytest

    from xlrm.alignment import ALPACA_METRICS, read_alpaca_runs
    from xlrm.errors import DataError

    def write(name, prefs):
        (tmp_path / f"{name}.json").write_text(json.dumps({k: 1.0 for k in ALPACA_METRICS}))
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": str(i), "preference": p}) + "\n" for i, p in enumerate(prefs)))

    for name in ("ko__policy", "ko__english__0", "ko__native__0",
                 "es__policy", "es__english__0", "es__native__0", "ko__english__1"):
        write(name, [1.5, None])  # es and seed 1 are left over from an earlier run
    records, prefs = read_alpaca_runs(tmp_path, ["ko"], [0])
    assert [r["run"] for r in records] == ["ko__policy", "ko__english__0", "ko__native__0"]
    assert set(prefs) == {("ko", "english", 0), ("ko", "native", 0)}
    assert prefs[("ko", "english", 0)]["0"] == 1.5 and prefs[("ko", "english", 0)]["1"] != \
        prefs[("ko", "english", 0)]["1"]  # no preference -> NaN
    with pytest.raises(DataError, match=r"ko__english__2\.json.*run its eval_alpaca stage"):
        read_alpaca_runs(tmp_path, ["ko"], [2])

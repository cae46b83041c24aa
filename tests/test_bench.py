"""Smoke tests of the benchmark helpers in bench/ (tiny random model, seconds)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import benchlib as B  # noqa: E402


@pytest.mark.parametrize("side", ["left", "right"])
def test_reward_bench_loop_matches_score_pairs(tiny_base, seed_rows, side):
    from xlrm.modeling import load_seqcls, load_tokenizer
    from xlrm.reward.score import score_pairs

    tok = load_tokenizer(tiny_base)
    model = load_seqcls(tiny_base, seed=0).eval()
    rows = seed_rows[:20]
    xc, xr, _ = score_pairs(model, tok, rows, token_budget=2048)
    bc, br, st = B.rb_score_pairs(model, tok, rows, batch_size=8, padding_side=side)
    np.testing.assert_allclose(bc, xc, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(br, xr, rtol=1e-4, atol=1e-5)
    assert 0 <= st["padding_fraction"] < 1
    cmp = B.compare_decisions(rows, B.conversation_lengths(tok, rows), xc, xr, bc, br)
    assert cmp["agreement"] == 1.0 and cmp["differing"] == []


def test_batched_generation_matches_the_per_prompt_loop(tiny_base, seed_rows):
    from xlrm.modeling import load_causal, load_tokenizer

    model = load_causal(tiny_base, dtype="float32", device="cpu")
    tok = load_tokenizer(tiny_base)
    prompts = [r["prompt"] for r in seed_rows[:6]]
    xt, xids, xn = B.xlrm_generate(model, tok, prompts, max_new_tokens=6, token_budget=512)
    bt, bids = B.per_prompt_generate(model, tok, prompts, max_new_tokens=6)
    assert xids is not None and xn == [len(x) for x in xids]
    cmp = B.compare_generations(xt, xids, bt, bids)
    assert cmp["identical_texts"] == 1.0 and cmp["identical_token_ids"] == 1.0


def test_cli_quick_defaults_and_stage_table():
    import bench_cpu

    a = bench_cpu.parse_args(["--quick", "--pairs", "50"])
    assert a.pairs == 50 and a.repeats == 1 and a.tiny and a.no_dvc
    specs = bench_cpu.stage_specs(bench_cpu.read_params(B.REPO / "params.yaml"))
    assert specs and all((B.REPO / s["script"]).exists() for s in specs)
    assert all("${" not in d for s in specs for d in s["deps"])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_peak_rss_script_reports_and_keeps_the_exit_code():
    r = subprocess.run([str(BENCH / "peak_rss.sh"), sys.executable, "-c",
                        "x = bytearray(50_000_000); raise SystemExit(3)"],
                       capture_output=True, text=True)
    assert r.returncode == 3
    gib = float(r.stdout.split("peak_rss_gib=")[1].split()[0])
    assert 0.04 < gib < 5


def test_training_part_measures_the_trainer_train_rm_builds(tiny_base, seed_rows, tmp_path):
    from xlrm.reward.config import TrainRMConfig
    from xlrm.sections import load_config

    cfg = load_config(TrainRMConfig, {"per_device_train_batch_size": 4, "max_length": 512,
                                      "train_sampling_strategy": "group_by_length"}, "train_rm")
    pads = {}
    for mode in ("separate", "joint"):
        trainer, stats = B.rm_trainer(tiny_base, seed_rows, cfg, strategy="group_by_length",
                                      out_dir=tmp_path / mode, max_steps=3, pair_padding=mode)
        assert stats["pair_padding"] == mode and 0 < stats["pair_padding_floor_joint"] < 1
        pads[mode] = B.dataloader_padding(trainer)
        assert pads[mode]["batches"] == -(-len(seed_rows) // 4)
        steps = B.timed_training_steps(trainer, n_timed=2)
        assert steps["timed_steps"] == 2 and steps["spread_over_epoch"] and steps["tokens_per_s"] > 0
    # both count every real token once; separate padding pads less
    assert pads["separate"]["real_tokens"] == pads["joint"]["real_tokens"]
    assert pads["separate"]["padding_fraction"] < pads["joint"]["padding_fraction"]


def test_gpu_bench_cpu_smoke_sweeps_training_batch_sizes(tmp_path):
    import json

    import bench_gpu

    out = tmp_path / "gpu.json"
    assert bench_gpu.main(["--cpu-smoke", "--skip", "vllm", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    sweep = r["train"]["sweep"]
    assert [s["pairs_per_step"] for s in sweep] == [2, 4]
    assert all(s["tokens_per_s"] > 0 for s in sweep)
    # the headline is the sweep's best configuration (no MFU on a CPU: tokens/s)
    assert r["train"]["tokens_per_s"] == max(s["tokens_per_s"] for s in sweep)
    assert r["eval"]["agreement"] == 1.0


def test_load_bench_data_is_valid_for_the_stages(tmp_path):
    import bench_load

    from xlrm.data.loaders import load_eval_set, load_preferences

    n = bench_load.write_train_source(tmp_path / "pairs.jsonl", 14, "en", "ko")
    rows, stats = load_preferences(tmp_path / "pairs.jsonl", format="pairs")
    assert n == len(rows) == 28 and stats["rows_skipped"] == 0
    assert {r["language"] for r in rows} == {"en", "ko"} and len({r["id"] for r in rows}) == 14
    langs = bench_load.eval_languages("mrewardbench")
    assert len(langs) == 23 and "en" not in langs
    assert bench_load.write_eval_folder(tmp_path / "eval", 5, langs[:3]) == 15
    sets = load_eval_set(tmp_path / "eval", langs[:3])
    assert [len(v) for v in sets.values()] == [5, 5, 5]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_load_bench_runs_the_three_stages_at_two_sizes(tmp_path):
    import bench_load

    out = tmp_path / "load.json"
    result = bench_load.main(["--sizes", "0.5,1", "--train-pairs", "40", "--eval-pairs", "6",
                              "--eval-languages", "es,ko", "--target", "es", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    small, big = result["sizes"]
    assert [s["train_items"] for s in result["sizes"]] == [20, 40]
    for size in result["sizes"]:
        assert set(size["stages"]) == {"prepare", "translate", "eval_data"}
        for r in size["stages"].values():
            assert r["peak_rss_mib"] > 10 and r["wall_s"] > 0 and r["rows_in"] > 0
        assert size["stages"]["translate"]["rows_out"] > 0
    assert big["stages"]["prepare"]["rows_in"] == 80 and big["stages"]["eval_data"]["rows_in"] == 12
    assert set(result["growth"]) == {"prepare", "translate", "eval_data"}


def test_trunk_part_scores_both_ways_with_the_same_decisions(tiny_base, seed_rows):
    import bench_cpu
    import bench_trunk

    a = bench_cpu.parse_args(["--quick", "--trunk-rms", "synth", "--trunk-synth", "2",
                              "--trunk-pairs", "10", "--token-budget", "256"])
    r = bench_trunk.part_trunk(a, tiny_base, {"eval_rm": {"max_length": 40, "base_heads": 2}},
                               seed_rows)
    assert r["pairs"] == 10 and r["models"] == ["base", "synth0", "synth1"]
    assert set(r["paths"].values()) == {"shared"} and r["split"] == 1
    assert r["agreement"] == 1.0 and r["decisions"] == 10 * (2 + 1 + 1)
    assert r["max_abs_score_diff"] < 1e-5 and r["speedup"] > 0
    assert all(v["difference"] is None for v in r["verify"].values())
    c = r["cache"]
    assert c["hidden"] == 32 and c["bytes_per_pair"] == c["tokens_per_pair"] * 32 * 4


def test_heads_dpo_part_times_trl_head_against_the_compact_tiled_one(tiny_base, tmp_path):
    """bench/heads' dpo_head part on a tiny policy: the three ways train, TRL's way scores
    every position and the compact ways only the completion tokens, with the same losses."""
    import bench_heads

    labels = tmp_path / "english.jsonl"
    labels.write_text("".join(json.dumps({
        "id": f"p{i}", "language": "ko", "prompt": [{"role": "user", "content": f"Say a word ({i})."}],
        "chosen": "A fine word.", "rejected": "No.", "source": "test", "subset": "t"}) + "\n"
        for i in range(4)), encoding="utf-8")
    a = bench_heads.parse_args(["--policy", str(tiny_base), "--labels", str(labels),
                                "--dpo", str(tmp_path)])
    params = {"train_dpo": {"learning_rate": 5e-3, "num_train_epochs": 1, "max_length": 64,
                            "per_device_train_batch_size": 2, "precompute_ref_log_probs": True,
                            "lora": {"r": 4, "lora_alpha": 8}}}
    r = bench_heads.part_dpo_head(a, params)
    trl, compact, tiled = (r[k] for k in ("trl_cpu_head", "completion_tokens_only",
                                          "completion_tokens_and_4096_tiles"))
    assert r["pairs"] == 4 and all(w["train_steps"] == 2 for w in (trl, compact, tiled))
    assert trl["tokens_scored"] > compact["tokens_scored"] == tiled["tokens_scored"] > 0
    assert trl["head_backward_s"] > 0 and tiled["speedup"] > 0
    assert compact["train_loss"] == pytest.approx(trl["train_loss"], rel=1e-5)

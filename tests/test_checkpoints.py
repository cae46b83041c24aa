"""Resumable training (xlrm.checkpoints): a train_rm / train_dpo run that dies after a
checkpoint resumes from it on a rerun with the same configuration and ends with the weights
of an uninterrupted run; a changed configuration starts clean; success removes the
checkpoints. Crashes are a callback raising after step k (in-process) and one real SIGKILL
of the stage script (slow)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xlrm.alignment.config import TrainDPOConfig
from xlrm.checkpoints import FINGERPRINT, TEST_SLEEP_ENV, complete_checkpoints
from xlrm.reward.config import TrainRMConfig
from xlrm.sections import load_config

REPO = Path(__file__).resolve().parents[1]


class Crash(RuntimeError):
    pass


def crash_at(step: int):
    """A callback that raises when optimizer step ``step`` is about to run."""
    from transformers import TrainerCallback

    class CrashAt(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise Crash(f"simulated crash before step {step + 1}")

    return CrashAt()


def adapter_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    import torch

    wa, wb = adapter_weights(a), adapter_weights(b)
    assert wa.keys() == wb.keys() and wa
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=1e-5, msg=k)


def rm_section(**over) -> dict:
    section = {"learning_rate": 5e-3, "num_train_epochs": 2, "per_device_train_batch_size": 2,
               "max_length": 512, "logging_steps": 1, "report_to": "none", "seed": 1,
               "lr_scheduler_type": "cosine", "warmup_steps": 1,
               "train_sampling_strategy": "group_by_length", "lora": {"r": 4, "lora_alpha": 8}}
    return {**section, **over}


def en_rows(seed_rows):
    return [r for r in seed_rows if r["language"] == "en"]


def steps_per_epoch(rows, batch=2) -> int:
    return -(-len(rows) // batch)


@pytest.mark.parametrize("where", ["first_epoch", "second_epoch"])
def test_train_rm_resumes_after_a_crash_to_an_uninterrupted_runs_weights(tiny_base, seed_rows,
                                                                         tmp_path, where):
    from xlrm.reward.train import train_reward_model

    rows = en_rows(seed_rows)
    n = steps_per_epoch(rows)
    assert n >= 4
    # a checkpoint part-way through an epoch: resuming skips that epoch's seen batches
    save = n // 2 if where == "first_epoch" else n + n // 2
    cfg = load_config(TrainRMConfig, rm_section(save_steps=save), "train_rm")
    ref = train_reward_model(tiny_base, rows, tmp_path / "ref", cfg, scratch_dir=tmp_path / "s0")
    assert ref["resumed_from_step"] == 0 and not (tmp_path / "s0").exists()
    if where == "first_epoch":  # saving checkpoints changes nothing
        plain = load_config(TrainRMConfig, rm_section(save_strategy="no"), "train_rm")
        train_reward_model(tiny_base, rows, tmp_path / "plain", plain, scratch_dir=tmp_path / "s1")
        assert_same_weights(tmp_path / "plain", tmp_path / "ref")

    scratch = tmp_path / "scratch"
    with pytest.raises(Crash):
        train_reward_model(tiny_base, rows, tmp_path / "out", cfg, scratch_dir=scratch,
                           callbacks=[crash_at(save + 1)])
    assert not (tmp_path / "out").exists()
    assert [p.name for p in complete_checkpoints(scratch)] == [f"checkpoint-{save}"]
    assert (scratch / FINGERPRINT).is_file()

    stats = train_reward_model(tiny_base, rows, tmp_path / "out", cfg, scratch_dir=scratch)
    assert stats["resumed_from_step"] == save
    assert stats["train_steps"] == ref["train_steps"] == 2 * n
    assert_same_weights(tmp_path / "out", tmp_path / "ref")
    for key in ("train_loss", "first_loss", "last_loss"):
        assert stats[key] == pytest.approx(ref[key], rel=1e-5), key
    assert not scratch.exists()  # the checkpoints are gone after success


def test_train_rm_with_a_changed_config_starts_clean(tiny_base, seed_rows, tmp_path, caplog):
    from xlrm.reward.train import train_reward_model

    rows = en_rows(seed_rows)
    scratch = tmp_path / "scratch"
    cfg = load_config(TrainRMConfig, rm_section(save_steps=3), "train_rm")
    with pytest.raises(Crash):
        train_reward_model(tiny_base, rows, tmp_path / "out", cfg, scratch_dir=scratch,
                           callbacks=[crash_at(4)])
    assert complete_checkpoints(scratch)
    changed = load_config(TrainRMConfig, rm_section(save_steps=3, learning_rate=1e-3), "train_rm")
    with caplog.at_level(logging.WARNING, logger="xlrm.checkpoints"):
        with pytest.raises(Crash):  # the stale checkpoint-3 is deleted before training
            train_reward_model(tiny_base, rows, tmp_path / "out", changed, scratch_dir=scratch,
                               callbacks=[crash_at(1)])
    assert "starting clean" in caplog.text
    assert not complete_checkpoints(scratch)
    stats = train_reward_model(tiny_base, rows, tmp_path / "out", changed, scratch_dir=scratch)
    assert stats["resumed_from_step"] == 0
    # changed data too: the fingerprint covers the rows
    with pytest.raises(Crash):
        train_reward_model(tiny_base, rows, tmp_path / "o2", changed, scratch_dir=scratch,
                           callbacks=[crash_at(4)])
    stats = train_reward_model(tiny_base, rows[:-1], tmp_path / "o2", changed,
                               scratch_dir=scratch)
    assert stats["resumed_from_step"] == 0 and not scratch.exists()


def test_a_torn_newest_checkpoint_is_passed_over(tiny_base, seed_rows, tmp_path):
    from xlrm.reward.train import train_reward_model

    rows = en_rows(seed_rows)
    scratch = tmp_path / "scratch"
    cfg = load_config(TrainRMConfig, rm_section(save_steps=3, save_total_limit=2), "train_rm")
    with pytest.raises(Crash):
        train_reward_model(tiny_base, rows, tmp_path / "out", cfg, scratch_dir=scratch,
                           callbacks=[crash_at(7)])
    assert [p.name for p in complete_checkpoints(scratch)] == ["checkpoint-3", "checkpoint-6"]
    (scratch / "checkpoint-6" / "trainer_state.json").write_text('{"global_st')  # killed mid-save
    with pytest.raises(Crash):  # resumed from step 3, crashes again before step 6
        train_reward_model(tiny_base, rows, tmp_path / "out", cfg, scratch_dir=scratch,
                           callbacks=[crash_at(5)])
    assert [p.name for p in complete_checkpoints(scratch)] == ["checkpoint-3"]
    assert not (scratch / "checkpoint-6").exists()  # the torn one was deleted
    stats = train_reward_model(tiny_base, rows, tmp_path / "out", cfg, scratch_dir=scratch)
    assert stats["resumed_from_step"] == 3


@pytest.mark.parametrize("fingerprint", [None, '{"ha', '{"hash": "other"}', '{"hash": "h"}'])
def test_resume_start_decides_from_the_fingerprint_and_complete_checkpoints(tmp_path, fingerprint):
    from xlrm.checkpoints import Resume

    folder = tmp_path / "scratch"
    for step, state in ((2, "{}"), (4, '{"glo')):  # checkpoint-4: killed while saving
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        (folder / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    (folder / "checkpoint-2" / "xlrm_loss.json").write_text('{"step": 2, "loss_sum": 1.5}')
    if fingerprint is not None:
        (folder / FINGERPRINT).write_text(fingerprint)
    resume = Resume(folder, {"hash": "h"})
    got = resume.start()
    assert not (folder / "checkpoint-4").exists()
    if fingerprint == '{"hash": "h"}':
        assert got == str(folder / "checkpoint-2") and resume.step == 2 and resume.loss_sum == 1.5
    else:  # missing, torn or different: clean start, this run's fingerprint written
        assert got is None and resume.step == 0 and not (folder / "checkpoint-2").exists()
        assert json.loads((folder / FINGERPRINT).read_text()) == {"hash": "h"}
    resume.finish()
    assert not folder.exists()


def dpo_pairs() -> list[dict]:
    return [{"prompt": [{"role": "user", "content": f"Name a colour, please ({i})."}],
             "chosen": "Blue is a colour." + " Really." * (i % 3),
             "rejected": "I will not answer that." + " No." * (i % 2)} for i in range(8)]


def test_train_dpo_resumes_after_a_crash_to_an_uninterrupted_runs_weights(tiny_base, tmp_path):
    from xlrm.alignment.dpo import train_dpo

    section = {"learning_rate": 5e-3, "num_train_epochs": 2, "per_device_train_batch_size": 2,
               "max_length": 64, "beta": 0.1, "precompute_ref_log_probs": True,
               "logging_steps": 1, "report_to": "none", "save_steps": 5,
               "lora": {"r": 4, "lora_alpha": 8}}
    cfg = load_config(TrainDPOConfig, section, "train_dpo")
    pairs = dpo_pairs()
    ref = train_dpo(tiny_base, pairs, tmp_path / "ref", cfg, scratch_dir=tmp_path / "s0", seed=3)
    assert ref["train_steps"] == 8 and ref["resumed_from_step"] == 0
    scratch = tmp_path / "scratch"
    with pytest.raises(Crash):  # step 5 is the second epoch's first
        train_dpo(tiny_base, pairs, tmp_path / "out", cfg, scratch_dir=scratch, seed=3,
                  callbacks=[crash_at(6)])
    assert [p.name for p in complete_checkpoints(scratch)] == ["checkpoint-5"]
    stats = train_dpo(tiny_base, pairs, tmp_path / "out", cfg, scratch_dir=scratch, seed=3)
    assert stats["resumed_from_step"] == 5
    assert_same_weights(tmp_path / "out", tmp_path / "ref")
    for key in ("train_loss", "last_loss", "rewards_margins"):
        assert stats[key] == pytest.approx(ref[key], rel=1e-5), key
    assert not scratch.exists()
    # another seed is another configuration
    with pytest.raises(Crash):
        train_dpo(tiny_base, pairs, tmp_path / "o2", cfg, scratch_dir=scratch, seed=3,
                  callbacks=[crash_at(6)])
    stats = train_dpo(tiny_base, pairs, tmp_path / "o2", cfg, scratch_dir=scratch, seed=4)
    assert stats["resumed_from_step"] == 0


def write_stage_inputs(tmp_path: Path, rows: list[dict], save_steps: int) -> Path:
    import yaml

    (tmp_path / "train").mkdir()
    with open(tmp_path / "train" / "en.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    params = tmp_path / "params.yaml"
    section = rm_section(save_steps=save_steps)
    section.pop("seed")  # the stage's --seed (rm_seeds) sets it
    params.write_text(yaml.safe_dump({"languages": ["en"], "train_rm": section}))
    return params


def stage_argv(tmp_path: Path, base: Path, name: str) -> list[str]:
    return [str(REPO / "stages" / "train_rm.py"), "--params", str(tmp_path / "params.yaml"),
            "--lang", "en", "--seed", "1", "--base", str(base), "--train-dir",
            str(tmp_path / "train"),
            "--out", str(tmp_path / name), "--metrics", str(tmp_path / f"{name}.json"),
            "--scratch", str(tmp_path / f"scratch_{name}")]


@pytest.mark.slow  # starts the stage script as a subprocess and SIGKILLs it
def test_train_rm_stage_sigkilled_after_a_checkpoint_resumes_on_rerun(tiny_base, seed_rows,
                                                                       tmp_path):
    rows = en_rows(seed_rows)
    n = steps_per_epoch(rows)
    write_stage_inputs(tmp_path, rows, save_steps=n + 1)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    ref = subprocess.run([sys.executable, *stage_argv(tmp_path, tiny_base, "ref")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]

    # the stage adds its name and item
    scratch = tmp_path / "scratch_out" / "train_rm" / "seed1" / "en"
    log_path = tmp_path / "child.log"
    argv = stage_argv(tmp_path, tiny_base, "out")
    with open(log_path, "wb") as child_log:
        proc = subprocess.Popen([sys.executable, *argv], cwd=tmp_path,
                                env={**env, TEST_SLEEP_ENV: "30"}, stdout=child_log,
                                stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None and not complete_checkpoints(scratch):
            time.sleep(0.1)
        assert proc.poll() is None, f"the run ended before the kill: {log_path.read_text()[-3000:]}"
        assert complete_checkpoints(scratch), "no checkpoint before the deadline"
        os.kill(proc.pid, signal.SIGKILL)  # asleep right after saving checkpoint n+1
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.json").exists()

    rerun = subprocess.run([sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    metrics = json.loads((tmp_path / "out.json").read_text())
    ref_metrics = json.loads((tmp_path / "ref.json").read_text())
    assert metrics["resumed_from_step"] == n + 1 and ref_metrics["resumed_from_step"] == 0
    assert metrics["train_loss"] == pytest.approx(ref_metrics["train_loss"], rel=1e-5)
    assert_same_weights(tmp_path / "out", tmp_path / "ref")
    assert not scratch.exists()

"""Scale-out (xlrm.launch, xlrm.training): the launch settings, the global batch over any
process count, the refusal of DataParallel, the saved dtype, and the training stages run
under ``accelerate launch`` on two gloo CPU processes against one process at the same global
batch (same steps, losses and final weights; one MLflow run, one metrics file, no temporary
folder left)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xlrm.errors import ConfigError
from xlrm.launch import LaunchConfig, LaunchSettings, refuse_data_parallel
from xlrm.sections import load_config
from xlrm.training import batch_plan, cast_saved

REPO = Path(__file__).resolve().parents[1]
CPU2 = str(REPO / "accelerate" / "cpu2.yaml")


# ---------------------------------------------------------------------------- settings


def test_launch_section_loads_and_says_when_a_stage_is_plain():
    cfg = load_config(LaunchConfig, {"train_rm": {"config_file": "accelerate/zero3.yaml",
                                                  "num_processes": 4}, "eval_rm": {}}, "launch")
    assert not cfg.train_rm.plain and cfg.eval_rm.plain and cfg.train_dpo.plain
    assert LaunchSettings(num_processes=1).plain and not LaunchSettings(num_processes=2).plain
    cmd = cfg.train_rm.command("stages/train_rm.py", ["--lang", "en"])
    assert cmd[1:] == ["-m", "accelerate.commands.launch", "--config_file",
                       "accelerate/zero3.yaml", "--num_processes", "4", "stages/train_rm.py",
                       "--lang", "en"]
    multi = LaunchSettings(num_machines=2, machine_rank=1, main_process_ip="10.0.0.1",
                           main_process_port=29500, config_file="accelerate/zero3.yaml",
                           extra_args=["--rdzv_backend", "c10d"])
    cmd = multi.command("s.py", [])
    for flag, value in (("--num_machines", "2"), ("--machine_rank", "1"),
                        ("--main_process_ip", "10.0.0.1"), ("--main_process_port", "29500")):
        assert cmd[cmd.index(flag) + 1] == value
    assert cmd[-3:] == ["--rdzv_backend", "c10d", "s.py"]
    import xlrm.launch as launch

    # no config file: --multi_gpu on GPUs; gloo ranks on a CPU-only machine
    for gpus, want in ((4, ["--multi_gpu"]), (0, ["--config_file", str(launch.CPU_CONFIG)])):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(launch, "visible_gpus", lambda gpus=gpus: gpus)
            cmd = LaunchSettings(num_processes=2).command("s.py", [])
        assert cmd[3:-1] == [*want, "--num_processes", "2"]
    assert launch.CPU_CONFIG.is_file()
    with pytest.raises(ConfigError, match=r"launch\.train_rm: unknown key\(s\) \['gpus'\]"):
        load_config(LaunchConfig, {"train_rm": {"gpus": 4}}, "launch")
    with pytest.raises(ConfigError, match="num_processes must be at least 1"):
        load_config(LaunchConfig, {"label": {"num_processes": 0}}, "launch")


def test_a_launch_larger_than_its_pinned_device_set_is_refused(monkeypatch):
    import xlrm.launch as launch

    monkeypatch.setattr(launch, "visible_gpus", lambda: 8)
    monkeypatch.setenv("XLRM_DEVICES", "2,3")
    with pytest.raises(ConfigError, match=r"8 processes but this stage was pinned to 2 device"):
        launch.check_device_set(LaunchSettings(config_file=str(REPO / "accelerate" / "ddp.yaml")))
    launch.check_device_set(LaunchSettings(config_file=str(REPO / "accelerate" / "ddp.yaml"),
                                           num_processes=2))
    monkeypatch.delenv("XLRM_DEVICES")  # not pinned: the launch's own business
    launch.check_device_set(LaunchSettings(num_processes=8))


@pytest.mark.parametrize("ga_world", [(8, 4), (4, 8), (32, 1)])
def test_the_global_batch_sets_accumulation_for_any_process_count(ga_world):
    ga, world = ga_world
    kwargs = {"per_device_train_batch_size": 4}
    plan = batch_plan(kwargs, 128, world, 8, "train_rm")
    assert kwargs["gradient_accumulation_steps"] == ga
    assert plan == {"world_size": world, "per_device_train_batch_size": 4,
                    "gradient_accumulation_steps": ga, "effective_batch_size": 128}


def test_an_indivisible_or_doubly_set_global_batch_is_refused():
    with pytest.raises(ConfigError, match=r"global_batch_size 128 is not a multiple of "
                                          r"per_device_train_batch_size 4 x 3 process\(es\) = 12"):
        batch_plan({"per_device_train_batch_size": 4}, 128, 3, 8, "train_rm")
    with pytest.raises(ConfigError, match="global_batch_size or gradient_accumulation_steps"):
        batch_plan({"gradient_accumulation_steps": 2}, 128, 1, 8, "train_dpo")
    # without a global batch the section's accumulation stands, and the plan says so
    assert batch_plan({"gradient_accumulation_steps": 2}, None, 2, 8, "x")[
        "effective_batch_size"] == 32


def test_a_plain_launch_with_two_visible_gpus_is_refused(monkeypatch):
    import torch

    for var in ("WORLD_SIZE", "LOCAL_RANK", "XLRM_LAUNCHED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"train_rm: 2 GPUs are visible .*DataParallel.*"
                                          r"launch\.train_rm"):
        refuse_data_parallel("train_rm")
    monkeypatch.setenv("WORLD_SIZE", "2")  # one rank of a launch: fine
    refuse_data_parallel("train_rm")
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    refuse_data_parallel("train_rm")


def test_the_trainer_refuses_before_training(tiny_base, seed_rows, tmp_path, monkeypatch):
    """The refusal is on the training path itself, not only in a helper."""
    import torch

    from xlrm.reward.config import TrainRMConfig
    from xlrm.reward.train import build_reward_trainer

    for var in ("WORLD_SIZE", "LOCAL_RANK", "XLRM_LAUNCHED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cfg = load_config(TrainRMConfig, {"max_length": 128, "report_to": "none"}, "train_rm")
    with pytest.raises(ConfigError, match="DataParallel"):
        build_reward_trainer(tiny_base, seed_rows[:4], cfg, scratch_dir=tmp_path / "s")


def test_saved_weights_are_cast_to_the_save_dtype(tiny_base, tmp_path):
    import torch
    from safetensors.torch import load_file

    from xlrm.modeling import load_seqcls

    model = load_seqcls(tiny_base, seed=0)
    model.save_pretrained(tmp_path / "m")
    before = load_file(tmp_path / "m" / "model.safetensors")
    assert cast_saved(tmp_path / "m", "bfloat16") == 1
    after = load_file(tmp_path / "m" / "model.safetensors")
    assert after.keys() == before.keys()
    assert {t.dtype for t in after.values() if t.is_floating_point()} == {torch.bfloat16}
    for k in before:
        torch.testing.assert_close(after[k].float(), before[k].to(torch.bfloat16).float())
    assert json.loads((tmp_path / "m" / "config.json").read_text())["dtype"] == "bfloat16"
    assert cast_saved(tmp_path / "m", "bfloat16") == 0  # already there: untouched
    reloaded = load_seqcls(tmp_path / "m")  # loads (in float32, as training does)
    assert next(reloaded.parameters()).dtype == torch.float32


def test_auto_save_dtype_follows_the_training_precision():
    from types import SimpleNamespace

    from xlrm.training import resolve_save_dtype

    assert resolve_save_dtype("auto", SimpleNamespace(bf16=True, fp16=False)) == "bfloat16"
    assert resolve_save_dtype("auto", SimpleNamespace(bf16=False, fp16=False)) == "float32"
    assert resolve_save_dtype("float32", SimpleNamespace(bf16=True, fp16=False)) == "float32"



def test_cpu_precision_keeps_the_users_bf16_and_drops_a_defaults(monkeypatch, caplog):
    """On a CPU, ``bf16: true`` set in the section is kept (autocast; fast where the CPU has
    native bfloat16), a bf16 that only a default asked for is dropped, and a CPU that
    emulates bfloat16 gets a warning naming the setting to change."""
    import logging
    from dataclasses import dataclass

    import torch

    import xlrm.modeling as modeling
    from xlrm.training import trainer_kwargs

    @dataclass
    class Cfg:
        per_device_train_batch_size: int = 8

    assert isinstance(modeling.cpu_bf16_native(), bool)  # this machine's answer
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(modeling, "cpu_bf16_native", lambda: True)
    kept, _ = trainer_kwargs(Cfg, {"bf16": False}, {"bf16": True}, stage="train_rm")
    dropped, _ = trainer_kwargs(Cfg, {"bf16": True}, {}, stage="train_rm")
    assert kept["bf16"] is True and kept["use_cpu"] is True
    assert dropped["bf16"] is False
    assert "emulated" not in caplog.text
    monkeypatch.setattr(modeling, "cpu_bf16_native", lambda: False)
    with caplog.at_level(logging.WARNING):
        trainer_kwargs(Cfg, {}, {"bf16": True}, stage="train_dpo")
        modeling.resolve_dtype("bfloat16", "cpu")
    assert "train_dpo.bf16: false" in caplog.text and "dtype: float32" in caplog.text


def test_loaded_lm_head_multiplies_a_strided_slice_as_one_matrix_product(tiny_base):
    """Generation's prefill hands the head ``hidden[:, -1:, :]``. With the head frozen (as in
    every PEFT-merged model) torch would run that as a batched product over the vocabulary
    matrix expanded per row, copied in bfloat16 (8.5x slower generation of a merged Gemma 3
    270M, bench/heads); ``load_causal``'s models fold it to one ``mm`` with the same values."""
    import torch
    from torch.profiler import profile

    from xlrm.modeling import contiguous_lm_head, load_causal

    model = load_causal(tiny_base, dtype="bfloat16").requires_grad_(False)
    head = model.get_output_embeddings()
    hidden = torch.randn(4, 7, head.in_features, dtype=torch.bfloat16)[:, -1:, :]
    assert not hidden.is_contiguous()

    def ops(module):
        with torch.no_grad(), profile() as prof:
            out = module(hidden)
        return out, {e.name for e in prof.events()}

    out, names = ops(head)
    assert "aten::bmm" not in names and "aten::mm" in names
    bare = torch.nn.Linear(head.in_features, head.out_features, bias=False,
                           dtype=torch.bfloat16).requires_grad_(False)
    bare.weight.copy_(head.weight)
    slow, bare_names = ops(bare)
    assert "aten::bmm" in bare_names  # the pathology the hook avoids is real on this torch
    with torch.no_grad():
        assert torch.equal(out, bare(hidden.contiguous()))
    torch.testing.assert_close(out, slow)  # the same product, up to bf16 rounding
    contiguous_lm_head(model)  # idempotent: a second call adds no second hook
    assert len(head._forward_pre_hooks) == 1

# ---------------------------------------------------------------------------- 2 processes


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "WORLD_SIZE", "RANK", "LOCAL_RANK", "XLRM_LAUNCHED"))}
    return {**env, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}


def _run_stage(script: str, params: dict, argv: list[str], where: Path) -> str:
    where.mkdir(parents=True, exist_ok=True)
    (where / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    done = subprocess.run([sys.executable, str(REPO / "stages" / script), "--params",
                           str(where / "params.yaml"), *argv], cwd=where, env=_env(where),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stderr


def _runs(where: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{where / 'mlflow.db'}")
    exps = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(exps)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    assert files, f"no weights in {folder}"
    out = {}
    for f in files:
        out.update(load_file(f))
    return out


def _assert_one_vs_two(one: Path, two: Path, out: str, metrics: str) -> tuple[dict, dict]:
    import torch

    m1 = json.loads((one / metrics).read_text())
    m2 = json.loads((two / metrics).read_text())
    assert m1["world_size"] == 1 and m2["world_size"] == 2
    assert m1["effective_batch_size"] == m2["effective_batch_size"]
    assert m1["train_steps"] == m2["train_steps"]
    for key in ("first_loss", "last_loss"):  # logged losses: averaged over the processes
        assert m2[key] == pytest.approx(m1[key], rel=1e-5, abs=1e-6), key
    w1, w2 = _weights(one / out), _weights(two / out)
    assert w1.keys() == w2.keys()
    for k in w1:  # TRL's own distributed tests use these tolerances
        torch.testing.assert_close(w2[k], w1[k], atol=1e-6, rtol=1e-5, msg=k)
    worst = max(float((w2[k] - w1[k]).abs().max()) for k in w1)
    print(f"\n{out}: 1 vs 2 processes, {m1['train_steps']} steps at batch "
          f"{m1['effective_batch_size']}: max |weight difference| {worst:.2e} over "
          f"{sum(t.numel() for t in w1.values())} weights; last loss {m1['last_loss']:.6f} vs "
          f"{m2['last_loss']:.6f}")
    # exactly one MLflow run, one metrics file, no temporary output left
    assert len(_runs(two)) == 1
    assert sorted(p.name for p in two.iterdir() if p.name.startswith(".")) == []
    return m1, m2


@pytest.mark.slow  # two accelerate launches of the stage script
def test_train_rm_on_two_gloo_processes_matches_one_process(tiny_base, seed_rows, tmp_path):
    rows = [r for r in seed_rows if r["language"] == "en"][:16]
    section = {"learning_rate": 5e-3, "num_train_epochs": 1, "per_device_train_batch_size": 2,
               "global_batch_size": 4, "max_length": 256, "logging_steps": 1,
               "lr_scheduler_type": "cosine", "warmup_steps": 1, "report_to": "none",
               "train_sampling_strategy": "group_by_length", "pair_padding": "joint",
               "lora": {"r": 4, "lora_alpha": 8}}
    for name, launch in (("one", {}), ("two", {"config_file": CPU2})):
        where = tmp_path / name
        (where / "train").mkdir(parents=True)
        (where / "train" / "en.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        log = _run_stage("train_rm.py", {"languages": ["en"], "train_rm": section,
                                         "launch": {"train_rm": launch}},
                         ["--lang", "en", "--seed", "1", "--base", str(tiny_base),
                          "--train-dir", "train",
                          "--out", "rm", "--metrics", "rm.json", "--scratch", "scratch"], where)
        if launch:
            assert "accelerate.commands.launch" in log
    m1, m2 = _assert_one_vs_two(tmp_path / "one", tmp_path / "two", "rm", "rm.json")
    assert m1["gradient_accumulation_steps"] == 2 and m2["gradient_accumulation_steps"] == 1
    assert m1["train_steps"] == 4


@pytest.mark.slow  # two accelerate launches of the stage script
def test_train_dpo_on_two_gloo_processes_matches_one_process(tiny_base, tmp_path):
    pairs = [{"id": f"p{i}", "language": "ko", "source": "test", "subset": "chat",
              "prompt": [{"role": "user", "content": f"Name a colour ({i})."}],
              "chosen": "Blue is a colour." + " Really." * (i % 3),
              "rejected": "I will not answer." + " No." * (i % 2)} for i in range(8)]
    section = {"learning_rate": 5e-3, "num_train_epochs": 1, "per_device_train_batch_size": 2,
               "global_batch_size": 4, "max_length": 64, "beta": 0.1, "logging_steps": 1,
               "report_to": "none", "lora": {"r": 4, "lora_alpha": 8}}
    for name, launch in (("one", {}), ("two", {"config_file": CPU2})):
        where = tmp_path / name
        (where / "labels").mkdir(parents=True)
        (where / "labels" / "english.jsonl").write_text(
            "".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
        _run_stage("train_dpo.py", {"train_dpo": section, "launch": {"train_dpo": launch}},
                   ["--lang", "ko", "--labeller", "english", "--seed", "0", "--policy",
                    str(tiny_base), "--labels-dir", "labels", "--out", "dpo", "--metrics",
                    "dpo.json", "--scratch", "scratch"], where)
    m1, m2 = _assert_one_vs_two(tmp_path / "one", tmp_path / "two", "dpo", "dpo.json")
    assert m1["train_steps"] == m2["train_steps"] == 2

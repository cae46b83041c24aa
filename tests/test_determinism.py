"""Reruns give the same bytes: DVC then keeps its cache and ``dvc push`` stores no copies.

peft holds ``target_modules`` as a set, so without :func:`xlrm.reward.train.save_trained`
``adapter_config.json`` lists them in an order that follows ``PYTHONHASHSEED``; and a wall
time in a metrics file would change it on every run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_pipeline import copy_repo, sh

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]

TRAIN = r"""
import sys
from pathlib import Path
from xlrm.sections import load_config
mode, base, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
lora = {"r": 4, "lora_alpha": 8}
if mode == "rm":
    from xlrm.data import seed
    from xlrm.reward.config import TrainRMConfig
    from xlrm.reward.train import train_reward_model
    rows = seed.generate(seed=0, items_per_subset=3, languages=["en"])
    cfg = load_config(TrainRMConfig, {"learning_rate": 5e-3, "num_train_epochs": 1,
        "per_device_train_batch_size": 4, "max_length": 512, "report_to": "none", "seed": 1,
        "trainable_layers": 1, "lora": lora}, "train_rm")
    train_reward_model(base, rows, out, cfg, scratch_dir=out.parent / "scratch")
else:
    from xlrm.alignment.config import TrainDPOConfig
    from xlrm.alignment.dpo import train_dpo
    pairs = [{"prompt": [{"role": "user", "content": f"Name a colour, please ({i})."}],
              "chosen": "Blue is a colour.", "rejected": "I will not answer that."}
             for i in range(8)]
    cfg = load_config(TrainDPOConfig, {"learning_rate": 5e-3, "num_train_epochs": 1,
        "per_device_train_batch_size": 4, "max_length": 64, "report_to": "none", "lora": lora},
        "train_dpo")
    train_dpo(base, pairs, out, cfg, scratch_dir=out.parent / "scratch", seed=0)
"""


def folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_files(a: dict[str, bytes], b: dict[str, bytes]) -> None:
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []


@pytest.mark.parametrize("mode", ["rm", "dpo"])
def test_lora_training_saves_the_same_bytes_under_any_hash_seed(mode, tiny_base, tmp_path):
    saved = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed / "model"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO),
               "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
        subprocess.run([sys.executable, "-c", TRAIN, mode, str(tiny_base), str(out)], env=env,
                       check=True, capture_output=True, timeout=900)
        saved.append(folder_bytes(out))
    assert "adapter_config.json" in saved[0] and "adapter_model.safetensors" in saved[0]
    assert_same_files(*saved)


TRACKED = ("metrics", "results", "models/rm", "models/dpo")


def test_tiny_pipeline_rerun_writes_the_same_bytes(tmp_path):
    """The tiny preset with LoRA adapters, run again (``dvc repro -f``) under another hash
    seed: the same metrics, results and RM/DPO folders, so the same dvc.lock."""
    import yaml

    work = tmp_path / "work"
    work.mkdir()
    copy_repo(work)
    params = yaml.safe_load((work / "params.yaml").read_text())
    for section in ("train_rm", "train_dpo"):
        params[section]["lora"] = {"r": 4, "lora_alpha": 8}
    # the RM adapter's readers outside the RM stages need the base it was trained on
    params["eval_alpaca"]["judge"]["rm_base_model"] = "models/base"
    for spec in params["eval_offshelf"]["classifiers"]:
        if spec["model"].startswith("models/rm/"):
            spec["base"] = "models/base"
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", work)
    sh("PYTHONHASHSEED=1 dvc repro", work, timeout=1800)
    first = {d: folder_bytes(work / d) for d in TRACKED}
    lock = (work / "dvc.lock").read_text()
    sh("PYTHONHASHSEED=2 dvc repro -f", work, timeout=1800)
    assert any(name.endswith("adapter_config.json") for name in first["models/rm"])
    for d in TRACKED:
        assert_same_files(first[d], folder_bytes(work / d))
    assert (work / "dvc.lock").read_text() == lock

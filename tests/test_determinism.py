"""Reruns give the same bytes: DVC then keeps its cache and ``dvc push`` stores no copies.
(The whole tiny pipeline's forced rerun under another hash seed is
``tests/test_pipeline.py::test_forced_rerun_under_another_hash_seed_writes_the_same_bytes``.)

peft holds ``target_modules`` as a set, so without :func:`xlrm.training.save_final`
``adapter_config.json`` lists them in an order that follows ``PYTHONHASHSEED``; and a wall
time in a metrics file would change it on every run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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

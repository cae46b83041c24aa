"""bench/gpu part ``sharded``: the training stages as the paper preset launches them, on one GPU.

``train_rm`` and ``train_dpo`` run as stage scripts with ``launch.<stage>`` set to
``accelerate/zero3.yaml`` (DeepSpeed ZeRO-3: the model created partitioned by ``zero.Init``,
gathered in 16 bit by ``trainer.save_model``) and to ``accelerate/fsdp2.yaml``, one process
each, ``bf16: true``, on a random Qwen2.5-shaped model and xlrm's seed pairs. Each run must
exit 0 and save non-empty bf16 weights that load back; the wall time and the saved bytes are
reported. ZeRO-3 needs ``deepspeed`` (``pip install -e '.[deepspeed]'``); without it that
launch is reported as unavailable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCHES = {"zero3": "accelerate/zero3.yaml", "fsdp2": "accelerate/fsdp2.yaml"}


def _stage(script: str, params: dict, argv: list[str], where: Path) -> dict[str, Any]:
    (where / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{where / 'mlflow.db'}"}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, str(REPO / "stages" / script), "--params",
                           str(where / "params.yaml"), *argv], cwd=where, env=env,
                          capture_output=True, text=True, timeout=900)
    out: dict[str, Any] = {"rc": done.returncode, "wall_s": time.perf_counter() - t0}
    if done.returncode:
        out["stderr_tail"] = done.stderr[-2000:]
    return out


def _saved(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    tensors: dict[str, Any] = {}
    for f in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(f))
    dtypes = sorted({str(t.dtype) for t in tensors.values() if t.is_floating_point()})
    return {"tensors": len(tensors), "empty": sum(t.numel() == 0 for t in tensors.values()),
            "bytes": sum(t.numel() * t.element_size() for t in tensors.values()),
            "dtypes": dtypes}


def part_sharded(model, tok, rows: list[dict], steps: int = 4) -> dict[str, Any]:
    """Run both training stages under each launch of :data:`LAUNCHES`; see the module doc."""
    try:
        import deepspeed  # noqa: F401

        have_ds = True
    except ImportError:
        have_ds = False
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="xlrm-bench-sharded-") as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        model.save_pretrained(base)
        tok.save_pretrained(base)
        en = [r for r in rows if r["language"] == "en"][: 4 * steps]
        (tmp / "train").mkdir()
        (tmp / "train" / "en.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in en), encoding="utf-8")
        (tmp / "labels").mkdir()
        (tmp / "labels" / "english.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in en), encoding="utf-8")
        common = {"learning_rate": 1e-5, "num_train_epochs": 1, "per_device_train_batch_size": 4,
                  "global_batch_size": 4, "max_length": 512, "bf16": True,
                  "gradient_checkpointing": True, "report_to": "none", "logging_steps": 1}
        for name, config in LAUNCHES.items():
            if name == "zero3" and not have_ds:
                result[name] = {"available": False,
                                "note": "deepspeed missing: pip install -e '.[deepspeed]'"}
                continue
            where = tmp / name
            where.mkdir()
            for link in ("train", "labels", "base"):
                (where / link).symlink_to(tmp / link)
            launch = {"config_file": str(REPO / config), "num_processes": 1}
            rm = _stage("train_rm.py", {"languages": ["en"], "launch": {"train_rm": launch},
                                        "train_rm": {**common, "pair_padding": "joint"}},
                        ["--lang", "en", "--base", "base", "--train-dir", "train", "--out", "rm",
                         "--metrics", "rm.json", "--scratch", "scratch"], where)
            dpo = _stage("train_dpo.py", {"launch": {"train_dpo": launch},
                                          "train_dpo": {**common, "beta": 0.1}},
                         ["--lang", "en", "--labeller", "english", "--seed", "0", "--policy",
                          "base", "--labels-dir", "labels", "--out", "dpo", "--metrics",
                          "dpo.json", "--scratch", "scratch"], where)
            for part, run, out in (("train_rm", rm, "rm"), ("train_dpo", dpo, "dpo")):
                if run["rc"] == 0:
                    run["saved"] = _saved(where / out)
                    run["ok"] = (run["saved"]["tensors"] > 0 and run["saved"]["empty"] == 0
                                 and run["saved"]["dtypes"] == ["torch.bfloat16"])
            result[name] = {"available": True, "train_rm": rm, "train_dpo": dpo}
    return result

"""Queued experiments side by side: `dvc exp run --queue` + `dvc queue start -j 2` on the tiny
preset, each stage pinned to its own device set (XLRM_DEVICE_SETS) and every run logged into
the main repository's MLflow store, not into the experiment's temporary workspace.

Each experiment changes ``base_model.seed`` and targets ``analyze_embeddings`` (the one cheap
stage that reads only the base model and the eval sets since the RMs are scored together in
``eval_rms``): base_model, prepare, eval_data and analyze_embeddings run in both.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_pipeline import copy_repo

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
EXPS = {"seed-1": "1", "seed-2": "2"}
SETS = {"0", "1"}


def run(cmd: list[str], cwd: Path, timeout: int = 300, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "DVC_", "PYTEST_", "XLRM_DEVICE", "CUDA_"))
           and k != "XLRM_DEVICES"}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", HF_HUB_OFFLINE="1",
               XLRM_LOG_LEVEL="WARNING", **extra)
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = res.stdout + res.stderr
    if res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}):\n{out[-6000:]}")
    return out


def queue_states(work: Path) -> dict[str, str]:
    """Experiment name -> its state in `dvc queue status` (Queued, Running, Success, Failed)."""
    out = run(["dvc", "queue", "status"], work)
    return {m[1]: m[2] for m in re.finditer(r"^\w+\s+(\S+)\s+.*?\s(\w+)\s*$", out, re.M)
            if m[1] in EXPS}


@pytest.fixture(scope="module")
def queued(tmp_path_factory):
    work = tmp_path_factory.mktemp("queue") / "work"
    work.mkdir()
    copy_repo(work)
    run(["git", "init", "-q"], work)
    run(["git", "add", "-A"], work)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"], work)
    for name, seed in EXPS.items():
        run(["dvc", "exp", "run", "--queue", "-n", name, "-S", f"base_model.seed={seed}",
             "analyze_embeddings"], work)
    start = time.monotonic()
    try:
        run(["dvc", "queue", "start", "-j", "2"], work, XLRM_DEVICE_SETS=";".join(sorted(SETS)))
        deadline = start + 900
        while time.monotonic() < deadline:
            states = queue_states(work)
            if len(states) == len(EXPS) and all(s in ("Success", "Failed")
                                                for s in states.values()):
                break
            time.sleep(3)
        else:
            raise AssertionError(f"the queue did not finish in 900 s: {states}")
    finally:
        subprocess.run([BIN / "dvc", "queue", "kill", *EXPS], cwd=work, capture_output=True)
    wall_s = time.monotonic() - start
    print(f"\nqueue of {len(EXPS)} experiments, -j 2: {wall_s:.0f} s")
    logs = {n: run(["dvc", "queue", "logs", n], work) for n, s in states.items() if s != "Success"}
    return {"work": work, "states": states, "logs": logs, "wall_s": wall_s}


def test_both_queued_experiments_succeed(queued):
    assert queued["states"] == {n: "Success" for n in EXPS}, queued["logs"]
    table = run(["dvc", "exp", "show", "--csv", "--drop", ".*", "--keep",
                 "Experiment|base_model.seed"], queued["work"])
    rows = {r["Experiment"]: r["base_model.seed"] for r in csv.DictReader(io.StringIO(table))}
    assert {n: rows.get(n) for n in EXPS} == EXPS


def stage_runs(work: Path) -> list[dict]:
    con = sqlite3.connect(work / "mlflow.db")
    tag = "(select value from tags t where t.run_uuid = r.run_uuid and t.key = '{}')"
    query = (f"select r.name, r.status, r.start_time, r.end_time, r.artifact_uri, "
             f"{tag.format('dvc.exp_name')}, {tag.format('xlrm.stage')}, "
             f"{tag.format('xlrm.devices')} from runs r")
    keys = ("name", "status", "start", "end", "artifacts", "exp", "stage", "devices")
    return [dict(zip(keys, row)) for row in con.execute(query)]


def test_the_runs_of_both_experiments_are_in_the_main_store(queued):
    work = queued["work"]
    runs = stage_runs(work)
    for name in EXPS:
        stages = {r["stage"] for r in runs if r["exp"] == name}
        # the seed reruns these
        assert {"base_model", "analyze_embeddings"} <= stages, (name, stages)
        assert stages <= {"base_model", "prepare", "eval_data", "analyze_embeddings"}
    assert {r["exp"] for r in runs} == set(EXPS)
    for r in runs:
        assert r["status"] == "FINISHED", r
        # artifacts beside the main store, not in a removed temporary workspace
        assert r["artifacts"].startswith((work / "mlruns").as_uri()), r
    assert not list((work / ".dvc" / "tmp").rglob("mlflow.db"))


def test_overlapping_stage_runs_hold_disjoint_device_sets(queued):
    runs = stage_runs(queued["work"])
    assert all(r["devices"] in SETS for r in runs), [(r["name"], r["devices"]) for r in runs]
    overlapping = [(a, b) for i, a in enumerate(runs) for b in runs[i + 1:]
                   if a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, "the two experiments never ran at the same time"
    assert [(a["name"], b["name"], a["devices"]) for a, b in overlapping
            if a["devices"] == b["devices"]] == []

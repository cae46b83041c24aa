"""Tracking against a real `mlflow server` process on loopback."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = _free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
           "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    import urllib.request

    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start in 90 s")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
def test_stage_run_logs_params_metrics_tags_and_artifacts_to_a_server(mlflow_server, monkeypatch,
                                                                         tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    from xlrm.tracking import log_metrics, stage_run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("DVC_EXP_NAME", "my-exp")
    artifact = tmp_path / "m.json"
    artifact.write_text('{"a": 1}')
    with stage_run("train_rm", "ko", params={"train_rm": {"learning_rate": 1e-5,
                                                          "lora": {"r": 8}}}) as ml:
        log_metrics({"accuracy": {"ko": 0.75}}, "eval")
        ml.log_artifact(str(artifact))
        run_id = ml.active_run().info.run_id
    client = MlflowClient(mlflow_server)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train_rm.learning_rate"] == "1e-05"
    assert run.data.params["train_rm.lora.r"] == "8"
    assert run.data.metrics["eval.accuracy.ko"] == 0.75
    assert run.data.tags["xlrm.stage"] == "train_rm"
    assert run.data.tags["xlrm.item"] == "ko"
    assert run.data.tags["dvc.exp_name"] == "my-exp"
    assert len(run.data.tags["mlflow.source.git.commit"]) == 40
    assert [a.path for a in client.list_artifacts(run_id)] == ["m.json"]
    assert mlflow.active_run() is None


def test_a_failing_stage_ends_its_run_failed(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from xlrm.tracking import stage_run

    uri = f"sqlite:///{tmp_path / 'x.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(RuntimeError):
        with stage_run("prepare") as ml:
            run_id = ml.active_run().info.run_id
            raise RuntimeError("boom")
    assert MlflowClient(uri).get_run(run_id).info.status == "FAILED"


def _one_stage_run(i: int) -> str:
    from xlrm.tracking import log_metrics, stage_run

    try:
        with stage_run("train_rm", f"l{i}", params={"train_rm": {"learning_rate": i}}):
            for step in range(5):
                log_metrics({"loss": 1.0 / (step + 1)}, "rm")
    except Exception as e:  # reported to the parent, which asserts on it
        return f"{type(e).__name__}: {e}"[:500]
    return "ok"


def test_concurrent_stage_runs_on_one_fresh_sqlite_store_are_all_recorded(tmp_path, monkeypatch):
    """Several processes open stage runs at once on a new sqlite store (``dvc queue start -j``):
    without the lock around the store's creation MLflow's schema migrations collide
    ("duplicate column name", "table ... already exists")."""
    import multiprocessing
    import sqlite3

    db = tmp_path / "shared.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    n = 6
    # fork: the workers start without importing anything again (seconds, not a minute)
    with multiprocessing.get_context("fork").Pool(n) as pool:
        results = pool.map(_one_stage_run, range(n), chunksize=1)
    assert results == ["ok"] * n
    con = sqlite3.connect(db)
    runs = dict(con.execute("select name, status from runs").fetchall())
    assert runs == {f"train_rm@l{i}": "FINISHED" for i in range(n)}
    steps = con.execute("select count(*) from metrics where key = 'rm.loss'").fetchone()[0]
    assert steps == 5 * n


def test_retry_locked_retries_only_a_locked_database(monkeypatch):
    import sqlite3

    import xlrm.tracking as tracking

    monkeypatch.setattr(tracking.time, "sleep", lambda s: None)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("write failed") from sqlite3.OperationalError("database is locked")
        return "done"

    assert tracking.retry_locked(flaky) == "done" and len(calls) == 3

    def broken():
        calls.append(1)
        raise sqlite3.OperationalError("no such table: runs")

    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        tracking.retry_locked(broken)
    assert len(calls) == 1


def test_unreachable_tracking_server_fails_at_once_naming_the_uri(monkeypatch):
    import threading

    from xlrm.tracking import TrackingUnavailable, stage_run

    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    outcome = {}

    def start():
        try:
            with stage_run("prepare"):
                outcome["ran"] = True
        except Exception as e:
            outcome["error"] = e

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(60)  # MLflow's own HTTP retries would take minutes
    assert not thread.is_alive(), "stage_run hung on an unreachable tracking server"
    assert "ran" not in outcome
    assert isinstance(outcome["error"], TrackingUnavailable)
    assert uri in str(outcome["error"]) and "MLFLOW_TRACKING_URI" in str(outcome["error"])


@pytest.mark.slow
def test_two_queued_experiments_at_once_record_every_stage_run(tmp_path):
    """``dvc queue start -j 2`` of two tiny experiments: both start on a new mlflow.db at the
    project root (DVC_ROOT), and every stage run of each is recorded there, FINISHED."""
    import re
    import sqlite3

    from test_pipeline import copy_repo, ran_stages, sh

    work = tmp_path / "work"
    work.mkdir()
    copy_repo(work)
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", work)
    exps = {"exp-a": "0.002", "exp-b": "0.003"}
    for name, lr in exps.items():
        sh(["dvc", "exp", "run", "--queue", "-n", name, "-S", f"train_rm.learning_rate={lr}",
            "train_rm@en-42"], work)
    # the workers it starts keep its stdout open while they live: not captured
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_", "PYTEST_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HF_HUB_OFFLINE"] = "1"
    subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    try:
        deadline = time.time() + 3000
        while time.time() < deadline:
            status = sh(["dvc", "queue", "status"], work)
            if not re.search(r"\b(Queued|Running)\b", status):
                break
            time.sleep(10)
        else:
            pytest.fail(f"queue still busy:\n{status}")
    finally:
        subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=work, env=env, timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in exps:
        assert re.search(rf"{name}.*Success", status), status
    con = sqlite3.connect(work / "mlflow.db")
    for name in exps:
        ran = ran_stages(sh(["dvc", "queue", "logs", name], work))
        assert "train_rm@en-42" in ran  # base_model may come from the run cache instead
        runs = con.execute("""select r.name, r.status from runs r join tags t
                              on t.run_uuid = r.run_uuid
                              where t.key = 'dvc.exp_name' and t.value = ?""", (name,)).fetchall()
        assert sorted(runs) == sorted((stage, "FINISHED") for stage in ran)

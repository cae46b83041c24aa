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

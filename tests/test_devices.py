"""Device pinning (xlrm/devices.py): parsing, claiming all or nothing, waiting, releasing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from xlrm import devices
from xlrm.devices import (CLAIMED_ENV, LOCKS_ENV, SETS_ENV, claim, claim_devices, parse_sets,
                          try_claim)
from xlrm.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _release_held():
    yield
    while devices._HELD:
        devices._HELD.pop().release()


def test_parse_sets():
    assert parse_sets("0,1;2,3") == [("0", "1"), ("2", "3")]
    assert parse_sets(" 0 ; 1 ") == [("0",), ("1",)]
    assert parse_sets("GPU-8f2c1a,MIG-3b:1") == [("GPU-8f2c1a", "MIG-3b:1")]
    with pytest.raises(ConfigError, match="set 2 is empty"):
        parse_sets("0;;1")
    with pytest.raises(ConfigError, match="'a b' is not a device"):
        parse_sets("a b")
    with pytest.raises(ConfigError, match="'../x' is not a device"):
        parse_sets("../x")
    with pytest.raises(ConfigError, match="device 1 is in sets 1 and 2"):
        parse_sets("0,1;1,2")


def test_unset_pins_nothing(tmp_path):
    env = {LOCKS_ENV: str(tmp_path)}
    assert claim_devices(env) is None
    assert env == {LOCKS_ENV: str(tmp_path)} and not list(tmp_path.iterdir())


def test_claims_a_free_set_and_marks_it(tmp_path):
    first = {SETS_ENV: "0,1;2,3", LOCKS_ENV: str(tmp_path)}
    second = dict(first)
    assert claim_devices(first) == "0,1"
    assert first["CUDA_VISIBLE_DEVICES"] == first[CLAIMED_ENV] == "0,1"
    assert claim_devices(second) == "2,3"  # another process: the other set
    assert second["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"dev-{d}.lock" for d in "0123"]
    # a child of the first (an accelerate rank) inherits the claim without claiming again:
    # with both sets held, claiming would wait
    child = {**first}
    assert claim_devices(child) == "0,1"


def test_a_set_is_taken_all_or_nothing(tmp_path):
    one = try_claim(("1",), tmp_path)
    assert try_claim(("0", "1"), tmp_path) is None
    zero = try_claim(("0",), tmp_path)  # the failed attempt let go of device 0
    assert zero is not None
    zero.release(), one.release()
    assert try_claim(("0", "1"), tmp_path) is not None


def test_lists_written_differently_share_no_device(tmp_path):
    assert claim_devices({SETS_ENV: "0,1;2,3", LOCKS_ENV: str(tmp_path)}) == "0,1"
    assert claim_devices({SETS_ENV: "0;1;2;3", LOCKS_ENV: str(tmp_path)}) == "2"


def test_waits_while_every_set_is_busy_and_takes_the_first_freed(tmp_path, caplog):
    held = try_claim(("0",), tmp_path)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(claim([("0",)], tmp_path, poll_s=0.02)))
    with caplog.at_level("INFO", logger="xlrm.devices"):
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and not got  # still waiting
        held.release()
        waiter.join(5)
    assert not waiter.is_alive() and got[0].devices == ("0",)
    assert "every device set" in caplog.text and "waiting" in caplog.text
    assert "free after" in caplog.text


def test_gives_up_after_the_timeout(tmp_path):
    held = try_claim(("0",), tmp_path)
    start = time.monotonic()
    assert claim([("0",)], tmp_path, poll_s=0.02, timeout_s=0.2) is None
    assert time.monotonic() - start >= 0.2
    held.release()


def test_lock_dir_is_the_main_repository_s(monkeypatch, tmp_path):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))
    assert devices.lock_dir({}) == tmp_path / "repo" / ".dvc" / "tmp" / "xlrm-devices"
    assert devices.lock_dir({LOCKS_ENV: "/x/locks"}) == Path("/x/locks")


def test_bad_poll_interval_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="XLRM_DEVICE_POLL_S"):
        claim_devices({SETS_ENV: "0", LOCKS_ENV: str(tmp_path), "XLRM_DEVICE_POLL_S": "soon"})


def test_the_claimed_set_tags_the_mlflow_run(monkeypatch):
    from xlrm.tracking import run_tags

    monkeypatch.delenv(CLAIMED_ENV, raising=False)
    assert "xlrm.devices" not in run_tags("prepare", None)
    monkeypatch.setenv(CLAIMED_ENV, "2,3")
    assert run_tags("prepare", None)["xlrm.devices"] == "2,3"


STAGE = textwrap.dedent("""
    import os, subprocess, sys, time
    from xlrm.stage import Stage
    STAGE = Stage("probe", "a stage that reports its devices")
    def main(ctx):
        # a child that claims again would wait for ever: both of the one set's devices are held
        child = subprocess.run([sys.executable, "-c",
            "from xlrm.devices import claim_devices; print(claim_devices())"],
            capture_output=True, text=True, timeout=20, check=True).stdout.strip()
        print("got", os.environ["CUDA_VISIBLE_DEVICES"], child, time.time(), flush=True)
        time.sleep(float(sys.argv[1]))
        return f"done {time.time()}"
    STAGE.run(main, [])
""")


@pytest.mark.slow
def test_two_stage_processes_contend_for_one_set(tmp_path):
    """Two real stage runs, one set: the second waits until the first process has exited."""
    script = tmp_path / "probe.py"
    script.write_text(STAGE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLRM_DEVICE", "CUDA_"))}
    env.update({SETS_ENV: "4,5", LOCKS_ENV: str(tmp_path / "locks"), "PYTHONPATH": str(REPO),
                "XLRM_DEVICE_POLL_S": "0.1",
                "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    first = subprocess.Popen([sys.executable, str(script), "3"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = first.stdout.readline()  # the first holds the set
    assert line.startswith("got 4,5 4,5 "), line + first.stderr.read()
    second = subprocess.run([sys.executable, str(script), "0"], env=env, text=True,
                            capture_output=True, timeout=120)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, err + second.stderr
    first_done = float(out.split("done ")[-1])
    got = second.stdout.split()
    assert got[:3] == ["got", "4,5", "4,5"]
    assert float(got[3]) >= first_done  # the second ran only after the first finished
    assert "every device set of XLRM_DEVICE_SETS=4,5 is in use" in second.stderr

    import sqlite3

    con = sqlite3.connect(tmp_path / "mlflow.db")
    tags = con.execute("select value from tags where key = 'xlrm.devices'").fetchall()
    assert tags == [("4,5",), ("4,5",)]  # both runs record their set

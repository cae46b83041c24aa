"""Scoring on several processes (:mod:`xlrm.distributed`): the split of the batches, and the
scoring stages launched on two gloo CPU processes (``accelerate/cpu2.yaml``, through the
params' ``launch`` section, so the stage's relaunch is exercised too) write exactly what one
process writes, log one MLflow run, leave nothing behind, and resume a killed run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_offshelf import _write_eval_dir
from test_resume import _eval_sets, assert_clean, label_inputs, wait_for_journal

from xlrm import distributed
from xlrm.distributed import deal, map_shared, on_main
from xlrm.journal import TEST_SLEEP_ENV, side_paths

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- the split


def test_deal_gives_the_costliest_first_to_the_least_loaded_rank():
    costs = [5, 1, 4, 4, 2, 8, 3]
    # 8 -> r0; 5 -> r1; 4, 4 -> r2; 3 -> r1; 2 -> r0 (all at 8: lowest rank); 1 -> r1
    assert deal(costs, 3) == [[4, 5], [0, 1, 6], [2, 3]]
    assert deal(costs, 3) == deal(list(costs), 3)  # no randomness
    assert deal(costs, 1) == [list(range(7))]
    assert deal([1.0, 1.0], 3) == [[0], [1], []]  # more ranks than batches: some idle
    shares = deal([float(n % 7 + 1) for n in range(50)], 4)
    assert sorted(i for s in shares for i in s) == list(range(50))
    loads = [sum(n % 7 + 1 for n in s) for s in shares]
    assert max(loads) - min(loads) <= 7  # within the largest single cost


def test_one_process_makes_no_process_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)

    def no_group():
        raise AssertionError("a process group was asked for in one process")

    monkeypatch.setattr(distributed, "state", no_group)
    calls = []
    assert map_shared([3, 1, 2], lambda x: calls.append(x) or x * 10, costs=[1, 9, 5]) \
        == [30, 10, 20]
    assert calls == [3, 1, 2]  # in item order, not by cost
    assert on_main(lambda: "only") == "only"
    with distributed.main_first():
        pass


HELPER_SCRIPT = """
import json, os, sys
from xlrm.distributed import map_shared, on_main, main_first, state
rank = int(os.environ["RANK"])
ran = []
items = list(range(7))
costs = [5, 1, 4, 4, 2, 8, 3]
got = map_shared(items, lambda x: (ran.append(x), {"sq": x * x, "rank": rank})[1], costs)
asked = []
main = on_main(lambda: asked.append(rank) or "from rank 0")
with main_first():
    pass
json.dump({"got": got, "ran": ran, "asked": asked, "main": main,
           "backend": state().backend}, open(sys.argv[1] + f".{rank}", "w"))
"""


@pytest.mark.slow  # starts a two-process launch
def test_map_shared_on_two_processes_runs_each_share_once_and_gathers_in_order(tmp_path):
    script = tmp_path / "helper.py"
    script.write_text(HELPER_SCRIPT)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                    str(REPO / "accelerate" / "cpu2.yaml"), "--main_process_port",
                    str(free_port()), str(script), str(out)], env=_env(), check=True,
                   timeout=300, capture_output=True)
    res = [json.loads(Path(f"{out}.{r}").read_text()) for r in (0, 1)]
    shares = deal([5, 1, 4, 4, 2, 8, 3], 2)
    for r in (0, 1):
        assert res[r]["ran"] == shares[r]  # each rank ran its own share only
        assert res[r]["got"] == [{"sq": x * x, "rank": 0 if x in shares[0] else 1}
                                 for x in range(7)]
        assert res[r]["main"] == "from rank 0"
        assert res[r]["backend"] == "gloo"
    assert res[0]["asked"] == [0] and res[1]["asked"] == []


# ---------------------------------------------------------------------------- stages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    # One thread per process in every run: torchrun gives each rank one (OMP_NUM_THREADS=1),
    # and the CPU kernels' float32 sums change in the last bits with the thread count, which
    # is not what these tests compare (the split and the gathering are).
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1", **extra}


def _stage(name: str, params: dict, argv: list[str], params_file: Path) -> list[str]:
    params_file.write_text(yaml.safe_dump(params), encoding="utf-8")
    return [sys.executable, str(REPO / "stages" / f"{name}.py"), "--params", str(params_file),
            *argv]


def two_processes(port: int) -> dict:
    return {"config_file": str(REPO / "accelerate" / "cpu2.yaml"), "main_process_port": port}


def run_ok(cmd: list[str], cwd: Path, store: Path) -> str:
    """Run ``cmd`` to the end with its own MLflow store and temporary folder; its log."""
    tmp = cwd / f"tmp-{store.stem}"
    tmp.mkdir()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=_env(MLFLOW_TRACKING_URI=f"sqlite:///{store}", TMPDIR=str(tmp)))
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(tmp.glob("xlrm-*")), "a rank's throwaway output folder was left"
    return done.stderr


def kill_group_after(cmd: list[str], out: Path, units: int, cwd: Path, store: Path) -> int:
    """Start ``cmd`` (and the launch under it) slowed down after each journaled unit; SIGKILL
    it and every process under it (the launcher's ranks run in sessions of their own) once
    the journal of ``out`` holds ``units`` lines."""
    import psutil

    journal = side_paths(out)[0]
    with open(cwd / f"killed-{out.name}.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                env=_env(**{TEST_SLEEP_ENV: "2",
                                            "MLFLOW_TRACKING_URI": f"sqlite:///{store}"}))
    try:
        wait_for_journal(proc, journal, units)
        assert proc.poll() is None, (cwd / f"killed-{out.name}.log").read_text()[-3000:]
    finally:
        top = psutil.Process(proc.pid)
        tree = [top, *top.children(recursive=True)]
        for p in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGKILL)
        proc.wait()
        psutil.wait_procs(tree, timeout=30)
    assert not out.exists(), "a killed run left its final output"
    return journal.read_bytes().count(b"\n")


def mlflow_runs(store: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}")
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def both_ranks_scored(log: str) -> bool:
    import re

    return {r for r, k in re.findall(r"rank (\d) of 2: (\d+) of \d+ batches", log)
            if int(k) > 0} == {"0", "1"}


@pytest.mark.slow  # starts stage subprocesses, two of them on two processes
def test_eval_rms_on_two_processes_writes_the_one_process_scores_and_resumes(
        tiny_base, seed_rows, tmp_path):
    from xlrm.modeling import load_seqcls

    _write_eval_dir(_eval_sets(seed_rows), tmp_path / "eval")
    load_seqcls(tiny_base, seed=0).save_pretrained(tmp_path / "rm" / "seed7" / "en")
    params = {"eval_languages": ["en", "es", "ko"], "rm_languages": ["en"], "rm_seeds": [7],
              "eval_rm": {"max_length": 256, "token_budget": 256, "device": "cpu",
                          "base_heads": 2}}

    def cmd(folder: str, launch: dict) -> list[str]:
        (tmp_path / folder).mkdir(exist_ok=True)
        o = tmp_path / folder / "scores"
        return _stage("eval_rms", {**params, "launch": {"eval_rm": launch}}, [
            "--base", str(tiny_base), "--rm-dir", str(tmp_path / "rm"), "--eval-dir",
            str(tmp_path / "eval"), "--scores-dir", str(o), "--metrics",
            str(o.parent / "metrics.json")], tmp_path / f"{folder}.yaml")

    run_ok(cmd("one", {}), tmp_path, tmp_path / "one.db")
    out = tmp_path / "two" / "scores"
    killed = cmd("two", two_processes(free_port()))
    assert kill_group_after(killed, out, 1, tmp_path, tmp_path / "killed.db") == 1
    # the rerun's launch differs (its port): the launch entry is no part of the fingerprint
    log = run_ok(cmd("two", two_processes(free_port())), tmp_path, tmp_path / "two.db")
    assert both_ranks_scored(log)
    for name in ("scores/base.jsonl", "scores/seed7/en.jsonl", "metrics.json"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["metrics.json", "scores"]
    assert_clean(out)
    [run] = mlflow_runs(tmp_path / "two.db")  # one run, from rank 0
    assert run.info.status == "FINISHED"
    assert run.data.metrics["eval.scoring.resumed"] == 1  # the language done before the kill
    assert run.data.metrics["eval.base.mean_accuracy"] == json.loads(
        (tmp_path / "one" / "metrics.json").read_text())["base"]["mean_accuracy"]


@pytest.mark.slow  # starts stage subprocesses, one of them on two processes
def test_label_on_two_processes_writes_the_one_process_pairs(tiny_base, tmp_path):
    params = label_inputs(tiny_base, tmp_path, prompts=6, token_budget=128)

    def cmd(folder: str, launch: dict) -> list[str]:
        return _stage("label", {**params, "launch": {"label": launch}}, [
            "--lang", "ko", "--rm-dir", str(tmp_path / "rm"), "--base", str(tiny_base),
            "--samples", str(tmp_path / "samples.jsonl"), "--instructions",
            str(tmp_path / "ko.train.jsonl"), "--out-dir", str(tmp_path / folder / "labelled"),
            "--metrics", str(tmp_path / folder / "metrics.json")], tmp_path / f"{folder}.yaml")

    run_ok(cmd("one", {}), tmp_path, tmp_path / "one.db")
    log = run_ok(cmd("two", two_processes(free_port())), tmp_path, tmp_path / "two.db")
    assert both_ranks_scored(log)
    for name in ("labelled/english.jsonl", "labelled/native.jsonl", "metrics.json"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["labelled", "metrics.json"]
    assert_clean(tmp_path / "two" / "labelled")
    [run] = mlflow_runs(tmp_path / "two.db")
    assert run.info.status == "FINISHED" and "label.english.pairs" in run.data.metrics


@pytest.mark.slow  # starts stage subprocesses, one of them on two processes
def test_eval_offshelf_on_two_processes_writes_the_one_process_outputs(
        tiny_base, seed_rows, tmp_path, fake_openai, monkeypatch):
    from fake_openai import chat_reply, user_message

    from xlrm.modeling import load_seqcls, load_tokenizer

    clf = tmp_path / "clf"
    load_seqcls(tiny_base, seed=0).save_pretrained(clf)
    load_tokenizer(tiny_base).save_pretrained(clf)
    srv = fake_openai(lambda body: chat_reply("A" if len(user_message(body)) % 3 else "B"))
    _write_eval_dir(_eval_sets(seed_rows, 3), tmp_path / "eval")
    budget = {"max_length": 256, "token_budget": 256, "dtype": "float32"}
    params = {"eval_languages": ["en", "es", "ko"], "eval_offshelf": {
        "classifiers": [{"name": "clf", "model": str(clf), **budget},
                        {"name": "fwd", "model": str(clf), "scoring": "forward", **budget}],
        "judges": [{"name": "hf", "kind": "hf", "model": str(tiny_base), "dtype": "float32",
                    "batch_size": 2},
                   {"name": "oa", "kind": "openai", "model": "pair-judge", "base_url": srv.url,
                    "api_key_env": "XLRM_TEST_NO_KEY", "concurrency": 1, "backoff_s": 0.01,
                    "max_retries": 1, "timeout_s": 20}]}}

    def cmd(folder: str, launch: dict) -> list[str]:
        o = tmp_path / folder
        return _stage("eval_offshelf", {**params, "launch": {"eval_offshelf": launch}}, [
            "--eval-dir", str(tmp_path / "eval"), "--scores-dir", str(o / "scores"),
            "--matrix", str(o / "matrix.csv"), "--metrics", str(o / "metrics.json")],
            tmp_path / f"{folder}.yaml")

    run_ok(cmd("one", {}), tmp_path, tmp_path / "one.db")
    asked = srv.count
    # a verdict cache of its own (xlrm/judges/cache.py), so the judges are asked again
    monkeypatch.setenv("XLRM_JUDGE_CACHE", str(tmp_path / "cache-two"))
    log = run_ok(cmd("two", two_processes(free_port())), tmp_path, tmp_path / "two.db")
    assert srv.count - asked == asked == 2 * 9  # rank 0 alone asks the endpoint
    assert both_ranks_scored(log)
    # rank 0 alone writes the cache: one line per query of each judge
    lines = sorted(len(p.read_text().splitlines())
                   for p in (tmp_path / "cache-two").glob("*.jsonl")
                   if p.name != "folder_digests.jsonl")
    assert lines == [2 * 9, 2 * 9]
    for name in ("clf", "fwd", "hf", "oa"):
        assert (tmp_path / "two" / "scores" / f"{name}.jsonl").read_bytes() == \
            (tmp_path / "one" / "scores" / f"{name}.jsonl").read_bytes()
    for name in ("matrix.csv", "metrics.json"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["matrix.csv",
                                                                   "metrics.json", "scores"]
    assert_clean(tmp_path / "two" / "scores")
    assert len(mlflow_runs(tmp_path / "two.db")) == 1

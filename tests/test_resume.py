"""Killed runs lose nothing: every row-producing stage, killed (SIGKILL) after some journal
units (:mod:`xlrm.journal`) and rerun, writes exactly the output of an uninterrupted run,
leaves no side file behind and does not redo (or pay again for) the units already done."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fake_openai import chat_reply, user_message
from test_offshelf import _write_eval_dir
from test_translation import tiny_m2m  # noqa: F401 - a fixture

from xlrm.journal import TEST_SLEEP_ENV, side_paths

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- helpers


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **extra}


def _stage(name: str, params: dict, argv: list[str], cwd: Path) -> list[str]:
    (cwd / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return [sys.executable, str(REPO / "stages" / f"{name}.py"),
            "--params", str(cwd / "params.yaml"), *argv]


def wait_for_journal(proc: subprocess.Popen, journal: Path, units: int,
                     timeout_s: float = 300) -> None:
    """Until ``journal`` holds ``units`` complete lines, ``proc`` ends or the time is up."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= units:
            return
        time.sleep(0.05)


def kill_after(cmd: list[str], out: Path, units: int, cwd: Path) -> int:
    """Start ``cmd`` slowed down after each journaled unit; SIGKILL it once the journal of
    ``out`` holds ``units`` lines; return how many complete lines it holds then."""
    journal = side_paths(out)[0]
    log_path = cwd / f"killed-{out.name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(**{TEST_SLEEP_ENV: "2"}),
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_journal(proc, journal, units)
        assert proc.poll() is None, f"the run ended before the kill: {log_path.read_text()[-3000:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists(), "a killed run left its final output"
    return journal.read_bytes().count(b"\n")


def run_ok(cmd: list[str], cwd: Path) -> str:
    """Run ``cmd`` to the end; its stderr (the log)."""
    done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def assert_clean(out: Path) -> None:
    """The journal is gone and no temporary output is left beside ``out``."""
    assert not any(p.exists() for p in side_paths(out))
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def last_metric(name: str) -> float:
    """``name`` of the most recent MLflow run in this test's own store.

    The store is named explicitly: a bare ``MlflowClient()`` follows MLflow's process-wide
    tracking URI, which an earlier in-process stage run of the suite has set to its own store.
    """
    from mlflow.tracking import MlflowClient

    from xlrm.tracking import tracking_uri

    client = MlflowClient(tracking_uri())
    exps = [e.experiment_id for e in client.search_experiments()]
    run = client.search_runs(exps, order_by=["attributes.start_time DESC"], max_results=1)[0]
    return run.data.metrics[name]


def _pairs_file(seed_rows, path: Path, n: int) -> Path:
    rows = [r for r in seed_rows if r["language"] == "en"][:n]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def _eval_sets(seed_rows, n: int = 4) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in seed_rows:
        if len(out.setdefault(row["language"], [])) < n:
            out[row["language"]].append(row)
    return out


# ---------------------------------------------------------------------------- translate


@pytest.mark.slow  # starts stage subprocesses
def test_translate_hf_killed_and_rerun(tiny_m2m, seed_rows, tmp_path):  # noqa: F811
    prepared = _pairs_file(seed_rows, tmp_path / "train.jsonl", 4)
    params = {"translate": {"backend": "hf", "langid": False, "hf": {
        "model": str(tiny_m2m), "batch_size": 2, "max_new_tokens": 6, "device": "cpu",
        "dtype": "float32"}}}
    out, ref = tmp_path / "es.jsonl", tmp_path / "ref" / "es.jsonl"

    def cmd(o: Path) -> list[str]:
        return _stage("translate", params, ["--lang", "es", "--prepared", str(prepared),
                                            "--out", str(o), "--metrics", f"{o}.metrics.json"],
                      tmp_path)

    written = kill_after(cmd(out), out, 2, tmp_path)
    assert written >= 2
    run_ok(cmd(out), tmp_path)
    assert last_metric("translate.resumed") == written
    resumed_stats = json.loads(Path(f"{out}.metrics.json").read_text())
    assert_clean(out)
    ref.parent.mkdir()
    run_ok(cmd(ref), tmp_path)
    full_stats = json.loads(Path(f"{ref}.metrics.json").read_text())
    assert out.read_bytes() == ref.read_bytes()
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    # random weights: some rows come back empty and are dropped, the same in both runs
    assert len(ids) == len(set(ids)) == full_stats["rows_out"] == resumed_stats["rows_out"] >= 1
    # the segments journaled before the kill were not sent to the model again
    assert resumed_stats["segments_translated"] == full_stats["segments_translated"] - written
    assert full_stats["segments_translated"] > written


def _translator(body: dict):
    return chat_reply(f"Traducción: {user_message(body)}")


@pytest.mark.slow  # starts stage subprocesses
def test_translate_openai_killed_and_rerun_pays_no_request_twice(seed_rows, tmp_path,
                                                                 fake_openai):
    srv = fake_openai(_translator)
    prepared = _pairs_file(seed_rows, tmp_path / "train.jsonl", 4)
    params = {"translate": {"backend": "openai", "langid": False, "openai": {
        "base_url": srv.url, "model": "tiny-mt", "api_key_env": "XLRM_TEST_NO_KEY",
        "concurrency": 2, "backoff_s": 0.01, "max_retries": 1, "timeout_s": 20}}}
    out, ref = tmp_path / "es.jsonl", tmp_path / "ref" / "es.jsonl"

    def cmd(o: Path) -> list[str]:
        return _stage("translate", params, ["--lang", "es", "--prepared", str(prepared),
                                            "--out", str(o), "--metrics", f"{o}.metrics.json"],
                      tmp_path)

    written = kill_after(cmd(out), out, 3, tmp_path)
    before = srv.count
    run_ok(cmd(out), tmp_path)
    rerun_requests = srv.count - before
    assert last_metric("translate.resumed") == written
    assert_clean(out)
    ref.parent.mkdir()
    before = srv.count
    run_ok(cmd(ref), tmp_path)
    total = srv.count - before
    assert out.read_bytes() == ref.read_bytes()
    assert rerun_requests == total - written and total > written
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == \
        [json.loads(line)["id"] for line in prepared.read_text().splitlines()]


# ---------------------------------------------------------------------------- eval_rms


@pytest.mark.slow  # starts stage subprocesses
def test_eval_rms_killed_and_rerun_scores_only_the_missing_languages(tiny_base, seed_rows,
                                                                      tmp_path):
    _write_eval_dir(_eval_sets(seed_rows), tmp_path / "eval")
    from xlrm.modeling import load_seqcls

    load_seqcls(tiny_base, seed=0).save_pretrained(tmp_path / "rm" / "seed7" / "en")
    params = {"eval_languages": ["en", "es", "ko"], "rm_languages": ["en"], "rm_seeds": [7],
              "eval_rm": {"max_length": 256, "token_budget": 2048, "device": "cpu",
                          "base_heads": 2}}
    out, ref = tmp_path / "scores", tmp_path / "ref" / "scores"

    def cmd(o: Path) -> list[str]:
        return _stage("eval_rms", params, ["--base", str(tiny_base), "--rm-dir",
                                           str(tmp_path / "rm"), "--eval-dir",
                                           str(tmp_path / "eval"), "--scores-dir", str(o),
                                           "--metrics", f"{o}.metrics.json"], tmp_path)

    assert kill_after(cmd(out), out, 1, tmp_path) == 1
    log = run_ok(cmd(out), tmp_path)
    # the RM's head is fresh (its embeddings equal the base's, every layer too): all shared
    assert len(re.findall(r"models on (en|es|ko): \d+ pairs", log)) == 2  # one language resumed
    assert last_metric("eval.scoring.resumed") == 1
    assert_clean(out)
    ref.parent.mkdir()
    run_ok(cmd(ref), tmp_path)
    for name in ("base.jsonl", "seed7/en.jsonl"):
        assert (out / name).read_bytes() == (ref / name).read_bytes()
    assert Path(f"{out}.metrics.json").read_bytes() == Path(f"{ref}.metrics.json").read_bytes()
    keys = [(r["id"], r["language"], r["head"])
            for r in map(json.loads, (out / "base.jsonl").read_text().splitlines())]
    assert len(keys) == len(set(keys)) == 3 * 4 * 2


# ---------------------------------------------------------------------------- label


def label_inputs(tiny_base: Path, folder: Path, prompts: int, token_budget: int) -> dict:
    """``label``'s inputs in ``folder`` (two random RMs, ``prompts`` Korean prompts with three
    samples each); its params."""
    from xlrm.modeling import load_seqcls

    for lang, seed in (("en", 0), ("ko", 1)):
        load_seqcls(tiny_base, seed=seed).save_pretrained(folder / "rm" / lang)
    (folder / "ko.train.jsonl").write_text("".join(
        json.dumps({"id": f"p{i}", "language": "ko",
                    "messages": [{"role": "user", "content": f"Question {i}?"}]}) + "\n"
        for i in range(prompts)))
    (folder / "samples.jsonl").write_text("".join(
        json.dumps({"prompt_id": f"p{i}", "sample": k, "text": f"Answer {i} {k} " * (k + 1)})
        + "\n" for i in range(prompts) for k in range(3)))
    return {"label": {"max_length": 128, "token_budget": token_budget, "device": "cpu"},
            "translate": {"backend": "reference", "source_language": "en"}}


@pytest.mark.slow  # starts stage subprocesses
def test_label_killed_and_rerun_scores_only_the_missing_labeller(tiny_base, tmp_path):
    params = label_inputs(tiny_base, tmp_path, prompts=4, token_budget=512)
    out, ref = tmp_path / "labelled", tmp_path / "ref" / "labelled"

    def cmd(o: Path) -> list[str]:
        return _stage("label", params, [
            "--lang", "ko", "--rm-dir", str(tmp_path / "rm"), "--base", str(tiny_base),
            "--samples", str(tmp_path / "samples.jsonl"), "--instructions",
            str(tmp_path / "ko.train.jsonl"), "--out-dir", str(o),
            "--metrics", f"{o}.metrics.json"], tmp_path)

    assert kill_after(cmd(out), out, 1, tmp_path) == 1
    run_ok(cmd(out), tmp_path)
    assert last_metric("label.resumed") == 1
    assert_clean(out)
    ref.parent.mkdir()
    run_ok(cmd(ref), tmp_path)
    for name in ("english", "native"):
        assert (out / f"{name}.jsonl").read_bytes() == (ref / f"{name}.jsonl").read_bytes()
        ids = [json.loads(line)["id"] for line in (out / f"{name}.jsonl").read_text().splitlines()]
        assert len(ids) == len(set(ids))
    assert Path(f"{out}.metrics.json").read_bytes() == Path(f"{ref}.metrics.json").read_bytes()


# ---------------------------------------------------------------------------- eval_alpaca


@pytest.mark.slow  # starts stage subprocesses
def test_eval_alpaca_asks_each_judge_question_once_over_kills_and_metric_changes(
        tiny_base, tmp_path, fake_openai, monkeypatch):
    """A loopback OpenAI-compatible server counts the judge's requests: a run killed
    half-way and rerun asks each missing question once (none twice), a rerun after a
    metric-only change asks nothing, and the output equals an uninterrupted run's."""
    srv = fake_openai(lambda body: chat_reply("A" if len(user_message(body)) % 2 else "B"))
    (tmp_path / "ko.eval.jsonl").write_text("".join(json.dumps({
        "id": f"q{i}", "language": "ko", "reference": f"참고 답변 {i}입니다.",
        "messages": [{"role": "user", "content": f"질문 {i}: 바다에 대해 써 주세요."}]},
        ensure_ascii=False) + "\n" for i in range(6)), encoding="utf-8")
    params = {"eval_alpaca": {"max_new_tokens": 6, "token_budget": 2048, "dtype": "float32",
                              "device": "cpu", "reference": True, "min_consistency": 0.6,
                              "judge": {
                                  "kind": "openai", "base_url": srv.url, "model": "tiny-judge",
                                  "api_key_env": "XLRM_TEST_NO_KEY", "concurrency": 1,
                                  "backoff_s": 0.01, "max_retries": 1, "timeout_s": 20}}}
    out, ref = tmp_path / "answers.jsonl", tmp_path / "ref" / "answers.jsonl"

    def cmd(o: Path) -> list[str]:
        return _stage("eval_alpaca", params, [
            "--lang", "ko", "--name", "ko__policy", "--model", str(tiny_base),
            "--policy", str(tiny_base), "--instructions", str(tmp_path / "ko.eval.jsonl"),
            "--answers", str(o), "--metrics", f"{o}.metrics.json"], tmp_path)

    def asked() -> list[str]:  # every question the server got: the messages it was shown
        return [json.dumps(b["messages"], ensure_ascii=False) for b in srv.requests]

    kill_after(cmd(out), out, 4, tmp_path)  # the answers + three paid verdicts
    before = len(asked())
    assert 0 < before < 12
    run_ok(cmd(out), tmp_path)
    assert last_metric("alpaca.resumed") >= 1  # the answers were not generated again
    assert_clean(out)
    questions = asked()
    assert len(questions) == 12 == len(set(questions))  # both orders; each missing one once
    assert last_metric("alpaca.cache.cache_hits") >= before - 1
    # a metric-only change (the consistency threshold): nothing is asked again
    params["eval_alpaca"]["min_consistency"] = 0.5
    out.unlink()
    run_ok(cmd(out), tmp_path)
    assert len(asked()) == 12 and last_metric("alpaca.cache.cache_hits") == 12
    # an uninterrupted run with an empty cache writes the same answers and preferences
    params["eval_alpaca"]["min_consistency"] = 0.6
    ref.parent.mkdir()
    monkeypatch.setenv("XLRM_JUDGE_CACHE", str(tmp_path / "ref-cache"))
    run_ok(cmd(ref), tmp_path)
    assert len(asked()) == 24
    assert out.read_bytes() == ref.read_bytes()
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == \
        [f"q{i}" for i in range(6)]
    metrics = json.loads(Path(f"{out}.metrics.json").read_text())
    assert "cache_hits" not in metrics["judge"]  # rerun-dependent counters stay in MLflow
    assert metrics["judge"]["order_quality"]["n_queries"] == 12


# ---------------------------------------------------------------------------- eval_offshelf


@pytest.mark.slow  # starts stage subprocesses
def test_eval_offshelf_killed_and_rerun_redoes_no_classifier_or_request(tiny_base, seed_rows,
                                                                         tmp_path, fake_openai,
                                                                         monkeypatch):
    from xlrm.modeling import load_seqcls, load_tokenizer

    clf = tmp_path / "clf"
    load_seqcls(tiny_base, seed=0).save_pretrained(clf)
    load_tokenizer(tiny_base).save_pretrained(clf)
    srv = fake_openai(lambda body: chat_reply("A" if len(user_message(body)) % 3 else "B"))
    sets = _eval_sets(seed_rows, 3)
    _write_eval_dir(sets, tmp_path / "eval")
    params = {"eval_languages": ["en", "es", "ko"], "eval_offshelf": {
        "classifiers": [{"name": "clf", "model": str(clf), "max_length": 256,
                         "token_budget": 2048, "dtype": "float32"}],
        "judges": [{"name": "oa", "kind": "openai", "model": "pair-judge", "base_url": srv.url,
                    "api_key_env": "XLRM_TEST_NO_KEY", "concurrency": 1, "backoff_s": 0.01,
                    "max_retries": 1, "timeout_s": 20}]}}
    out, ref = tmp_path / "scores", tmp_path / "ref" / "scores"

    def cmd(o: Path) -> list[str]:
        return _stage("eval_offshelf", params, [
            "--eval-dir", str(tmp_path / "eval"), "--scores-dir", str(o),
            "--matrix", f"{o}.matrix.csv", "--metrics", f"{o}.metrics.json"], tmp_path)

    written = kill_after(cmd(out), out, 3 + 2, tmp_path)  # 3 classifier languages, 2 replies
    before = srv.count
    log = run_ok(cmd(out), tmp_path)
    rerun_requests = srv.count - before
    assert not re.search(r"clf on (en|es|ko): \d+ pairs", log)  # no language scored again
    # each paid reply came back from the journal or from the verdict cache (asked first)
    assert last_metric("offshelf.resumed") + last_metric("offshelf.oa.cache_hits") == written
    assert_clean(out)
    ref.parent.mkdir()
    monkeypatch.setenv("XLRM_JUDGE_CACHE", str(tmp_path / "ref-cache"))  # asked afresh
    before = srv.count
    run_ok(cmd(ref), tmp_path)
    total = srv.count - before
    assert total == 2 * 9 and rerun_requests == total - (written - 3)
    for name in ("clf", "oa"):
        assert (out / f"{name}.jsonl").read_bytes() == (ref / f"{name}.jsonl").read_bytes()
    assert Path(f"{out}.matrix.csv").read_bytes() == Path(f"{ref}.matrix.csv").read_bytes()
    # another run from scratch (no journal) with that cache: not one request
    again = tmp_path / "again" / "scores"
    again.parent.mkdir()
    before = srv.count
    run_ok(cmd(again), tmp_path)
    assert srv.count == before and last_metric("offshelf.oa.cache_hits") == 2 * 9
    assert (again / "oa.jsonl").read_bytes() == (ref / "oa.jsonl").read_bytes()
    assert Path(f"{again}.metrics.json").read_bytes() == Path(f"{ref}.metrics.json").read_bytes()


# ---------------------------------------------------------------------------- DVC


def test_journals_are_no_dvc_output():
    """The journal of every output of the journaling stages sits beside it, outside every
    declared output: DVC neither tracks it nor sees a finished stage as changed."""
    from dvc.repo import Repo

    journaling = {"generate", "translate", "eval_rms", "label", "eval_alpaca",
                  "eval_alpaca_policy",
                  "eval_offshelf"}
    with Repo(str(REPO)) as repo:
        stages = [s for s in repo.index.stages if s.name.split("@")[0] in journaling]
        outs = [Path(str(o.fs_path)) for st in repo.index.stages for o in st.outs]
    assert {s.name.split("@")[0] for s in stages} == journaling
    for st in stages:
        for o in st.outs:
            for side in side_paths(Path(str(o.fs_path))):
                assert not any(side == p or p in side.parents for p in outs), (st.name, side)


# ---------------------------------------------------------------------------- the journal


def test_journal_reads_back_units_cuts_a_torn_line_and_starts_over_on_a_new_fingerprint(
        tmp_path, caplog):
    from xlrm.journal import Journal, unit

    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError):
        with Journal(out, "fp-1").activate() as j:
            assert unit(("a", 1), lambda: {"x": 1.5}) == {"x": 1.5}
            j.add(("b", "é"), [1, None])
            raise RuntimeError("killed")
    journal, meta = side_paths(out)
    assert journal.exists() and meta.exists()  # kept for the rerun
    with open(journal, "a", encoding="utf-8") as f:
        f.write('{"k": ["c"], "v": 3')  # a torn write
    calls = []
    with Journal(out, "fp-1").activate() as j:
        assert unit(("a", 1), lambda: calls.append(1)) == {"x": 1.5}
        assert j.get(("b", "é")) == [1, None] and ("c",) not in j and j.hits == 2
        out.write_text("done\n")
    assert not calls and not journal.exists() and not meta.exists()

    old = Journal(out, "fp-1")
    old.add(("a", 1), "old")  # left behind by a killed run ...
    old.close()
    with caplog.at_level("WARNING"):
        j = Journal(out, "fp-2")  # ... with other settings: not reused
    assert "starting over" in caplog.text and ("a", 1) not in j and j.done == {}
    j.discard()


def test_chat_client_journals_replies_and_a_rerun_sends_none_again(tmp_path, fake_openai):
    from xlrm.journal import Journal
    from xlrm.openai_client import ChatClient

    srv = fake_openai(lambda body: chat_reply(user_message(body).upper()))
    client = ChatClient(srv.url, api_key_env="XLRM_TEST_NO_KEY", timeout_s=10, max_retries=1,
                        backoff_s=0.01, concurrency=3)

    def ask(text, key):
        return client.first_choice({"model": "m", "messages": [
            {"role": "user", "content": text}]}, key)["message"]["content"]

    out = tmp_path / "o.jsonl"
    j = Journal(out, "fp")
    with pytest.raises(KeyboardInterrupt), j.activate():
        assert client.map(ask, ["a", "b"]) == ["A", "B"]
        raise KeyboardInterrupt  # the run dies here
    assert srv.count == 2
    with Journal(out, "fp").activate() as j:
        assert client.map(ask, ["a", "b", "c"]) == ["A", "B", "C"]
        assert j.hits == 2
    assert srv.count == 3  # only "c" was asked
    assert not any(p.exists() for p in side_paths(out))

"""Secrets and remote code.

Every stage that can take an API key (``translate`` with the ``openai`` backend,
``eval_alpaca`` with an ``openai`` judge, ``eval_offshelf`` with an ``openai`` judge) runs
against the fake server (tests/fake_openai.py) with a sentinel key in its environment
variable; the server must receive it as the Bearer header, and it must appear nowhere
else: not in mlflow.db (every table dumped), mlruns/, any output file, dvc.lock, nor the
captured stdout, stderr and log records.

``trust_remote_code`` is off in every ``from_pretrained`` call unless a param turns it on
for one model, and the MLflow run's ``xlrm.trust_remote_code`` tag says which.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fake_openai import user_message

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "XLRM_TEST_KEY"


def load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_in_process(name: str, argv: list[str]) -> int:
    module = load_stage(name)
    try:
        module.STAGE.run(module.main, argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> Path:
    """A project folder of its own: the cwd, with mlflow.db and mlruns/ inside."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")  # marks the root
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    return root


@pytest.fixture
def sentinel(monkeypatch) -> str:
    value = f"sk-sentinel-{secrets.token_hex(12)}"
    monkeypatch.setenv(KEY_ENV, value)
    return value


def endpoint(url: str) -> dict:
    return {"base_url": url, "api_key_env": KEY_ENV, "backoff_s": 0.01, "max_retries": 1,
            "concurrency": 2, "timeout_s": 30}


def write_inputs(root: Path, sentinel: str, fake_openai) -> tuple[Path, dict]:
    """The inputs, params file and servers of the three stages; returns (params path,
    servers by stage)."""
    servers = {
        # a careless server: every answer echoes the credential (the client must not keep it)
        "translate": fake_openai(lambda body: f"Traducido: {user_message(body)}",
                                 require_key=sentinel),
        "eval_alpaca": fake_openai(lambda body: "A", require_key=sentinel),
        "eval_offshelf": fake_openai(lambda body: "A", require_key=sentinel),
    }
    rows = [{"id": f"p{i}", "language": "en", "source": "test", "subset": "chat",
             "prompt": [{"role": "user", "content": f"Question number {i}?"}],
             "chosen": f"A good answer {i}.", "rejected": f"A bad answer {i}."} for i in range(3)]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    instructions = [{"id": f"i{i}", "language": "es", "reference": f"Referencia {i}.",
                     "messages": [{"role": "user", "content": f"Pregunta {i}?"}]}
                    for i in range(2)]
    (root / "es.eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in instructions))
    (root / "eval").mkdir()
    (root / "eval" / "en.jsonl").write_text("".join(json.dumps(
        {"id": f"e{i}", "language": "en", "prompt": f"Pick one {i}.", "chosen": "Good.",
         "rejected": "Bad.", "subset": "chat", "category": "chat"}) + "\n" for i in range(2)))
    params = {
        "translate": {"backend": "openai", "langid": False,
                      "openai": {**endpoint(servers["translate"].url), "model": "mt"}},
        "eval_alpaca": {"max_new_tokens": 3, "device": "cpu", "dtype": "float32",
                        "reference": True,  # the judge is asked in reference mode
                        "judge": {"kind": "openai", "model": "judge", "logprobs": False,
                                  **endpoint(servers["eval_alpaca"].url)}},
        "eval_languages": ["en"],
        "eval_offshelf": {"judges": [{"name": "oa", "kind": "openai", "model": "judge",
                                      "logprobs": False,
                                      **endpoint(servers["eval_offshelf"].url)}]},
    }
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path, servers


def stage_argvs(root: Path, params: Path, policy: Path) -> dict[str, list[str]]:
    out = root / "out"
    return {
        "translate": ["--params", str(params), "--lang", "es", "--prepared",
                      str(root / "train.jsonl"), "--out", str(out / "es.train.jsonl"),
                      "--metrics", str(out / "translate.json")],
        "eval_alpaca": ["--params", str(params), "--lang", "es", "--name", "es__policy",
                        "--model", str(policy), "--policy", str(policy), "--instructions",
                        str(root / "es.eval.jsonl"), "--answers", str(out / "answers.jsonl"),
                        "--metrics", str(out / "alpaca.json")],
        "eval_offshelf": ["--params", str(params), "--eval-dir", str(root / "eval"),
                          "--scores-dir", str(out / "scores"), "--matrix",
                          str(out / "matrix.csv"), "--metrics", str(out / "offshelf.json")],
    }


def places_holding(root: Path, sentinel: str, captured: dict[str, str]) -> list[str]:
    """Every file under ``root`` (bytes), every table of mlflow.db (an SQL dump) and every
    captured text that holds ``sentinel``."""
    needle = sentinel.encode()
    found = [str(p.relative_to(root)) for p in sorted(root.rglob("*"))
             if p.is_file() and needle in p.read_bytes()]
    con = sqlite3.connect(root / "mlflow.db")
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    assert "xlrm.stage" in dump and "effective." in dump  # the dump does hold the runs
    if sentinel in dump:
        found.append("mlflow.db (dump)")
    found += [name for name, text in captured.items() if sentinel in text]
    return found


def finished_runs(root: Path) -> list:
    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("xlrm")
    return client.search_runs([exp.experiment_id])


def check_no_leak(root: Path, sentinel: str, servers: dict, captured: dict[str, str]) -> None:
    for name, srv in servers.items():  # the key did travel, as the Bearer header only
        assert srv.count > 0 and set(srv.auth) == {f"Bearer {sentinel}"}, name
    assert any((root / "mlruns").rglob("*.json")), "no artifacts were logged"
    outputs = [p for p in (root / "out").rglob("*") if p.is_file()]
    assert len(outputs) >= 6
    assert places_holding(root, sentinel, captured) == []


def test_no_stage_leaks_the_api_key(sandbox, sentinel, fake_openai, tiny_base, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    params, servers = write_inputs(sandbox, sentinel, fake_openai)
    for name, argv in stage_argvs(sandbox, params, tiny_base).items():
        assert run_in_process(name, argv) == 0, (name, capfd.readouterr().err[-2000:])
    out, err = capfd.readouterr()
    runs = finished_runs(sandbox)
    assert sorted(r.data.tags["xlrm.stage"] for r in runs) == ["eval_alpaca", "eval_offshelf",
                                                               "translate"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    # a default run loads nothing with its own code, and says so
    assert {r.data.tags["xlrm.trust_remote_code"] for r in runs} == {"off"}
    check_no_leak(sandbox, sentinel, servers, {"stdout": out, "stderr": err,
                                               "logs": caplog.text})


@pytest.mark.slow
def test_no_stage_leaks_the_api_key_as_dvc_runs_them(sandbox, sentinel, fake_openai,
                                                     tiny_base):
    params, servers = write_inputs(sandbox, sentinel, fake_openai)
    captured = {}
    env = {**os.environ, "XLRM_LOG_LEVEL": "DEBUG", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    for name, argv in stage_argvs(sandbox, params, tiny_base).items():
        proc = subprocess.run([sys.executable, str(REPO / "stages" / f"{name}.py"), *argv],
                              cwd=sandbox, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (name, proc.stderr[-2000:])
        captured[f"{name} stdout"], captured[f"{name} stderr"] = proc.stdout, proc.stderr
        assert "DEBUG" in proc.stderr or "INFO" in proc.stderr  # the logs were captured
    check_no_leak(sandbox, sentinel, servers, captured)


# ---------------------------------------------------------------- trust_remote_code
@pytest.fixture(scope="module")
def tiny_classifier(tiny_base, tmp_path_factory) -> Path:
    from xlrm.modeling import load_seqcls, load_tokenizer

    out = tmp_path_factory.mktemp("secrets") / "tiny-clf"
    load_seqcls(tiny_base, seed=0).save_pretrained(out)
    load_tokenizer(tiny_base).save_pretrained(out)
    return out


@pytest.fixture
def loads(monkeypatch) -> list[tuple[str, str, object]]:
    """Every ``from_pretrained`` call of transformers' auto classes in this test:
    ``(class, source, trust_remote_code as passed)``."""
    import transformers

    calls: list[tuple[str, str, object]] = []
    for name in ("AutoTokenizer", "AutoModel", "AutoModelForCausalLM",
                 "AutoModelForSequenceClassification", "AutoModelForSeq2SeqLM"):
        cls = getattr(transformers, name)

        def wrapper(source, *args, _orig=cls.from_pretrained, _name=name, **kwargs):
            calls.append((_name, str(source), kwargs.get("trust_remote_code", "not passed")))
            return _orig(source, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", wrapper)
    return calls


def offshelf_run(root: Path, classifiers: list[dict], loads) -> tuple[dict, dict]:
    (root / "eval").mkdir(exist_ok=True)
    (root / "eval" / "en.jsonl").write_text("".join(json.dumps(
        {"id": f"e{i}", "language": "en", "prompt": f"Pick one {i}.", "chosen": "Good.",
         "rejected": "Bad.", "subset": "chat", "category": "chat"}) + "\n" for i in range(2)))
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"eval_languages": ["en"],
                                      "eval_offshelf": {"classifiers": classifiers}}))
    loads.clear()
    out = root / f"out-{len(finished_runs(root)) if (root / 'mlflow.db').exists() else 0}"
    assert run_in_process("eval_offshelf", [
        "--params", str(params), "--eval-dir", str(root / "eval"), "--scores-dir",
        str(out / "scores"), "--matrix", str(out / "m.csv"), "--metrics",
        str(out / "m.json")]) == 0
    run = max(finished_runs(root), key=lambda r: r.info.start_time)
    return run.data.tags, run.data.params


def test_trust_remote_code_is_off_unless_a_param_turns_it_on(sandbox, tiny_base,
                                                              tiny_classifier, loads):
    plain = {"name": "plain", "model": str(tiny_classifier), "device": "cpu",
             "dtype": "float32"}
    tags, params = offshelf_run(sandbox, [plain], loads)
    assert tags["xlrm.trust_remote_code"] == "off"
    assert params["effective.judge.plain.trust_remote_code"] == "False"
    assert loads and {trust for _, _, trust in loads} == {False}, loads

    # on for one classifier only: its loads get it, the other's do not, the run names it
    other = tiny_classifier.parent / "other-clf"
    if not other.exists():
        other.symlink_to(tiny_classifier, target_is_directory=True)
    armo = {**plain, "name": "armo", "model": str(other), "trust_remote_code": True}
    tags, params = offshelf_run(sandbox, [plain, armo], loads)
    assert tags["xlrm.trust_remote_code"] == str(other)
    assert params["effective.judge.armo.trust_remote_code"] == "True"
    by_source = {}
    for _, source, trust in loads:
        by_source.setdefault(source, set()).add(trust)
    assert by_source == {str(tiny_classifier): {False}, str(other): {True}}

    # every other loader (policies, judges, translation models, the base model) passes it
    # explicitly off
    from xlrm.modeling import load_causal, load_seqcls, load_tokenizer

    loads.clear()
    load_tokenizer(tiny_base)
    load_causal(tiny_base)
    load_seqcls(tiny_base)
    assert [trust for _, _, trust in loads] == [False, False, False]

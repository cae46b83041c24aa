"""The one stage runner: strict params, one MLflow run, effective config, atomic outputs,
clean errors, and only rank 0 writing and logging."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from xlrm.errors import DataError
from xlrm.stage import Stage
from xlrm.tracking import log_effective_config, tracking_uri

PARAMS = """\
eval_languages: [en, ko]
transfer: {bootstrap_resamples: 10, seed: 3}
"""


def make_stage() -> Stage:
    stage = Stage("demo", "a demo stage", params=["transfer", "eval_languages"], item="lang")
    stage.add("--lang", required=True)
    stage.add("--out", required=True)
    return stage


@pytest.fixture
def params(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS, encoding="utf-8")
    return path


def runs():
    client = MlflowClient(tracking_uri())
    exp = client.get_experiment_by_name("xlrm")
    return client.search_runs([exp.experiment_id]) if exp else []


def test_a_stage_gets_typed_params_and_logs_one_run(params, tmp_path, capsys):
    out = tmp_path / "out" / "m.json"

    def main(ctx):
        assert ctx["eval_languages"] == ["en", "ko"]
        assert ctx["transfer"].bootstrap_resamples == 10
        log_effective_config("demo", {"resamples": 10, "device": "cpu"})
        ctx.write_json(out, {"accuracy": {"en": 0.5}}, metrics="demo")
        return "done -> m.json"

    make_stage().run(main, ["--lang", "ko", "--out", str(out), "--params", str(params)])
    assert capsys.readouterr().out.strip().endswith("done -> m.json")
    assert json.loads(out.read_text()) == {"accuracy": {"en": 0.5}}
    [run] = runs()
    assert run.info.run_name == "demo@ko" and run.info.status == "FINISHED"
    assert run.data.tags["xlrm.stage"] == "demo" and run.data.tags["xlrm.item"] == "ko"
    assert run.data.params["transfer.bootstrap_resamples"] == "10"
    assert run.data.params["eval_languages"] == "['en', 'ko']"
    assert run.data.params["effective.demo.device"] == "cpu"
    assert run.data.metrics["demo.accuracy.en"] == 0.5
    names = {a.path for a in MlflowClient(tracking_uri()).list_artifacts(run.info.run_id)}
    assert names == {"m.json", "effective"}


def test_a_user_error_exits_2_with_one_line_and_leaves_no_output(params, tmp_path, capsys):
    out = tmp_path / "out"

    def main(ctx):
        with ctx.out_dir(out) as tmp:
            (tmp / "half.jsonl").write_text("{}\n")
            raise DataError("bad value", path="x.jsonl", row=3, field="margin")

    with pytest.raises(SystemExit) as exc:
        make_stage().run(main, ["--lang", "ko", "--out", str(out), "--params", str(params)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == \
        "error: file x.jsonl, row 3, field 'margin': bad value"
    assert not out.exists() and list(tmp_path.glob(".out*")) == []
    [run] = runs()
    assert run.info.status == "FAILED"


def test_wrong_type_and_unknown_key_name_file_and_key(params, tmp_path, capsys):
    params.write_text(PARAMS.replace("seed: 3", "sed: 3"), encoding="utf-8")
    with pytest.raises(SystemExit):
        make_stage().run(lambda ctx: None, ["--lang", "ko", "--out", "x", "--params", str(params)])
    assert f"{params}: transfer: unknown key(s) ['sed']" in capsys.readouterr().err
    params.write_text(PARAMS.replace("[en, ko]", "en"), encoding="utf-8")
    with pytest.raises(SystemExit):
        make_stage().run(lambda ctx: None, ["--lang", "ko", "--out", "x", "--params", str(params)])
    assert f"{params}: eval_languages: expected a list" in capsys.readouterr().err
    assert runs() == []


def test_an_optional_section_takes_its_defaults(params, tmp_path):
    stage = Stage("demo", None, params=["transfer", "report"], optional=["report"])
    seen = {}
    stage.run(lambda ctx: seen.update(report=ctx["report"]), ["--params", str(params)])
    from xlrm.sections import config_class

    assert seen["report"] == config_class("report")()  # the class's defaults


def test_only_rank_0_writes_and_logs(params, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    out = tmp_path / "m.json"
    ran = []

    def main(ctx):
        ran.append(ctx.is_main)
        ctx.write_json(out, {"a": 1}, metrics="demo")
        return "summary"

    make_stage().run(main, ["--lang", "ko", "--out", str(out), "--params", str(params)])
    assert ran == [False] and not out.exists() and runs() == []
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_a_killed_writers_temporary_folder_is_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys

    from xlrm.io import atomic_path

    final = tmp_path / "models" / "rm"
    # a writer that dies inside atomic_path (as SIGKILL would leave it)
    code = ("import os, sys\nfrom xlrm.io import atomic_path\n"
            f"with atomic_path({str(final)!r}, is_dir=True) as tmp:\n"
            "    (tmp / 'half.bin').write_bytes(b'x')\n    os._exit(9)\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    left = list(final.parent.glob(".rm.*.tmp"))
    assert len(left) == 1 and (left[0] / "half.bin").exists()
    with atomic_path(final, is_dir=True) as tmp:
        (tmp / "w.bin").write_bytes(b"ok")
        assert list(final.parent.glob(".rm.*.tmp")) == [tmp]  # the live one only
    assert sorted(p.name for p in final.parent.iterdir()) == ["rm"]

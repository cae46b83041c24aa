"""xlrm.compare: runs of two base models (DVC experiments) joined into one table.

The fast tests feed a hand-written `dvc exp show --json` structure, shaped as DVC 3.67
prints it (observed on a scratch repo after `dvc exp run -n qwen` and `dvc exp run -n llama
-S ...`): a list, the workspace first (``rev`` "workspace", ``timestamp`` null), then the
baseline commit (``name`` its branch) whose ``experiments`` are ranges {``revs``: [the
result], ``executor`` (null once finished), ``name``}, newest first; every state has
``rev``, ``name``, ``error`` and ``data`` {``timestamp`` (ISO, local, seconds),
``params``/``metrics``: {path: {"data": ...} or {"error": {"type", "msg"}}}, ...}.
The slow test runs two real `dvc exp run -S base_model.source=...` in a tiny repo.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from xlrm.compare import compare, main, runs_from_exp_show, select
from xlrm.errors import DataError

QWEN, LLAMA = "Qwen/Qwen2.5-3B-Instruct", "meta-llama/Llama-3.2-3B-Instruct"


def transfer(diff: float, lo: float, hi: float, ko: float = -0.05) -> dict:
    return {"confidence": 0.95,
            "headline": {"source": "en", "targets": ["es", "ko"], "confidence": 0.95,
                         "mean": {"diff": diff, "ci_low": lo, "ci_high": hi,
                                  "en_rm": 0.70, "target_rm": 0.70 - diff},
                         "per_language": {
                             "es": {"diff": 0.02, "ci_low": -0.01, "ci_high": 0.05,
                                    "en_rm": 0.7, "target_rm": 0.68},
                             "ko": {"diff": ko, "ci_low": ko - 0.1, "ci_high": ko + 0.1,
                                    "en_rm": 0.6, "target_rm": 0.6 - ko}}},
            "category_diff": {"confidence": 0.95, "source": "en", "targets": ["es", "ko"],
                              "categories": ["chat", "safety"],
                              "mean": {"safety": {"diff": 0.1, "ci_low": 0.05, "ci_high": 0.15,
                                                  "source_rm": 0.8, "target_rm": 0.7,
                                                  "n_pairs": 10, "n_targets": 2},
                                       "chat": {"diff": 0.0, "ci_low": -0.02, "ci_high": 0.02,
                                                "source_rm": 0.9, "target_rm": 0.9,
                                                "n_pairs": 10, "n_targets": 2}},
                              "per_language": {}}}


def alignment(diff: float) -> dict:
    return {"confidence": 0.95,
            "headline": {"metric": "verifiable_accuracy",
                         "per_language": {"ko": {"diff": diff, "ci_low": diff - 4,
                                                 "ci_high": diff + 4, "english": 60,
                                                 "native": 60 - diff, "seeds": 1,
                                                 "instructions": 24}},
                         "mean": {"diff": diff, "ci_low": diff - 4, "ci_high": diff + 4,
                                  "english": 60, "native": 60 - diff}}}


def state(rev: str, model: str, metrics: dict | None, timestamp: str | None,
          name: str | None = None, lr: float = 1e-5) -> dict:
    files = {path: {"data": data} for path, data in (metrics or {}).items()}
    return {"rev": rev, "name": name,
            "data": {"rev": rev, "timestamp": timestamp,
                     "params": {"params.yaml": {"data": {"base_model": {"source": model},
                                                         "train_rm": {"learning_rate": lr}}}},
                     "metrics": files, "deps": {}, "outs": {}, "meta": {}},
            "error": None, "experiments": None}


def exp(rev: str, name: str, model: str, metrics: dict | None, timestamp: str,
        lr: float = 1e-5, executor: dict | None = None) -> dict:
    return {"revs": [state(rev, model, metrics, timestamp, name, lr)], "executor": executor,
            "name": name}


def both(t: dict | None, a: dict | None) -> dict:
    out = {}
    if t is not None:
        out["metrics/transfer.json"] = t
    if a is not None:
        out["metrics/alignment.json"] = a
    return out


QWEN_METRICS = both(transfer(-0.059375, -0.137298, 0.014655), alignment(2.5))
LLAMA_METRICS = both(transfer(0.031, 0.002, 0.06, ko=0.0), alignment(-1.25))


def exp_show_json() -> list[dict]:
    """The workspace (after `dvc exp run -n llama`: equal to llama), then HEAD with its
    two experiments, newest first as DVC lists them."""
    ws = state("workspace", LLAMA, LLAMA_METRICS, None)
    head = state("a" * 40, QWEN, None, "2026-12-01T10:00:00", name="main")
    head["data"]["metrics"] = {  # what DVC prints for a metrics file the commit lacks
        "metrics/transfer.json": {"error": {"type": "FileNotFoundError", "msg": "[Errno 2] "
                                            "No such file or directory"}},
        "metrics/alignment.json": {"error": {"type": "YAMLFileCorruptedError",
                                             "msg": "unable to read"}}}
    head["experiments"] = [
        exp("b" * 40, "llama", LLAMA, LLAMA_METRICS, "2026-12-02T03:00:00"),
        exp("c" * 40, "qwen", QWEN, QWEN_METRICS, "2026-12-02T01:00:00"),
    ]
    return [ws, head]


def cells(text: str) -> dict[str, list[str]]:
    """Markdown table rows by their first cell."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            parts = [p.strip() for p in line.strip("|").split(" | ")]
            rows[parts[0]] = parts[1:]
    return rows


def test_runs_read_from_exp_show():
    runs = runs_from_exp_show(exp_show_json())
    assert [(r.name, r.kind, r.base_model) for r in runs] == [
        ("workspace", "workspace", LLAMA), ("main", "baseline", QWEN),
        ("llama", "experiment", LLAMA), ("qwen", "experiment", QWEN)]
    assert runs[1].missing == {
        "metrics/transfer.json": "no metrics/transfer.json",
        "metrics/alignment.json": "metrics/alignment.json unreadable (unable to read)"}
    assert runs[2].timestamp == datetime(2026, 12, 2, 3)


def test_joint_table_has_both_base_models_cells():
    text, shown, _ = compare(exp_show_json())
    assert [r.name for r in shown] == ["llama", "qwen"]  # the workspace equals llama
    rows = cells(text)
    assert rows["quantity"] == [f"{LLAMA} (llama)", f"{QWEN} (qwen)"]
    assert f"- {LLAMA}: experiment llama (bbbbbbb), 2026-12-02 03:00:00" in text
    assert rows["English RM − target RM, mean over targets"] == [
        "+3.1 [+0.2, +6.0]", "-5.9 [-13.7, +1.5]"]
    assert rows["English RM − target RM on Korean"] == [
        "+0.0 [-10.0, +10.0]", "-5.0 [-15.0, +5.0]"]
    assert rows["English RM − target RM on Spanish"] == ["+2.0 [-1.0, +5.0]"] * 2
    assert rows["English RM accuracy, mean over targets"] == ["70.0", "70.0"]
    # categories in M-RewardBench order (chat before safety), a zero difference kept
    keys = list(rows)
    assert keys.index("English RM − target RM on Chat, mean over targets") < keys.index(
        "English RM − target RM on Safety, mean over targets")
    assert rows["English RM − target RM on Chat, mean over targets"] == [
        "+0.0 [-2.0, +2.0]"] * 2
    assert rows["alignment headline metric"] == ["verifiable_accuracy"] * 2
    assert rows["English- minus native-labelled DPO, mean over languages"] == [
        "-1.2 [-5.2, +2.8]", "+2.5 [-1.5, +6.5]"]
    assert "workspace has the same params and metrics as llama (bbbbbbb)" in text
    assert "95% bootstrap intervals" in text


def test_missing_metrics_are_dashes_with_the_run_named():
    states = exp_show_json()
    llama = states[1]["experiments"][0]["revs"][0]["data"]["metrics"]
    del llama["metrics/alignment.json"]
    llama["metrics/transfer.json"]["data"] = {"confidence": 0.95,
                                              "no_headline": "no target language"}
    text, _, _ = compare(states, ["qwen", "llama"])
    rows = cells(text)
    assert rows["English RM − target RM, mean over targets"] == ["-5.9 [-13.7, +1.5]", "–"]
    assert rows["English- minus native-labelled DPO, mean over languages"] == [
        "+2.5 [-1.5, +6.5]", "–"]
    assert rows["alignment headline metric"] == ["verifiable_accuracy", "–"]
    assert "llama (bbbbbbb) (meta-llama/Llama-3.2-3B-Instruct): no metrics/alignment.json" \
        in text
    assert "metrics/transfer.json has no headline (no target language)" in text


def test_newest_run_of_a_base_model_is_shown_and_the_others_named():
    states = exp_show_json()
    older = exp("d" * 40, "qwen-lr2", QWEN, both(transfer(0.5, 0.4, 0.6), alignment(9)),
                "2026-12-01T12:00:00", lr=2e-5)
    newer = exp("e" * 40, "qwen-lr3", QWEN, both(transfer(0.2, 0.1, 0.3), alignment(7)),
                "2026-12-02T05:00:00", lr=3e-5)
    states[1]["experiments"] += [older, newer]
    text, shown, _ = compare(states)
    assert [r.name for r in shown] == ["llama", "qwen-lr3"]
    assert (f"{QWEN}: showing qwen-lr3 (eeeeeee), the newest of 3 runs; not shown: "
            "qwen (ccccccc), qwen-lr2 (ddddddd)") in text
    assert cells(text)["English RM − target RM, mean over targets"][1] == "+20.0 [+10.0, +30.0]"


def test_workspace_dated_by_its_metrics_files():
    states = exp_show_json()
    states[0] = state("workspace", QWEN, both(transfer(0.3, 0.2, 0.4), alignment(1)), None)
    shown, notes = select(runs_from_exp_show(states), None, datetime(2026, 12, 2, 2))
    assert [r.name for r in shown] == ["workspace", "llama"]  # workspace newer than qwen
    shown, _ = select(runs_from_exp_show(states), None, datetime(2026, 12, 1))
    assert [r.name for r in shown] == ["qwen", "llama"]


def test_named_runs_with_one_base_model_are_refused():
    states = exp_show_json()
    with pytest.raises(DataError, match="both use base model meta-llama"):
        compare(states, ["llama", "workspace"])
    with pytest.raises(DataError, match="no run named 'mistral'"):
        compare(states, ["mistral"])
    text, shown, _ = compare(states, ["main", "bbbb"])  # a baseline by name, a rev prefix
    assert [r.name for r in shown] == ["main", "llama"]
    assert cells(text)["English RM − target RM, mean over targets"][0] == "–"


def test_unfinished_experiments_left_out():
    states = exp_show_json()
    states[1]["experiments"].append(exp("f" * 40, "qwen-run", QWEN, None,
                                        "2026-12-02T06:00:00", executor={"state": "running"}))
    text, shown, _ = compare(states)
    assert [r.name for r in shown] == ["llama", "qwen"]
    assert "qwen-run (fffffff): left out (running experiment)" in text
    with pytest.raises(DataError, match="running experiment"):
        compare(states, ["qwen-run"])


def test_cli_writes_markdown_and_csv(tmp_path):
    saved = tmp_path / "exp.json"
    saved.write_text(json.dumps(exp_show_json()))
    out = tmp_path / "report" / "compare.md"
    assert main(["--exp-json", str(saved), "--repo", str(tmp_path), "--out", str(out)]) == 0
    assert cells(out.read_text())["English RM − target RM, mean over targets"][0] == \
        "+3.1 [+0.2, +6.0]"
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    mean = next(r for r in rows if r["section"] == "transfer" and r["key"] == "mean")
    assert float(mean[f"{QWEN} value"]) == pytest.approx(-5.9375)
    assert float(mean[f"{QWEN} ci_low"]) == pytest.approx(-13.7298)
    assert float(mean[f"{LLAMA} ci_high"]) == pytest.approx(6.0)
    assert sorted(p.name for p in out.parent.iterdir()) == ["compare.csv", "compare.md"]
    assert main(["--exp-json", str(saved), "--repo", str(tmp_path), "--out", str(out),
                 "nope"]) == 2


# ------------------------------------------------------------------ a real DVC repo

STAGE = """\
import json, os, yaml
p = yaml.safe_load(open("params.yaml"))
d = 0.1 if "llama" in p["base_model"]["source"] else -0.2
m = {"diff": d, "ci_low": d - 0.05, "ci_high": d + 0.05, "en_rm": 0.7, "target_rm": 0.7 - d}
os.makedirs("metrics", exist_ok=True)
json.dump({"confidence": 0.95, "headline": {"source": "en", "mean": m,
           "per_language": {"ko": m}}}, open("metrics/transfer.json", "w"))
json.dump({"confidence": 0.95, "headline": {"metric": "head_to_head",
           "mean": {"diff": d * 10, "ci_low": d * 10 - 1, "ci_high": d * 10 + 1}}},
          open("metrics/alignment.json", "w"))
"""


@pytest.mark.slow
def test_two_dvc_experiments_joined(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    dvc = [sys.executable, "-m", "dvc"]

    def sh(*cmd):
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True, text=True)

    (repo / "stage.py").write_text(STAGE)
    (repo / "params.yaml").write_text(f"base_model:\n  source: {QWEN}\n")
    (repo / "dvc.yaml").write_text(textwrap.dedent(f"""\
        stages:
          fake:
            cmd: {sys.executable} stage.py
            deps: [stage.py]
            params: [base_model]
            metrics:
              - metrics/transfer.json: {{cache: false}}
              - metrics/alignment.json: {{cache: false}}
        """))
    sh("git", "init", "-q")
    sh(*dvc, "init", "-q")
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "init")
    sh(*dvc, "exp", "run", "-n", "qwen")
    sh(*dvc, "exp", "run", "-n", "llama", "-S", f"base_model.source={LLAMA}")
    out = repo / "report" / "compare.md"
    proc = subprocess.run([sys.executable, "-m", "xlrm.compare", "qwen", "llama"], cwd=repo,
                          env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = cells(out.read_text())
    assert rows["quantity"] == [f"{QWEN} (qwen)", f"{LLAMA} (llama)"]
    assert rows["English RM − target RM, mean over targets"] == [
        "-20.0 [-25.0, -15.0]", "+10.0 [+5.0, +15.0]"]
    assert rows["English RM − target RM on Korean"] == [
        "-20.0 [-25.0, -15.0]", "+10.0 [+5.0, +15.0]"]
    assert rows["alignment headline metric"] == ["head_to_head"] * 2
    assert rows["English- minus native-labelled DPO, mean over languages"] == [
        "-2.0 [-3.0, -1.0]", "+1.0 [+0.0, +2.0]"]
    # default selection: the workspace equals llama, so the same two columns
    proc = subprocess.run([sys.executable, "-m", "xlrm.compare", "--out", "all.md"],
                          cwd=repo, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.returncode == 0, proc.stderr
    assert cells((repo / "all.md").read_text())["English RM − target RM, mean over targets"] \
        == ["+10.0 [+5.0, +15.0]", "-20.0 [-25.0, -15.0]"]

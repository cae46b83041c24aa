"""One table joining runs of different base models: the study's side-by-side view
(Llama-3.2-3B and Qwen2.5-3B).

The DVC graph runs one base model (``base_model.source``); each other base model is a DVC
experiment (``dvc exp run -n llama -S base_model.source=...``). This module reads the runs'
params and metrics as ``dvc exp show --json`` gives them, groups the runs by base model and
writes one Markdown table (and a CSV beside it) with a column (group) per base model:

- the transfer headline: source-language (English) RM minus target-language RM, on average
  and per target language, with its CI (``metrics/transfer.json`` ``headline``);
- the same per M-RewardBench category, averaged over targets (``category_diff.mean``);
- the alignment headline: its metric and the English- minus native-labelled difference,
  on average and per language, with its CI (``metrics/alignment.json`` ``headline``).

All numbers are points (transfer accuracies x 100; alignment values are points already).

    python -m xlrm.compare                   # the workspace and every experiment of HEAD
    python -m xlrm.compare qwen llama        # exactly these runs: experiment names, revs,
                                             # "workspace" or a baseline's branch name
    python -m xlrm.compare --out report/compare.md --csv report/compare.csv

Which run a base model's column shows: with runs named on the command line, one run per
base model is required (two named runs with the same base model are an error, naming
both). Without names, runs with identical params and metrics count once (the workspace
after ``dvc exp run`` equals the experiment it made; the experiment's name is kept), and of
the remaining runs of one base model the newest (commit time; the workspace counts at the
time its metrics files were written) is shown; the notes under the table name the others.
Baseline commits enter only when named. Queued, running and failed experiments are left
out (named in the notes), and naming one is an error. A quantity a run
lacks is ``–``, and the notes name the run and the missing file or reason.

``dvc exp show --json`` is used rather than ``dvc.api.exp_show``: the API's flattened rows
turn every falsy value into None (a difference of exactly 0 would read as missing) and
drop the nesting of per-language results.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from xlrm.errors import DataError, XlrmError
from xlrm.io import atomic_path
from xlrm.report.joint import ALIGNMENT, TRANSFER, Row, joint_rows, markdown, write_csv

PARAMS = "params.yaml"
WORKSPACE = "workspace"
DONE = (None, "success")  # executor states of finished experiments


@dataclass
class Run:
    """One row of ``dvc exp show``: the workspace, a baseline commit or an experiment."""
    name: str
    rev: str
    kind: str  # workspace | baseline | experiment
    timestamp: datetime | None
    state: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # path -> data
    missing: dict[str, str] = field(default_factory=dict)  # path -> why it has no data
    error: str | None = None

    @property
    def base_model(self) -> str | None:
        src = (self.params.get("base_model") or {}).get("source")
        return str(src) if src else None

    @property
    def label(self) -> str:
        if self.kind == WORKSPACE or self.name == self.rev[:7]:
            return self.name
        return f"{self.name} ({self.rev[:7]})"


# ------------------------------------------------------------------ reading dvc exp show

def _timestamp(v: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(v) if v else None
    except (TypeError, ValueError):
        return None


def _file_data(files: dict[str, Any] | None, path: str) -> tuple[Any, str | None]:
    """The ``data`` of one file entry of ``params``/``metrics``, or why there is none."""
    entry = (files or {}).get(path)
    if entry is None:
        return None, f"no {path}"
    err = entry.get("error")
    if err:
        if isinstance(err, dict) and err.get("type") == "FileNotFoundError":
            return None, f"no {path}"  # declared in dvc.yaml, not (yet) written
        msg = (err.get("msg") or err.get("type")) if isinstance(err, dict) else str(err)
        return None, f"{path} unreadable ({msg or 'error'})"
    if not isinstance(entry.get("data"), dict):
        return None, f"no {path}"
    return entry["data"], None


def _run(state: dict[str, Any], kind: str, name: str | None = None,
         executor: str | None = None) -> Run:
    rev = str(state.get("rev") or "")
    data = state.get("data") or {}
    run = Run(name=name or state.get("name") or (WORKSPACE if kind == WORKSPACE else rev[:7]),
              rev=rev, kind=kind, timestamp=_timestamp(data.get("timestamp")), state=executor)
    if state.get("error"):
        err = state["error"]
        run.error = err.get("msg") if isinstance(err, dict) else str(err)
    params, why = _file_data(data.get("params"), PARAMS)
    run.params = params or {}
    if why and not run.error:
        run.error = why
    for path in (TRANSFER, ALIGNMENT):
        value, why = _file_data(data.get("metrics"), path)
        if value is None:
            run.missing[path] = why or f"no {path}"
        else:
            run.metrics[path] = value
    return run


def runs_from_exp_show(states: list[dict[str, Any]]) -> list[Run]:
    """Every run in ``dvc exp show --json`` output: each baseline (or the workspace), then
    its experiments (``experiments`` ranges; the first rev of a range is its result)."""
    runs = []
    for st in states:
        kind = WORKSPACE if st.get("rev") == WORKSPACE else "baseline"
        runs.append(_run(st, kind))
        for rng in st.get("experiments") or []:
            revs = rng.get("revs") or []
            if not revs:
                continue
            executor = (rng.get("executor") or {}).get("state")
            runs.append(_run(revs[0], "experiment", rng.get("name") or revs[0].get("name"),
                             executor))
    return runs


def exp_show(repo: Path, all_commits: bool = False) -> list[dict[str, Any]]:
    """``dvc exp show --json`` in ``repo`` (DVC of this interpreter's environment)."""
    cmd = [sys.executable, "-m", "dvc", "exp", "show", "--json", "--hide-queued"]
    if all_commits:
        cmd.append("--all-commits")
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise DataError(f"`dvc exp show --json` failed in {repo}: {' '.join(tail)}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise DataError(f"`dvc exp show --json` printed no JSON: {e}") from e


# ------------------------------------------------------------------ choosing runs

def _matches(run: Run, sel: str) -> bool:
    return (sel == run.name or sel == run.rev
            or (len(sel) >= 4 and run.kind != WORKSPACE and run.rev.startswith(sel)))


def _fingerprint(run: Run) -> str:
    return json.dumps([run.params, run.metrics], sort_keys=True, default=str)


def select(runs: list[Run], wanted: list[str] | None = None,
           workspace_time: datetime | None = None) -> tuple[list[Run], list[str]]:
    """The run shown for each base model, in order of first appearance, and notes on what
    was left out and why. ``workspace_time`` dates the workspace (it has no commit)."""
    notes: list[str] = []
    if wanted:
        chosen = []
        for sel in wanted:
            hits = [r for r in runs if _matches(r, sel)]
            if not hits:
                names = ", ".join(r.name for r in runs) or "none"
                raise DataError(f"no run named {sel!r} in `dvc exp show` (runs: {names})")
            if len({r.rev for r in hits}) > 1:
                raise DataError(f"{sel!r} matches several runs: "
                                + ", ".join(r.label for r in hits))
            if hits[0].state not in DONE:
                raise DataError(f"run {hits[0].label} is a {hits[0].state} experiment")
            if hits[0] not in chosen:
                chosen.append(hits[0])
        pool = chosen
    else:
        pool = []
        for r in runs:
            if r.kind == "baseline":
                continue  # a commit's own results enter only when named
            if r.state not in DONE:
                notes.append(f"{r.label}: left out ({r.state} experiment)")
            else:
                pool.append(r)
    usable = []
    for r in pool:
        if r.error or not r.base_model:
            why = r.error or f"no base_model.source in {PARAMS}"
            if wanted:
                raise DataError(f"run {r.label}: {why}")
            notes.append(f"{r.label}: left out ({why})")
        else:
            usable.append(r)
    groups: dict[str, list[Run]] = {}
    for r in usable:
        groups.setdefault(r.base_model, []).append(r)
    shown = []
    for model, group in groups.items():
        if wanted and len(group) > 1:
            raise DataError(f"runs {' and '.join(r.label for r in group)} both use base model "
                            f"{model}; name one run per base model")
        shown.append(_newest(model, group, workspace_time, notes))
    return shown, notes


def _newest(model: str, group: list[Run], workspace_time: datetime | None,
            notes: list[str]) -> Run:
    rank = {"experiment": 0, "baseline": 1, WORKSPACE: 2}  # the name kept for equal results
    distinct: dict[str, Run] = {}
    for r in sorted(group, key=lambda r: rank.get(r.kind, 3)):
        key = _fingerprint(r)
        if key in distinct:
            notes.append(f"{model}: {r.label} has the same params and metrics as "
                         f"{distinct[key].label}")
        else:
            distinct[key] = r

    def when(r: Run) -> float:  # seconds since the epoch (naive times are local, as DVC's)
        t = workspace_time if r.kind == WORKSPACE else r.timestamp
        return t.timestamp() if t else float("-inf")

    ordered = sorted(distinct.values(), key=when, reverse=True)
    if len(ordered) > 1:
        notes.append(f"{model}: showing {ordered[0].label}, the newest of "
                     f"{len(ordered)} runs; not shown: "
                     + ", ".join(r.label for r in ordered[1:]))
    return ordered[0]


def workspace_time(repo: Path) -> datetime | None:
    """When the workspace's metrics were last written (what dates its results)."""
    times = [(repo / p).stat().st_mtime for p in (TRANSFER, ALIGNMENT) if (repo / p).exists()]
    return datetime.fromtimestamp(max(times)) if times else None


def compare(states: list[dict[str, Any]], wanted: list[str] | None = None,
            workspace_at: datetime | None = None) -> tuple[str, list[Run], list[Row]]:
    """Markdown for ``dvc exp show --json`` output, with the runs and rows behind it."""
    shown, notes = select(runs_from_exp_show(states), wanted, workspace_at)
    if not shown:
        raise DataError("no run with a base model in `dvc exp show`"
                        + (": " + "; ".join(notes) if notes else ""))
    rows = joint_rows(shown)
    return markdown(shown, rows, notes), shown, rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xlrm.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", help="experiment names or revs, or 'workspace' "
                   "(default: the workspace and every experiment of HEAD)")
    p.add_argument("--out", default="report/compare.md", help="Markdown output")
    p.add_argument("--csv", default=None, help="CSV output (default: --out with .csv)")
    p.add_argument("--repo", default=".", help="the DVC repository (default: here)")
    p.add_argument("--all-commits", action="store_true",
                   help="also the experiments of every commit (dvc exp show -A)")
    p.add_argument("--exp-json", default=None,
                   help="read this saved `dvc exp show --json` output instead of running it")
    args = p.parse_args(argv)
    repo = Path(args.repo)
    try:
        if args.exp_json:
            states = json.loads(Path(args.exp_json).read_text(encoding="utf-8"))
        else:
            states = exp_show(repo, args.all_commits)
        text, shown, rows = compare(states, args.runs or None, workspace_time(repo))
        out = Path(args.out)
        csv_path = Path(args.csv) if args.csv else out.with_suffix(".csv")
        with atomic_path(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
        write_csv(csv_path, shown, rows)
    except (XlrmError, OSError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(shown)} base model(s): "
          + ", ".join(f"{r.base_model} = {r.label}" for r in shown)
          + f" -> {out}, {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

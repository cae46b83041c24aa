"""bench/load: time and peak memory of the data stages at the paper's sizes.

Run it through the wrapper (``bench/load --help``); bench/README.md ("Load") has the numbers.
For each size it generates, in a temporary folder, project-made data (never downloaded):

* a parallel training source: ``--train-pairs`` items (86,000 as MP-86k) in the source
  language and in ``--target`` each (xlrm's seed generator, so the target rows pass the
  language check), one JSON-lines file in the normalised pairs schema;
* an evaluation folder in the M-RewardBench schema: ``--eval-pairs`` (2,870) rows in each of
  the 23 M-RewardBench languages (``<FLORES code>.jsonl``);

then runs the three stage scripts as subprocesses under ``bench/peak_rss.sh``, as dvc.yaml
runs them: ``prepare`` (source = the training file), ``translate@<target>`` (``reference``
backend on the prepared train split, language check as the default preset sets it) and
``eval_data`` (source = the evaluation folder, the 23 languages). Each stage's wall time and
peak RSS is recorded per size, and the RSS growth per input row between the smallest and
the largest size. Writes ``bench/out/load.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PAPER_TRAIN_PAIRS = 86_000     # MP-86k
PAPER_EVAL_PAIRS = 2_870       # M-RewardBench: about 2.87k pairs per language
STAGES = ("prepare", "translate", "eval_data")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/load", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", default="0.1,0.5,1.0",
                   help="comma-separated fractions of the paper's sizes")
    p.add_argument("--train-pairs", type=int, default=PAPER_TRAIN_PAIRS,
                   help="training items at size 1.0 (each in the source language and --target)")
    p.add_argument("--eval-pairs", type=int, default=PAPER_EVAL_PAIRS,
                   help="evaluation pairs per language at size 1.0")
    p.add_argument("--target", default="es", help="translate@ target (a seed language)")
    p.add_argument("--eval-languages", default="mrewardbench",
                   help="'mrewardbench' (its 23 languages) or a comma-separated list")
    p.add_argument("--stages", default=",".join(STAGES), help="which stages to run")
    p.add_argument("--no-langid", action="store_true",
                   help="translate without the language check (the default preset has it on)")
    p.add_argument("--keep", type=Path, default=None,
                   help="keep each size's folder (data, params, outputs) under this folder")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "load.json")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- data


def eval_languages(spec: str) -> list[str]:
    from xlrm import languages as langs

    if spec == "mrewardbench":
        return [code for code in langs.LANGUAGES if code != "en"]
    return [langs.check(c.strip()) for c in spec.split(",") if c.strip()]


def _seed_rows(n_items: int, languages: list[str]):
    """Rows of the first ``n_items`` seed items (all subsets), each in ``languages``."""
    from xlrm.data import seed

    per_subset = math.ceil(n_items / 6) if n_items else 0
    rows = seed.generate(0, per_subset, languages)
    keep = sorted({r["id"] for r in rows})[:n_items]
    keep_set = set(keep)
    return [r for r in rows if r["id"] in keep_set]


def write_train_source(path: Path, n_items: int, source: str, target: str) -> int:
    """The parallel training file: ``n_items`` items in ``source`` and ``target``."""
    rows = _seed_rows(n_items, [source, target])
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(rows)


def write_eval_folder(folder: Path, n_per_language: int, languages: list[str]) -> int:
    """One M-RewardBench-schema file per language (FLORES name), ``n_per_language`` rows."""
    from xlrm.languages import flores

    folder.mkdir(parents=True, exist_ok=True)
    rows = _seed_rows(n_per_language, ["en"])
    for lang in languages:
        with open(folder / f"{flores(lang)}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"id": r["id"], "language": flores(lang),
                                    "prompt": r["prompt"][0]["content"], "chosen": r["chosen"],
                                    "rejected": r["rejected"], "subset": r["subset"],
                                    "category": r["category"]}, ensure_ascii=False) + "\n")
    return len(rows) * len(languages)


def write_params(path: Path, train_file: Path, eval_dir: Path, languages: list[str],
                 target: str, langid: bool) -> None:
    import yaml

    params = {
        "languages": ["en", target], "eval_languages": languages,
        "prepare": {"source": str(train_file), "format": "pairs", "test_fraction": 0.1,
                    "split_seed": 42, "on_bad_row": "error"},
        "translate": {"backend": "reference", "source_language": "en", "langid": langid,
                      "langid_fields": ["prompt", "chosen"]},
        "eval_data": {"source": str(eval_dir)},
    }
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


# ---------------------------------------------------------------------------- running


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def run_stage(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Run one stage script under bench/peak_rss.sh; its wall time and peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.update(DVC_ROOT=str(cwd), XLRM_LOG_LEVEL="WARNING", HF_HUB_OFFLINE="1",
               PYTHONPATH=str(REPO) + (os.pathsep + env["PYTHONPATH"]
                                       if env.get("PYTHONPATH") else ""))
    t0 = time.monotonic()
    res = subprocess.run([str(REPO / "bench" / "peak_rss.sh"), sys.executable, *cmd], cwd=cwd,
                         env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    kib = int(res.stdout.rsplit("peak_rss_gib=", 1)[1].split("(")[1].split()[0])
    summary = [line for line in res.stdout.splitlines() if line and "peak_rss_gib=" not in line]
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(kib / 1024, 1),
            "summary": summary[-1] if summary else ""}


def run_size(fraction: float, a: argparse.Namespace, work: Path,
             languages: list[str]) -> dict[str, Any]:
    stages = [s.strip() for s in a.stages.split(",") if s.strip()]
    n_train = max(2, round(a.train_pairs * fraction))
    n_eval = max(1, round(a.eval_pairs * fraction))
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    train_file = data / "pairs.jsonl"
    t0 = time.monotonic()
    source_rows = write_train_source(train_file, n_train, "en", a.target)
    eval_rows = write_eval_folder(data / "eval", n_eval, languages)
    write_params(work / "params.yaml", train_file, data / "eval", languages, a.target,
                 not a.no_langid)
    out: dict[str, Any] = {
        "fraction": fraction, "train_items": n_train, "eval_pairs_per_language": n_eval,
        "generate_s": round(time.monotonic() - t0, 2),
        "inputs": {"prepare_rows": source_rows,
                   "prepare_mib": round(train_file.stat().st_size / 2**20, 1),
                   "eval_rows": eval_rows,
                   "eval_mib": round(sum(p.stat().st_size for p in (data / "eval").iterdir())
                                     / 2**20, 1)},
        "stages": {}}
    stage_dir = REPO / "stages"
    prm = ["--params", str(work / "params.yaml")]
    prepared = work / "prepared"
    if "prepare" in stages:
        r = run_stage([str(stage_dir / "prepare.py"), *prm, "--out-dir", str(prepared),
                       "--metrics", str(work / "prepare.json")], work)
        r["rows_in"] = source_rows
        out["stages"]["prepare"] = r
    if "translate" in stages:
        r = run_stage([str(stage_dir / "translate.py"), *prm, "--lang", a.target,
                       "--prepared", str(prepared / "train.jsonl"),
                       "--out", str(work / "train" / f"{a.target}.jsonl"),
                       "--metrics", str(work / "translate.json")], work)
        r["rows_in"] = count_lines(prepared / "train.jsonl")
        r["rows_out"] = count_lines(work / "train" / f"{a.target}.jsonl")
        out["stages"]["translate"] = r
    if "eval_data" in stages:
        r = run_stage([str(stage_dir / "eval_data.py"), *prm,
                       "--prepared-test", str(prepared / "test.jsonl"),
                       "--out-dir", str(work / "eval")], work)
        r["rows_in"] = eval_rows
        out["stages"]["eval_data"] = r
    return out


def growth(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak-RSS growth per input row between the smallest and the largest size."""
    out = {}
    if len(sizes) < 2:
        return out
    lo, hi = sizes[0], sizes[-1]
    for stage in hi["stages"]:
        if stage not in lo["stages"]:
            continue
        a, b = lo["stages"][stage], hi["stages"][stage]
        rows = b["rows_in"] - a["rows_in"]
        mib = b["peak_rss_mib"] - a["peak_rss_mib"]
        out[stage] = {"rss_growth_mib": round(mib, 1),
                      "bytes_per_row": round(mib * 2**20 / rows) if rows else None,
                      "rss_ratio": round(b["peak_rss_mib"] / a["peak_rss_mib"], 2)}
    return out


def table(result: dict[str, Any]) -> str:
    lines = ["| size | stage | rows in | wall s | peak RSS MiB |", "| --- | --- | --- | --- | --- |"]
    for s in result["sizes"]:
        for stage, r in s["stages"].items():
            lines.append(f"| {s['fraction']:g} | {stage} | {r['rows_in']:,} | {r['wall_s']:.1f} "
                         f"| {r['peak_rss_mib']:.0f} |")
    for stage, g in result["growth"].items():
        lines.append(f"growth {stage}: {g['rss_growth_mib']:+.1f} MiB "
                     f"({g['bytes_per_row']} bytes per input row)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse_args(argv)
    fractions = [float(x) for x in a.sizes.split(",") if x.strip()]
    languages = eval_languages(a.eval_languages)
    result: dict[str, Any] = {
        "command": "bench/load " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average": os.getloadavg()},
        "train_pairs_full": a.train_pairs, "eval_pairs_full": a.eval_pairs,
        "eval_languages": languages, "target": a.target, "langid": not a.no_langid,
        "sizes": []}
    for fraction in sorted(fractions):
        work = Path(tempfile.mkdtemp(prefix=f"xlrm-load-{fraction:g}-"))
        try:
            result["sizes"].append(run_size(fraction, a, work, languages))
            print(f"size {fraction:g}: " + json.dumps(result["sizes"][-1]["stages"]), flush=True)
        finally:
            if a.keep is not None:
                dest = a.keep / f"size-{fraction:g}"
                if dest.exists():
                    shutil.rmtree(dest)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(work), dest)
            else:
                shutil.rmtree(work, ignore_errors=True)
    result["growth"] = growth(result["sizes"])
    result["machine"]["load_average_end"] = os.getloadavg()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(result))
    print(f"-> {a.out}")
    return result


if __name__ == "__main__":
    main()

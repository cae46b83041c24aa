"""bench/run: xlrm's RM scorer, generator, RM training and pipeline machinery on this CPU.

Run it through the wrapper (``bench/run --help``); see bench/README.md for what each
number means. Writes bench/out/latest.json.
"""

from __future__ import annotations

import argparse
import ast
import gc
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402
import bench_trunk  # noqa: E402

REPO = B.REPO
TARGETS = {"scoring_speedup": 2.0, "scoring_decision_agreement": 0.999,
           "generation_speedup": 3.0, "generation_output_agreement": 0.99,
           "padding_fraction": 0.10, "trunk_decision_agreement": 0.999}


# ---------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="about a minute: tiny random model, 200 pairs, 16 prompts, 1 repeat, "
                        "3 training steps, dvc timing skipped")
    p.add_argument("--model", type=Path, default=None,
                   help="base model folder (default: models/base when it exists, else a tiny "
                        "random model built in a temp dir)")
    p.add_argument("--tiny", action="store_true", help="use a tiny random model even if models/base exists")
    p.add_argument("--rm", type=Path, default=None,
                   help="trained RM to score with (full folder or LoRA adapter over --model); "
                        "default: --model with a random score head (seed 0), as eval_rms "
                        "scores the base")
    p.add_argument("--policy", type=Path, default=None,
                   help="causal LM for the generation part (default: --model)")
    p.add_argument("--params", type=Path, default=REPO / "params.yaml",
                   help="params file for train_rm / eval_rm / eval_alpaca settings")
    p.add_argument("--data-dir", type=Path, default=B.DEFAULT_DATA_DIR,
                   help="shared third-party data (llmbar, hh-rlhf, llama-factory); used when present")
    p.add_argument("--real-share", type=float, default=0.5,
                   help="at most this share of the pairs from the shared data, the rest seed rows")
    p.add_argument("--pairs", type=int, default=2000, help="pairs to score (and train on)")
    p.add_argument("--max-length", type=int, default=512,
                   help="pairs with a longer side are left out (no scorer truncates)")
    p.add_argument("--token-budget", type=int, default=None,
                   help="score_pairs token budget (default: params eval_rm.token_budget, else 8192)")
    p.add_argument("--rb-batch-size", type=int, default=8, help="reward-bench batch size (pairs)")
    p.add_argument("--rb-padding-side", choices=["left", "right"], default="left",
                   help="reward-bench pads on the left (rewardbench.py sets padding_side='left')")
    p.add_argument("--rb-literal-text", action="store_true",
                   help="tokenize the rendered text with add_special_tokens=True as reward-bench "
                        "literally does (adds a second BOS to templates that write one: other inputs)")
    p.add_argument("--gen-prompts", type=int, default=64, help="prompts to answer greedily")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="default: params eval_alpaca.max_new_tokens, else 48")
    p.add_argument("--max-prompt-tokens", type=int, default=256)
    p.add_argument("--gen-token-budget", type=int, default=None,
                   help="generate_greedy_texts token budget (default: params eval_alpaca.token_budget, else 8192)")
    p.add_argument("--gen-max-batch", type=int, default=64)
    p.add_argument("--train-steps", type=int, default=6,
                   help="training steps timed per sampling strategy, on batches spread over the "
                        "epoch the sampler forms (plus one warm-up step)")
    p.add_argument("--train-pairs", type=int, default=None, help="default: --pairs")
    p.add_argument("--trunk-rms", default="auto",
                   help="trunk part: comma list of RM folders (LoRA over --model or full), 'synth', "
                        "or 'auto': models/rm/seed*/* when they are LoRA adapters over --model "
                        "on its "
                        "last layers, else synthesized")
    p.add_argument("--trunk-synth", type=int, default=5, help="trunk part: RMs to synthesize")
    p.add_argument("--trunk-pairs", type=int, default=None,
                   help="trunk part: pairs scored by every model both ways (default: --pairs, at most 480)")
    p.add_argument("--repeats", type=int, default=3, help="timings are medians of this many runs")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--skip", default="", help="comma list of parts to skip: scoring,trunk,generation,training,machinery")
    p.add_argument("--no-dvc", action="store_true", help="do not time dvc status / dvc repro")
    p.add_argument("--stages", default=None,
                   help="comma list of stage scripts for the overhead table (default: all)")
    p.add_argument("--rss-cmd", default=None,
                   help="also run this shell command under bench/peak_rss.sh and record its peak RSS")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "latest.json")
    a = p.parse_args(argv)
    if a.quick:
        given = set(argv if argv is not None else sys.argv[1:])

        def default(flag: str, attr: str, value: Any) -> None:
            if not any(g == flag or g.startswith(flag + "=") for g in given):
                setattr(a, attr, value)

        default("--pairs", "pairs", 200)
        default("--gen-prompts", "gen_prompts", 16)
        default("--max-new-tokens", "max_new_tokens", 16)
        default("--repeats", "repeats", 1)
        default("--train-steps", "train_steps", 3)
        default("--stages", "stages", "train_rm,generate")
        if "--model" not in given:
            a.tiny = True
        if "--no-dvc" not in given:
            a.no_dvc = True
    a.skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    return a


def read_params(path: Path) -> dict:
    try:
        import yaml

        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------------- parts


def part_scoring(a, model_dir: Path, params: dict, rows, lengths) -> dict:
    import torch

    from xlrm.modeling import load_reward_model, load_seqcls, load_tokenizer
    from xlrm.reward.score import score_pairs

    tok = load_tokenizer(model_dir)
    if a.rm is not None:
        model = load_reward_model(a.rm, model_dir)
        tok = load_tokenizer(a.rm) if (a.rm / "tokenizer_config.json").exists() else tok
        head = f"trained RM {a.rm}"
    else:
        model = load_seqcls(model_dir, seed=0).eval()
        head = "random score head (seed 0), as eval_rms scores the base"
    budget = a.token_budget or (params.get("eval_rm") or {}).get("token_budget") or 8192
    n_params = sum(p.numel() for p in model.parameters())
    # warm-up (one-time kernel/allocator set-up), then the timed runs
    score_pairs(model, tok, rows[:8], max_length=a.max_length, token_budget=budget)
    B.rb_score_pairs(model, tok, rows[:8], batch_size=a.rb_batch_size, max_length=a.max_length,
                     padding_side=a.rb_padding_side, literal_text=a.rb_literal_text)
    x_s, x_all, (xc, xr, xst) = B.timed(
        lambda: score_pairs(model, tok, rows, max_length=a.max_length, token_budget=budget), a.repeats)
    b_s, b_all, (bc, br, bst) = B.timed(
        lambda: B.rb_score_pairs(model, tok, rows, batch_size=a.rb_batch_size, max_length=a.max_length,
                                 padding_side=a.rb_padding_side, literal_text=a.rb_literal_text),
        a.repeats)
    cmp = B.compare_decisions(rows, lengths, xc, xr, bc, br)
    n = len(rows)
    out = {
        "pairs": n, "head": head, "dtype": str(next(model.parameters()).dtype), "parameters": n_params,
        "xlrm": {"pairs_per_s": n / x_s, "seconds": x_s, "runs_s": x_all, "token_budget": budget,
                 "padding_fraction": B.xlrm_plan_padding(lengths, budget), "tokens": xst.get("tokens")},
        "baseline": {"pairs_per_s": n / b_s, "seconds": b_s, "runs_s": b_all,
                     "what": f"reward-bench loop: batches of {a.rb_batch_size} pairs in data order, "
                             f"chosen then rejected, padding=True ({a.rb_padding_side}), torch.no_grad, "
                             f"model's last-non-pad pooling; tokens "
                             f"{'as reward-bench literally (add_special_tokens=True)' if a.rb_literal_text else 'identical to xlrm (add_special_tokens=False)'}",
                     "padding_fraction": bst["padding_fraction"], "tokens": bst["tokens"]},
        "speedup": b_s / x_s if x_s else None,
        **cmp,
    }
    if not a.rb_literal_text:
        # What reward-bench's literal tokenization would change: a second BOS where the
        # template writes one and the tokenizer adds one too.
        from xlrm.schema import messages_for

        text = tok.apply_chat_template(messages_for(rows[0], rows[0]["chosen"]), tokenize=False)
        ids = tok(text, add_special_tokens=True)["input_ids"]
        out["literal_reward_bench_adds_bos"] = bool(
            tok.bos_token_id is not None and len(ids) > 1 and ids[0] == ids[1] == tok.bos_token_id)
    del model
    gc.collect()
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return out


def part_generation(a, policy_dir: Path, params: dict, rows) -> dict:
    from xlrm.modeling import load_causal, load_tokenizer

    model = load_causal(policy_dir, dtype="float32", device="cpu")
    tok = load_tokenizer(policy_dir, require_pad=False)
    ea = params.get("eval_alpaca") or {}
    max_new = a.max_new_tokens or ea.get("max_new_tokens") or 48
    budget = a.gen_token_budget or ea.get("token_budget") or 8192
    prompts, pinfo = B.generation_prompts(tok, rows, a.gen_prompts, a.max_prompt_tokens)
    B.per_prompt_generate(model, tok, prompts[:1], 2)  # warm-up
    x_s, x_all, (xt, xids, xn) = B.timed(
        lambda: B.xlrm_generate(model, tok, prompts, max_new, budget, a.gen_max_batch), a.repeats)
    b_s, b_all, (bt, bids) = B.timed(lambda: B.per_prompt_generate(model, tok, prompts, max_new), a.repeats)
    bn = [len(x) for x in bids]
    cmp = B.compare_generations(xt, xids, bt, bids)
    out = {
        **pinfo, "max_new_tokens": max_new, "token_budget": budget, "max_batch": a.gen_max_batch,
        "xlrm": {"tokens_per_s": sum(xn) / x_s, "tokens": sum(xn), "seconds": x_s, "runs_s": x_all,
                 "token_counts_exact": xids is not None},
        "baseline": {"tokens_per_s": sum(bn) / b_s, "tokens": sum(bn), "seconds": b_s, "runs_s": b_all,
                     "what": "per-prompt model.generate, greedy, same stop tokens and settings, no padding"},
        "speedup": (sum(xn) / x_s) / (sum(bn) / b_s) if x_s and b_s and sum(bn) else None,
        "identical_outputs": cmp["identical_texts"],
        **cmp,
    }
    del model
    gc.collect()
    return out


def part_training(a, model_dir: Path, params: dict, rows) -> dict:
    from xlrm.reward.config import TrainRMConfig
    from xlrm.sections import load_config

    section = params.get("train_rm") or {"per_device_train_batch_size": 8, "max_length": 256}
    cfg = load_config(TrainRMConfig, section, f"{a.params}: train_rm")
    train_rows = rows[: a.train_pairs or a.pairs]
    out: dict[str, Any] = {"config": {k: v for k, v in cfg.to_params().items()
                                      if k in ("per_device_train_batch_size", "max_length", "lora",
                                               "trainable_layers", "gradient_accumulation_steps",
                                               "pair_padding")}}
    # group_by_length: what train_rm runs (xlrm's whole-epoch length sort, the params'
    # pair_padding); joint: the same with TRL's collator (chosen and rejected padded together);
    # hf_group_by_length: transformers' own mega-batch sampler on the same length column.
    for name, strategy, xlrm_sampler, pair_padding in (
            ("group_by_length", "group_by_length", True, None),
            ("group_by_length_joint", "group_by_length", True, "joint"),
            ("hf_group_by_length", "group_by_length", False, None),
            ("random", "random", True, None)):
        with tempfile.TemporaryDirectory(prefix="xlrm-bench-train-") as tmp:
            trainer, stats = B.rm_trainer(model_dir, train_rows, cfg, strategy=strategy,
                                          out_dir=Path(tmp), max_steps=a.train_steps + 1,
                                          xlrm_sampler=xlrm_sampler, pair_padding=pair_padding)
            pad = B.dataloader_padding(trainer)
            steps = B.timed_training_steps(trainer, n_timed=a.train_steps)
            out[name] = {**pad, **{k: v for k, v in steps.items() if k != "per_step"},
                         "pair_padding": stats["pair_padding"], "per_step": steps["per_step"]}
            out["pairs"] = stats["pairs_kept"]
            out["dropped_too_long"] = stats["dropped_too_long"]
            out["pair_padding_floor_joint"] = stats["pair_padding_floor_joint"]
            del trainer
            gc.collect()
    g, r = out["group_by_length"], out["random"]
    out["tokens_per_s_ratio"] = B.ratio(g["tokens_per_s"], r["tokens_per_s"])
    return out


# ---------------------------------------------------------------------------- machinery


def dvc_processes() -> list[str]:
    """Other dvc commands running in this repo (they hold its lock)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            argv = [x.decode(errors="replace") for x in (d / "cmdline").read_bytes().split(b"\0") if x]
            cwd = os.readlink(d / "cwd")
        except OSError:
            continue
        if any(Path(x).name == "dvc" for x in argv[:2]) and Path(cwd).resolve() == REPO:
            found.append(f"pid {d.name}: {' '.join(argv)}")
    return found


def dvc_bin() -> str | None:
    local = REPO / ".venv" / "bin" / "dvc"
    return str(local) if local.exists() else shutil.which("dvc")


def time_dvc(repeats: int) -> dict:
    others = dvc_processes()
    if others:
        return {"skipped": "another dvc command is running in this repo: " + "; ".join(others)}
    dvc = dvc_bin()
    if dvc is None:
        return {"skipped": "dvc is not installed"}
    env = {**os.environ, "PATH": f"{Path(dvc).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def run(args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([dvc, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)

    status_s, status_all, st = B.timed(lambda: run(["status", "--json"]), repeats)
    out: dict[str, Any] = {"status_s": status_s, "status_runs_s": status_all}
    if st.returncode != 0:
        out["skipped"] = f"dvc status failed: {st.stderr.strip()[-500:]}"
        return out
    try:
        changed = json.loads(st.stdout or "{}")
    except json.JSONDecodeError:
        changed = {"?": st.stdout[-500:]}
    if changed:
        out["skipped"] = "the workspace is not up to date (dvc status lists changes); no-op repro not timed"
        out["changed_stages"] = sorted(changed)[:50]
        return out
    repro_s, repro_all, rp = B.timed(lambda: run(["repro"]), repeats)
    out.update(noop_repro_s=repro_s, repro_runs_s=repro_all, repro_rc=rp.returncode)
    if "Running stage" in rp.stdout:
        out["warning"] = "dvc repro ran stages: it was not a no-op"
    return out


def stage_specs(params: dict | None = None) -> list[dict]:
    """One entry per stage script: its first stage in dvc.yaml as DVC resolves it
    (foreach/matrix items and ${...} interpolation by DVC itself). ``params`` is unused:
    DVC reads params.yaml."""
    from xlrm.dag import resolved_stages

    specs, seen = [], set()
    for st in resolved_stages(REPO):
        if str(st.script) in seen:
            continue
        seen.add(str(st.script))
        specs.append({"stage": st.name, "script": str(st.script), "deps": st.deps})
    return specs


def script_imports(script: Path) -> list[str]:
    """The import statements of a stage script (module level and inside main), as code lines."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            lines.append(ast.unparse(node))
    return lines


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def lazy_packages(import_lines: list[str]) -> list[str]:
    """Third-party packages that the xlrm modules a script imports may import (also lazily)."""
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    todo, seen, third = [], set(), set()
    for line in import_lines:
        node = ast.parse(line).body[0]
        if isinstance(node, ast.Import):
            todo += [a.name for a in node.names]
        elif node.module:
            todo.append(node.module)
            todo += [f"{node.module}.{a.name}" for a in node.names]
    while todo:
        name = todo.pop()
        top = name.split(".")[0]
        if top != "xlrm":
            if top not in stdlib and importlib.util.find_spec(top) is not None:
                third.add(top)
            continue
        if name in seen:
            continue
        seen.add(name)
        f = _module_file(name)
        if f is None:
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                todo += [x.name for x in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                    and node.module != "__future__":
                todo.append(node.module)
                if node.module.startswith("xlrm"):
                    todo += [f"{node.module}.{x.name}" for x in node.names]
    return sorted(third)


def _py_time(code: str, repeats: int, env: dict | None = None) -> float:
    def once():
        r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip()[-400:])
    return B.timed(once, repeats)[0]


def mlflow_overhead(repeats: int) -> dict:
    """Opening and closing one stage run with xlrm.tracking.stage_run, on a copy of mlflow.db."""
    code = (
        "import json, time\n"
        "t0 = time.perf_counter()\n"
        "import mlflow\n"
        "from xlrm.tracking import stage_run\n"
        "t1 = time.perf_counter()\n"
        "with stage_run('bench_overhead', 'x', params={'bench': {'a': 1, 'b': [1, 2], 'c': 'x'}}):\n"
        "    t2 = time.perf_counter()\n"
        "t3 = time.perf_counter()\n"
        "print(json.dumps({'import_s': t1 - t0, 'start_run_s': t2 - t1, 'end_run_s': t3 - t2}))\n")
    runs = []
    with tempfile.TemporaryDirectory(prefix="xlrm-bench-mlflow-") as tmp:
        db = Path(tmp) / "mlflow.db"
        if (REPO / "mlflow.db").exists():
            shutil.copy2(REPO / "mlflow.db", db)  # the real store's size, read-only use of it
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}", "DVC_ROOT": tmp,
               "PYTHONPATH": str(REPO)}
        for _ in range(max(1, repeats)):
            r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                               text=True, timeout=600)
            if r.returncode != 0:
                return {"error": r.stderr.strip()[-500:]}
            runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return {k: B.median([r[k] for r in runs]) for k in runs[0]} | {
        "store": "copy of mlflow.db" if (REPO / "mlflow.db").exists() else "fresh sqlite store"}


def data_load_s(deps: list[str], repeats: int) -> tuple[float | None, list[str]]:
    from xlrm.io import read_jsonl

    files: list[Path] = []
    for d in deps:
        if d.startswith(("stages/", "xlrm/", "models/")):
            continue
        p = REPO / d
        if p.is_dir():
            files += sorted(x for x in p.rglob("*") if x.suffix in (".jsonl", ".json", ".csv"))
        elif p.is_file() and p.suffix in (".jsonl", ".json", ".csv"):
            files.append(p)
    if not files:
        return None, []

    def load():
        for f in files:
            if f.suffix == ".jsonl":
                read_jsonl(f)
            elif f.suffix == ".json":
                json.loads(f.read_text(encoding="utf-8"))
            else:
                f.read_text(encoding="utf-8")
    return B.timed(load, repeats)[0], [str(f.relative_to(REPO)) for f in files][:20]


def part_machinery(a, params: dict) -> dict:
    out: dict[str, Any] = {}
    if a.no_dvc:
        out["dvc"] = {"skipped": "--no-dvc" + (" (--quick)" if a.quick else "")}
    else:
        out["dvc"] = time_dvc(a.repeats)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    startup = _py_time("pass", a.repeats, env)
    mlf = mlflow_overhead(a.repeats)
    out["python_startup_s"] = startup
    out["mlflow"] = mlf
    wanted = {s.strip() for s in a.stages.split(",")} if a.stages else None
    stages = []
    lazy_cache: dict[tuple[str, ...], float] = {}
    for spec in stage_specs(params):
        name = Path(spec["script"]).stem
        if wanted is not None and name not in wanted:
            continue
        lines = script_imports(REPO / spec["script"])
        pkgs = lazy_packages(lines)
        row: dict[str, Any] = {"stage": spec["stage"], "script": spec["script"], "lazy_packages": pkgs}
        try:
            t_script = _py_time("\n".join(lines), a.repeats, env)
            key = tuple(pkgs)
            if key not in lazy_cache:  # stages share package sets: time each set once
                lazy_cache[key] = max(0.0, _py_time("\n".join(f"import {p}" for p in pkgs) or "pass",
                                                    a.repeats, env) - startup)
            row["script_imports_s"] = max(0.0, t_script - startup)
            row["lazy_imports_s"] = lazy_cache[key]
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            row["error"] = str(e)
        dl, files = data_load_s(spec["deps"], a.repeats)
        row["data_load_s"] = dl
        row["data_files"] = files
        # every stage runs under xlrm.stage.Stage, which opens one MLflow run
        row["mlflow_run_s"] = (mlf.get("start_run_s", 0) + mlf.get("end_run_s", 0)) if "error" not in mlf else None
        row["total_s"] = startup + sum(row.get(k) or 0.0 for k in
                                       ("script_imports_s", "lazy_imports_s", "data_load_s", "mlflow_run_s"))
        stages.append(row)
    out["stages"] = stages
    return out


def run_rss_cmd(cmd: str) -> dict:
    script = REPO / "bench" / "peak_rss.sh"
    r = subprocess.run([str(script), "bash", "-c", cmd], cwd=REPO, capture_output=True, text=True)
    m = re.findall(r"peak_rss_gib=([0-9.]+)", r.stdout + r.stderr)
    return {"cmd": cmd, "exit_code": r.returncode, "peak_rss_gib": float(m[-1]) if m else None}


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass
    if a.threads:
        torch.set_num_threads(a.threads)
    params = read_params(a.params)
    t_start = time.perf_counter()
    tmpdirs: list[tempfile.TemporaryDirectory] = []

    default_base = REPO / "models" / "base"
    if a.model is None and not a.tiny and (default_base / "config.json").exists():
        a.model = default_base
    if a.model is None:
        td = tempfile.TemporaryDirectory(prefix="xlrm-bench-tiny-")
        tmpdirs.append(td)
        model_dir = B.build_tiny_model(Path(td.name) / "base")
        kind = "tiny-random"
    else:
        model_dir = a.model.resolve()
        kind = "given" if model_dir != default_base.resolve() else "models/base"
    policy_dir = a.policy.resolve() if a.policy else model_dir
    info = B.model_info(model_dir)
    info["kind"] = kind
    print(f"bench/run: model {model_dir} ({info.get('source') or kind}, "
          f"{info.get('parameters') or '?'} parameters); {torch.get_num_threads()} torch threads; "
          f"repeats {a.repeats}")

    result: dict[str, Any] = {
        "model": info, "policy": str(policy_dir), "rm": str(a.rm) if a.rm else None,
        "args": {k: (str(v) if isinstance(v, Path) else sorted(v) if isinstance(v, set) else v)
                 for k, v in vars(a).items()},
        "env": {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                "python": sys.version.split()[0], "time": time.strftime("%Y-%m-%dT%H:%M:%S")},
        "targets": TARGETS,
    }
    errors: dict[str, str] = {}

    def save() -> None:
        B.write_json(a.out, result)

    rows = lengths = None
    if not {"scoring", "trunk", "generation", "training"} <= a.skip:
        from xlrm.modeling import load_tokenizer

        t0 = time.perf_counter()
        rows, lengths, pool = B.pair_pool(load_tokenizer(model_dir), a.pairs, a.max_length, a.data_dir,
                                          real_share=a.real_share)
        pool["build_s"] = time.perf_counter() - t0
        result["data"] = pool
        print(f"data: {pool['pairs']} pairs ({pool['real_pairs']} shared-data, {pool['seed_pairs']} seed), "
              f"languages {pool['languages']}, tokens/sequence {pool['tokens_per_sequence']}")

    parts = [("scoring", lambda: part_scoring(a, model_dir, params, rows, lengths)),
             ("trunk", lambda: bench_trunk.part_trunk(a, model_dir, params, rows)),
             ("generation", lambda: part_generation(a, policy_dir, params, rows)),
             ("training", lambda: part_training(a, model_dir, params, rows)),
             ("machinery", lambda: part_machinery(a, params))]
    for name, fn in parts:
        if name in a.skip:
            continue
        print(f"-- {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            result[name] = fn()
            if name == "scoring" and not info.get("parameters"):
                info["parameters"] = result[name]["parameters"]
            result[name]["part_wall_s"] = time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - report it and go on with the other parts
            traceback.print_exc()
            errors[name] = f"{type(e).__name__}: {e}"
        save()

    sc, ge, tr, ma = (result.get(k) or {} for k in ("scoring", "generation", "training", "machinery"))
    result.update({
        "scoring_speedup": sc.get("speedup"),
        "scoring_decision_agreement": sc.get("agreement"),
        "generation_speedup": ge.get("speedup"),
        "generation_output_agreement": ge.get("identical_outputs"),
        "padding_fraction": (tr.get("group_by_length") or {}).get("padding_fraction"),
        "padding_fraction_random": (tr.get("random") or {}).get("padding_fraction"),
        "padding_fraction_joint": (tr.get("group_by_length_joint") or {}).get("padding_fraction"),
        "padding_fraction_hf_group_by_length": (tr.get("hf_group_by_length") or {}).get("padding_fraction"),
        "noop_repro_s": (ma.get("dvc") or {}).get("noop_repro_s"),
        "trunk_speedup": (result.get("trunk") or {}).get("speedup"),
        "trunk_decision_agreement": (result.get("trunk") or {}).get("agreement"),
    })
    if a.rss_cmd:
        result["rss_cmd"] = run_rss_cmd(a.rss_cmd)
    rss = B.rss_gib()
    result["peak_rss_gib"] = rss["self"]
    result["peak_rss_children_gib"] = rss["children"]
    result["errors"] = errors
    result["wall_s"] = time.perf_counter() - t_start
    checks = {}
    for k, target in TARGETS.items():
        v = result.get(k)
        checks[k] = None if v is None else (v <= target if k == "padding_fraction" else v >= target)
    result["meets_targets"] = checks
    save()
    report(result)
    for td in tmpdirs:
        td.cleanup()
    print(f"\nwrote {a.out}")
    return 1 if errors else 0


def report(r: dict) -> None:
    sc, ge, tr, ma = (r.get(k) or {} for k in ("scoring", "generation", "training", "machinery"))
    m = r["model"]
    print(f"\n#### xlrm bench: {m.get('source') or m.get('kind')} ({m.get('parameters') or '?'} params), "
          f"{r['env']['threads']} threads, {r['args']['repeats']} repeat(s), medians")
    if sc:
        B.print_table(f"RM scoring: {sc['pairs']} pairs ({sc['head']})", [
            ("xlrm score_pairs  pairs/s", sc["xlrm"]["pairs_per_s"]),
            ("reward-bench loop pairs/s", sc["baseline"]["pairs_per_s"]),
            ("speedup", sc["speedup"]),
            ("same decision (share)", sc["agreement"]),
            ("differing pairs", sc["differing_pairs"]),
            ("max |score diff|", sc["max_abs_score_diff"]),
            ("padding share xlrm / rb", f"{B.fmt(sc['xlrm']['padding_fraction'])} / "
                                        f"{B.fmt(sc['baseline']['padding_fraction'])}"),
        ])
        for d in sc["differing"][:20]:
            print(f"    differs: #{d['index']} {d['id']} [{d['language']}] tokens {d['tokens']} "
                  f"margin xlrm {d['margin_xlrm']:+.3g} vs baseline {d['margin_baseline']:+.3g}")
    if r.get("trunk"):
        B.print_table(f"Shared-trunk scoring: {r['trunk']['pairs']} pairs x {len(r['trunk']['models'])} models",
                      bench_trunk.report_rows(r["trunk"]))
    if ge:
        B.print_table(f"Generation: {ge['prompts']} prompts, {ge['max_new_tokens']} new tokens max", [
            ("generate_greedy_texts tokens/s", ge["xlrm"]["tokens_per_s"]),
            ("per-prompt generate tokens/s", ge["baseline"]["tokens_per_s"]),
            ("speedup", ge["speedup"]),
            ("identical outputs (share)", ge["identical_outputs"]),
        ])
    if tr:
        g, jt, hf, rnd = (tr[k] for k in ("group_by_length", "group_by_length_joint",
                                          "hf_group_by_length", "random"))
        B.print_table(f"RM training: {tr['pairs']} pairs, {tr['config']}", [
            (f"tokens/s group_by_length (xlrm: epoch sort, {g['pair_padding']} padding)", g["tokens_per_s"]),
            ("tokens/s group_by_length (xlrm epoch sort, joint padding)", jt["tokens_per_s"]),
            (f"tokens/s group_by_length (transformers, {hf['pair_padding']})", hf["tokens_per_s"]),
            (f"tokens/s random ({rnd['pair_padding']})", rnd["tokens_per_s"]),
            (f"padding share group_by_length (xlrm: epoch sort, {g['pair_padding']} padding)", g["padding_fraction"]),
            ("padding share group_by_length (xlrm epoch sort, joint padding)", jt["padding_fraction"]),
            (f"padding share group_by_length (transformers, {hf['pair_padding']})", hf["padding_fraction"]),
            (f"padding share random ({rnd['pair_padding']})", rnd["padding_fraction"]),
            ("padding floor of joint padding (chosen+rejected together)", tr["pair_padding_floor_joint"]),
        ])
    if ma:
        d = ma.get("dvc") or {}
        rows = [("dvc status s", d.get("status_s")), ("no-op dvc repro s", d.get("noop_repro_s"))]
        if d.get("skipped"):
            rows.append(("dvc", "skipped: " + d["skipped"]))
        mlf = ma.get("mlflow") or {}
        rows += [("python startup s", ma.get("python_startup_s")),
                 ("mlflow import / start / end s", f"{B.fmt(mlf.get('import_s'))} / "
                                                   f"{B.fmt(mlf.get('start_run_s'))} / {B.fmt(mlf.get('end_run_s'))}")]
        B.print_table("Machinery", rows)
        if ma.get("stages"):
            print(f"  {'stage script':<22} {'imports':>8} {'lazy':>8} {'mlflow':>8} {'data':>8} {'total':>8}")
            for s in ma["stages"]:
                print(f"  {Path(s['script']).stem:<22} {B.fmt(s.get('script_imports_s')):>8} "
                      f"{B.fmt(s.get('lazy_imports_s')):>8} {B.fmt(s.get('mlflow_run_s')):>8} "
                      f"{B.fmt(s.get('data_load_s')):>8} {B.fmt(s.get('total_s')):>8}")
    rows = [("peak RSS self / children GiB", f"{B.fmt(r['peak_rss_gib'])} / {B.fmt(r['peak_rss_children_gib'])}")]
    if r.get("rss_cmd"):
        rows.append((f"peak RSS of `{r['rss_cmd']['cmd']}` GiB", r["rss_cmd"]["peak_rss_gib"]))
    rows += [(f"target {k}", {True: "met", False: "NOT met", None: "-"}[v]) for k, v in r["meets_targets"].items()]
    if r.get("errors"):
        rows += [(f"error in {k}", v) for k, v in r["errors"].items()]
    B.print_table("Summary", rows)


if __name__ == "__main__":
    sys.exit(main())

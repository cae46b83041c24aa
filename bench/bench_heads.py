"""bench/heads: the CPU output-layer paths of the default (Gemma 3 270M's 262k-token head),
each timed with and without xlrm's fix in one run, on the default's own models and data:

- ``merged_generation``: greedy generation of held-out instructions (``eval_alpaca``'s
  settings: its dtype, ``max_new_tokens``, ``token_budget``) by a DPO model loaded the way
  ``eval_alpaca`` loads it (``load_causal``: adapter merged, weights frozen), with
  ``contiguous_lm_head``'s hook and with it removed: seconds, tokens/s, identical replies;
- ``dpo_head``: one whole ``train_dpo`` run (the default's section, ``data/labels/LANG``)
  three ways: TRL's own CPU head (every position, 32768-column tiles), completion tokens
  only, and both of ``cpu_lm_head_tiles``' settings (the default): seconds, seconds inside
  the head's forward and backward, tokens it scored, and the losses.

Writes ``bench/out/heads.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib as B

REPO = B.REPO


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/heads", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--policy", type=Path, default=REPO / "models" / "policy")
    p.add_argument("--dpo", type=Path, default=None,
                   help="a DPO adapter folder (default: the first under models/dpo)")
    p.add_argument("--eval-dir", type=Path, default=REPO / "data" / "eval")
    p.add_argument("--labels", type=Path, default=None,
                   help="a labelled pairs file (default: the first data/labels/*/english.jsonl)")
    p.add_argument("--params", type=Path, default=REPO / "params.yaml")
    p.add_argument("--gen-prompts", type=int, default=16)
    p.add_argument("--repeats", type=int, default=1, help="generation timings: median of N runs")
    p.add_argument("--skip", default="", help="comma list of parts to skip")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "heads.json")
    a = p.parse_args(argv)
    a.skip = set(filter(None, a.skip.split(",")))
    if a.dpo is None:
        a.dpo = next(iter(sorted((REPO / "models" / "dpo").glob("*/adapter_config.json"))),
                     Path("models/dpo/none")).parent
    if a.labels is None:
        a.labels = next(iter(sorted((REPO / "data" / "labels").glob("*/english.jsonl"))),
                        Path("data/labels/none/english.jsonl"))
    return a


def part_merged_generation(a, params: dict) -> dict:
    from xlrm.data.loaders import load_eval_set
    from xlrm.modeling import load_causal, load_tokenizer

    ea = params.get("eval_alpaca") or {}
    dtype = ea.get("dtype", "bfloat16")
    tok = load_tokenizer(a.policy, require_pad=False)
    rows = [r for rs in load_eval_set(a.eval_dir, ["en", "ko"]).values() for r in rs]
    prompts = [[{"role": "user", "content": r["prompt"]}] for r in rows[: a.gen_prompts]]
    out: dict[str, Any] = {"adapter": str(a.dpo), "dtype": dtype, "prompts": len(prompts),
                           "max_new_tokens": ea.get("max_new_tokens", 48)}
    model = load_causal(a.dpo, a.policy, dtype)
    head = model.get_output_embeddings()
    out["frozen_head"] = not head.weight.requires_grad
    texts = {}
    for way in ("contiguous_head", "as_loaded_by_transformers"):
        if way == "as_loaded_by_transformers":
            head._forward_pre_hooks.clear()
        B.xlrm_generate(model, tok, prompts[:1], 4, 4096)  # warm-up
        s, runs, (t, _, n) = B.timed(lambda: B.xlrm_generate(
            model, tok, prompts, out["max_new_tokens"], ea.get("token_budget", 4096)), a.repeats)
        texts[way] = t
        out[way] = {"seconds": s, "runs_s": runs, "tokens": sum(n), "tokens_per_s": sum(n) / s,
                    **B.rss_gib()}
    out["speedup"] = out["as_loaded_by_transformers"]["seconds"] / out["contiguous_head"]["seconds"]
    out["identical_replies"] = sum(x == y for x, y in zip(*texts.values())) / len(prompts)
    del model
    gc.collect()
    return out


def part_dpo_head(a, params: dict) -> dict:
    import xlrm.alignment.dpo as D
    from trl.kernels import chunked_logprob as ck
    from xlrm.alignment.config import TrainDPOConfig
    from xlrm.data.pairs import read_pairs
    from xlrm.sections import load_config

    cfg = load_config(TrainDPOConfig, params.get("train_dpo") or {}, "train_dpo")
    pairs = read_pairs(a.labels)
    F = ck.ChunkedLogProbFunction
    fwd, bwd = F.forward, F.backward
    acc: dict[str, float] = collections.defaultdict(float)

    def timed_fwd(ctx, hidden, *rest):
        t0 = time.perf_counter()
        r = fwd(ctx, hidden, *rest)
        acc["head_forward_s"] += time.perf_counter() - t0
        acc["tokens_scored"] += hidden.shape[0]
        return r

    def timed_bwd(ctx, *rest):
        t0 = time.perf_counter()
        r = bwd(ctx, *rest)
        acc["head_backward_s"] += time.perf_counter() - t0
        return r

    ways = {"trl_cpu_head": dict(compact=False, tile=None),
            "completion_tokens_only": dict(compact=True, tile=None),
            "completion_tokens_and_4096_tiles": dict(compact=True, tile=D.CPU_LM_HEAD_TILE)}
    out: dict[str, Any] = {"labels": str(a.labels), "pairs": len(pairs)}
    saved = D.cpu_lm_head_tiles
    F.forward, F.backward = staticmethod(timed_fwd), staticmethod(timed_bwd)
    try:
        for name, kw in ways.items():
            acc.clear()
            D.cpu_lm_head_tiles = lambda kw=kw: saved(**kw)
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                stats = D.train_dpo(a.policy, pairs, Path(d) / "out", cfg,
                                    scratch_dir=Path(d) / "scratch", seed=0)
                wall = time.perf_counter() - t0
            out[name] = {"seconds": wall, **{k: float(v) for k, v in acc.items()},
                         **{k: stats.get(k) for k in ("train_steps", "first_loss", "last_loss",
                                                      "train_loss", "rewards_accuracies")}}
            gc.collect()
    finally:
        D.cpu_lm_head_tiles = saved
        F.forward, F.backward = fwd, bwd
    base = out["trl_cpu_head"]["seconds"]
    for name in ways:
        out[name]["speedup"] = base / out[name]["seconds"]
    return out


def main(argv=None) -> int:
    a = parse_args(argv)
    B.quiet_offline()
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tempfile.mkdtemp()}/mlflow.db")
    import torch

    for path, what in ((a.policy, "--policy"), (a.dpo, "--dpo"), (a.labels, "--labels")):
        if not path.exists():
            raise SystemExit(f"bench/heads: {path} ({what}) is missing: run `make repro` first")
    from bench_cpu import read_params

    params = read_params(a.params)
    result: dict[str, Any] = {"threads": torch.get_num_threads(), "torch": torch.__version__,
                              "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                              "args": B.args_record(a)}
    B.run_parts("bench/heads", {"merged_generation": lambda: part_merged_generation(a, params),
                                "dpo_head": lambda: part_dpo_head(a, params)},
                a.skip, a.out, result)
    rows: list[tuple[str, Any]] = []
    g = result.get("merged_generation")
    if g:
        rows += [("merged generation s (contiguous head)", g["contiguous_head"]["seconds"]),
                 ("merged generation s (as transformers)", g["as_loaded_by_transformers"]["seconds"]),
                 ("merged generation speedup", g["speedup"]),
                 ("identical replies", g["identical_replies"])]
    d = result.get("dpo_head")
    if d:
        for name in ("trl_cpu_head", "completion_tokens_only", "completion_tokens_and_4096_tiles"):
            rows += [(f"train_dpo s ({name})", d[name]["seconds"]),
                     (f"  head fwd+bwd s", d[name].get("head_forward_s", 0) + d[name].get("head_backward_s", 0)),
                     (f"  tokens scored / train loss", f"{d[name].get('tokens_scored', 0):.0f} / "
                                                      f"{d[name]['train_loss']:.4f}")]
    B.print_table("bench/heads", rows)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

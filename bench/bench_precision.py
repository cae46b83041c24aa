"""bench/precision: float32 against bfloat16 compute on a CPU, side by side in one run, on
the default's own models and data (``models/base``, ``models/rm/seed*/*``, ``data/eval``,
``data/train``), each part timed both ways back to back:

- ``matmul``: the default's two matmul shapes (an MLP projection; the 262k-token output
  layer over a batch of positions), GFLOP/s in each dtype;
- ``scoring``: ``eval_rms``' shared-trunk scoring (``score_pairs_shared``) of the base and
  every RM on the held-out pairs, the models loaded in each dtype (``eval_rm.dtype``):
  seconds, each model's accuracy, and the share of decisions bfloat16 takes as float32 does;
- ``train_rm``: optimizer steps of ``train_rm``'s own trainer with ``bf16: false`` and
  ``bf16: true`` (float32 master weights, bfloat16 autocast), the same batches;
- ``causal_lm``: one forward and backward of the policy over the output layer (what a DPO
  step computes twice per pair), float32 against autocast bfloat16;
- ``generation``: greedy generation of held-out instructions (``generate_greedy_texts``),
  the policy loaded in each dtype: tokens/s and identical replies.

Writes ``bench/out/precision.json`` and prints a table. ``cpu_bf16_native`` says whether
this CPU computes bfloat16 natively (avx512_bf16/AMX): without it expect bfloat16 slower.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib as B

REPO = B.REPO
DTYPES = ("float32", "bfloat16")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/precision", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", type=Path, default=REPO / "models" / "base")
    p.add_argument("--rm-dir", type=Path, default=REPO / "models" / "rm")
    p.add_argument("--eval-dir", type=Path, default=REPO / "data" / "eval")
    p.add_argument("--train-dir", type=Path, default=REPO / "data" / "train")
    p.add_argument("--params", type=Path, default=REPO / "params.yaml")
    p.add_argument("--pairs", type=int, default=0, help="held-out pairs per language (0: all)")
    p.add_argument("--train-steps", type=int, default=8, help="timed train_rm steps per dtype")
    p.add_argument("--lm-batch", type=int, default=4, help="sequences per causal-LM step")
    p.add_argument("--lm-steps", type=int, default=4, help="timed causal-LM steps per dtype")
    p.add_argument("--gen-prompts", type=int, default=16)
    p.add_argument("--repeats", type=int, default=1, help="timings are medians of this many runs")
    p.add_argument("--skip", default="", help="comma list of parts to skip")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "precision.json")
    a = p.parse_args(argv)
    a.skip = set(filter(None, a.skip.split(",")))
    return a


def part_matmul(repeats: int) -> dict:
    import torch

    out = {}
    for name, (m, k, n) in {"mlp_4096x640x2048": (4096, 640, 2048),
                            "lm_head_800x640x262144": (800, 640, 262144)}.items():
        row = {}
        for dt in DTYPES:
            x = torch.randn(m, k).to(getattr(torch, dt))
            w = torch.randn(k, n).to(getattr(torch, dt))
            x @ w  # warm-up
            s, _, _ = B.timed(lambda: x @ w, max(3, repeats))
            row[dt] = {"seconds": s, "gflops": 2 * m * k * n / s / 1e9}
        row["speedup"] = row["float32"]["seconds"] / row["bfloat16"]["seconds"]
        out[name] = row
    return out


def part_scoring(a, params: dict) -> dict:
    import numpy as np

    from xlrm.data.loaders import load_eval_set
    from xlrm.modeling import load_reward_model, load_seqcls, load_tokenizer
    from xlrm.reward import trunk as T
    from xlrm.reward.score import random_heads

    er = params.get("eval_rm") or {}
    langs = params.get("eval_languages") or ["en"]
    sets = load_eval_set(a.eval_dir, langs)
    rows = [r for lang in langs for r in (sets[lang][: a.pairs] if a.pairs else sets[lang])]
    rm_dirs = sorted(p for p in a.rm_dir.glob("seed*/*") if p.is_dir())
    tok = load_tokenizer(a.model)
    out: dict[str, Any] = {"pairs": len(rows), "models": ["base", *(f"{d.parent.name}/{d.name}"
                                                                  for d in rm_dirs)]}
    scores = {}
    for dt in DTYPES:
        base = load_seqcls(a.model, dt).eval()
        text = base.config.get_text_config()
        heads = {"base": random_heads(text.hidden_size, er.get("base_heads", 5),
                                      getattr(text, "initializer_range", 0.02),
                                      er.get("base_head_seed", 0))}
        models = {"base": base}
        split = len(T.backbone(base).layers)
        for d in rm_dirs:
            m = load_reward_model(d, a.model, dt)
            depth, _ = T.shared_depth(base, m)
            split = min(split, depth)
            T.share_trunk(base, m, depth)
            models[f"{d.parent.name}/{d.name}"] = m

        def run():
            return T.score_pairs_shared(models, tok, rows, split=split,
                                        max_length=er.get("max_length", 256),
                                        token_budget=er.get("token_budget", 1024), heads=heads)

        run_small = T.score_pairs_shared(models, tok, rows[:4], split=split, heads=heads)
        del run_small
        s, runs, res = B.timed(run, a.repeats)
        scores[dt] = res
        out[dt] = {"seconds": s, "runs_s": runs, "split": split,
                   "paths": {n: st["trunk"] for n, (_, _, st) in res.items()},
                   "accuracy": {n: float((c > r).mean()) for n, (c, r, _) in res.items()}}
        del models, base
        gc.collect()
    same = total = 0
    max_diff = 0.0
    for n, (c32, r32, _) in scores["float32"].items():
        c16, r16, _ = scores["bfloat16"][n]
        eq = (c32 > r32) == (c16 > r16)
        same, total = same + int(eq.sum()), total + eq.size
        max_diff = max(max_diff, float(np.abs((c32 - r32) - (c16 - r16)).max()))
    out.update({"speedup": out["float32"]["seconds"] / out["bfloat16"]["seconds"],
                "decision_agreement": same / total, "decisions": total,
                "max_abs_margin_diff": max_diff})
    return out


def part_train_rm(a, params: dict) -> dict:
    import dataclasses

    from xlrm.data.pairs import training_rows
    from xlrm.reward.config import TrainRMConfig
    from xlrm.sections import load_config

    section = {k: v for k, v in (params.get("train_rm") or {}).items() if k != "bf16"}
    cfg = load_config(TrainRMConfig, section, f"{a.params}: train_rm")
    rows = training_rows(a.train_dir, "en", params.get("languages") or ["en"])
    out: dict[str, Any] = {"pairs": len(rows)}
    for dt in DTYPES:
        run_cfg = dataclasses.replace(cfg, reward_config={**cfg.reward_config,
                                                           "bf16": dt == "bfloat16"})
        with tempfile.TemporaryDirectory(prefix="xlrm-bench-precision-") as tmp:
            trainer, _ = B.rm_trainer(a.model, rows, run_cfg, strategy="group_by_length",
                                      out_dir=Path(tmp), max_steps=a.train_steps + 1, seed=42)
            steps = B.timed_training_steps(trainer, n_timed=a.train_steps)
            out[dt] = {k: v for k, v in steps.items() if k != "per_step"}
            out[dt]["bf16"] = bool(trainer.args.bf16)
            del trainer
            gc.collect()
    out["speedup"] = B.ratio(out["float32"]["median_step_s"], out["bfloat16"]["median_step_s"])
    return out


def part_causal_lm(a, params: dict) -> dict:
    import torch

    from xlrm.data.loaders import load_eval_set
    from xlrm.modeling import load_causal, load_tokenizer
    from xlrm.schema import messages_for
    from xlrm.training import lora_config

    tok = load_tokenizer(a.model)
    rows = load_eval_set(a.eval_dir, ["en"])["en"][: a.lm_batch]
    texts = [tok.apply_chat_template(messages_for(r, r["chosen"]), tokenize=False) for r in rows]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    td = params.get("train_dpo") or {}
    out: dict[str, Any] = {"batch": list(enc["input_ids"].shape)}
    from peft import get_peft_model

    from xlrm.reward.config import LoraSettings

    for dt in DTYPES:
        model = load_causal(a.model)
        model = get_peft_model(model, lora_config(model, LoraSettings(**(td.get("lora") or {})),
                                                  td.get("trainable_layers", 4), "CAUSAL_LM"))
        model.train()

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dt == "bfloat16"):
                logits = model(**enc).logits
                logp = torch.log_softmax(logits.float(), -1)
            loss = -logp[:, :-1].gather(-1, enc["input_ids"][:, 1:, None]).mean()
            loss.backward()
            model.zero_grad(set_to_none=True)
            return float(loss)

        step()  # warm-up
        s, runs, loss = B.timed(step, a.lm_steps)
        out[dt] = {"median_step_s": s, "runs_s": runs, "loss": loss}
        del model
        gc.collect()
    out["speedup"] = out["float32"]["median_step_s"] / out["bfloat16"]["median_step_s"]
    out["loss_rel_diff"] = abs(out["float32"]["loss"] - out["bfloat16"]["loss"]) / out["float32"]["loss"]
    return out


def part_generation(a, params: dict) -> dict:
    from xlrm.data.loaders import load_eval_set
    from xlrm.modeling import load_causal, load_tokenizer

    tok = load_tokenizer(a.model, require_pad=False)
    ea = params.get("eval_alpaca") or {}
    rows = [r for lang, rs in load_eval_set(a.eval_dir, ["en", "ko"]).items() for r in rs]
    prompts = [[{"role": "user", "content": r["prompt"]}] for r in rows[: a.gen_prompts]]
    out: dict[str, Any] = {"prompts": len(prompts), "max_new_tokens": ea.get("max_new_tokens", 48)}
    texts = {}
    for dt in DTYPES:
        model = load_causal(a.model, dtype=dt)
        B.xlrm_generate(model, tok, prompts[:1], 4, 4096)  # warm-up
        s, runs, (t, _, n) = B.timed(lambda: B.xlrm_generate(
            model, tok, prompts, out["max_new_tokens"], ea.get("token_budget", 4096)), a.repeats)
        texts[dt] = t
        out[dt] = {"seconds": s, "runs_s": runs, "tokens": sum(n), "tokens_per_s": sum(n) / s}
        del model
        gc.collect()
    out["speedup"] = out["bfloat16"]["tokens_per_s"] / out["float32"]["tokens_per_s"]
    out["identical_replies"] = sum(x == y for x, y in zip(texts["float32"], texts["bfloat16"])) / len(prompts)
    return out


def main(argv=None) -> int:
    a = parse_args(argv)
    B.quiet_offline()
    import torch

    from xlrm.modeling import cpu_bf16_native

    if not (a.model / "config.json").exists():
        raise SystemExit(f"bench/precision: {a.model} is not a model folder (run `make repro` "
                         "for the default's models/base, or pass --model)")
    from bench_cpu import read_params

    params = read_params(a.params)
    result: dict[str, Any] = {"model": str(a.model), "threads": torch.get_num_threads(),
                              "torch": torch.__version__, "cpu_bf16_native": cpu_bf16_native(),
                              "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                              "args": B.args_record(a)}
    B.run_parts("bench/precision", {
        "matmul": lambda: part_matmul(a.repeats), "scoring": lambda: part_scoring(a, params),
        "train_rm": lambda: part_train_rm(a, params),
        "causal_lm": lambda: part_causal_lm(a, params),
        "generation": lambda: part_generation(a, params)}, a.skip, a.out, result)
    rows = [("cpu computes bf16 natively", result["cpu_bf16_native"]),
            ("torch threads", result["threads"])]
    for name, row in result.get("matmul", {}).items():
        if isinstance(row, dict):
            rows.append((f"matmul {name} GFLOP/s fp32 / bf16 (x)",
                         f"{row['float32']['gflops']:.0f} / {row['bfloat16']['gflops']:.0f} "
                         f"({row['speedup']:.2f}x)"))
    if "scoring" in result:
        s = result["scoring"]
        rows += [(f"scoring {len(s['models'])} models x {s['pairs']} pairs s fp32 / bf16 (x)",
                  f"{s['float32']['seconds']:.1f} / {s['bfloat16']['seconds']:.1f} ({s['speedup']:.2f}x)"),
                 ("  same decision bf16 vs fp32", f"{s['decision_agreement']:.4f} of {s['decisions']}")]
        rows += [(f"  accuracy {n} fp32 / bf16", f"{s['float32']['accuracy'][n]:.3f} / "
                                                 f"{s['bfloat16']['accuracy'][n]:.3f}") for n in s["models"]]
    for name in ("train_rm", "causal_lm"):
        if name in result:
            r = result[name]
            rows.append((f"{name} median step s fp32 / bf16 (x)",
                         f"{r['float32']['median_step_s']:.2f} / {r['bfloat16']['median_step_s']:.2f} "
                         f"({r['speedup']:.2f}x)"))
    if "generation" in result:
        g = result["generation"]
        rows += [("generation tokens/s fp32 / bf16 (x)",
                  f"{g['float32']['tokens_per_s']:.1f} / {g['bfloat16']['tokens_per_s']:.1f} "
                  f"({g['speedup']:.2f}x)"), ("  identical replies", g["identical_replies"])]
    B.print_table("float32 vs bfloat16 on this CPU", rows)
    print(f"-> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

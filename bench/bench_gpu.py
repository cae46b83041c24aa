"""bench/gpu: RM training MFU, eval pairs/s and generation tokens/s on one GPU.

Needs no hub and no xlrm data: the models are randomly initialised from a Qwen2 config of
the chosen size, the tokenizer is xlrm's tiny BPE trained on the spot on its seed text,
and the eval/generation inputs are xlrm's generated seed pairs (five languages).
Run through the wrapper (``bench/gpu --help``); see bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

# Qwen2.5 shapes (tied embeddings for the small ones, as released).
SIZES: dict[str, dict[str, Any]] = {
    "0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                 intermediate_size=8960, vocab_size=151936, tie_word_embeddings=True),
    "3b": dict(hidden_size=2048, num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
               intermediate_size=11008, vocab_size=151936, tie_word_embeddings=True),
    "smoke": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=128, vocab_size=None, tie_word_embeddings=False),
}
# Dense bf16 tensor-core peaks (no sparsity), matched on torch.cuda.get_device_name().
PEAK_BF16 = [("H200", 989e12), ("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12),
             ("GH200", 989e12), ("A100", 312e12), ("L40S", 362e12), ("A10G", 70e12), ("L4", 121e12)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/gpu", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--size", choices=[k for k in SIZES if k != "smoke"], default="1.5b",
                   help="Qwen2.5-shaped random model")
    p.add_argument("--dry-run", action="store_true",
                   help="check imports, print the plan and parameter counts (meta device), run nothing")
    p.add_argument("--cpu-smoke", action="store_true",
                   help="everything end to end on the CPU with a tiny model (seconds)")
    p.add_argument("--precision", choices=["amp", "bf16"], default="amp",
                   help="training: amp = fp32 weights + bf16 autocast (Trainer's bf16=True); "
                        "bf16 = pure bf16 weights and optimizer states")
    p.add_argument("--attn", default=None,
                   help="attention implementation (default: flash_attention_2 if flash_attn imports, else sdpa)")
    p.add_argument("--train-pairs", default="8,16,32",
                   help="pairs per training step (2x sequences); a comma list is a sweep, reported "
                        "each and headlined by the best MFU")
    p.add_argument("--train-sweep-s", type=float, default=150,
                   help="stop the --train-pairs sweep once its configurations took this long")
    p.add_argument("--seq-len", type=int, default=512, help="tokens per training sequence")
    p.add_argument("--train-steps", type=int, default=10, help="timed training steps")
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--eval-pairs", type=int, default=2048)
    p.add_argument("--eval-token-budget", type=int, default=65536)
    p.add_argument("--gen-prompts", type=int, default=256)
    p.add_argument("--gen-baseline-prompts", type=int, default=16,
                   help="prompts of the per-prompt model.generate baseline (a subset: it is slow)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--gen-token-budget", type=int, default=131072)
    p.add_argument("--gen-max-batch", type=int, default=64)
    p.add_argument("--infer-dtype", choices=["bf16", "fp32"], default="bf16",
                   help="weights dtype of the eval and generation models (fp32 checks exactness)")
    p.add_argument("--repeats", type=int, default=3, help="timings are medians of this many runs")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="override the dense bf16 peak used for MFU (TFLOP/s)")
    p.add_argument("--budget-s", type=float, default=420,
                   help="skip the remaining parts once this much wall time has passed")
    p.add_argument("--skip", default="", help="comma list: train,eval,gen,vllm,sharded")
    p.add_argument("--out", type=Path, default=B.REPO / "bench" / "out" / "gpu.json")
    a = p.parse_args(argv)
    a.skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    try:
        a.train_pairs = [int(x) for x in str(a.train_pairs).split(",") if x.strip()]
    except ValueError:
        p.error(f"--train-pairs: comma list of integers, not {a.train_pairs!r}")
    if not a.train_pairs or min(a.train_pairs) < 1:
        p.error("--train-pairs: at least one positive integer")
    if a.cpu_smoke:
        a.size = "smoke"
        a.precision = "fp32"
        a.train_pairs, a.seq_len, a.train_steps, a.warmup_steps = [2, 4], 64, 2, 1
        a.eval_pairs, a.eval_token_budget = 24, 4096
        a.gen_prompts, a.gen_baseline_prompts, a.max_new_tokens = 6, 3, 8
        a.repeats = 1
    return a


def peak_flops(name: str, override: float | None) -> tuple[float | None, str]:
    if override:
        return override * 1e12, f"--peak-tflops {override:g}"
    for key, val in PEAK_BF16:
        if key.lower() in name.lower():
            return val, f"{key}: {val / 1e12:g} TFLOP/s dense bf16 (spec sheet, no sparsity)"
    return None, f"unknown device {name!r}: pass --peak-tflops for MFU"


def make_config(size: str, tok, attn: str):
    from transformers import Qwen2Config

    shape = dict(SIZES[size])
    if shape["vocab_size"] is None:
        shape["vocab_size"] = len(tok)
    cfg = Qwen2Config(**shape, max_position_embeddings=4096, rope_theta=1e6,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, num_labels=1)
    cfg.bench_attn = attn
    return cfg


def build(cls, cfg, device: str, dtype):
    import torch

    torch.manual_seed(0)
    with torch.device(device):
        model = cls.from_config(cfg, dtype=dtype, attn_implementation=cfg.bench_attn)
    return model


def count_params(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight.numel()
    return {"total": total, "embedding": emb, "non_embedding": total - emb}


# ---------------------------------------------------------------------------- parts


def part_train(a, cfg, device: str, peak: float | None, sync) -> dict:
    import torch

    wdtype = torch.bfloat16 if a.precision == "bf16" else torch.float32
    # TF32 for the fp32 parts of mixed precision (as training setups enable it); only here:
    # in eval/generation it would make fp32 batched and unbatched results differ.
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = device == "cuda"
    try:
        sweep, t0 = [], time.perf_counter()
        for pairs in a.train_pairs:
            if sweep and time.perf_counter() - t0 > a.train_sweep_s:
                break
            sweep.append(_train(a, cfg, device, peak, sync, wdtype, pairs))
            if sweep[-1].get("oom_retries"):  # larger batches would not fit either
                break
        key = "mfu_6n" if peak else "tokens_per_s"
        best = max(sweep, key=lambda r: r[key] or 0.0)
        return {**best, "sweep": [{k: r[k] for k in ("pairs_per_step", "tokens_per_s", "mfu_6n",
                                                      "mfu_6n_attn", "step_s", "max_memory_gib")
                                   if k in r} for r in sweep]}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


def _train(a, cfg, device: str, peak: float | None, sync, wdtype, pairs: int) -> dict:
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForSequenceClassification

    model = build(AutoModelForSequenceClassification, cfg, device, wdtype)
    model.train()
    n = count_params(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device == "cuda")
    amp = a.precision == "amp" and device == "cuda"
    out: dict[str, Any] = {"params": n, "precision": a.precision, "seq_len": a.seq_len}
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    while True:
        try:
            g = torch.Generator(device="cpu").manual_seed(0)
            ids = torch.randint(10, cfg.vocab_size, (2 * pairs, a.seq_len), generator=g)
            ids[ids == cfg.pad_token_id] += 1
            ids = ids.to(device)
            mask = torch.ones_like(ids)

            def step():
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                    r = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, 0].float()
                loss = -F.logsigmoid(r[:pairs] - r[pairs:]).mean()
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                return loss

            for _ in range(a.warmup_steps):
                step()
            sync()
            t0 = time.perf_counter()
            for _ in range(a.train_steps):
                step()
            sync()
            dt = time.perf_counter() - t0
            break
        except torch.OutOfMemoryError:
            opt.zero_grad(set_to_none=True)
            gc.collect()
            torch.cuda.empty_cache()
            if pairs <= 1:
                raise
            pairs //= 2
            out.setdefault("oom_retries", 0)
            out["oom_retries"] += 1
    tokens = 2 * pairs * a.seq_len * a.train_steps
    tps = tokens / dt
    attn_dim = cfg.num_attention_heads * (cfg.hidden_size // cfg.num_attention_heads)
    # causal attention matmuls (QK^T, AV): forward 2*2*T*d/2 per token and layer, x3 with backward
    attn_flops_per_token = 6 * cfg.num_hidden_layers * a.seq_len * attn_dim
    out.update(pairs_per_step=pairs, tokens_per_step=2 * pairs * a.seq_len, steps=a.train_steps,
               step_s=dt / a.train_steps, tokens_per_s=tps,
               achieved_tflops_6n=6 * n["non_embedding"] * tps / 1e12,
               achieved_tflops_6n_attn=(6 * n["non_embedding"] + attn_flops_per_token) * tps / 1e12,
               mfu_6n=(6 * n["non_embedding"] * tps / peak) if peak else None,
               mfu_6n_attn=((6 * n["non_embedding"] + attn_flops_per_token) * tps / peak) if peak else None,
               mfu_6n_total_params=(6 * n["total"] * tps / peak) if peak else None)
    if device == "cuda":
        out["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    del model, opt
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def part_eval(a, cfg, tok, device: str, dtype, rows, lengths, sync) -> dict:
    from transformers import AutoModelForSequenceClassification

    from xlrm.reward.score import score_pairs

    model = build(AutoModelForSequenceClassification, cfg, device, dtype).eval()
    # warm-up on a slice big enough to see the plan's batch shapes (kernel choice, allocator)
    score_pairs(model, tok, rows[:256], token_budget=a.eval_token_budget)
    B.rb_score_pairs(model, tok, rows[:64])
    n = len(rows)
    x_s, x_all, (xc, xr, xst) = B.timed(
        lambda: score_pairs(model, tok, rows, token_budget=a.eval_token_budget), a.repeats, sync)
    b_s, b_all, (bc, br, bst) = B.timed(lambda: B.rb_score_pairs(model, tok, rows), 1, sync)
    cmp = B.compare_decisions(rows, lengths, xc, xr, bc, br, limit=20)
    out = {"pairs": n, "dtype": str(dtype), "token_budget": a.eval_token_budget,
           "tokens": xst.get("tokens"), "pairs_per_s": n / x_s, "runs_s": x_all,
           "baseline_pairs_per_s": n / b_s, "speedup": b_s / x_s,
           "agreement": cmp["agreement"], "differing_pairs": cmp["differing_pairs"],
           "max_abs_score_diff": cmp["max_abs_score_diff"],
           "padding_fraction": B.xlrm_plan_padding(lengths, a.eval_token_budget),
           "baseline_padding_fraction": bst["padding_fraction"]}
    del model
    return out


def part_gen(a, cfg, tok, device: str, dtype, rows, sync) -> tuple[dict, Any]:
    from transformers import AutoModelForCausalLM

    model = build(AutoModelForCausalLM, cfg, device, dtype).eval()
    prompts, pinfo = B.generation_prompts(tok, rows, a.gen_prompts, 256)
    # warm-up: one full-size batch, a few tokens (kernel choice, allocator growth)
    B.xlrm_generate(model, tok, prompts[:a.gen_max_batch], 4, a.gen_token_budget, a.gen_max_batch)
    B.per_prompt_generate(model, tok, prompts[:1], 4)
    x_s, x_all, (xt, xids, xn) = B.timed(
        lambda: B.xlrm_generate(model, tok, prompts, a.max_new_tokens, a.gen_token_budget,
                                a.gen_max_batch), a.repeats, sync)
    k = min(a.gen_baseline_prompts, len(prompts))
    b_s, _, (bt, bids) = B.timed(lambda: B.per_prompt_generate(model, tok, prompts[:k], a.max_new_tokens),
                                 1, sync)
    bn = sum(len(x) for x in bids)
    # A random model's ids are mostly beyond the tiny tokenizer's vocabulary (decoded as
    # nothing), so outputs are compared as token ids.
    cmp = B.compare_generations(xt[:k], xids[:k] if xids is not None else None, bt, bids, limit=5)
    out = {**pinfo, "max_new_tokens": a.max_new_tokens, "dtype": str(dtype),
           "token_budget": a.gen_token_budget, "max_batch": a.gen_max_batch,
           "tokens": sum(xn), "tokens_per_s": sum(xn) / x_s, "runs_s": x_all,
           "token_counts_exact": xids is not None,
           "baseline_prompts": k, "baseline_tokens_per_s": bn / b_s if b_s else None,
           "speedup": (sum(xn) / x_s) / (bn / b_s) if b_s and bn else None,
           "identical_outputs_on_baseline_prompts": cmp["identical_token_ids"]
           if cmp["identical_token_ids"] is not None else cmp["identical_texts"],
           "first_divergence_step_median": cmp.get("first_divergence_step_median")}
    return out, (model, prompts)


def part_vllm(a, model, tok, prompts, sync) -> dict:
    try:
        import vllm  # noqa: F401
        from vllm import LLM, SamplingParams
    except ImportError as e:
        return {"available": False, "note": f"vllm is missing ({e}); pip install vllm on the GPU machine"}
    from xlrm.generation.prompts import render_prompt_ids, stop_token_ids

    with tempfile.TemporaryDirectory(prefix="xlrm-bench-vllm-") as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        stop = stop_token_ids(tok, getattr(model, "generation_config", None))
        del model
        gc.collect()
        import torch

        torch.cuda.empty_cache()
        llm = LLM(model=tmp, tokenizer=tmp, dtype="bfloat16", seed=0, gpu_memory_utilization=0.5,
                  max_model_len=2048)
        reqs = [{"prompt_token_ids": render_prompt_ids(tok, m)} for m in prompts]
        # detokenize=False: a random model's ids mostly lie beyond the tiny tokenizer's vocabulary
        sp = SamplingParams(temperature=0.0, max_tokens=a.max_new_tokens, stop_token_ids=stop,
                            detokenize=False)
        llm.generate(reqs[:2], sampling_params=sp, use_tqdm=False)
        t_s, runs, outs = B.timed(lambda: llm.generate(reqs, sampling_params=sp, use_tqdm=False),
                                  a.repeats, sync)
        n_tok = sum(len([t for t in o.outputs[0].token_ids if t not in set(stop)]) for o in outs)
        return {"available": True, "version": vllm.__version__, "tokens": n_tok,
                "tokens_per_s": n_tok / t_s, "runs_s": runs}


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    t_start = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import xlrm.generation.hf  # noqa: F401  (fail early when xlrm does not import)
    import xlrm.reward.score  # noqa: F401
    import xlrm.reward.train  # noqa: F401

    cuda = torch.cuda.is_available() and not a.cpu_smoke
    device = "cuda" if cuda else "cpu"
    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    peak, peak_note = peak_flops(name, a.peak_tflops) if cuda else (None, "CPU: no MFU")
    attn = a.attn
    if attn is None:
        try:
            import flash_attn  # noqa: F401

            attn = "flash_attention_2"
        except ImportError:
            attn = "sdpa"
    try:
        import vllm  # noqa: F401

        vllm_note = f"vllm {vllm.__version__}"
    except ImportError:
        vllm_note = "vllm missing"
    result: dict[str, Any] = {
        "device": name, "peak_bf16_flops": peak, "peak_assumption": peak_note, "attn_implementation": attn,
        "size": a.size, "torch": torch.__version__, "transformers": transformers.__version__,
        "vllm_package": vllm_note, "args": {k: (str(v) if isinstance(v, Path) else sorted(v) if isinstance(v, set) else v)
                                    for k, v in vars(a).items()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(f"bench/gpu: {name}; {peak_note}; attention {attn}; {vllm_note}; torch {torch.__version__}, "
          f"transformers {transformers.__version__}", flush=True)
    if not cuda and not a.cpu_smoke and not a.dry_run:
        print("no CUDA device: use --cpu-smoke (tiny, CPU) or --dry-run", file=sys.stderr)
        return 2

    from xlrm.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer(512)
    cfg = make_config(a.size, tok, attn)
    if a.dry_run:
        from transformers import AutoModelForSequenceClassification

        with torch.device("meta"):
            m = AutoModelForSequenceClassification.from_config(cfg)
        result["params"] = count_params(m)
        result["dry_run"] = True
        print(f"plan: {a.size} Qwen2-shaped model, {result['params']['total'] / 1e9:.2f}B parameters "
              f"({result['params']['non_embedding'] / 1e9:.2f}B non-embedding); train {a.train_pairs} pairs x "
              f"{a.seq_len} tokens x 2, {a.warmup_steps}+{a.train_steps} steps ({a.precision}); eval "
              f"{a.eval_pairs} pairs; generation {a.gen_prompts} prompts x {a.max_new_tokens} tokens "
              f"(baseline {a.gen_baseline_prompts}); budget {a.budget_s:g} s")
        B.write_json(a.out, result)
        print(f"wrote {a.out}")
        return 0

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    infer_dtype = torch.bfloat16 if cuda and a.infer_dtype == "bf16" else torch.float32
    rows = B.seed_rows(a.eval_pairs)
    import random

    random.Random(0).shuffle(rows)
    rows = rows[: a.eval_pairs]
    lengths = B.conversation_lengths(tok, rows)
    errors: dict[str, str] = {}

    def left() -> float:
        return a.budget_s - (time.perf_counter() - t_start)

    def run(part: str, fn, min_left: float = 20.0):
        if part in a.skip:
            return None
        if left() < min_left:
            result[part] = {"skipped": f"time budget ({a.budget_s:g} s) spent"}
            print(f"-- {part}: skipped, budget spent", flush=True)
            return None
        print(f"-- {part} ({left():.0f} s of budget left) ...", flush=True)
        t0 = time.perf_counter()
        try:
            r = fn()
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            errors[part] = f"{type(e).__name__}: {e}"
            return None
        if isinstance(r, tuple):
            r, extra = r
        else:
            extra = None
        r["part_wall_s"] = time.perf_counter() - t0
        result[part] = r
        B.write_json(a.out, result)
        return extra

    run("train", lambda: part_train(a, cfg, device, peak, sync))
    run("eval", lambda: part_eval(a, cfg, tok, device, infer_dtype, rows, lengths, sync))
    held = run("gen", lambda: part_gen(a, cfg, tok, device, infer_dtype, rows, sync))
    if "vllm" not in a.skip:
        if held is not None and cuda:
            model, prompts = held
            held = None
            run("vllm", lambda: part_vllm(a, model, tok, prompts, sync), min_left=60.0)
        elif "vllm" not in result:
            result["vllm"] = {"available": "vllm" in vllm_note and "missing" not in vllm_note,
                              "note": vllm_note if cuda else "not run on CPU"}
    held = None
    if cuda:  # the training stages under ZeRO-3 / FSDP2 launches (bench/gpu_sharded.py)
        from gpu_sharded import part_sharded
        from transformers import AutoModelForCausalLM

        def sharded() -> dict:
            small = make_config("0.5b", tok, attn)
            return part_sharded(build(AutoModelForCausalLM, small, "cpu", torch.float32), tok, rows)

        run("sharded", sharded, min_left=120.0)
    elif "sharded" not in a.skip:
        result["sharded"] = {"note": "not run on CPU (ZeRO-3 and FSDP2 launches need a GPU)"}
    result["errors"] = errors
    result["wall_s"] = time.perf_counter() - t_start
    if cuda:
        result["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    B.write_json(a.out, result)
    report(result)
    print(f"\nwrote {a.out}")
    return 1 if errors else 0


def report(r: dict) -> None:
    tr, ev, ge, vl = (r.get(k) or {} for k in ("train", "eval", "gen", "vllm"))
    print(f"\n#### xlrm GPU bench: {r['device']}, {r['size']} random Qwen2, attention {r['attn_implementation']}")
    print(f"  peak for MFU: {r['peak_assumption']}")
    rows: list[tuple[str, Any]] = []
    if tr.get("tokens_per_s"):
        p = tr["params"]
        rows += [("train params (non-embedding)", f"{p['total'] / 1e9:.2f}B ({p['non_embedding'] / 1e9:.2f}B)"),
                 ("train step", f"{tr['pairs_per_step']} pairs x 2 x {tr['seq_len']} tokens, {tr['precision']}"),
                 ("train tokens/s", tr["tokens_per_s"]),
                 ("train MFU (6N, non-embedding N)", tr["mfu_6n"]),
                 ("train MFU (6N + attention)", tr["mfu_6n_attn"]),
                 ("train peak memory GiB", tr.get("max_memory_gib"))]
        for sw in tr.get("sweep") or []:
            rows.append((f"  sweep: {sw['pairs_per_step']} pairs tokens/s / MFU",
                         f"{B.fmt(sw['tokens_per_s'])} / {B.fmt(sw.get('mfu_6n'))}"))
    elif tr:
        rows.append(("train", tr.get("skipped", "failed")))
    if ev.get("pairs_per_s"):
        rows += [("eval pairs/s (score_pairs)", ev["pairs_per_s"]),
                 ("eval pairs/s (reward-bench loop)", ev["baseline_pairs_per_s"]),
                 ("eval speedup / same decisions", f"{B.fmt(ev['speedup'])} / {B.fmt(ev['agreement'])}")]
    if ge.get("tokens_per_s"):
        rows += [("gen tokens/s hf (generate_greedy_texts)", ge["tokens_per_s"]),
                 (f"gen tokens/s per-prompt ({ge['baseline_prompts']} prompts)", ge["baseline_tokens_per_s"]),
                 ("gen speedup / identical outputs", f"{B.fmt(ge['speedup'])} / "
                                                      f"{B.fmt(ge['identical_outputs_on_baseline_prompts'])}")]
    if vl:
        rows.append(("gen tokens/s vllm", vl.get("tokens_per_s") if vl.get("tokens_per_s") else
                     vl.get("note") or vl.get("skipped") or "-"))
    for k, v in (r.get("errors") or {}).items():
        rows.append((f"error in {k}", v))
    rows.append(("wall s", r.get("wall_s")))
    B.print_table("Results", rows)


if __name__ == "__main__":
    sys.exit(main())

"""bench/run's ``trunk`` part: N reward models (the base with random heads, as ``eval_rms``
scores it, plus k RMs) scored on the same pairs two ways, side by side in one run:

- **per model** (``eval_rms`` with ``eval_rm.shared_trunk: false``): ``score_pairs`` once per
  model, every model computing all its layers;
- **shared trunk** (``eval_rms``' default): ``xlrm.reward.trunk.score_pairs_shared``, the
  layers below the first trainable one computed once per batch, then each model's own top.

RMs: the default's adapters (``models/rm/seed*/*``, when they are LoRA over ``--model`` on the last
layers), else ``--trunk-rms`` folders, else k synthesized ones (the base with noise on its
top layers, final norm and a fresh head: only what training changes).
"""

from __future__ import annotations

import copy
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib as B

REPO = B.REPO


def adapter_split(rm_dir: Path, model_dir: Path, n_layers: int, same_base: bool = True) -> int | None:
    """First adapted layer of a LoRA adapter (over ``model_dir`` by its config, with
    ``same_base``) whose layers run to the top (the default's ``trainable_layers``), or
    ``None`` when ``rm_dir`` is not one. Whether the trunk is shared is checked later, on
    the loaded weights."""
    path = Path(rm_dir) / "adapter_config.json"
    if not path.exists():
        return None
    cfg = json.loads(path.read_text(encoding="utf-8"))
    base = Path(cfg.get("base_model_name_or_path") or "")
    if same_base and Path(model_dir).resolve() not in ((REPO / base).resolve(), base.resolve()):
        return None
    layers = sorted(cfg.get("layers_to_transform") or [])
    if not layers or layers != list(range(layers[0], n_layers)):
        return None
    return layers[0]


def find_rms(a, model_dir: Path, n_layers: int) -> tuple[list[Path], int | None]:
    """``--trunk-rms`` folders, or (``auto``) the default's ``models/rm/seed*/*`` adapters when
    all sit over ``model_dir`` on the same top layers; and their split."""
    if a.trunk_rms not in ("auto", "synth"):
        dirs = [Path(p) for p in a.trunk_rms.split(",") if p]
    elif a.trunk_rms == "auto" and (REPO / "models" / "rm").is_dir():
        dirs = sorted(p for p in (REPO / "models" / "rm").glob("seed*/*") if p.is_dir())
    else:
        return [], None
    splits = {adapter_split(d, model_dir, n_layers, same_base=a.trunk_rms == "auto") for d in dirs}
    if a.trunk_rms == "auto" and (not dirs or None in splits or len(splits) != 1):
        return [], None
    return dirs, (splits.pop() if len(splits) == 1 else None)


def synth_rm(base, split: int, seed: int):
    """The base with its top layers, final norm and score head perturbed (relative noise)."""
    import torch

    from xlrm.reward.trunk import backbone

    rm = copy.deepcopy(base)
    g = torch.Generator().manual_seed(seed)
    bb = backbone(rm)
    with torch.no_grad():
        for p in [*(p for layer in bb.layers[split:] for p in layer.parameters()),
                  *bb.norm.parameters(), *rm.score.parameters()]:
            scale = p.float().std().item() if p.numel() > 1 else 1.0
            p += (0.05 * (scale or 1.0) * torch.randn(p.shape, generator=g)).to(p.dtype)
    return rm


def _agreement(per: dict, shared: dict) -> dict:
    import numpy as np

    same = total = 0
    max_diff = 0.0
    by_model = {}
    for name, (fc, fr, _) in per.items():
        sc, sr, _ = shared[name]
        eq = (np.asarray(fc) > np.asarray(fr)) == (np.asarray(sc) > np.asarray(sr))
        d = float(max(np.abs(fc - sc).max(), np.abs(fr - sr).max())) if eq.size else 0.0
        by_model[name] = {"agreement": float(eq.mean()), "max_abs_score_diff": d,
                          "accuracy": float((np.asarray(fc) > np.asarray(fr)).mean())}
        same, total, max_diff = same + int(eq.sum()), total + eq.size, max(max_diff, d)
    return {"agreement": same / total if total else None, "decisions": total,
            "max_abs_score_diff": max_diff, "by_model": by_model}


def cache_cost(ref, tok, rows, split: int, max_length, budget: int, limit_mb: float = 16.0) -> dict:
    """What a trunk cached on disk holds: the trunk states of each sequence's real tokens,
    written and read back for the first batches (up to ``limit_mb``)."""
    import numpy as np
    import torch

    from xlrm.reward.score import padded_batches
    from xlrm.reward.tokens import encode_conversations
    from xlrm.reward.trunk import trunk_states
    from xlrm.schema import messages_for

    convs = [messages_for(r, r["chosen"]) for r in rows] + [messages_for(r, r["rejected"]) for r in rows]
    ids, _ = encode_conversations(tok, convs, max_length)
    chunks, size = [], 0
    device = next(ref.parameters()).device
    with torch.inference_mode():
        for batch, inp, mask in padded_batches(ids, tok.pad_token_id, budget):
            h = trunk_states(ref, inp.to(device), mask.to(device), split).float().cpu().numpy()
            chunks += [h[j, : len(ids[i])] for j, i in enumerate(batch)]
            size += sum(c.nbytes for c in chunks[-len(batch):])
            if size > limit_mb * 2**20:
                break
    flat = np.concatenate(chunks)
    with tempfile.TemporaryDirectory(prefix="xlrm-bench-trunk-") as tmp:
        path = Path(tmp) / "trunk.npy"
        t0 = time.perf_counter()
        np.save(path, flat)
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        np.load(path).sum()
        read_s = time.perf_counter() - t0
        written = path.stat().st_size
    tokens = sum(len(x) for x in ids)
    hidden = flat.shape[-1]
    per_pair = tokens / len(rows)
    bytes_1000x5 = per_pair * 1000 * 5 * hidden * 4
    return {"hidden": hidden, "tokens": tokens, "tokens_per_pair": per_pair, "dtype": "float32",
            "bytes_per_pair": per_pair * hidden * 4, "sample_bytes": written,
            "write_mb_per_s": written / 2**20 / write_s, "read_mb_per_s": written / 2**20 / read_s,
            "bytes_1000_pairs_x5_languages": bytes_1000x5,
            "bytes_1000_pairs_x5_languages_bf16": bytes_1000x5 / 2,
            "read_s_1000_pairs_x5_languages": bytes_1000x5 / (written / read_s)}


def part_trunk(a, model_dir: Path, params: dict, rows) -> dict:
    import torch

    from xlrm.modeling import load_reward_model, load_seqcls, load_tokenizer
    from xlrm.reward import trunk as T
    from xlrm.reward.score import random_heads, score_pairs

    er = params.get("eval_rm") or {}
    budget = a.token_budget or er.get("token_budget") or 8192
    max_length = er.get("max_length", a.max_length)
    rows = rows[: a.trunk_pairs or min(len(rows), 480)]
    tok = load_tokenizer(model_dir)
    base = load_seqcls(model_dir, seed=0).eval()
    text = base.config.get_text_config()
    heads = random_heads(text.hidden_size, er.get("base_heads", 5),
                         getattr(text, "initializer_range", 0.02), er.get("base_head_seed", 0))
    n_layers = len(T.backbone(base).layers)
    trainable = ((params.get("train_rm") or {}).get("trainable_layers")) or 4
    dirs, split = find_rms(a, model_dir, n_layers)
    models: dict[str, Any] = {"base": base}
    load_s, verify = {}, {}
    if dirs:
        source = "adapters " + ", ".join(str(d) for d in dirs)
        split = split if split is not None else T.split_layer(base, trainable)
    else:
        split = max(1, n_layers - min(trainable, n_layers - 1))
        source = f"{a.trunk_synth} synthesized (noise on layers {split}..{n_layers - 1}, norm, head)"

    def verified(name, m):
        # each RM's trunk shared with the base as soon as it is loaded: one copy in memory
        t0 = time.perf_counter()
        verify[name] = {"difference": T.share_trunk(base, m, split),
                        "seconds": time.perf_counter() - t0}
        models[name] = m
        gc.collect()

    for d in dirs:
        t0 = time.perf_counter()
        m = load_reward_model(d, model_dir)
        load_s[d.name] = time.perf_counter() - t0
        verified(d.name, m)
    for i in range(0 if dirs else a.trunk_synth):
        verified(f"synth{i}", synth_rm(base, split, seed=100 + i))
    t0 = time.perf_counter()
    fingerprint = T.trunk_fingerprint(base, split)
    fingerprint_s = time.perf_counter() - t0
    own = {"base": heads}

    def per_model():
        out, secs = {}, {}
        for name, m in models.items():
            t0 = time.perf_counter()
            out[name] = score_pairs(m, tok, rows, max_length=max_length, token_budget=budget,
                                    heads=own.get(name))
            secs[name] = time.perf_counter() - t0
        return out, secs

    def shared():
        return T.score_pairs_shared(models, tok, rows, split=split, max_length=max_length,
                                    token_budget=budget, heads=own)

    # warm-up, then the timed runs, both ways on the same pairs
    per_model_small = {n: score_pairs(m, tok, rows[:4], max_length=max_length, token_budget=budget,
                                      heads=own.get(n)) for n, m in models.items()}
    del per_model_small
    T.score_pairs_shared(models, tok, rows[:4], split=split, max_length=max_length,
                         token_budget=budget, heads=own)
    from xlrm.reward.tokens import encode_conversations
    from xlrm.schema import messages_for

    t0 = time.perf_counter()
    encode_conversations(tok, [messages_for(r, r[side]) for side in ("chosen", "rejected")
                               for r in rows], max_length)
    tokenize_s = time.perf_counter() - t0
    p_s, p_all, (per, per_secs) = B.timed(per_model, a.repeats)
    s_s, s_all, sh = B.timed(shared, a.repeats)
    cmp = _agreement(per, sh)
    trunk_s = next(iter(sh.values()))[2]["trunk_seconds"]
    top_s = {n: st["top_seconds"] for n, (_, _, st) in sh.items()}
    rm_names = [n for n in models if n != "base"] or ["base"]
    full_rm = sum(per_secs[n] for n in rm_names) / len(rm_names)
    out = {
        "pairs": len(rows), "models": list(models), "rms": source, "layers": n_layers,
        "split": split, "shared_layers": split, "own_layers": n_layers - split,
        "token_budget": budget, "max_length": max_length, "dtype": str(next(base.parameters()).dtype),
        "threads": torch.get_num_threads(),
        "paths": {n: st["trunk"] for n, (_, _, st) in sh.items()},
        "verify": verify, "fingerprint_s": fingerprint_s, "fingerprint": fingerprint[:16],
        "rm_load_s": load_s,
        "per_model": {"seconds": p_s, "runs_s": p_all, "by_model_s": per_secs,
                      "pairs_per_s_per_model": len(rows) * len(models) / p_s},
        "shared": {"seconds": s_s, "runs_s": s_all, "trunk_s": trunk_s, "top_s": top_s,
                   "pairs_per_s_per_model": len(rows) * len(models) / s_s},
        "speedup": p_s / s_s if s_s else None,
        # of one RM's per-model scoring (shared_trunk: false): the trunk (computed once when
        # shared), its own top layers, and the rest (tokenizing, batching, pooling, heads)
        "eval_rm_split": {"full_scoring_s": full_rm, "trunk_s": trunk_s,
                          "top_s": sum(top_s[n] for n in rm_names) / len(rm_names),
                          "tokenize_s": tokenize_s,
                          "trunk_share": trunk_s / full_rm if full_rm else None,
                          "model_load_s": (sum(load_s.values()) / len(load_s)) if load_s else None},
        **cmp,
        "cache": cache_cost(base, tok, rows, split, max_length, budget),
    }
    del models, base
    gc.collect()
    return out


def report_rows(tk: dict) -> list[tuple[str, Any]]:
    es, c = tk["eval_rm_split"], tk["cache"]
    return [
        ("models (base + RMs)", f"{len(tk['models'])}: {tk['rms']}"),
        ("layers shared / own", f"{tk['shared_layers']} / {tk['own_layers']}"),
        ("paths", ", ".join(f"{n}: {p}" for n, p in tk["paths"].items())),
        ("per-model score_pairs s (all models)", tk["per_model"]["seconds"]),
        ("shared trunk s (all models)", tk["shared"]["seconds"]),
        ("  of which trunk s (once)", tk["shared"]["trunk_s"]),
        ("speedup", tk["speedup"]),
        ("same decision (share)", tk["agreement"]),
        ("max |score diff|", tk["max_abs_score_diff"]),
        ("one RM today: scoring s / trunk share", f"{B.fmt(es['full_scoring_s'])} / {B.fmt(es['trunk_share'])}"),
        ("one RM: top layers s / tokenizing s / load s",
         f"{B.fmt(es['top_s'])} / {B.fmt(es['tokenize_s'])} / {B.fmt(es['model_load_s'])}"),
        ("verify s per RM / fingerprint s", f"{B.fmt(max((v['seconds'] for v in tk['verify'].values()), default=None))} / "
                                            f"{B.fmt(tk['fingerprint_s'])}"),
        ("cached trunk: tokens/pair, MB per 1000x5 (fp32 / bf16)",
         f"{B.fmt(c['tokens_per_pair'])}, {c['bytes_1000_pairs_x5_languages'] / 1e6:.0f} / "
         f"{c['bytes_1000_pairs_x5_languages_bf16'] / 1e6:.0f}"),
        ("cached trunk: read s for 1000x5", c["read_s_1000_pairs_x5_languages"]),
    ]

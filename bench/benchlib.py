"""Shared helpers of ``bench/run`` (CPU) and ``bench/gpu``: data, baselines, timing.

Nothing here is part of the ``xlrm`` package or its tests' contract; it measures xlrm's
public functions against the way the field usually does the same job:

* RM scoring: reward-bench's loop (fixed batches of 8 pairs in data order; the chosen
  texts of a batch tokenized with ``padding=True`` (to the batch's longest) and run through
  the sequence-classification model, then the rejected texts; the reward is the model's own
  pooled logit at the last non-pad token).
* Generation: a plain per-prompt ``model.generate`` loop with the same greedy settings.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/gpu runs from a bare checkout, without `pip install -e`
    sys.path.insert(0, str(REPO))

DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"
LANGUAGES = ("en", "es", "it", "ko", "zh")


# ---------------------------------------------------------------------------- small utils


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def timed(fn: Callable[[], Any], repeats: int, sync: Callable[[], None] | None = None
          ) -> tuple[float, list[float], Any]:
    """Run ``fn`` ``repeats`` times; return (median seconds, all seconds, last result)."""
    times, result = [], None
    for _ in range(max(1, repeats)):
        if sync:
            sync()
        t0 = time.perf_counter()
        result = fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return median(times), times, result


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def fmt(x: Any, nd: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if x != x:
            return "nan"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.{nd}g}" if abs(x) < 1 else f"{x:.{nd}f}".rstrip("0").rstrip(".")
    return str(x)


def print_table(title: str, rows: list[tuple[str, Any]]) -> None:
    print(f"\n== {title}")
    width = max((len(k) for k, _ in rows), default=10)
    for k, v in rows:
        print(f"  {k:<{width}}  {fmt(v) if not isinstance(v, str) else v}")


def rss_gib() -> dict[str, float]:
    """Peak resident set size of this process and of its finished children, in GiB."""
    import resource

    scale = 1024 ** 3 if sys.platform == "darwin" else 1024 ** 2  # bytes on macOS, KiB on Linux
    return {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale,
            "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale}


def quiet_offline() -> None:
    """A bench's set-up: the hub offline, and transformers' warnings and bars silenced."""
    for k, v in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                 "TOKENIZERS_PARALLELISM": "false"}.items():
        os.environ.setdefault(k, v)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def args_record(a: Any) -> dict[str, Any]:
    """An argparse namespace as JSON values (paths as strings, sets sorted)."""
    return {k: str(v) if isinstance(v, Path) else sorted(v) if isinstance(v, set) else v
            for k, v in vars(a).items()}


def run_parts(prog: str, parts: dict[str, Callable[[], dict]], skip: set[str], out: Path,
              result: dict[str, Any]) -> dict[str, Any]:
    """Run each part not in ``skip`` into ``result[name]`` (with its ``part_wall_s``),
    rewriting ``out`` after each, so a killed bench keeps the parts it finished."""
    for name, fn in parts.items():
        if name in skip:
            continue
        t0 = time.perf_counter()
        print(f"{prog}: {name} ...", flush=True)
        result[name] = fn()
        result[name]["part_wall_s"] = time.perf_counter() - t0
        write_json(out, result)
    return result


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- models


def build_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """A tiny random Llama base (xlrm's ``tiny-random`` source) saved to ``out_dir``."""
    from xlrm.base_model import BaseModelConfig, prepare_base_model

    if not (out_dir / "config.json").exists():
        prepare_base_model(BaseModelConfig(source="tiny-random", seed=seed), out_dir)
    return out_dir


def model_info(path: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"path": str(path)}
    meta = path / "xlrm_base.json"
    if meta.exists():
        try:
            m = json.loads(meta.read_text(encoding="utf-8"))
            info.update(source=m.get("source"), parameters=m.get("parameters"),
                        model_type=m.get("model_type"))
        except (OSError, json.JSONDecodeError):
            pass
    return info


# ---------------------------------------------------------------------------- data


def seed_rows(n_pairs: int, languages: Sequence[str] = LANGUAGES) -> list[dict]:
    """At least ``n_pairs`` rows of xlrm's generated parallel seed set, in all ``languages``."""
    from xlrm.data import seed

    per_item = 6 * len(languages)
    items = max(1, -(-n_pairs // per_item))
    return seed.generate(seed=0, items_per_subset=items, languages=list(languages))


def real_rows(data_dir: Path | None) -> tuple[list[dict], dict[str, int]]:
    """Third-party pairs from the shared data folder, when present (llmbar, hh-rlhf, llama-factory)."""
    if data_dir is None or not Path(data_dir).is_dir():
        return [], {}
    from xlrm.data.loaders import load_preferences

    data_dir = Path(data_dir)
    sources = [(data_dir / "llmbar", "en"),
               (data_dir / "hh-rlhf" / "harmless-base-test.jsonl.gz", "en"),
               (data_dir / "llama-factory" / "dpo_en_demo.json", "en"),
               (data_dir / "llama-factory" / "dpo_zh_demo.json", "zh")]
    rows, counts = [], {}
    for path, lang in sources:
        if not path.exists():
            continue
        try:
            got, _ = load_preferences(path, language=lang, on_bad_row="skip")
        except Exception as e:  # noqa: BLE001 - a benchmark keeps going without that source
            print(f"  (skipping {path}: {type(e).__name__}: {e})", file=sys.stderr)
            continue
        counts[path.name] = len(got)
        rows.extend(got)
    return rows, counts


def conversation_lengths(tok, rows: Sequence[dict]) -> list[tuple[int, int]]:
    """(chosen, rejected) token counts of each pair as xlrm renders them."""
    from xlrm.reward.tokens import render_ids
    from xlrm.schema import messages_for

    return [(len(render_ids(tok, messages_for(r, r["chosen"]))),
             len(render_ids(tok, messages_for(r, r["rejected"])))) for r in rows]


def pair_pool(tok, n_pairs: int, max_length: int, data_dir: Path | None, *,
              real_share: float = 0.5, seed: int = 0) -> tuple[list[dict], list[tuple[int, int]], dict]:
    """``n_pairs`` preference pairs of mixed lengths and languages, in a shuffled order.

    Up to ``real_share`` of them are third-party pairs (when the shared data is present),
    the rest xlrm's seed rows in five languages. Pairs with a side longer than
    ``max_length`` tokens are left out, so no scorer has to truncate (xlrm truncates from
    the left, reward-bench from the right or not at all: that would compare truncation,
    not batching).
    """
    rng = random.Random(seed)
    real, real_counts = real_rows(data_dir)
    rng.shuffle(real)
    n_real_target = int(n_pairs * real_share) if real else 0
    chosen_real: list[tuple[dict, tuple[int, int]]] = []
    too_long = 0
    for row in real:
        if len(chosen_real) >= n_real_target:
            break
        (lc, lr), = conversation_lengths(tok, [row])
        if max(lc, lr) > max_length:
            too_long += 1
            continue
        chosen_real.append((row, (lc, lr)))
    need = n_pairs - len(chosen_real)
    seeds = seed_rows(int(need * 1.1) + 30)
    rng.shuffle(seeds)
    chosen_seed = []
    for row in seeds:
        if len(chosen_seed) >= need:
            break
        (lc, lr), = conversation_lengths(tok, [row])
        if max(lc, lr) > max_length:
            too_long += 1
            continue
        chosen_seed.append((row, (lc, lr)))
    both = chosen_real + chosen_seed
    rng.shuffle(both)
    rows = [r for r, _ in both]
    lengths = [ln for _, ln in both]
    langs: dict[str, int] = {}
    for r in rows:
        langs[r["language"]] = langs.get(r["language"], 0) + 1
    flat = sorted(x for ln in lengths for x in ln)
    info = {"pairs": len(rows), "real_pairs": len(chosen_real), "seed_pairs": len(chosen_seed),
            "real_sources": real_counts, "left_out_too_long": too_long, "languages": langs,
            "max_length": max_length,
            "tokens_per_sequence": {"min": flat[0] if flat else 0, "median": median(flat),
                                    "max": flat[-1] if flat else 0,
                                    "mean": (sum(flat) / len(flat)) if flat else 0}}
    return rows, lengths, info


# ---------------------------------------------------------------------------- RM scoring


def rb_score_pairs(model, tok, rows: Sequence[dict], *, batch_size: int = 8,
                   max_length: int = 512, padding_side: str = "left", literal_text: bool = False,
                   device: Any = None) -> tuple[Any, Any, dict]:
    """Score pairs the way reward-bench does (``rewardbench`` package, sequence classifiers).

    The conversations are rendered to text with the chat template
    (``apply_chat_template(tokenize=False)``, as reward-bench prepares its data set); then,
    per batch of ``batch_size`` pairs in data order, the chosen texts are tokenized with
    ``padding=True`` (to the batch's longest; reward-bench pads on the left) and passed
    through the model under ``torch.no_grad()``, whose sequence-classification head pools
    the logit of the last non-pad token; then the same for the rejected texts.

    ``literal_text=False`` tokenizes with ``add_special_tokens=False`` so the token ids are
    exactly those xlrm scores (only batching and padding differ); ``True`` is reward-bench's
    literal call, which adds the tokenizer's BOS again to templates that already write one
    (a second BOS for Gemma), i.e. other inputs.
    """
    import numpy as np
    import torch

    from xlrm.schema import messages_for

    device = device or next(model.parameters()).device
    texts_c = [tok.apply_chat_template(messages_for(r, r["chosen"]), tokenize=False) for r in rows]
    texts_r = [tok.apply_chat_template(messages_for(r, r["rejected"]), tokenize=False) for r in rows]
    old_side = tok.padding_side
    tok.padding_side = padding_side
    out_c, out_r = [], []
    padded = real = 0
    try:
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                for texts, out in ((texts_c, out_c), (texts_r, out_r)):
                    enc = tok(texts[start:start + batch_size], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt",
                              add_special_tokens=literal_text, return_token_type_ids=False)
                    real += int(enc["attention_mask"].sum())
                    padded += int(enc["attention_mask"].numel())
                    enc = {k: v.to(device) for k, v in enc.items()}
                    logits = model(**enc).logits
                    out.append(logits[:, 0].float().cpu())
    finally:
        tok.padding_side = old_side
    c = torch.cat(out_c).numpy().astype(np.float64)
    r = torch.cat(out_r).numpy().astype(np.float64)
    return c, r, {"pairs": len(rows), "tokens": real, "padded_tokens": padded,
                  "padding_fraction": 1 - real / padded if padded else 0.0}


def xlrm_plan_padding(lengths: Sequence[tuple[int, int]], token_budget: int) -> float:
    """Padding share of the batches ``score_pairs`` forms (all 2N sequences by length)."""
    from xlrm.reward.score import length_batches

    flat = [c for c, _ in lengths] + [r for _, r in lengths]
    real = padded = 0
    for b in length_batches(flat, token_budget):
        ls = [flat[i] for i in b]
        real += sum(ls)
        padded += max(ls) * len(ls)
    return 1 - real / padded if padded else 0.0


def compare_decisions(rows: Sequence[dict], lengths: Sequence[tuple[int, int]], xc, xr, bc, br,
                      limit: int = 200) -> dict:
    """Share of pairs on which both scorers prefer the same side, and the pairs that differ."""
    import numpy as np

    xc, xr, bc, br = (np.asarray(a, dtype=np.float64) for a in (xc, xr, bc, br))
    dx, db = xc > xr, bc > br
    same = dx == db
    diff_idx = np.flatnonzero(~same)
    listed = []
    for i in diff_idx[:limit]:
        r = rows[i]
        listed.append({"index": int(i), "id": r.get("id"), "language": r.get("language"),
                       "source": r.get("source"), "tokens": list(lengths[i]),
                       "margin_xlrm": float(xc[i] - xr[i]), "margin_baseline": float(bc[i] - br[i])})
    absdiff = np.abs(np.concatenate([xc - bc, xr - br]))
    margins = np.abs(xc - xr)
    return {"agreement": float(same.mean()) if len(same) else float("nan"),
            "differing_pairs": int((~same).sum()), "differing": listed,
            "accuracy_xlrm": float(dx.mean()), "accuracy_baseline": float(db.mean()),
            "max_abs_score_diff": float(absdiff.max()) if absdiff.size else 0.0,
            "mean_abs_score_diff": float(absdiff.mean()) if absdiff.size else 0.0,
            "median_abs_margin": float(np.median(margins)) if margins.size else 0.0,
            "pairs_with_abs_margin_below_max_score_diff":
                int((margins < (absdiff.max() if absdiff.size else 0)).sum())}


# ---------------------------------------------------------------------------- generation


def greedy_generation_config(max_new_tokens: int, stop_ids: Sequence[int], pad_id: int):
    """The greedy settings xlrm's HF generator pins (so the baseline uses the same)."""
    from transformers import GenerationConfig

    return GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, num_return_sequences=1,
        temperature=1.0, top_p=1.0, top_k=50, repetition_penalty=1.0, no_repeat_ngram_size=0,
        min_length=0, eos_token_id=list(stop_ids) or None, pad_token_id=pad_id)


def _cut(ids: list[int], stop: set[int]) -> list[int]:
    for j, t in enumerate(ids):
        if t in stop:
            return ids[:j]
    return ids


def per_prompt_generate(model, tok, messages_list: Sequence[list[dict]], max_new_tokens: int
                        ) -> tuple[list[str], list[list[int]]]:
    """The baseline: one plain greedy ``model.generate`` call per prompt, no padding."""
    import torch

    from xlrm.generation.prompts import render_prompt_ids, stop_token_ids

    stop_ids = stop_token_ids(tok, getattr(model, "generation_config", None))
    pad = tok.pad_token_id if tok.pad_token_id is not None else (stop_ids[0] if stop_ids else 0)
    cfg = greedy_generation_config(max_new_tokens, stop_ids, pad)
    device = next(model.parameters()).device
    stop = set(stop_ids)
    texts, replies = [], []
    with torch.inference_mode():
        for msgs in messages_list:
            ids = render_prompt_ids(tok, msgs)
            inp = torch.tensor([ids], dtype=torch.long, device=device)
            out = model.generate(input_ids=inp, attention_mask=torch.ones_like(inp),
                                 generation_config=cfg)
            new = _cut(out[0, len(ids):].tolist(), stop)
            texts.append(tok.decode(new, skip_special_tokens=True))
            replies.append(new)
    return texts, replies


def xlrm_generate(model, tok, messages_list: Sequence[list[dict]], max_new_tokens: int,
                  token_budget: int, max_batch: int = 64
                  ) -> tuple[list[str], list[list[int]] | None, list[int]]:
    """``generate_greedy_texts`` as is, keeping each reply's token ids on the way.

    The ids come from the Completions that ``hf_generate_batches`` yields (watched, not
    changed). If a refactor stops routing through it, the ids are None and the token
    counts (third value) are re-tokenized from the texts.
    """
    import xlrm.generation.hf as G

    got: dict[int, list[int]] = {}
    orig = G.hf_generate_batches

    def spy(*a, **k):
        for batch in orig(*a, **k):
            for i, c in batch:
                got[i] = list(c.token_ids)
            yield batch

    G.hf_generate_batches = spy
    try:
        texts = list(G.generate_greedy_texts(model, tok, messages_list, max_new_tokens=max_new_tokens,
                                             token_budget=token_budget, max_batch=max_batch))
    finally:
        G.hf_generate_batches = orig
    if len(got) == len(texts):
        ids = [got[i] for i in range(len(texts))]
        return texts, ids, [len(x) for x in ids]
    return texts, None, [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]


def compare_generations(xt: Sequence[str], xids, bt: Sequence[str], bids, limit: int = 50) -> dict:
    same_text = [x == y for x, y in zip(xt, bt)]
    out = {"identical_texts": sum(same_text) / len(same_text) if same_text else float("nan"),
           "identical_token_ids": None,
           "differing": [{"index": i, "xlrm": xt[i][:200], "baseline": bt[i][:200]}
                         for i, s in enumerate(same_text) if not s][:limit]}
    if xids is not None:
        same_ids = [x == y for x, y in zip(xids, bids)]
        out["identical_token_ids"] = sum(same_ids) / len(same_ids) if same_ids else float("nan")
        firsts = []
        for x, y in zip(xids, bids):
            if x != y:
                firsts.append(next((j for j, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y))))
        out["first_divergence_step_median"] = median(firsts) if firsts else None
    return out


def generation_prompts(tok, rows: Sequence[dict], n: int, max_prompt_tokens: int) -> tuple[list[list[dict]], dict]:
    """``n`` distinct prompts (mixed languages and lengths) from preference rows."""
    from xlrm.generation.prompts import render_prompt_ids

    seen, out, lens, langs = set(), [], [], {}
    for r in rows:
        key = json.dumps(r["prompt"], ensure_ascii=False, sort_keys=True)
        if key in seen or not r["prompt"] or r["prompt"][-1]["role"] != "user":
            continue
        ln = len(render_prompt_ids(tok, r["prompt"]))
        if ln > max_prompt_tokens:
            continue
        seen.add(key)
        out.append(r["prompt"])
        lens.append(ln)
        langs[r["language"]] = langs.get(r["language"], 0) + 1
        if len(out) >= n:
            break
    return out, {"prompts": len(out), "languages": langs,
                 "prompt_tokens": {"min": min(lens, default=0), "median": median(lens),
                                   "max": max(lens, default=0)}}


# ---------------------------------------------------------------------------- RM training


def rm_trainer(base_dir: Path, rows: Sequence[dict], cfg, *, strategy: str, out_dir: Path,
               max_steps: int, seed: int | None = None, xlrm_sampler: bool = True,
               pair_padding: str | None = None):
    """``xlrm.reward.train.build_reward_trainer``, the trainer ``train_rm`` runs, set up to measure:
    ``train_sampling_strategy`` (``group_by_length`` or ``random``), ``max_steps``, no
    reporting or saving; ``xlrm_sampler=False`` leaves ``group_by_length`` to transformers'
    mega-batch sampler; ``pair_padding`` overrides the section's (``separate``/``joint``).
    Returns ``(trainer, tokenize_stats)``.
    """
    import dataclasses

    from xlrm.reward.train import build_reward_trainer

    if pair_padding is not None:
        cfg = dataclasses.replace(cfg, extras=dataclasses.replace(cfg.extras, pair_padding=pair_padding))
    overrides = dict(report_to=[], save_strategy="no", logging_steps=10 ** 6, disable_tqdm=True,
                     max_steps=max_steps, train_sampling_strategy=strategy, eval_strategy="no")
    if seed is not None:
        overrides["seed"] = seed
    trainer, stats = build_reward_trainer(base_dir, list(rows), cfg, scratch_dir=out_dir,
                                          overrides=overrides, xlrm_sampler=xlrm_sampler)
    # Padding no batch order can remove when chosen and rejected are padded together (TRL's
    # collator): a pair alone already pads its shorter reply to its longer one.
    ds = trainer.train_dataset
    long_len, short_len = ds["length"], ds["short_length"]
    stats["pair_padding_floor_joint"] = 1 - (sum(long_len) + sum(short_len)) / (2 * sum(long_len)) \
        if long_len else 0.0
    return trainer, stats


def mask_tokens(batch: dict) -> tuple[int, int]:
    """Real and padded-total token positions of a collated batch: one attention mask (TRL's
    collator) or one per padded tensor (xlrm's separate pair padding)."""
    masks = [v for k, v in batch.items() if k.endswith("attention_mask")]
    return sum(int(m.sum()) for m in masks), sum(int(m.numel()) for m in masks)


def dataloader_padding(trainer, epochs: int = 1) -> dict:
    """Padded / total tokens over the batches the trainer's own dataloader yields (no training)."""
    real = total = batches = 0
    per_batch = []
    for _ in range(epochs):
        for batch in trainer.get_train_dataloader():
            r, t = mask_tokens(batch)
            real += r
            total += t
            batches += 1
            per_batch.append(1 - r / t)
    return {"padding_fraction": 1 - real / total if total else 0.0, "batches": batches,
            "real_tokens": real, "padded_tokens": total,
            "median_batch_padding_fraction": median(per_batch),
            "max_batch_padding_fraction": max(per_batch, default=0.0)}


def spread_batches(trainer, n_timed: int) -> tuple[list[int] | None, int]:
    """Dataset order for timing ``n_timed`` of the batches the trainer's own sampler forms
    over one epoch (plus one warm-up batch first): the batches ranked by their real tokens
    and taken at evenly spaced ranks, so the timed steps see the epoch's mix of batch sizes
    (a few batches in the sampler's random order would not) and two samplers are timed on
    comparable mixes.

    Returns ``(order, steps)``, or ``(None, n_timed + 1)`` when the sampler is not reachable.
    """
    bs = trainer.args.per_device_train_batch_size * max(1, trainer.args.gradient_accumulation_steps)
    try:
        sampler = trainer._get_train_sampler()
        idx = list(iter(sampler)) if sampler is not None else list(range(len(trainer.train_dataset)))
    except Exception:  # noqa: BLE001 - a private API: time the first steps instead
        return None, n_timed + 1
    ds = trainer.train_dataset  # build_reward_trainer's columns: a pair's two reply lengths
    tokens = [long + short for long, short in zip(ds["length"], ds["short_length"])]
    batches = [idx[i:i + bs] for i in range(0, len(idx), bs)]
    full = [b for b in batches if len(b) == bs] or batches
    full.sort(key=lambda b: sum(tokens[i] for i in b))
    k = min(n_timed, len(full))
    picks = [round(j * (len(full) - 1) / max(1, k - 1)) for j in range(k)] if k > 1 else [0]
    order = list(full[len(full) // 2]) + [i for p in picks for i in full[p]]
    return order, k + 1


def timed_training_steps(trainer, n_timed: int | None = None) -> dict:
    """Run ``trainer.train()`` and time each optimizer step.

    With ``n_timed``, the trainer is pointed at :func:`spread_batches` (same batches as its
    sampler forms, read sequentially) for ``n_timed`` + 1 steps; otherwise its ``max_steps``
    from the start. Tokens per step are the non-pad tokens (TRL's own ``num_tokens`` count)
    and the padded positions computed; the first step is a warm-up, left out.
    """
    from transformers import TrainerCallback

    sampled = False
    if n_timed is not None:
        order, steps_needed = spread_batches(trainer, n_timed)
        if order is not None:
            trainer.train_dataset = trainer.train_dataset.select(order)
            trainer.args.train_sampling_strategy = "sequential"
            sampled = True
        trainer.args.max_steps = steps_needed
    steps: list[dict] = []
    t = {"t0": 0.0, "tok0": 0, "pad0": 0}
    padded = {"n": 0}
    orig_compute_loss = trainer.compute_loss

    def compute_loss(model, inputs, *a, **k):
        padded["n"] += mask_tokens(inputs)[1]
        return orig_compute_loss(model, inputs, *a, **k)

    trainer.compute_loss = compute_loss

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            t["t0"] = time.perf_counter()
            t["tok0"] = getattr(trainer, "_total_train_tokens", 0)
            t["pad0"] = padded["n"]

        def on_step_end(self, args, state, control, **kw):
            dt = time.perf_counter() - t["t0"]
            steps.append({"seconds": dt,
                          "tokens": int(getattr(trainer, "_total_train_tokens", 0) - t["tok0"]),
                          "padded_tokens": padded["n"] - t["pad0"]})

    trainer.add_callback(StepTimer())
    t_all = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its log dicts without tqdm
        trainer.train()
    wall = time.perf_counter() - t_all
    trainer.compute_loss = orig_compute_loss
    timed_steps = steps[1:] if len(steps) > 1 else steps
    secs = sum(s["seconds"] for s in timed_steps)
    return {"steps": len(steps), "timed_steps": len(timed_steps), "spread_over_epoch": sampled,
            "train_wall_s": wall,
            "tokens_per_s": sum(s["tokens"] for s in timed_steps) / secs if secs else None,
            "padded_tokens_per_s": sum(s["padded_tokens"] for s in timed_steps) / secs if secs else None,
            "median_step_s": median([s["seconds"] for s in timed_steps]),
            "per_step": steps}

"""Score reward models on Multilingual RewardBench-format sets (the ``eval_rm`` stage's core).

The output is a *scores table*: one row per (rm, eval language, pair[, head])
with both scores, so every metric can be recomputed from it later.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from xlrm.journal import resumed, unit
from xlrm.reward.config import EvalRMConfig

log = logging.getLogger(__name__)


def score_eval_sets(model, tokenizer, eval_sets: dict[str, list[dict]], rm_name: str,
                    cfg: EvalRMConfig, heads=None) -> tuple[list[dict], dict]:
    """Score every pair of every eval language; returns (scores rows, stats). With a
    current :mod:`xlrm.journal`, languages scored before a kill are read back."""
    out: list[dict] = []
    stats: dict = {"pairs": 0, "truncated_sequences": 0, "tokens": 0, "seconds": 0.0}
    for lang, rows in eval_sets.items():
        # One journal unit per language: a killed run resumes at the next language
        # (scoring a language's pairs in the same batches keeps the scores identical).
        done = unit(("language", rm_name, lang),
                    lambda: _score_language(model, tokenizer, rows, lang, rm_name, cfg, heads))
        for k in ("pairs", "truncated_sequences", "tokens", "seconds"):
            stats[k] += done["stats"][k]
        out.extend(done["rows"])
    stats["resumed"] = resumed()
    stats["pairs_per_s"] = stats["pairs"] / stats["seconds"] if stats["seconds"] else None
    return out, stats


def _score_language(model, tokenizer, rows: list[dict], lang: str, rm_name: str,
                    cfg: EvalRMConfig, heads) -> dict:
    from xlrm.reward.score import score_pairs

    t0 = time.perf_counter()
    chosen, rejected, st = score_pairs(model, tokenizer, rows, max_length=cfg.max_length,
                                       token_budget=cfg.token_budget, heads=heads)
    dt = time.perf_counter() - t0
    log.info("%s on %s: %d pairs in %.1f s", rm_name, lang, len(rows), dt)
    out = []
    head_rows = [(None, chosen, rejected)] if heads is None else \
        [(h, chosen[h], rejected[h]) for h in range(chosen.shape[0])]
    for head, c, r in head_rows:
        for row, cs, rs in zip(rows, c, r):
            rec = {"rm": rm_name, "id": row["id"], "language": lang, "subset": row["subset"],
                   "category": row.get("category"), "chosen_score": float(cs),
                   "rejected_score": float(rs)}
            if head is not None:
                rec["head"] = head
            out.append(rec)
    return {"rows": out, "stats": {**{k: st[k] for k in ("pairs", "truncated_sequences",
                                                          "tokens")}, "seconds": dt}}


def evaluate_model(rm_dir: str | Path | None, base_dir: str | Path, eval_sets: dict[str, list[dict]],
                   rm_name: str, cfg: EvalRMConfig) -> tuple[list[dict], dict]:
    """Load a trained RM (or, with ``rm_dir=None``, the base with random heads) and score it."""
    from xlrm.modeling import load_reward_model, load_seqcls, load_tokenizer, resolve_device
    from xlrm.reward.score import random_heads

    device = resolve_device(cfg.device)
    tok = load_tokenizer(base_dir if rm_dir is None else rm_dir)
    heads = None
    if rm_dir is None:
        model = load_seqcls(base_dir, cfg.dtype, device=device).eval().to(device)
        text = model.config.get_text_config()
        heads = random_heads(text.hidden_size, cfg.base_heads,
                             getattr(text, "initializer_range", 0.02), cfg.base_head_seed)
    else:
        model = load_reward_model(rm_dir, base_dir, cfg.dtype, device=device)
    return score_eval_sets(model, tok, eval_sets, rm_name, cfg, heads)

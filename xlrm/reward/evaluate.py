"""Score the untrained base and every trained RM on Multilingual RewardBench-format sets
(the ``eval_rms`` stage's core).

The output is one *scores table* per model: a row per (eval language, pair[, head]) with
both scores, so every metric can be recomputed from it later.

With ``eval_rm.shared_trunk`` (the default) all models are loaded at once and scored with
:func:`xlrm.reward.trunk.score_pairs_shared`, the base as the reference: the layers every RM
leaves exactly as the base has them run once per batch, each model runs only its own top.
The split is read off the models, never assumed: each RM's *shared depth* (how many bottom
layers equal the base's, :func:`xlrm.reward.trunk.shared_depth`) is measured, its equal
modules are pointed at the base's (one copy in memory, :func:`~xlrm.reward.trunk.share_trunk`),
and the split is the one that costs the fewest layer forward passes (:func:`choose_split`;
with RMs that all train the same top layers, simply the first trainable layer). An RM
that shares nothing (full fine-tuning, changed embeddings, another tokenizer) is scored on
its own right after loading and freed, so memory holds one such model at a time; one that
shares fewer layers than the split falls back inside ``score_pairs_shared`` (logged).
``shared_trunk: false`` scores every model on its own, one at a time: the per-model path.

Journal (:mod:`xlrm.journal`): the shared scoring is one unit per eval language covering
all models scored together; a model scored on its own is one unit per (model, language).
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from typing import Any

from xlrm.journal import resumed, unit
from xlrm.reward.config import EvalRMConfig

log = logging.getLogger(__name__)

BASE = "base"


def model_name(seed: int, lang: str) -> str:
    """The name of the RM trained on ``lang`` with ``seed`` (its scores file, minus .jsonl)."""
    return f"seed{seed}/{lang}"


def choose_split(depths: dict[str, int], n_layers: int) -> int:
    """The split (0: none) that needs the fewest layer forward passes per input: the trunk
    once, then ``n_layers - split`` for the base and each RM whose shared depth reaches it,
    ``n_layers`` for each other RM. Ties go to the lower split (more models share)."""
    best_cost, best = None, 0
    for s in sorted({d for d in depths.values() if 0 < d <= n_layers}):
        cost = s + (n_layers - s) + sum(n_layers - s if d >= s else n_layers
                                        for d in depths.values())
        if best_cost is None or cost < best_cost:
            best_cost, best = cost, s
    return best


def score_rows(rows: list[dict], lang: str, label: dict, chosen, rejected) -> list[dict]:
    """Scores-table rows of one model on one language (``label``: ``rm`` and, for an RM,
    ``rm_seed``); with several heads (``[K, n]`` scores) one row per pair and head."""
    heads = [(None, chosen, rejected)] if chosen.ndim == 1 else \
        [(h, chosen[h], rejected[h]) for h in range(chosen.shape[0])]
    out = []
    for head, c, r in heads:
        for row, cs, rs in zip(rows, c, r):
            rec = {"rm": label["rm"], "id": row["id"], "language": lang, "subset": row["subset"],
                   "category": row.get("category"), "chosen_score": float(cs),
                   "rejected_score": float(rs)}
            if "rm_seed" in label:
                rec["rm_seed"] = label["rm_seed"]
            if head is not None:
                rec["head"] = head
            out.append(rec)
    return out


def _stats(st: dict, seconds: float) -> dict:
    keep = ("pairs", "truncated_sequences", "tokens", "trunk", "top_seconds", "trunk_seconds")
    return {**{k: st[k] for k in keep if k in st}, "seconds": seconds}


def tokenizer_difference(tok, rm_dir: str | Path) -> str | None:
    """Why the tokenizer saved with an RM (if any) would not encode as ``tok`` does."""
    from xlrm.modeling import has_tokenizer, load_tokenizer

    if not Path(rm_dir).is_dir() or not has_tokenizer(rm_dir):
        return None
    own = load_tokenizer(rm_dir)
    for what in ("__class__", "pad_token_id", "padding_side", "truncation_side",
                 "chat_template", "all_special_tokens"):
        if getattr(own, what, None) != getattr(tok, what, None):
            return f"its tokenizer's {what.strip('_')} differs from the base's"
    if own.get_vocab() != tok.get_vocab():
        return "its tokenizer's vocabulary differs from the base's"
    return None


class _Scorer:
    """Scores models on the eval sets, keeping rows and stats per model."""

    def __init__(self, eval_sets: dict[str, list[dict]], labels: dict[str, dict],
                 cfg: EvalRMConfig, heads):
        self.eval_sets, self.labels, self.cfg, self.heads = eval_sets, labels, cfg, heads
        self.rows: dict[str, list[dict]] = {n: [] for n in labels}
        self.stats: dict[str, dict[str, dict]] = {n: {} for n in labels}

    def _keep(self, name: str, lang: str, done: dict) -> None:
        self.rows[name].extend(done["rows"])
        self.stats[name][lang] = done["stats"]

    def alone(self, name: str, model, tok) -> None:
        """Score one model with its full forward pass (score_pairs), a unit per language."""
        from xlrm.reward.score import score_pairs

        heads = self.heads if name == BASE else None
        for lang, rows in self.eval_sets.items():
            def run(rows=rows, lang=lang):
                t0 = time.perf_counter()
                c, r, st = score_pairs(model, tok, rows, max_length=self.cfg.max_length,
                                       token_budget=self.cfg.token_budget, heads=heads)
                dt = time.perf_counter() - t0
                log.info("%s on %s: %d pairs in %.1f s", name, lang, len(rows), dt)
                return {"rows": score_rows(rows, lang, self.labels[name], c, r),
                        "stats": _stats({**st, "trunk": "alone"}, dt)}

            self._keep(name, lang, unit(("language", name, lang), run))

    def together(self, models: dict[str, Any], tok, split: int) -> None:
        """Score ``models`` (the base first) with the shared trunk, a unit per language."""
        from xlrm.reward.trunk import score_pairs_shared

        for lang, rows in self.eval_sets.items():
            def run(rows=rows, lang=lang):
                t0 = time.perf_counter()
                out = score_pairs_shared(models, tok, rows, split=split,
                                         max_length=self.cfg.max_length,
                                         token_budget=self.cfg.token_budget,
                                         heads={BASE: self.heads}, on_mismatch="fallback")
                dt = time.perf_counter() - t0
                log.info("%d models on %s: %d pairs in %.1f s (trunk below layer %d shared)",
                         len(models), lang, len(rows), dt, split)
                return {"rows": {n: score_rows(rows, lang, self.labels[n], c, r)
                                 for n, (c, r, _) in out.items()},
                        "stats": {n: _stats(st, st["top_seconds"] + st["trunk_seconds"])
                                  for n, (_, _, st) in out.items()}}

            done = unit(("language", lang), run)
            for n in models:
                self._keep(n, lang, {"rows": done["rows"][n], "stats": done["stats"][n]})


def evaluate_rms(base_dir: str | Path, rm_dirs: dict[str, str | Path], labels: dict[str, dict],
                 eval_sets: dict[str, list[dict]], cfg: EvalRMConfig
                 ) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    """Score the base (with ``cfg.base_heads`` random heads) and the RMs ``rm_dirs``
    (name -> folder; ``labels``: name -> the rows' ``rm``/``rm_seed``, ``base`` included).

    Returns ``({name: scores rows}, info)``; ``info`` has ``split_layer`` (0: nothing
    shared), ``layers``, ``trunk`` (per model: ``reference``, ``shared``, ``alone: <why>``
    or ``full: <why>``), ``shared_depth`` (per RM), ``stats`` (per model and language),
    ``seconds`` and ``resumed`` (journal units read back).
    """
    from xlrm.modeling import load_reward_model, load_seqcls, load_tokenizer, resolve_device
    from xlrm.reward.score import random_heads
    from xlrm.reward.trunk import backbone, share_trunk, shared_depth

    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    tok = load_tokenizer(base_dir)
    base = load_seqcls(base_dir, cfg.dtype, device=device).eval().to(device)
    text = base.config.get_text_config()
    heads = random_heads(text.hidden_size, cfg.base_heads,
                         getattr(text, "initializer_range", 0.02), cfg.base_head_seed)
    n_layers = len(backbone(base).layers)
    scorer = _Scorer(eval_sets, labels, cfg, heads)
    trunk: dict[str, str] = {BASE: "reference"}
    depths: dict[str, int] = {}
    if not cfg.shared_trunk:
        scorer.alone(BASE, base, tok)
        trunk[BASE] = "alone: eval_rm.shared_trunk is false"
    kept: dict[str, Any] = {}
    for name, rm_dir in rm_dirs.items():
        model = load_reward_model(rm_dir, base_dir, cfg.dtype, device=device)
        why = tokenizer_difference(tok, rm_dir)
        own_tok = tok if why is None else load_tokenizer(rm_dir)
        if why is None and not cfg.shared_trunk:
            why = "eval_rm.shared_trunk is false"
        elif why is None:
            depths[name], first = shared_depth(base, model)
            share_trunk(base, model, depths[name])  # equal modules: one copy in memory
            log.info("%s: its first %d of %d layers equal the base's%s", name, depths[name],
                     n_layers, f" ({first})" if first else "")
            if depths[name] == 0:
                why = f"shares no layer with the base ({first})"
        if why is None:
            kept[name] = model
            continue
        if cfg.shared_trunk:
            log.warning("%s: scored on its own with the full forward pass (%s)", name, why)
        scorer.alone(name, model, own_tok)
        trunk[name] = f"alone: {why}"
        del model
        gc.collect()
    split = choose_split({n: depths[n] for n in kept}, n_layers)
    if cfg.shared_trunk and not kept:
        log.info("trunk split: none (no RM shares a layer with the base)")
        scorer.alone(BASE, base, tok)
        trunk[BASE] = "alone: no RM shares a layer with the base"
    elif cfg.shared_trunk:
        sharing = [n for n in kept if depths[n] >= split]
        log.info("trunk split at layer %d of %d: layers below it computed once for the base "
                 "and %d of %d RMs (%s)", split, n_layers, len(sharing), len(rm_dirs),
                 ", ".join(sharing))
        scorer.together({BASE: base, **kept}, tok, split)
        for n in (BASE, *kept):
            full = sorted({st["trunk"] for st in scorer.stats[n].values()} - {"shared"})
            trunk[n] = full[0] if full else ("reference" if n == BASE else "shared")
    info = {"split_layer": split, "layers": n_layers, "trunk": trunk, "shared_depth": depths,
            "stats": scorer.stats, "seconds": time.perf_counter() - t0, "resumed": resumed()}
    return scorer.rows, info

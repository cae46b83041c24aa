"""Labelling on-policy samples (the ``label`` stage's core): every sample of a prompt is
scored by each labelling RM (the English RM and the target language's RM); the best becomes
*chosen*, the worst *rejected*; pairs whose reward margin is under ``min_margin`` are
dropped. How often two RMs pick the same chosen sample is recorded."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from xlrm.alignment.config import LabelConfig
from xlrm.errors import DataError
from xlrm.journal import unit

# The two labellers of the study, resolved per target language.
LABELLERS = ("english", "native")


def labeller_rm(labeller: str, language: str, source_language: str = "en") -> str:
    """Which trained RM (by training language) a labeller means for a target language."""
    if labeller == "english":
        return source_language
    if labeller == "native":
        return language
    raise DataError(f"unknown labeller {labeller!r}; expected one of {LABELLERS}")


def load_labelling_rms(rm_dir: str | Path, base_dir: str | Path, language: str,
                       source_language: str, cfg: LabelConfig) -> dict[str, Any]:
    """Each labeller's trained RM (``rm_dir/<training language>``) on ``cfg.device``."""
    from xlrm.modeling import load_reward_model, resolve_device

    device = resolve_device(cfg.device)
    return {name: load_reward_model(Path(rm_dir) / labeller_rm(name, language, source_language),
                                    base_dir, cfg.dtype, device=device) for name in LABELLERS}


def read_samples(path: str | Path) -> list[dict]:
    """The rows of a ``generate`` samples file, checked: ``prompt_id`` (a non-empty string),
    ``sample`` (an integer >= 0) and ``text`` (a string) in every row, each
    ``(prompt_id, sample)`` once; an empty file is an error."""
    from xlrm.io import read_jsonl

    rows = read_jsonl(path, nonempty=True)
    seen: dict[tuple[str, int], int] = {}
    for i, row in enumerate(rows, start=1):
        def bad(msg: str, key: str) -> DataError:
            return DataError(msg, path=str(path), row=i, field=key)

        for key in ("prompt_id", "sample", "text"):
            if key not in row:
                raise bad("missing", key)
        if not isinstance(row["prompt_id"], str) or not row["prompt_id"]:
            raise bad(f"must be a non-empty string, got {row['prompt_id']!r}", "prompt_id")
        if isinstance(row["sample"], bool) or not isinstance(row["sample"], int) \
                or row["sample"] < 0:
            raise bad(f"must be an integer >= 0, got {row['sample']!r}", "sample")
        if not isinstance(row["text"], str):
            raise bad(f"must be a string, got {type(row['text']).__name__}", "text")
        key = (row["prompt_id"], row["sample"])
        if key in seen:
            raise bad(f"duplicate (prompt_id, sample) {key}, first seen at row {seen[key]}",
                      "sample")
        seen[key] = i
    return rows


def group_samples(samples: list[dict]) -> dict[str, list[dict]]:
    """Samples by prompt id, each group ordered by sample index."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        groups[s["prompt_id"]].append(s)
    return {pid: sorted(g, key=lambda s: s["sample"]) for pid, g in sorted(groups.items())}


def best_and_worst(scores: np.ndarray) -> tuple[int, int, float]:
    """Indices of the highest and lowest reward (first on ties) and their margin."""
    best, worst = int(np.argmax(scores)), int(np.argmin(scores))
    return best, worst, float(scores[best] - scores[worst])


def pairs_from_scores(groups: dict[str, list[dict]], prompts: dict[str, list[dict]],
                      scores: dict[str, np.ndarray], language: str, labeller: str,
                      min_margin: float) -> tuple[list[dict], dict[str, int], dict[str, int]]:
    """Chosen/rejected pairs (normalised schema) for one labeller.

    Returns the pairs, the chosen sample index per prompt, and drop counts.
    """
    pairs, picks = [], {}
    dropped = {"dropped_margin": 0, "dropped_identical": 0, "dropped_single": 0}
    for pid, group in groups.items():
        if len(group) < 2:
            dropped["dropped_single"] += 1
            continue
        best, worst, margin = best_and_worst(scores[pid])
        if not np.isfinite(scores[pid]).all():
            raise DataError(f"the {labeller} RM gave a non-finite reward to a sample of "
                            f"prompt {pid!r} ({scores[pid].tolist()}); no pair is built on it")
        picks[pid] = group[best]["sample"]
        chosen, rejected = group[best]["text"].strip(), group[worst]["text"].strip()
        if margin < min_margin or best == worst:
            dropped["dropped_margin"] += 1
            continue
        if not chosen or not rejected or chosen == rejected:
            dropped["dropped_identical"] += 1
            continue
        pairs.append({"id": pid, "language": language, "prompt": prompts[pid], "chosen": chosen,
                      "rejected": rejected, "source": f"on-policy/{labeller}",
                      "subset": f"label-{labeller}"})
    return pairs, picks, dropped


def label(samples: list[dict], prompts: dict[str, list[dict]], rms: dict[str, Any], tokenizer,
          language: str, cfg: LabelConfig) -> tuple[dict[str, list[dict]], dict[str, Any]]:
    """Score every sample with every labelling RM and build one pair set per labeller.

    ``rms`` maps labeller name -> loaded reward model (all share ``tokenizer``'s
    chat template, i.e. the same base). Returns ``{labeller: pairs}`` and stats with
    ``agreement`` (share of prompts where the labellers pick the same chosen sample).
    """
    from xlrm.reward.score import score_conversations

    groups = group_samples(samples)
    missing = [pid for pid in groups if pid not in prompts]
    if missing:
        raise DataError(f"samples refer to unknown prompt ids, e.g. {missing[0]!r}")
    order = [(pid, s) for pid, g in groups.items() for s in g]
    convs = [[*prompts[pid], {"role": "assistant", "content": s["text"]}] for pid, s in order]
    out: dict[str, list[dict]] = {}
    stats: dict[str, Any] = {"prompts": len(groups), "samples": len(order)}
    picks_by: dict[str, dict[str, int]] = {}
    for name, model in rms.items():
        # One journal unit per labelling RM (xlrm.journal): a killed run resumes at the next.
        flat = unit(("scores", name), lambda: [float(v) for v in score_conversations(
            model, tokenizer, convs, max_length=cfg.max_length, token_budget=cfg.token_budget)[0]])
        per_prompt: dict[str, list[float]] = defaultdict(list)
        for (pid, _), v in zip(order, flat):
            per_prompt[pid].append(float(v))
        scores = {pid: np.asarray(v) for pid, v in per_prompt.items()}
        pairs, picks, dropped = pairs_from_scores(groups, prompts, scores, language, name,
                                                  cfg.min_margin)
        out[name] = pairs
        picks_by[name] = picks
        margins = [float(np.ptp(v)) for v in scores.values() if len(v) > 1]
        stats[name] = {"pairs": len(pairs), **dropped,
                       "mean_margin": float(np.mean(margins)) if margins else math.nan}
    names = list(picks_by)
    if len(names) >= 2:
        a, b = picks_by[names[0]], picks_by[names[1]]
        common = [pid for pid in a if pid in b]
        stats["agreement"] = (sum(a[p] == b[p] for p in common) / len(common)) if common else math.nan
    return out, stats

"""Classifier RMs off the shelf: loading (through :mod:`xlrm.modeling`) and scoring every
pair of the evaluation sets (see :mod:`xlrm.offshelf`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from xlrm.errors import ConfigError, MissingResourceError
from xlrm.journal import unit
from xlrm.offshelf.config import ClassifierSpec

log = logging.getLogger(__name__)


def load_classifier(spec: ClassifierSpec) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` of a classifier RM on its device, in eval mode: a hub id
    or full folder, or a LoRA adapter folder over ``spec.base`` (merged).

    Raises:
        MissingResourceError: neither a folder, nor on the hub, nor in the local cache.
        ConfigError: the tokenizer has no chat template, or the model will not load.
    """
    from xlrm.modeling import is_adapter, load_reward_model, load_tokenizer

    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.revision is not None:
        kwargs["revision"] = spec.revision
    adapter = is_adapter(spec.model)
    if adapter and not spec.base:
        raise ConfigError(f"off-the-shelf RM {spec.name!r}: {spec.model} holds a LoRA adapter; "
                          "set `base` to the base model folder it was trained on")
    try:
        tok = load_tokenizer(spec.model, fallback=spec.base, require_pad=False, **kwargs)
        model = load_reward_model(spec.model, spec.base, dtype=spec.dtype, device=spec.device,
                                  **({} if adapter else kwargs))
    except MissingResourceError as e:
        raise MissingResourceError(f"off-the-shelf RM {spec.name!r}: {e}") from None
    except ValueError as e:
        raise ConfigError(f"off-the-shelf RM {spec.name!r} ({spec.model}): {e}") from None
    if not getattr(tok, "chat_template", None):
        raise ConfigError(f"off-the-shelf RM {spec.name!r} ({spec.model}): the tokenizer has "
                          "no chat template, so pairs cannot be rendered as the model expects")
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") \
        else model.config
    if getattr(model.config, "pad_token_id", None) is None and tok.pad_token_id is not None:
        model.config.pad_token_id = tok.pad_token_id
        if cfg is not model.config:
            cfg.pad_token_id = tok.pad_token_id
    return model, tok


def uses_score_head(model: Any, spec: ClassifierSpec | None = None) -> bool:
    """Whether :func:`xlrm.reward.score.score_pairs` can score this model: a bias-free linear
    ``score`` head with one output on a backbone at ``model.<base_model_prefix>`` (and
    ``scoring: auto``, no remote code)."""
    import torch

    if spec is not None and (spec.scoring != "auto" or spec.trust_remote_code):
        return False
    head = getattr(model, "score", None)
    prefix = getattr(model, "base_model_prefix", "")
    return (isinstance(head, torch.nn.Linear) and head.out_features == 1 and head.bias is None
            and bool(prefix) and getattr(model, prefix, None) is not None)


def reward_from_output(output: Any) -> Any:
    """The reward per sequence of a classifier's output: ``output.score`` when the model
    returns one (ArmoRM), else ``output.logits[:, 0]`` (a one-label head)."""
    score = getattr(output, "score", None)
    if score is None:
        logits = output["logits"] if isinstance(output, dict) else getattr(output, "logits", None)
        if logits is None:
            logits = output[0]
        logits = logits.reshape(logits.shape[0], -1)
        if logits.shape[-1] != 1:
            raise ConfigError(f"the model returns {logits.shape[-1]} logits per sequence and no "
                              "`score`: an off-the-shelf classifier RM must have one label")
        return logits[:, 0]
    return score.reshape(score.shape[0], -1)[:, 0]


def score_pairs_forward(model: Any, tokenizer: Any, rows: list[dict], *,
                        max_length: int | None = None, token_budget: int = 8192
                        ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Score pairs with the model's own forward pass (see the module docstring).

    Sequences are rendered and cut as :func:`xlrm.reward.score.score_pairs` does, grouped by
    length within ``token_budget``, right-padded with the model's ``pad_token_id`` (one
    sequence per pass when the model has none, so its pooling is never confused).
    Returns ``(chosen_scores, rejected_scores, stats)`` like :func:`score_pairs`.
    """
    import torch

    from xlrm.distributed import map_shared
    from xlrm.reward.score import length_batches
    from xlrm.reward.tokens import encode_conversations
    from xlrm.schema import messages_for

    convs = [messages_for(r, r["chosen"]) for r in rows] + \
        [messages_for(r, r["rejected"]) for r in rows]
    ids, truncated = encode_conversations(tokenizer, convs, max_length)
    pad = getattr(model.config, "pad_token_id", None)
    device = next(model.parameters()).device
    lengths = [len(x) for x in ids]
    scores = np.full(len(ids), np.nan)
    batches = length_batches(lengths, token_budget, max_batch=256 if pad is not None else 1)

    def run(batch) -> np.ndarray:
        width = max(lengths[i] for i in batch)
        inp = torch.full((len(batch), width), pad if pad is not None else 0, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for j, i in enumerate(batch):
            inp[j, : lengths[i]] = torch.tensor(ids[i])
            mask[j, : lengths[i]] = 1
        with torch.inference_mode():
            out = model(input_ids=inp.to(device), attention_mask=mask.to(device))
            return reward_from_output(out).float().cpu().numpy()

    # under a multi-process launch each rank runs its share of the batches (xlrm.distributed)
    costs = [len(b) * max(lengths[i] for i in b) for b in batches]
    for batch, batch_scores in zip(batches, map_shared(batches, run, costs)):
        scores[batch] = batch_scores
    n = len(rows)
    stats = {"pairs": n, "sequences": len(convs), "truncated_sequences": truncated,
             "tokens": int(sum(lengths))}
    return scores[:n], scores[n:], stats


def score_classifier(model: Any, tokenizer: Any, eval_sets: dict[str, list[dict]], name: str,
                     spec: ClassifierSpec) -> tuple[list[dict], dict]:
    """Score every pair of every language with a classifier RM; returns (rows, stats)."""
    from xlrm.reward.score import score_pairs

    fast = uses_score_head(model, spec)
    if fast and tokenizer.pad_token_id is None:
        # score_pairs pads with the tokenizer's pad id; the attention mask makes its value moot
        tokenizer.pad_token = tokenizer.eos_token
    scorer: Callable[..., tuple[np.ndarray, np.ndarray, dict]] = \
        score_pairs if fast else score_pairs_forward
    rows_out: list[dict] = []
    scoring = "score_head" if fast else "forward"
    log_classifier_settings(model, tokenizer, name, spec, scoring)
    stats: dict[str, Any] = {"kind": "classifier", "model": spec.model, "scoring": scoring,
                             "pairs": 0, "truncated_sequences": 0, "tokens": 0, "seconds": 0.0}
    for lang, rows in eval_sets.items():
        if not rows:
            continue
        def one_language(lang=lang, rows=rows) -> dict:
            t0 = time.perf_counter()
            chosen, rejected, st = scorer(model, tokenizer, rows, max_length=spec.max_length,
                                          token_budget=spec.token_budget)
            dt = time.perf_counter() - t0
            log.info("%s on %s: %d pairs in %.1f s", name, lang, len(rows), dt)
            return {"stats": {**{k: st[k] for k in ("pairs", "truncated_sequences", "tokens")},
                              "seconds": dt},
                    "rows": [{"rm": name, "id": row["id"], "language": lang,
                              "subset": row["subset"], "category": row.get("category"),
                              "chosen_score": float(c), "rejected_score": float(r)}
                             for row, c, r in zip(rows, chosen, rejected)]}

        # One journal unit per language (xlrm.journal): a killed run resumes at the next.
        done = unit(("classifier", name, lang), one_language)
        for k in ("pairs", "truncated_sequences", "tokens", "seconds"):
            stats[k] += done["stats"][k]
        rows_out.extend(done["rows"])
    stats["seconds"] = round(stats["seconds"], 3)
    return rows_out, stats


def log_classifier_settings(model: Any, tokenizer: Any, name: str, spec: ClassifierSpec,
                            scoring: str) -> None:
    """Log what a classifier RM runs with as ``judge.<name>`` (resolved device and dtype,
    the scoring path, the chat template that renders the pairs)."""
    from xlrm.modeling import dtype_name
    from xlrm.tracking import log_effective_config

    param = next(model.parameters())
    log_effective_config(f"judge.{name}", {
        "kind": "classifier", "model": spec.model, "revision": spec.revision,
        "base": spec.base, "trust_remote_code": spec.trust_remote_code,
        "device": str(param.device), "dtype": dtype_name(param.dtype), "scoring": scoring,
        "max_length": spec.max_length, "token_budget": spec.token_budget,
        "chat_template": getattr(tokenizer, "chat_template", None)})

"""Representation homogeneity across languages (the study's Figure 1).

Each model's hidden states of parallel contexts (the same eval item in every language) give,
per context and layer, a ``[n_languages, hidden]`` matrix whose sigma-1 share
(:mod:`xlrm.analysis.homogeneity`) is reported. The study does not publish the layer, the
token pooling or the sample count, so every one is a parameter and the share is reported for
*every* layer (mean and std over contexts):

- ``pooling``: ``last`` takes the state at the last real token (what a reward model's head reads),
  ``mean`` averages the states over the real tokens (attention mask);
- ``text``: the context is the prompt alone or the prompt plus the chosen reply, rendered with the
  model's chat template as RMs see it;
- ``center``: off by default, as in the study's description (no centring); on, the mean row is
  subtracted first, so only the differences between the languages count;
- layer 0 is the embedding output, layer ``i`` the output of block ``i``; the last layer is the
  backbone's final hidden state (after the final norm, as transformers reports it). With ``last``
  pooling, layer 0 is often exactly 1.0: the last token is a chat-template token, the same in
  every language.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from xlrm.analysis.config import AnalyzeRepresentationsConfig
from xlrm.analysis.homogeneity import homogeneity_per_context
from xlrm.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- hidden states


def pooled_hidden_states(model, ids: list[list[int]], pad_id: int, pooling: str = "last",
                         token_budget: int = 8192) -> np.ndarray:
    """Pooled hidden states of every layer for token sequences: ``[n_layers + 1, n, hidden]``.

    Right padding with an attention mask, sequences batched by length
    (:func:`xlrm.reward.score.length_batches`), results in input order, float32.
    """
    import torch

    from xlrm.reward.score import padded_batches

    if pooling not in ("last", "mean"):
        raise ConfigError(f"pooling must be 'last' or 'mean', got {pooling!r}")
    if not ids:
        raise DataError("no sequences to encode")
    if any(len(x) == 0 for x in ids):
        raise DataError("an empty token sequence cannot be pooled")
    backbone = getattr(model, model.base_model_prefix, model)
    device = next(model.parameters()).device
    out: np.ndarray | None = None
    with torch.inference_mode():
        for batch, inp, mask in padded_batches(ids, pad_id, token_budget):
            inp, mask = inp.to(device), mask.to(device)
            hidden = backbone(input_ids=inp, attention_mask=mask,
                              output_hidden_states=True).hidden_states
            if out is None:
                out = np.empty((len(hidden), len(ids), hidden[0].shape[-1]), dtype=np.float32)
            last = mask.sum(dim=1) - 1
            rows = torch.arange(len(batch), device=device)
            weights = mask.unsqueeze(-1).float()
            for layer, h in enumerate(hidden):  # one layer at a time: no [L, B, T, H] tensor
                h = h.float()
                if pooling == "last":
                    pooled = h[rows, last]
                else:
                    pooled = (h * weights).sum(dim=1) / weights.sum(dim=1)
                out[layer, batch] = pooled.cpu().numpy()
    assert out is not None
    return out


def hidden_states_per_layer(model, tokenizer, convs: list[list[dict]],
                            pooling: Literal["last", "mean"] = "last", token_budget: int = 8192,
                            *, max_length: int | None = None) -> np.ndarray:
    """Pooled hidden states of conversations at every layer: ``[n_layers + 1, n_convs, hidden]``.

    Each conversation is rendered with the chat template (:func:`xlrm.reward.tokens.render_ids`),
    truncated from the left to ``max_length``, and run through the backbone
    (``getattr(model, model.base_model_prefix)``) with ``output_hidden_states=True``.
    """
    from xlrm.reward.tokens import encode_conversations

    ids, truncated = encode_conversations(tokenizer, convs, max_length)
    if truncated:
        log.info("%d of %d conversations truncated to %s tokens", truncated, len(convs), max_length)
    return pooled_hidden_states(model, ids, tokenizer.pad_token_id, pooling, token_budget)


def representation_homogeneity(model, tokenizer, contexts_by_lang: dict[str, list[list[dict]]],
                               pooling: Literal["last", "mean"] = "last", *,
                               token_budget: int = 8192, max_length: int | None = None,
                               center: bool = False, return_per_context: bool = False
                               ) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
    """Per layer: mean and std over contexts of the sigma-1 share across languages.

    ``contexts_by_lang`` maps each language to its conversations, parallel across languages
    (item ``i`` of every list is the same context). Returns columns ``layer, mean, std,
    n_contexts`` (std over contexts, ``ddof=0``); with ``return_per_context`` also the
    per-context shares ``[layers, contexts]``.
    """
    if len(contexts_by_lang) < 2:
        raise ConfigError(f"representation homogeneity needs at least 2 languages, got "
                          f"{list(contexts_by_lang)}")
    sizes = {lang: len(c) for lang, c in contexts_by_lang.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise DataError(f"contexts must be parallel (same non-zero count per language), got {sizes}")
    n = next(iter(sizes.values()))
    convs = [c for lang in contexts_by_lang for c in contexts_by_lang[lang]]
    states = hidden_states_per_layer(model, tokenizer, convs, pooling, token_budget,
                                     max_length=max_length)
    n_layers, _, hidden = states.shape
    states = states.reshape(n_layers, len(contexts_by_lang), n, hidden).transpose(1, 0, 2, 3)
    shares = homogeneity_per_context(states, center)
    table = pd.DataFrame({"layer": np.arange(n_layers), "mean": np.nanmean(shares, axis=1),
                          "std": np.nanstd(shares, axis=1), "n_contexts": n})
    return (table, shares) if return_per_context else table


# ---------------------------------------------------------------------------- parallel contexts


def context_conversation(row: dict, text: str) -> list[dict]:
    """The conversation analysed for one eval row."""
    from xlrm.schema import messages_for

    if text == "prompt":
        return list(row["prompt"])
    if text == "prompt+chosen":
        return messages_for(row, row["chosen"])
    raise ConfigError(f"text must be 'prompt' or 'prompt+chosen', got {text!r}")


def parallel_contexts(eval_sets: dict[str, list[dict]], n: int, text: str = "prompt+chosen"
                      ) -> tuple[list[str], dict[str, list[list[dict]]]]:
    """The first ``n`` ids (sorted as strings) present in every language, and each language's
    conversations for them in that order."""
    if len(eval_sets) < 2:
        raise ConfigError(f"parallel contexts need at least 2 languages, got {list(eval_sets)}")
    by_lang = {lang: {str(r["id"]): r for r in rows} for lang, rows in eval_sets.items()}
    common = set.intersection(*(set(d) for d in by_lang.values()))
    if not common:
        raise DataError(f"the eval sets of {list(eval_sets)} share no id: the representation "
                        "analysis needs parallel (translated) items")
    ids = sorted(common)[:n]
    if len(ids) < n:
        log.warning("only %d parallel contexts across %s (asked for %d)", len(ids),
                    list(eval_sets), n)
    return ids, {lang: [context_conversation(d[i], text) for i in ids]
                 for lang, d in by_lang.items()}


def load_analysis_model(path: str | Path | None, base_dir: str | Path,
                        cfg: AnalyzeRepresentationsConfig):
    """``(model, tokenizer)`` on the configured device: the base model (``path`` None; its
    score head is not used) or an RM (a full folder, or a LoRA adapter over ``base_dir``,
    merged; its own tokenizer, else the base's)."""
    from xlrm.modeling import load_reward_model, load_seqcls, load_tokenizer, resolve_device

    device = resolve_device(cfg.device)
    if path is None:
        return (load_seqcls(base_dir, cfg.dtype, device=device).eval().to(device),
                load_tokenizer(base_dir))
    return (load_reward_model(path, base_dir, cfg.dtype, device=device),
            load_tokenizer(path, fallback=base_dir))


def analyze_models(cfg: AnalyzeRepresentationsConfig, base_dir: str | Path,
                   rms: dict[str, str | Path], eval_sets: dict[str, list[dict]]
                   ) -> tuple[pd.DataFrame, list[str]]:
    """Homogeneity per layer of the base model (``model = "base"``) and each RM.

    Returns the table (``model, layer, mean, std, n_contexts``) and the context ids.
    """
    languages = cfg.languages or list(eval_sets)
    missing = [lang for lang in languages if lang not in eval_sets]
    if missing:
        raise ConfigError(f"analyze_representations.languages {missing} have no eval set "
                          f"(loaded: {list(eval_sets)})")
    ids, contexts = parallel_contexts({lang: eval_sets[lang] for lang in languages},
                                      cfg.contexts, cfg.text)
    tables = []
    for name, path in {"base": None, **rms}.items():
        model, tok = load_analysis_model(path, base_dir, cfg)
        table = representation_homogeneity(model, tok, contexts, cfg.pooling,
                                           token_budget=cfg.token_budget,
                                           max_length=cfg.max_length, center=cfg.center)
        log.info("%s: sigma-1 share at the last layer %.4f (%d contexts, %d languages)", name,
                 table["mean"].iloc[-1], len(ids), len(languages))
        table.insert(0, "model", name)
        tables.append(table)
        del model
    return pd.concat(tables, ignore_index=True), ids


# ---------------------------------------------------------------------------- metrics


def resolve_layer(layer: int | None, n_layers: int) -> int:
    """``None`` -> last layer; negative indices count from the end (``n_layers`` = entries)."""
    if layer is None:
        return n_layers - 1
    resolved = layer + n_layers if layer < 0 else layer
    if not 0 <= resolved < n_layers:
        raise ConfigError(f"bar_layer {layer} is outside the model's layers 0..{n_layers - 1}")
    return resolved


def homogeneity_metrics(table: pd.DataFrame, bar_layer: int | None = None) -> dict[str, Any]:
    """Each model at the bar layer, each RM's distance |rm - base| there and averaged over
    layers, the RM closest to the base and the most homogeneous RM."""
    n_layers = int(table["layer"].max()) + 1
    layer = resolve_layer(bar_layer, n_layers)
    at = table[table["layer"] == layer].set_index("model")
    pivot = table.pivot(index="layer", columns="model", values="mean")
    metrics: dict[str, Any] = {"bar_layer": layer, "n_layers": n_layers,
                               "n_contexts": int(table["n_contexts"].iloc[0])}
    if "base" in at.index:
        metrics["base"] = {"mean": round(float(at.loc["base", "mean"]), 6),
                           "std": round(float(at.loc["base", "std"]), 6)}
    rms = [m for m in dict.fromkeys(table["model"]) if m != "base"]
    rm_metrics = {}
    for rm in rms:
        rec = {"mean": round(float(at.loc[rm, "mean"]), 6),
               "std": round(float(at.loc[rm, "std"]), 6)}
        if "base" in at.index:
            rec["distance_from_base"] = round(
                abs(float(at.loc[rm, "mean"] - at.loc["base", "mean"])), 6)
            rec["mean_layer_distance_from_base"] = round(
                float((pivot[rm] - pivot["base"]).abs().mean()), 6)
        rm_metrics[rm] = rec
    if rm_metrics:
        metrics["rm"] = rm_metrics
        if "base" in at.index:
            metrics["closest_to_base"] = min(rm_metrics,
                                             key=lambda r: rm_metrics[r]["distance_from_base"])
        metrics["most_homogeneous"] = max(rm_metrics, key=lambda r: rm_metrics[r]["mean"])
    metrics["reading"] = representation_reading(metrics)
    return metrics


def representation_reading(metrics: dict[str, Any]) -> str:
    """One sentence on what the sigma-1 shares at the bar layer show."""
    layer = metrics["bar_layer"]
    rms = metrics.get("rm", {})
    base = metrics.get("base")
    parts = []
    if base is not None:
        parts.append(f"base model {base['mean']:.3f}")
    if rms:
        top = metrics["most_homogeneous"]
        parts.append(f"most homogeneous RM: {top} ({rms[top]['mean']:.3f})")
        if base is not None:
            near = metrics["closest_to_base"]
            parts.append(f"closest to the base: {near} "
                         f"(|diff| {rms[near]['distance_from_base']:.3f})")
    return (f"Share of the largest singular value across languages at layer {layer} "
            f"(higher = the languages' representations of one context are more alike): "
            + "; ".join(parts) + ".")


# ---------------------------------------------------------------------------- the stage's core


def run_analyze_representations(cfg: AnalyzeRepresentationsConfig, base_dir: str | Path,
                                rms: dict[str, str | Path], eval_sets: dict[str, list[dict]], *,
                                table_csv: str | Path, layers_png: str | Path, bar_png: str | Path
                                ) -> dict[str, Any]:
    """The ``analyze_representations`` stage's core: compute, write the CSV and the PNGs
    (atomically), and return the metrics (the stage writes them)."""
    from xlrm.analysis.plots import plot_homogeneity_bar, plot_homogeneity_layers
    from xlrm.io import atomic_path
    from xlrm.modeling import check_model_folder

    for name, path in rms.items():  # before the (slow) base model: fail early
        if not Path(path).is_dir():
            raise DataError(f"reward model folder of {name!r} not found", path=str(path))
        check_model_folder(path, f"reward model {name!r}")
    table, _ = analyze_models(cfg, base_dir, rms, eval_sets)
    table = table.round(6)  # the CSV, the plots and the metrics all show the same numbers
    metrics = homogeneity_metrics(table, cfg.bar_layer)
    metrics.update(pooling=cfg.pooling, text=cfg.text, center=cfg.center,
                   languages=cfg.languages or list(eval_sets))
    with atomic_path(table_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(layers_png) as tmp:
        plot_homogeneity_layers(table, tmp)
    with atomic_path(bar_png) as tmp:
        plot_homogeneity_bar(table, metrics["bar_layer"], tmp)
    return metrics

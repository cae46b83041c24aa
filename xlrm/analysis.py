"""Representation and embedding analyses (the study's Figures 1 and 2).

**Representation homogeneity (Figure 1).** One context (an eval item) is translated into every
language; each model's hidden state of that context in each language forms one row of a matrix
``H`` of shape ``[n_languages, hidden]``. Its *sigma-1 share* ``s_1 / sum_i s_i`` (singular values
of ``H``) is 1 when the languages' representations are collinear (fully homogeneous) and
``1 / n_languages`` when they are orthogonal with equal norms. The study does not publish the
layer, the token pooling or the sample count, so every one is a parameter and the share is
reported for *every* layer (mean and std over contexts):

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

**Embedding norms (Figure 2).** The L2 norm of every input-embedding row whose token is assigned
a language (rule: :func:`assign_token_languages`), summarised per language and compared with the
reference language (English) by the two-sample Kolmogorov-Smirnov statistic and the 1-D
Wasserstein distance (both in numpy; scipy is not needed).
"""

from __future__ import annotations

import bisect
import logging
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from xlrm import languages as langs
from xlrm.errors import ConfigError, DataError, MissingResourceError

log = logging.getLogger(__name__)

# ============================================================================ sigma-1 share


def sigma1_shares(X: np.ndarray, center: bool = False) -> np.ndarray:
    """Batched :func:`sigma1_share` over the last two axes (``[..., rows, dim]`` -> ``[...]``).

    NaN where a matrix is all zeros (no singular value to share).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim < 2:
        raise ValueError(f"expected at least a 2-D array, got shape {X.shape}")
    if center:
        X = X - X.mean(axis=-2, keepdims=True)
    s = np.linalg.svd(X, compute_uv=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s[..., 0] / s.sum(axis=-1)


def sigma1_share(H: np.ndarray, center: bool = False) -> float:
    """Share of the largest singular value, ``s[0] / s.sum()``, of a matrix whose rows are
    representations.

    No centring by default (the study's description: the hidden states are concatenated as
    they are); ``center=True`` subtracts the mean row first. Identical rows give 1.0; ``L``
    orthogonal rows of equal norm give ``1 / L``; an all-zero matrix gives NaN.
    """
    H = np.asarray(H)
    if H.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {H.shape}")
    return float(sigma1_shares(H, center))


# ============================================================================ hidden states


def _device(name: str) -> str:
    import torch

    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def pooled_hidden_states(model, ids: list[list[int]], pad_id: int, pooling: str = "last",
                         token_budget: int = 8192) -> np.ndarray:
    """Pooled hidden states of every layer for token sequences: ``[n_layers + 1, n, hidden]``.

    Right padding with an attention mask, sequences batched by length
    (:func:`xlrm.reward.length_batches`), results in input order, float32.
    """
    import torch

    from xlrm.reward import length_batches

    if pooling not in ("last", "mean"):
        raise ConfigError(f"pooling must be 'last' or 'mean', got {pooling!r}")
    if not ids:
        raise DataError("no sequences to encode")
    if any(len(x) == 0 for x in ids):
        raise DataError("an empty token sequence cannot be pooled")
    backbone = getattr(model, model.base_model_prefix, model)
    device = next(model.parameters()).device
    lengths = [len(x) for x in ids]
    out: np.ndarray | None = None
    with torch.inference_mode():
        for batch in length_batches(lengths, token_budget):
            width = max(lengths[i] for i in batch)
            inp = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for j, i in enumerate(batch):
                inp[j, : lengths[i]] = torch.tensor(ids[i])
                mask[j, : lengths[i]] = 1
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

    Each conversation is rendered with the chat template (:func:`xlrm.reward.render_ids`),
    truncated from the left to ``max_length``, and run through the backbone
    (``getattr(model, model.base_model_prefix)``) with ``output_hidden_states=True``.
    """
    from xlrm.reward import encode_conversations

    ids, truncated = encode_conversations(tokenizer, convs, max_length)
    if truncated:
        log.info("%d of %d conversations truncated to %s tokens", truncated, len(convs), max_length)
    return pooled_hidden_states(model, ids, tokenizer.pad_token_id, pooling, token_budget)


def homogeneity_per_context(states: np.ndarray, center: bool = False) -> np.ndarray:
    """``states[lang, layer, context, hidden]`` -> sigma-1 share ``[layer, context]`` of each
    context's ``[n_langs, hidden]`` matrix."""
    states = np.asarray(states)
    if states.ndim != 4:
        raise ValueError(f"expected [langs, layers, contexts, hidden], got shape {states.shape}")
    return sigma1_shares(np.transpose(states, (1, 2, 0, 3)), center)


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


# ============================================================================ Figure 1 stage


@dataclass
class AnalyzeRepresentationsConfig:
    """The ``analyze_representations`` params section (Figure 1)."""

    # Token pooling: "last" = the last real token (what an RM's head reads); "mean" = the mean
    # over real tokens.
    pooling: Literal["last", "mean"] = "last"
    # Parallel contexts: the first N ids (sorted) present in every analysed language.
    contexts: int = 64
    # What a context is: the prompt alone, or the prompt plus the chosen reply (chat template).
    text: Literal["prompt", "prompt+chosen"] = "prompt+chosen"
    # Longer conversations are truncated from the left (as the RMs are scored).
    max_length: int | None = 2048
    # Padded tokens per forward pass.
    token_budget: int = 8192
    # Subtract the mean across languages before the SVD (the study: no centring).
    center: bool = False
    # Languages of the matrix; null = every eval language.
    languages: list[str] | None = None
    # Layer of the bar chart and headline metrics; null = the last layer; negative counts
    # from the end (-1 = last). Layer 0 is the embedding output.
    bar_layer: int | None = None
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.contexts < 1:
            raise ValueError(f"contexts must be >= 1, got {self.contexts}")
        if self.token_budget < 1:
            raise ValueError(f"token_budget must be >= 1, got {self.token_budget}")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length must be >= 1 or null, got {self.max_length}")
        if self.languages is not None:
            for lang in self.languages:
                langs.check(lang)
            if len(set(self.languages)) != len(self.languages) or len(self.languages) < 2:
                raise ValueError(f"languages must be at least 2 distinct codes, got {self.languages}")


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


def _load_analysis_model(path: str | Path | None, base_dir: str | Path,
                         cfg: AnalyzeRepresentationsConfig):
    from xlrm.reward import load_reward_model, load_seqcls, load_tokenizer

    if path is None:
        model = load_seqcls(base_dir, cfg.dtype).eval()  # the head is not used
        tok = load_tokenizer(base_dir)
    else:
        model = load_reward_model(path, base_dir, cfg.dtype)
        own = any((Path(path) / f).exists() for f in ("tokenizer.json", "tokenizer_config.json"))
        tok = load_tokenizer(path if own else base_dir)
    return model.to(_device(cfg.device)), tok


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
        model, tok = _load_analysis_model(path, base_dir, cfg)
        table = representation_homogeneity(model, tok, contexts, cfg.pooling,
                                           token_budget=cfg.token_budget,
                                           max_length=cfg.max_length, center=cfg.center)
        log.info("%s: sigma-1 share at the last layer %.4f (%d contexts, %d languages)", name,
                 table["mean"].iloc[-1], len(ids), len(languages))
        table.insert(0, "model", name)
        tables.append(table)
        del model
    return pd.concat(tables, ignore_index=True), ids


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


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path, dpi: int = 150) -> Path:
    """Write a PNG with no software/time metadata: identical inputs give identical bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None})
    return path


def _model_colours(models: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    rms = [m for m in models if m != "base"]
    colours = {m: cmap(i % 10) for i, m in enumerate(rms)}
    colours["base"] = (0.25, 0.25, 0.25, 1.0)
    return colours


def plot_homogeneity_layers(table: pd.DataFrame, path: str | Path, *, title: str | None = None) -> Path:
    """Sigma-1 share per layer, one line per model (the base dashed)."""
    models = list(dict.fromkeys(table["model"]))
    colours = _model_colours(models)
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for m in models:
        t = table[table["model"] == m]
        ax.plot(t["layer"], t["mean"], marker="o", markersize=3, color=colours[m],
                linestyle="--" if m == "base" else "-", linewidth=2.0 if m == "base" else 1.4,
                label="base" if m == "base" else f"RM {m}")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel(r"$\sigma_1 / \sum_i \sigma_i$ (mean over contexts)")
    ax.set_title(title or "Homogeneity of a context's representations across languages",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def plot_homogeneity_bar(table: pd.DataFrame, layer: int, path: str | Path, *,
                         title: str | None = None) -> Path:
    """Mean +- std over contexts at one layer, one bar per model (the study's Figure 1)."""
    t = table[table["layer"] == layer]
    models = list(dict.fromkeys(t["model"]))
    colours = _model_colours(models)
    t = t.set_index("model").loc[models]
    fig = _figure(1.6 + 0.9 * len(models), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(models))
    ax.bar(x, t["mean"], yerr=t["std"], capsize=4, color=[colours[m] for m in models],
           edgecolor="black", linewidth=0.6)
    for xi, (mean, std) in enumerate(zip(t["mean"], t["std"])):
        ax.text(xi, mean + std, f"{mean:.3f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, ["base" if m == "base" else f"RM {m}" for m in models])
    lo = float(np.nanmin(t["mean"] - t["std"]))
    hi = float(np.nanmax(t["mean"] + t["std"]))
    pad = max(0.05 * (hi - lo), 0.01)
    ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad) + pad)
    ax.set_ylabel(r"$\sigma_1 / \sum_i \sigma_i$")
    ax.set_title(title or f"Representation homogeneity across languages (layer {layer})",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def run_analyze_representations(cfg: AnalyzeRepresentationsConfig, base_dir: str | Path,
                                rms: dict[str, str | Path], eval_sets: dict[str, list[dict]], *,
                                table_csv: str | Path, layers_png: str | Path, bar_png: str | Path,
                                metrics_json: str | Path) -> dict[str, Any]:
    """The ``analyze_representations`` stage's core: compute, then write CSV, PNGs and metrics."""
    from xlrm.io import atomic_path, write_json

    for name, path in rms.items():
        if not Path(path).is_dir():
            raise DataError(f"reward model folder of {name!r} not found", path=str(path))
    table, ids = analyze_models(cfg, base_dir, rms, eval_sets)
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
    write_json(metrics_json, metrics)
    return metrics


# ============================================================================ token languages

# Unicode blocks of the scripts the analysis tells apart (letters only: categories L*).
_SCRIPT_RANGES: list[tuple[int, int, str]] = sorted([
    (0x0041, 0x005A, "Latin"), (0x0061, 0x007A, "Latin"), (0x00AA, 0x00AA, "Latin"),
    (0x00BA, 0x00BA, "Latin"), (0x00C0, 0x024F, "Latin"), (0x0250, 0x02AF, "Latin"),
    (0x1D00, 0x1DBF, "Latin"), (0x1E00, 0x1EFF, "Latin"), (0x2C60, 0x2C7F, "Latin"),
    (0xA720, 0xA7FF, "Latin"), (0xAB30, 0xAB6F, "Latin"), (0xFB00, 0xFB06, "Latin"),
    (0xFF21, 0xFF3A, "Latin"), (0xFF41, 0xFF5A, "Latin"),
    (0x0370, 0x03FF, "Greek"), (0x1F00, 0x1FFF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"), (0x1C80, 0x1C8F, "Cyrillic"), (0x2DE0, 0x2DFF, "Cyrillic"),
    (0xA640, 0xA69F, "Cyrillic"),
    (0x0590, 0x05FF, "Hebrew"), (0xFB1D, 0xFB4F, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"), (0x0750, 0x077F, "Arabic"), (0x08A0, 0x08FF, "Arabic"),
    (0xFB50, 0xFDFF, "Arabic"), (0xFE70, 0xFEFF, "Arabic"),
    (0x0900, 0x097F, "Devanagari"), (0xA8E0, 0xA8FF, "Devanagari"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x1100, 0x11FF, "Hangul"), (0x3130, 0x318F, "Hangul"), (0xA960, 0xA97F, "Hangul"),
    (0xAC00, 0xD7AF, "Hangul"), (0xD7B0, 0xD7FF, "Hangul"), (0xFFA0, 0xFFDC, "Hangul"),
    (0x3040, 0x309F, "Kana"), (0x30A0, 0x30FF, "Kana"), (0x31F0, 0x31FF, "Kana"),
    (0xFF66, 0xFF9F, "Kana"), (0x1B000, 0x1B16F, "Kana"),
    (0x2E80, 0x2FDF, "Han"), (0x3005, 0x3005, "Han"), (0x3007, 0x3007, "Han"),
    (0x3021, 0x3029, "Han"), (0x3038, 0x303B, "Han"), (0x3400, 0x4DBF, "Han"),
    (0x4E00, 0x9FFF, "Han"), (0xF900, 0xFAFF, "Han"), (0x20000, 0x3FFFF, "Han"),
])
_RANGE_STARTS = [r[0] for r in _SCRIPT_RANGES]

# Scripts a language's tokens can be written in, from its FLORES-200 script suffix.
_FLORES_SCRIPTS: dict[str, tuple[str, ...]] = {
    "Latn": ("Latin",), "Hang": ("Hangul",), "Hans": ("Han",), "Hant": ("Han",),
    "Jpan": ("Han", "Kana"), "Cyrl": ("Cyrillic",), "Arab": ("Arabic",), "Grek": ("Greek",),
    "Hebr": ("Hebrew",), "Deva": ("Devanagari",),
}


def char_script(ch: str) -> str | None:
    """Script of one letter (``None`` for a non-letter; ``"Other"`` outside the known blocks)."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    cp = ord(ch)
    i = bisect.bisect_right(_RANGE_STARTS, cp) - 1
    if i >= 0 and _SCRIPT_RANGES[i][0] <= cp <= _SCRIPT_RANGES[i][1]:
        return _SCRIPT_RANGES[i][2]
    return "Other"


def token_script(text: str) -> str | None:
    """Script of a token's letters: ``None`` without letters, ``"Mixed"`` when they mix scripts.

    Kana with or without Han is ``"Kana"`` (Japanese); Han alone is ``"Han"``.
    """
    scripts = {s for s in map(char_script, text) if s is not None}
    if not scripts:
        return None
    if "Kana" in scripts and scripts <= {"Kana", "Han"}:
        return "Kana"
    if len(scripts) == 1:
        return next(iter(scripts))
    return "Mixed"


def language_scripts(lang: str) -> tuple[str, ...]:
    """Scripts of a language's tokens (from its FLORES-200 code: ``kor_Hang`` -> Hangul)."""
    suffix = langs.flores(lang).split("_", 1)[1]
    if suffix not in _FLORES_SCRIPTS:
        raise ConfigError(f"language {lang!r}: script {suffix!r} is not supported by the "
                          f"token-language rule (known: {sorted(_FLORES_SCRIPTS)})")
    return _FLORES_SCRIPTS[suffix]


def _special_ids(tokenizer) -> set[int]:
    ids = set(tokenizer.all_special_ids)
    for i, added in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if getattr(added, "special", False):
            ids.add(int(i))
    return ids


def assign_token_languages(tokenizer, corpus_by_lang: dict[str, list[str]], *,
                           languages: list[str] | None = None, min_count: int = 5,
                           min_share: float = 0.6, attested_only: bool = False,
                           vocab_size: int | None = None) -> pd.DataFrame:
    """Assign every vocabulary token a language, or exclude it; one row per token.

    The rule, applied to the token decoded on its own (``tokenizer.decode([id])``), letters
    only (Unicode category L*):

    1. Special tokens and tokens without letters (punctuation, digits, whitespace, byte
       fragments that decode to U+FFFD) are excluded.
    2. The token's script is the script of all its letters (Kana with or without Han counts as
       Kana); a token that mixes scripts, or whose script none of ``languages`` is written in,
       is excluded.
    3. A non-Latin script written by exactly one of ``languages`` decides: Hangul -> ko,
       Han -> zh, Kana -> ja, Cyrillic -> ru, Arabic -> ar, Greek -> el, ... (rule
       ``script``).
    4. Otherwise (Latin script, or a script shared by several requested languages: Han with
       zh and ja, Cyrillic with ru and uk) the parallel corpus decides among the candidates:
       the token's count in each candidate's tokenized text, divided by that language's total
       token count, gives a relative frequency; the token goes to the language with the
       largest one when it occurs at least ``min_count`` times in all candidates' texts and
       that language's share of the relative frequencies is at least ``min_share`` (rule
       ``corpus``); else it is excluded as rare or ambiguous.

    Rule 3 takes every token of a script, rule 4 only tokens frequent in the corpus; with
    ``attested_only`` a script-assigned token must also occur ``min_count`` times in its
    language's corpus, so both groups are drawn alike (frequent tokens) and a difference in
    norms is not a frequency effect.

    Returns columns ``token_id, token, script, language, rule, count, share``
    (``language`` None and ``rule`` the reason for excluded tokens).
    """
    languages = list(languages) if languages is not None else list(corpus_by_lang)
    if not languages:
        raise ConfigError("token languages: no language given")
    if not 0.0 < min_share <= 1.0:
        raise ConfigError(f"min_share must be in (0, 1], got {min_share}")
    if min_count < 1:
        raise ConfigError(f"min_count must be >= 1, got {min_count}")
    by_script: dict[str, list[str]] = {}
    for lang in languages:
        for s in language_scripts(lang):
            by_script.setdefault(s, []).append(lang)
    need_corpus = sorted({lang for s, ls in by_script.items()
                          if s == "Latin" or len(ls) > 1 or attested_only for lang in ls})
    missing = [lang for lang in need_corpus if not corpus_by_lang.get(lang)]
    if missing:
        raise ConfigError(f"token languages: {missing} need corpus text (their tokens are told "
                          "apart by frequency), none given")

    n = len(tokenizer) if vocab_size is None else min(vocab_size, len(tokenizer))
    counts: dict[str, np.ndarray] = {}
    totals: dict[str, int] = {}
    for lang in need_corpus:
        enc = tokenizer(list(corpus_by_lang[lang]), add_special_tokens=False)["input_ids"]
        flat = np.fromiter((t for seq in enc for t in seq), dtype=np.int64)
        flat = flat[flat < n]
        counts[lang] = np.bincount(flat, minlength=n)[:n]
        totals[lang] = max(int(flat.size), 1)

    texts = tokenizer.batch_decode([[i] for i in range(n)], skip_special_tokens=False,
                                   clean_up_tokenization_spaces=False)
    specials = _special_ids(tokenizer)
    rows = []
    for tid, text in enumerate(texts):
        script = token_script(text)
        rec = {"token_id": tid, "token": text, "script": script, "language": None,
               "rule": None, "count": 0, "share": np.nan}
        rows.append(rec)
        if tid in specials:
            rec["rule"] = "excluded:special"
            continue
        if script is None:
            rec["rule"] = "excluded:no-letters"
            continue
        cands = by_script.get(script, [])
        if not cands:
            rec["rule"] = "excluded:script-" + ("mixed" if script == "Mixed" else "not-requested")
            continue
        if script != "Latin" and len(cands) == 1:
            if attested_only:
                rec["count"] = int(counts[cands[0]][tid])
                if rec["count"] < min_count:
                    rec["rule"] = "excluded:rare"
                    continue
            rec.update(language=cands[0], rule="script")
            continue
        c = np.array([counts[lang][tid] for lang in cands], dtype=np.float64)
        rec["count"] = int(c.sum())
        if c.sum() < min_count:
            rec["rule"] = "excluded:rare"
            continue
        rel = c / np.array([totals[lang] for lang in cands], dtype=np.float64)
        best = int(np.argmax(rel))
        share = float(rel[best] / rel.sum())
        rec["share"] = round(share, 6)
        if share < min_share:
            rec["rule"] = "excluded:ambiguous"
            continue
        rec.update(language=cands[best], rule="corpus")
    return pd.DataFrame(rows)


def token_languages(tokenizer, corpus_by_lang: dict[str, list[str]], *,
                    languages: list[str] | None = None, min_count: int = 5,
                    min_share: float = 0.6, attested_only: bool = False,
                    vocab_size: int | None = None) -> dict[int, str]:
    """``{token_id: language}`` of the tokens :func:`assign_token_languages` assigns."""
    table = assign_token_languages(tokenizer, corpus_by_lang, languages=languages,
                                   min_count=min_count, min_share=min_share,
                                   attested_only=attested_only, vocab_size=vocab_size)
    kept = table[table["language"].notna()]
    return dict(zip(kept["token_id"].astype(int), kept["language"]))


# ============================================================================ distributions


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        return float("nan")
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """1-D Wasserstein (earth mover's) distance: the area between the empirical CDFs."""
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        return float("nan")
    grid = np.sort(np.concatenate([a, b]))
    widths = np.diff(grid)
    fa = np.searchsorted(a, grid[:-1], side="right") / a.size
    fb = np.searchsorted(b, grid[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * widths))


def norm_summary(values: np.ndarray) -> dict[str, float]:
    """n, mean, std (ddof=0), median, quartiles, min and max of a sample (NaN when empty)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        nan = float("nan")
        return {"n": 0, "mean": nan, "std": nan, "median": nan, "q25": nan, "q75": nan,
                "min": nan, "max": nan}
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "mean": float(v.mean()), "std": float(v.std()),
            "median": float(med), "q25": float(q25), "q75": float(q75),
            "min": float(v.min()), "max": float(v.max())}


def compare_norms(norms_by_lang: dict[str, np.ndarray], reference: str = "en") -> pd.DataFrame:
    """Summary per language plus KS and Wasserstein distances from the reference language.

    ``wasserstein_rel`` is the Wasserstein distance divided by the reference's mean norm,
    comparable across models whose embeddings differ in scale.
    """
    if reference not in norms_by_lang:
        raise ConfigError(f"reference language {reference!r} is not among {list(norms_by_lang)}")
    ref = np.asarray(norms_by_lang[reference], dtype=np.float64)
    ref_mean = float(ref.mean()) if ref.size else float("nan")
    rows = []
    for lang, v in norms_by_lang.items():
        w = wasserstein_1d(v, ref)
        rows.append({"language": lang, **norm_summary(v), "ks": ks_statistic(v, ref),
                     "wasserstein": w,
                     "wasserstein_rel": w / ref_mean if ref_mean else float("nan")})
    return pd.DataFrame(rows)


# ============================================================================ Figure 2 stage


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def load_input_embeddings(source: str | Path, *, revision: str | None = None,
                          dtype: str = "auto") -> tuple[Any, np.ndarray]:
    """``(tokenizer, input-embedding matrix as float32 [rows, dim])`` of a local folder or a hub id.

    Loads the backbone only (``AutoModel``, no LM head). The local cache is tried first; a
    model that is neither a folder, cached, nor reachable raises MissingResourceError.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = str(source)
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)

    def load(**kw):
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # unused LM-head weights of a causal LM are expected
        try:
            tok = AutoTokenizer.from_pretrained(source, revision=revision, **kw)
            model = AutoModel.from_pretrained(source, revision=revision, dtype=torch_dtype, **kw)
        finally:
            hf_logging.set_verbosity(verbosity)
        weight = model.get_input_embeddings().weight.detach().float().cpu().numpy()
        return tok, weight

    if Path(source).is_dir():
        return load()
    try:  # the cache first: no network round trip when the model is there
        return load(local_files_only=True)
    except (OSError, ValueError):
        pass
    if _hub_offline():
        raise MissingResourceError(
            f"embedding model {source!r} is neither a local folder nor in the Hugging Face cache, "
            f"and HF_HUB_OFFLINE is set; download it (huggingface-cli download {source}) or "
            f"remove it from analyze_embeddings.models")
    try:
        return load()
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise MissingResourceError(
            f"embedding model {source!r} could not be loaded: it is not a local folder and "
            f"neither the hub nor the local cache has it ({type(e).__name__}: {first}). Check "
            f"the id, your network and HF_TOKEN for gated models") from None


def _subsample(ids: np.ndarray, k: int | None, seed: int, lang: str) -> np.ndarray:
    if k is None or ids.size <= k:
        return ids
    rng = np.random.default_rng([seed, *lang.encode()])
    return np.sort(rng.choice(ids, size=k, replace=False))


def embedding_norms(model_path: str | Path, corpus_by_lang: dict[str, list[str]], *,
                    languages: list[str], reference: str = "en", min_count: int = 5,
                    min_share: float = 0.6, attested_only: bool = False,
                    max_tokens_per_language: int | None = None, seed: int = 0,
                    dtype: str = "auto", revision: str | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Input-embedding L2 norms grouped by token language.

    Returns ``(tokens, summary)``: one row per analysed token (``token_id, token, language,
    rule, norm``) and one per language (:func:`compare_norms`). ``max_tokens_per_language``
    keeps a seeded random sample of a larger group.
    """
    tok, weight = load_input_embeddings(model_path, revision=revision, dtype=dtype)
    table = assign_token_languages(tok, corpus_by_lang, languages=languages, min_count=min_count,
                                   min_share=min_share, attested_only=attested_only,
                                   vocab_size=weight.shape[0])
    norms = np.linalg.norm(weight.astype(np.float64), axis=1)
    kept = []
    by_lang: dict[str, np.ndarray] = {}
    for lang in languages:
        ids = table.loc[table["language"] == lang, "token_id"].to_numpy(dtype=np.int64)
        ids = _subsample(ids, max_tokens_per_language, seed, lang)
        by_lang[lang] = norms[ids]
        if ids.size == 0:
            log.warning("%s: no token assigned to %s", model_path, lang)
        kept.append(table.set_index("token_id").loc[ids, ["token", "language", "rule"]]
                    .reset_index().assign(norm=norms[ids]))
    tokens = pd.concat(kept, ignore_index=True)
    summary = compare_norms(by_lang, reference)
    return tokens, summary


@dataclass
class AnalyzeEmbeddingsConfig:
    """The ``analyze_embeddings`` params section (Figure 2)."""

    # Hub ids or local folders. The study: allenai/OLMo-1B-hf, HuggingFaceTB/SmolLM-1.7B
    # (English-centric), Qwen/Qwen2.5-3B, meta-llama/Llama-3.2-3B (multilingual).
    models: list[str] = field(default_factory=lambda: ["models/base"])
    # English against two non-Latin and two Latin-script languages.
    languages: list[str] = field(default_factory=lambda: ["en", "ko", "zh", "es", "it"])
    reference_language: str = "en"
    # Parallel text that tells Latin-script languages apart: the eval sets (prompt + chosen
    # reply; rejected replies can be in another language on purpose) or the seed data.
    corpus: Literal["eval", "seed"] = "eval"
    seed_items_per_subset: int = 40      # with corpus: seed
    # A Latin token needs this many occurrences in the corpus ...
    min_count: int = 5
    # ... and this share of the candidates' relative frequencies to get a language.
    min_share: float = 0.6
    # Non-Latin tokens go by script, all of them; true keeps only those that also occur
    # min_count times in their language's corpus (both groups frequent tokens alike).
    attested_only: bool = False
    # Keep a seeded random sample of larger groups; null keeps all.
    max_tokens_per_language: int | None = None
    seed: int = 0
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    bins: int = 60

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("models must name at least one model")
        for lang in self.languages:
            langs.check(lang)
        if len(set(self.languages)) != len(self.languages):
            raise ValueError(f"duplicate language in {self.languages}")
        if self.reference_language not in self.languages:
            raise ValueError(f"reference_language {self.reference_language!r} must be one of "
                             f"languages {self.languages}")
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if not 0.0 < self.min_share <= 1.0:
            raise ValueError(f"min_share must be in (0, 1], got {self.min_share}")
        if self.max_tokens_per_language is not None and self.max_tokens_per_language < 1:
            raise ValueError("max_tokens_per_language must be >= 1 or null")
        if self.bins < 2:
            raise ValueError(f"bins must be >= 2, got {self.bins}")


def corpus_from_rows(rows_by_lang: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Corpus text per language: every prompt message and the chosen reply (rejected replies
    are left out: some are in another language on purpose)."""
    return {lang: [t for r in rows for t in (*(m["content"] for m in r["prompt"]), r["chosen"])]
            for lang, rows in rows_by_lang.items()}


def seed_corpus(languages: list[str], items_per_subset: int = 40) -> dict[str, list[str]]:
    """Corpus text from the project's parallel seed data (its languages only)."""
    from xlrm.data import seed

    available = [lang for lang in languages if lang in seed.SEED_LANGUAGES]
    rows = seed.generate(seed=0, items_per_subset=items_per_subset, languages=available)
    by_lang: dict[str, list[dict]] = {lang: [] for lang in available}
    for r in rows:
        by_lang[r["language"]].append(r)
    return corpus_from_rows(by_lang)


def plot_embedding_norms(norms: dict[str, dict[str, np.ndarray]], path: str | Path, *,
                         reference: str = "en", bins: int = 60) -> Path:
    """One panel per model: step histograms (densities) of norms by language, the reference
    language thick and black."""
    from matplotlib import colormaps

    models = list(norms)
    ncols = min(2, len(models))
    nrows = -(-len(models) // ncols)
    fig = _figure(5.2 * ncols, 3.6 * nrows)
    cmap = colormaps["tab10"]
    for k, model in enumerate(models):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        groups = {lang: v for lang, v in norms[model].items() if len(v)}
        if not groups:
            ax.set_title(f"{model}: no tokens", fontsize=9)
            continue
        allv = np.concatenate(list(groups.values()))
        lo, hi = float(np.min(allv)), float(np.max(allv))
        edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, bins + 1)
        others = [lang for lang in groups if lang != reference]
        for i, lang in enumerate(others):
            ax.hist(groups[lang], bins=edges, density=True, histtype="step", linewidth=1.3,
                    color=cmap(i % 10), label=f"{lang} (n={len(groups[lang])})")
        if reference in groups:
            ax.hist(groups[reference], bins=edges, density=True, histtype="step", linewidth=2.4,
                    color="black", label=f"{reference} (n={len(groups[reference])})")
        ax.set_title(str(model), fontsize=9)
        ax.set_xlabel("input-embedding L2 norm")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return None if not np.isfinite(x) else round(x, 6)
    return x


def embedding_reading(metrics: dict[str, Any]) -> str:
    """One sentence per model: each language's mean token-embedding norm relative to the
    reference language's, and the largest KS distance."""
    ref = metrics["reference"]
    out = []
    for model, per in metrics["models"].items():
        base = (per.get(ref) or {}).get("mean")
        rel = [f"{lang} {r['mean'] / base:.2f}x" for lang, r in per.items()
               if lang != ref and base and r.get("mean") is not None]
        ks = {lang: r["ks"] for lang, r in per.items() if lang != ref and r.get("ks") is not None}
        far = max(ks, key=ks.get) if ks else None
        text = f"{Path(model).name or model}: mean norm vs {ref} " + (", ".join(rel) or "n/a")
        if far is not None:
            text += f" (largest KS: {far} {ks[far]:.2f})"
        out.append(text)
    return "Token-embedding norms by language; " + "; ".join(out) + "."


def run_analyze_embeddings(cfg: AnalyzeEmbeddingsConfig, corpus_by_lang: dict[str, list[str]], *,
                           stats_csv: str | Path, plot_png: str | Path, metrics_json: str | Path,
                           tokens_csv: str | Path | None = None) -> dict[str, Any]:
    """The ``analyze_embeddings`` stage's core: every model's norms, then CSV(s), PNG, metrics."""
    from xlrm.io import atomic_path, write_json

    summaries, token_tables = [], []
    norms: dict[str, dict[str, np.ndarray]] = {}
    for model in cfg.models:
        tokens, summary = embedding_norms(
            model, corpus_by_lang, languages=cfg.languages, reference=cfg.reference_language,
            min_count=cfg.min_count, min_share=cfg.min_share, attested_only=cfg.attested_only,
            max_tokens_per_language=cfg.max_tokens_per_language, seed=cfg.seed, dtype=cfg.dtype)
        summaries.append(summary.assign(model=model))
        token_tables.append(tokens.assign(model=model))
        norms[model] = {lang: tokens.loc[tokens["language"] == lang, "norm"].to_numpy()
                        for lang in cfg.languages}
        log.info("%s: tokens per language %s", model,
                 {r["language"]: r["n"] for r in summary.to_dict("records")})
    stats = pd.concat(summaries, ignore_index=True)
    stats = stats[["model", *[c for c in stats.columns if c != "model"]]]
    metrics: dict[str, Any] = {"reference": cfg.reference_language, "models": {}}
    for rec in stats.to_dict("records"):
        metrics["models"].setdefault(rec["model"], {})[rec["language"]] = {
            k: _finite(float(rec[k])) if k != "n" else int(rec[k])
            for k in ("n", "mean", "median", "ks", "wasserstein", "wasserstein_rel")}
    metrics["reading"] = embedding_reading(metrics)
    with atomic_path(stats_csv) as tmp:
        stats.round(6).to_csv(tmp, index=False)
    if tokens_csv is not None:
        tokens = pd.concat(token_tables, ignore_index=True)
        tokens = tokens[["model", *[c for c in tokens.columns if c != "model"]]]
        with atomic_path(tokens_csv) as tmp:
            tokens.round(6).to_csv(tmp, index=False)
    with atomic_path(plot_png) as tmp:
        plot_embedding_norms(norms, tmp, reference=cfg.reference_language, bins=cfg.bins)
    write_json(metrics_json, metrics)
    return metrics

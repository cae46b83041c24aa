"""The analyses' figures: homogeneity per layer and at one layer (Figure 1), embedding-norm
histograms (Figure 2). PNGs carry no software/time metadata: identical inputs give identical
bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


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


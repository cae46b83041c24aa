"""The transfer matrix as a PNG heatmap (byte-identical for identical inputs)."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

def _half_widths(matrix: pd.DataFrame, ci: pd.DataFrame) -> np.ndarray:
    """Half-widths aligned with ``matrix``: from a :func:`bootstrap_ci` table, or a matrix
    of half-widths with the same labels."""
    if {"rm", "language", "ci_low", "ci_high"} <= set(ci.columns):
        hw = ci.assign(_hw=(ci["ci_high"] - ci["ci_low"]) / 2.0) \
            .pivot(index="rm", columns="language", values="_hw")
    else:
        hw = ci
    return hw.reindex(index=matrix.index, columns=matrix.columns).to_numpy(dtype=float)


def heatmap(matrix: pd.DataFrame, path: str | PathLike, ci: pd.DataFrame | None = None,
            title: str = "RM accuracy on M-RewardBench (rows: RM train language)",
            *, percent: bool = True, cmap: str = "viridis",
            vmin: float | None = None, vmax: float | None = None, dpi: int = 150) -> Path:
    """Write the transfer matrix as a PNG heatmap and return its path.

    Rows = RM (train language), columns = eval language, one annotation per cell (the value,
    plus ``±half-width`` when ``ci`` is given: a :func:`bootstrap_ci` table or a matrix of
    half-widths), and a colour bar. ``percent`` shows accuracies x 100. NaN cells are blank.
    The PNG carries no software/time metadata, so identical inputs give identical bytes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = matrix.to_numpy(dtype=float)
    scale = 100.0 if percent else 1.0
    shown = values * scale
    half = None if ci is None else _half_widths(matrix, ci) * scale
    nrow, ncol = shown.shape
    fig = Figure(figsize=(1.2 + 0.95 * max(ncol, 1) + 1.2, 1.2 + 0.6 * max(nrow, 1)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    masked = np.ma.masked_invalid(shown)
    finite = shown[np.isfinite(shown)]
    lo = vmin * scale if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    hi = vmax * scale if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5 * scale / 100, hi + 0.5 * scale / 100
    im = ax.imshow(masked, cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
    ax.set_xticks(range(ncol), [str(c) for c in matrix.columns])
    ax.set_yticks(range(nrow), [str(r) for r in matrix.index])
    ax.set_xlabel(str(matrix.columns.name or "eval language"))
    ax.set_ylabel(str(matrix.index.name or "RM"))
    ax.set_title(title, fontsize=10)
    colormap = im.get_cmap()
    digits = 1 if percent else 3
    for i in range(nrow):
        for j in range(ncol):
            v = shown[i, j]
            if not np.isfinite(v):
                continue
            text = f"{v:.{digits}f}"
            if half is not None and np.isfinite(half[i, j]):
                text += f"\n±{half[i, j]:.{digits}f}"
            r, g, b, _ = colormap(im.norm(v))
            luminance = 0.299 * r + 0.587 * g + 0.114 * b
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="black" if luminance > 0.5 else "white")
    cbar = fig.colorbar(im, ax=ax)
    cbar.set_label("accuracy (%)" if percent else "accuracy")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None})
    return path

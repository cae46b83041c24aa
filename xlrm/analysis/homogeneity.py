"""The sigma-1 share: how homogeneous a matrix of representations is.

One context (an eval item) is translated into every language; each model's hidden state of
that context in each language forms one row of a matrix ``H`` of shape
``[n_languages, hidden]``. Its *sigma-1 share* ``s_1 / sum_i s_i`` (singular values of ``H``)
is 1 when the languages' representations are collinear (fully homogeneous) and
``1 / n_languages`` when they are orthogonal with equal norms.
"""

from __future__ import annotations

import numpy as np


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



def homogeneity_per_context(states: np.ndarray, center: bool = False) -> np.ndarray:
    """``states[lang, layer, context, hidden]`` -> sigma-1 share ``[layer, context]`` of each
    context's ``[n_langs, hidden]`` matrix."""
    states = np.asarray(states)
    if states.ndim != 4:
        raise ValueError(f"expected [langs, layers, contexts, hidden], got shape {states.shape}")
    return sigma1_shares(np.transpose(states, (1, 2, 0, 3)), center)


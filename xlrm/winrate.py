"""AlpacaEval's win-rate metrics of per-instruction preferences (judges: :mod:`xlrm.judges`).

A judge returns a **preference** ``p`` in [1, 2] per instruction, with AlpacaEval's
encoding: 1 = the reference is better, 2 = the evaluated model is better, 1.5 = a draw
(identical outputs), NaN = no annotation.

Metrics (:func:`win_rate_metrics`, :func:`summarize`) follow AlpacaEval
(``alpaca_eval.metrics``: ``AbsoluteScoringRule`` / ``ZeroOneScoringRule.describe_head2head``
and ``main.evaluate``) exactly:

* NaN/None preferences are dropped; a legacy draw encoded as ``0`` becomes 1.5. (AlpacaEval
  also drops values outside [1, 2] silently; here they raise, since every judge of
  :mod:`xlrm.judges` produces values in [1, 2] and anything else is a bug.)
* ``win_rate = mean(p - 1) * 100`` and ``standard_error = sem(p - 1) * 100`` with the sample
  standard deviation (``ddof=1``, pandas' ``Series.sem``); the preference is used as it is
  (soft, not rounded).
* ``n_wins`` = #(p > 1.5), ``n_wins_base`` = #(p < 1.5), ``n_draws`` = #(p == 1.5),
  ``n_total`` = #non-missing.
* ``discrete_win_rate``: each p is rounded first (1.5 stays a draw worth one half),
  ``(n_wins + n_draws / 2) / n_total * 100``.
* ``avg_length``: ``int(mean(len(output)))`` over the model's outputs, in characters.
* ``length_controlled_minimal`` (AlpacaEval's GLM of that name, see :func:`fit_length_glm`):
  with soft labels ``y = p - 1`` and ``s = (len_model - len_reference) / sd`` (``sd`` the
  sample standard deviation of the length differences over all rows), fit the logistic GLM
  ``P(model wins) = sigmoid(phi * tanh(s) + theta)`` by maximum likelihood on the soft-label
  Bernoulli likelihood ``sum y log mu + (1 - y) log(1 - mu)``, then predict at ``s = 0`` and
  average: ``LC = mean_i sigmoid(theta) * 100 = sigmoid(theta) * 100``. AlpacaEval writes
  the length difference as reference minus model, which only flips the sign of ``phi``; it
  also picks an L1 penalty by 5-fold cross-validation (liblinear), whereas this fit is
  unregularised Newton/IRLS, so the two agree closely but not to the last digit. The
  leaderboard's ``length_controlled_winrate`` also has an instruction-difficulty term whose
  table is not available offline.
* The guard (:func:`length_fit_problem`): the GLM's prediction at equal length is reported
  only when it is an interpolation from a fit that exists. ``length_controlled_minimal`` is
  missing (None, JSON null) and ``length_controlled_reason`` says why when (a) fewer than
  ``max(LC_MIN_SIDE, ceil(LC_MIN_SIDE_SHARE * n))`` of the ``n`` fitted instructions have a
  model answer at most as long as the reference, or fewer than that many at least as long
  (an answer of exactly the reference length counts on both sides): equal length is then
  outside, or at the very edge of, the data, and the rate is the model's extrapolation; or
  (b) Newton's method did not converge, or ``|phi| > LC_MAX_LENGTH_COEF`` (``tanh`` is
  bounded, so such a weight means the verdicts are (nearly) separated by length and the
  maximum-likelihood estimate runs off to infinity). With every label 0 (or 1) the rate is
  the exact limit 0 (100) whatever the lengths, and is reported. The thresholds keep
  AlpacaEval's own published models (alpaca-7b: 22 of 805 answers at least as long as the
  reference) and reject the case the guard is for: the default run, whose answers are 3-4
  times as long as the references on every instruction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from xlrm.langid import LanguageChecker

log = logging.getLogger(__name__)

LC_MIN_SIDE = 3             # fewest instructions on each side of equal length (see the guard)
LC_MIN_SIDE_SHARE = 0.02    # ... and at least this share of the fitted instructions
LC_MAX_LENGTH_COEF = 10.0   # |phi| beyond this: the fit is separating, not estimating


def as_preferences(preferences: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """Preferences as a float array: None -> NaN, AlpacaEval's legacy draw ``0`` -> 1.5.

    Raises:
        ValueError: a value that is neither NaN nor in [1, 2].
    """
    arr = np.array([np.nan if p is None else p for p in preferences], dtype=float).reshape(-1)
    arr[arr == 0] = 1.5
    bad = np.flatnonzero(~np.isnan(arr) & ((arr < 1) | (arr > 2)))
    if bad.size:
        raise ValueError(f"preferences must be in [1, 2] or missing; got {arr[bad[0]]!r} at "
                         f"position {int(bad[0])} ({bad.size} such values)")
    return arr


def win_rate_metrics(preferences: Sequence[float | None] | np.ndarray) -> dict[str, Any]:
    """AlpacaEval's head-to-head metrics of per-instruction preferences.

    Returns ``win_rate``, ``standard_error``, ``n_wins``, ``n_wins_base``, ``n_draws``,
    ``n_total``, ``discrete_win_rate`` (see the module docstring) and ``n_missing``
    (dropped NaN/None). Rates are in percent; with no annotation they are NaN, and the
    standard error is NaN with fewer than two.
    """
    p = as_preferences(preferences)
    n_missing = int(np.isnan(p).sum())
    p = p[~np.isnan(p)]
    n = int(p.size)
    soft = p - 1.0
    draws = p == 1.5
    # ZeroOneScoringRule: round each preference (a draw stays 1.5, i.e. one half).
    discrete = np.where(draws, 0.5, np.round(p) - 1.0)
    return {
        "win_rate": float(soft.mean() * 100) if n else math.nan,
        "standard_error": float(soft.std(ddof=1) / math.sqrt(n) * 100) if n > 1 else math.nan,
        "n_wins": int((soft > 0.5).sum()),
        "n_wins_base": int((soft < 0.5).sum()),
        "n_draws": int(draws.sum()),
        "n_total": n,
        "discrete_win_rate": float(discrete.mean() * 100) if n else math.nan,
        "n_missing": n_missing,
    }


def expit(x: np.ndarray | float) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))``, without overflow."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))


def _char_lengths(values: Sequence[str] | Sequence[int] | np.ndarray) -> np.ndarray:
    return np.array([len(v) if isinstance(v, str) else v for v in values], dtype=float)


def fit_soft_logistic(X: np.ndarray, y: np.ndarray, *, max_iter: int = 100,
                      tol: float = 1e-11) -> tuple[np.ndarray, bool, int]:
    """Maximum-likelihood logistic regression on soft labels ``y`` in [0, 1] (no intercept
    is added: put a column of ones in ``X``).

    Minimises ``L(b) = sum_i log(1 + exp(x_i b)) - y_i x_i b`` (the negative soft-label
    Bernoulli log-likelihood) by Newton's method (= IRLS) with backtracking: gradient
    ``X'(mu - y)``, Hessian ``X' diag(mu (1 - mu)) X``, ``mu = sigmoid(X b)``. The Newton
    step is the least-squares (minimum-norm) solution, so a constant-zero column keeps a
    zero weight instead of making the system singular.

    Returns ``(weights, converged, iterations)``; converged means every gradient entry is
    below ``tol * n``. (Without convergence, e.g. under perfect separation, the weights
    are those of the last iterate.)
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    beta = np.zeros(k)

    def loss(b: np.ndarray) -> float:
        eta = X @ b
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    cur = loss(beta)
    for it in range(1, max_iter + 1):
        mu = expit(X @ beta)
        grad = X.T @ (mu - y)
        if np.max(np.abs(grad)) <= tol * max(n, 1):
            return beta, True, it - 1
        hess = X.T @ (X * (mu * (1.0 - mu))[:, None])
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0
        decrease = float(grad @ step)
        while True:
            cand = beta - t * step
            new = loss(cand)
            if new <= cur - 1e-4 * t * decrease or t < 1e-10:
                break
            t *= 0.5
        if new > cur:  # no progress possible in floating point
            break
        beta, cur = cand, new
    mu = expit(X @ beta)
    grad = X.T @ (mu - y)
    return beta, bool(np.max(np.abs(grad)) <= tol * max(n, 1)), max_iter


@dataclass(frozen=True)
class LengthGLM:
    """A fitted ``length_controlled_minimal`` GLM (see :func:`fit_length_glm`).

    Attributes:
        length_coef: ``phi``, the weight of ``tanh(std_delta_len)`` (model minus reference:
            positive when longer answers win more often).
        baseline: ``theta``, the weight of the baseline (intercept) term.
        delta_len_sd: the standard deviation the length differences were divided by.
        n_fit: rows the GLM was fitted on (non-missing preferences).
        converged: whether Newton's method converged.
        win_rate: the fit's prediction at equal length, ``sigmoid(theta) * 100`` (whether
            or not it can be trusted: see ``problem``).
        problem: why the prediction is not reported (:func:`length_fit_problem`), or None.
    """

    length_coef: float
    baseline: float
    delta_len_sd: float
    n_fit: int
    converged: bool
    win_rate: float
    problem: str | None = None

    @property
    def length_controlled(self) -> float | None:
        """The length-controlled win rate, or None when :attr:`problem` rules it out."""
        return None if self.problem is not None else self.win_rate


def length_fit_problem(delta: np.ndarray, mean_ratio: float, *, length_coef: float,
                       baseline: float, converged: bool) -> str | None:
    """Why a length GLM's prediction at equal length must not be reported (None: it may).

    ``delta`` holds the fitted instructions' length differences, model minus reference, and
    ``mean_ratio`` the mean model length over the mean reference length (for the message).
    The rule is the module docstring's guard.
    """
    n = int(delta.size)
    need = max(LC_MIN_SIDE, math.ceil(LC_MIN_SIDE_SHARE * n))
    not_longer, not_shorter = int((delta <= 0).sum()), int((delta >= 0).sum())
    ratio = f" ({mean_ratio:.1f}x on average)" if math.isfinite(mean_ratio) else ""
    if not_longer == 0:
        return (f"answers are longer than the reference on every instruction{ratio}: equal "
                "length is outside the data")
    if not_shorter == 0:
        return (f"answers are shorter than the reference on every instruction{ratio}: equal "
                "length is outside the data")
    if min(not_longer, not_shorter) < need:
        few, what = ((not_longer, "at most") if not_longer <= not_shorter
                     else (not_shorter, "at least"))
        return (f"only {few} of {n} answers are {what} as long as the reference{ratio}: "
                f"equal length is at the edge of the data ({need} needed on each side)")
    if not converged or not math.isfinite(baseline):
        return "the length GLM did not converge (verdicts separated by length?)"
    if abs(length_coef) > LC_MAX_LENGTH_COEF:
        return (f"the length GLM diverges (length weight {length_coef:+.1f}, beyond "
                f"±{LC_MAX_LENGTH_COEF:g}): the verdicts are (nearly) separated by length")
    return None


def fit_length_glm(preferences: Sequence[float | None] | np.ndarray,
                   model_lengths: Sequence[str] | Sequence[int] | np.ndarray,
                   reference_lengths: Sequence[str] | Sequence[int] | np.ndarray) -> LengthGLM:
    """Fit AlpacaEval's ``length_controlled_minimal`` GLM and predict at equal lengths.

    Args:
        preferences: per-instruction preferences in [1, 2] (NaN/None = missing).
        model_lengths, reference_lengths: character lengths of the model's and the
            reference's outputs, or the output strings themselves.

    The formula (module docstring): ``logit P(win) = phi * tanh(s) + theta`` with
    ``s = (len_model - len_ref) / sd(len_model - len_ref)`` (``ddof=1``, over all rows, as
    AlpacaEval computes it before dropping missing preferences; ``s = 0`` when that
    deviation is 0 or undefined), fitted on the soft labels ``p - 1`` of the non-missing
    rows. Predicting at ``s = 0`` gives ``sigmoid(theta)`` for every instruction, so the
    length-controlled win rate is ``sigmoid(theta) * 100``. If every label is 0 (or every
    one 1) the maximum-likelihood ``theta`` is infinite and the rate is its limit, 0 (100).
    ``problem`` is set (and :attr:`LengthGLM.length_controlled` None) when the module
    docstring's guard rules the prediction out.
    """
    p = as_preferences(preferences)
    lm, lr = _char_lengths(model_lengths), _char_lengths(reference_lengths)
    if not (len(p) == len(lm) == len(lr)):
        raise ValueError(f"got {len(p)} preferences, {len(lm)} model lengths and {len(lr)} "
                         "reference lengths")
    delta = lm - lr
    sd = float(np.std(delta, ddof=1)) if len(delta) > 1 else math.nan
    std_delta = delta / sd if sd > 0 else np.zeros_like(delta)
    keep = ~np.isnan(p)
    y = p[keep] - 1.0
    n = int(keep.sum())
    if n == 0:
        return LengthGLM(math.nan, math.nan, sd, 0, False, math.nan,
                         "no instruction has a verdict")
    if np.all(y == 0.0) or np.all(y == 1.0):
        theta = -math.inf if y[0] == 0.0 else math.inf
        return LengthGLM(0.0, theta, sd, n, True, float(y[0] * 100))
    X = np.column_stack([np.tanh(std_delta[keep]), np.ones(n)])
    beta, converged, _ = fit_soft_logistic(X, y)
    mean_ref = float(lr[keep].mean())
    ratio = float(lm[keep].mean()) / mean_ref if mean_ref > 0 else math.nan
    problem = length_fit_problem(delta[keep], ratio, length_coef=float(beta[0]),
                                 baseline=float(beta[1]), converged=converged)
    if problem is not None:
        log.warning("length-controlled win rate not reported: %s", problem)
    return LengthGLM(length_coef=float(beta[0]), baseline=float(beta[1]), delta_len_sd=sd,
                     n_fit=n, converged=converged, win_rate=float(expit(beta[1]) * 100),
                     problem=problem)


def length_controlled_minimal(preferences: Sequence[float | None] | np.ndarray,
                              model_lengths: Sequence[str] | Sequence[int] | np.ndarray,
                              reference_lengths: Sequence[str] | Sequence[int] | np.ndarray
                              ) -> float | None:
    """The ``length_controlled_minimal`` win rate in percent, or None where the guard rules
    it out (see :func:`fit_length_glm`)."""
    return fit_length_glm(preferences, model_lengths, reference_lengths).length_controlled


def summarize(preferences: Sequence[float | None] | np.ndarray, model_texts: Sequence[str],
              reference_texts: Sequence[str]) -> dict[str, Any]:
    """Every AlpacaEval metric of one model against its references.

    Returns the keys of :func:`win_rate_metrics` plus ``avg_length`` (AlpacaEval's
    ``int(mean(len(output)))`` over ``model_texts``), ``avg_length_reference``,
    ``length_controlled_minimal`` (percent; None where the module docstring's guard rules it
    out), ``length_controlled_reason`` (why it is None; None when it is a number) and the
    GLM's ``lc_length_coef`` and ``lc_baseline`` weights (as fitted, either way).
    """
    if not (len(preferences) == len(model_texts) == len(reference_texts)):
        raise ValueError(f"got {len(preferences)} preferences, {len(model_texts)} model texts "
                         f"and {len(reference_texts)} reference texts")
    out = win_rate_metrics(preferences)
    lm, lr = _char_lengths(model_texts), _char_lengths(reference_texts)
    out["avg_length"] = int(lm.mean()) if lm.size else 0
    out["avg_length_reference"] = int(lr.mean()) if lr.size else 0
    glm = fit_length_glm(preferences, lm, lr)
    out["length_controlled_minimal"] = glm.length_controlled
    out["length_controlled_reason"] = glm.problem
    out["lc_length_coef"] = glm.length_coef
    out["lc_baseline"] = glm.baseline
    return out


def language_fidelity(texts: Sequence[str], lang: str, checker: LanguageChecker) -> float:
    """Share of ``texts`` that ``checker`` assigns to ``lang`` (NaN for no texts).

    Texts too short to identify count as in the language (:meth:`LanguageChecker.is_language`).
    """
    texts = list(texts)
    if not texts:
        return math.nan
    ok = checker.are_language(texts, lang)
    return sum(ok) / len(ok)

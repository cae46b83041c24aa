"""Uncertainty of the M-RewardBench scores: a percentile bootstrap over *pairs*.

Pair ids are resampled with replacement within each (language, subset) stratum, so every
subset keeps its size, and the same resampled ids are used for every RM (and every head)
evaluated on that language, which makes RM-vs-RM differences paired. Each stratum has its
own random stream derived from ``(seed, language, subset)``, so a stratum's draws do not
change when other languages, subsets or RMs are added to the table. Intervals are at the
``confidence`` level the caller passes (the ``transfer`` section's ``confidence``, 0.95 by
default); :func:`confidence_label` prints it.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xlrm.errors import ConfigError, DataError
from xlrm.evaluation.accuracy import accuracy_report, category_order, prepare_scores, subset_order
from xlrm.evaluation.weights import MREWARDBENCH_WEIGHTS

@dataclass
class BootstrapResult:
    """Bootstrap replicates of every (rm, language) score.

    ``point[(rm, language)]`` is the full-data language score (from :func:`accuracy_report`);
    ``samples[(rm, language)]`` is a float array of ``n_resamples`` replicates (NaN only in
    the degenerate case of a resample that drew none of an RM's pairs in some subset, which
    can only happen when RMs were scored on different pairs). Replicate ``b`` of every
    (rm, language) uses the same resampled pairs, so differences are paired.
    """

    point: dict[tuple[str, str], float]
    samples: dict[tuple[str, str], np.ndarray]
    n_resamples: int
    seed: int
    report: dict[str, dict[str, dict[str, Any]]] = field(repr=False, default_factory=dict)
    #: ``(rm, language, category)`` -> replicates of that category's score, from the same
    #: resampled pairs as :attr:`samples` (only the categories the RM has on that language)
    category_samples: dict[tuple[str, str, str], np.ndarray] = field(repr=False,
                                                                    default_factory=dict)


def _stratum_rng(seed: int, language: str, subset: str) -> np.random.Generator:
    key = zlib.crc32(f"{language}\x00{subset}".encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([int(seed), key]))


def _seed_draws(seed: int, rm: str, n_seeds: int, n_resamples: int) -> np.ndarray:
    """(n_resamples, n_seeds) indices of an RM's training seeds drawn with replacement per
    replicate: one stream per RM, the same for every language and category (each seed is one
    trained model wherever it is scored). One seed: always itself."""
    if n_seeds <= 1:
        return np.zeros((n_resamples, max(n_seeds, 1)), dtype=np.int64)
    key = zlib.crc32(f"rm-seeds\x00{rm}".encode("utf-8"))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), key]))
    return rng.integers(0, n_seeds, size=(n_resamples, n_seeds))


def _replica_mean(values: np.ndarray, js: list[int], seed_of: list[int],
                  draws: np.ndarray) -> np.ndarray:
    """Per replicate, the mean over an RM's drawn seeds of the mean over each seed's heads:
    ``values`` is (B, columns); ``js`` the RM's columns, ``seed_of`` their seeds."""
    per_seed = np.stack([values[:, [j for j, s in zip(js, seed_of) if s == k]].mean(axis=1)
                         for k in range(draws.shape[1])], axis=1)       # (B, seeds)
    return np.take_along_axis(per_seed, draws, axis=1).mean(axis=1)


def _resample_counts(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    """(n_resamples, n) matrix: how often each of n pairs is drawn in each resample."""
    idx = rng.integers(0, n, size=(n_resamples, n))
    flat = idx + (np.arange(n_resamples, dtype=np.int64) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=n_resamples * n).reshape(n_resamples, n) \
        .astype(np.float64)


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (NaN replicates ignored)."""
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    samples = np.asarray(samples, dtype=float)
    if samples.size == 0 or np.isnan(samples).all():
        return math.nan, math.nan
    a = (1.0 - confidence) / 2.0
    lo, hi = np.nanpercentile(samples, [100.0 * a, 100.0 * (1.0 - a)])
    return float(lo), float(hi)


def two_level_replicates(values: np.ndarray, rng: np.random.Generator,
                         resamples: int) -> np.ndarray:
    """Bootstrap replicates of the mean over seeds of the per-seed mean over items of
    ``values`` ``[seeds, items]`` (NaN-safe; a replicate with no value is NaN): seeds
    resampled, then items (the same items for every seed: paired)."""
    S, N = values.shape
    reps = np.empty(resamples)
    for b in range(resamples):
        s_idx = rng.integers(0, S, S) if S > 1 else np.zeros(1, dtype=int)
        i_idx = rng.integers(0, N, N)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reps[b] = np.nanmean(np.nanmean(values[np.ix_(s_idx, i_idx)], axis=1))
    return reps


def confidence_label(confidence: float) -> str:
    """An interval's level as printed: ``0.95`` -> ``"95%"``, ``0.975`` -> ``"97.5%"``."""
    return f"{100.0 * float(confidence):g}%"


def bootstrap_language_scores(scores: pd.DataFrame,
                              weights: Mapping[str, tuple[str, int]] = MREWARDBENCH_WEIGHTS,
                              n_resamples: int = 1000, seed: int = 0) -> BootstrapResult:
    """Stratified, paired pair-level bootstrap of every (rm, language) language score.

    For each (language, subset) stratum the union of pair ids scored by any RM is resampled
    with replacement (``n`` draws from ``n`` ids) ``n_resamples`` times; each RM's (and each
    head's) subset accuracy in a replicate is correct / rows over the drawn pairs it scored;
    category and language scores then follow the usual rules with the *fixed* subset weights
    (table counts, or the full-data row count for subsets outside the table), and heads are
    averaged. An RM trained with several seeds (``rm_seed`` rows) is bootstrapped at two
    levels: each replicate also draws that RM's seeds with replacement (one draw per RM and
    replicate, shared by every language: :func:`_seed_draws`) and averages the drawn seeds'
    scores, so the intervals hold training noise as well as pair sampling; with one seed this
    is the plain pair bootstrap. Vectorised: one (n_resamples x n) count matrix per stratum,
    multiplied by the (n x RMs·replicas) correctness matrix.
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) \
            or n_resamples < 1:
        raise ConfigError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    B = int(n_resamples)
    report = accuracy_report(scores, weights)
    df = prepare_scores(scores, weights)
    point = {(rm, lang): rec["score"] for rm, langs in report.items()
             for lang, rec in langs.items()}
    samples: dict[tuple[str, str], np.ndarray] = {}
    cat_samples: dict[tuple[str, str, str], np.ndarray] = {}
    seeds_of_rm = {rm: sorted(set(g)) for rm, g in df.groupby("rm", sort=False)["_seed"]}
    draws = {rm: _seed_draws(seed, rm, len(s), B) for rm, s in seeds_of_rm.items()}

    for lang, dl in df.groupby("language", sort=False):
        cols = list(dict.fromkeys(zip(dl["rm"], dl["_head"])))  # (rm, replica) columns
        col_of = {c: j for j, c in enumerate(cols)}
        seed_of_col = dict(zip(zip(dl["rm"], dl["_head"]), dl["_seed"]))
        R = len(cols)
        col_idx_all = np.fromiter((col_of[c] for c in zip(dl["rm"], dl["_head"])),
                                  dtype=np.int64, count=len(dl))
        dl = dl.assign(_col=col_idx_all)
        subsets = subset_order(dl["subset"].unique(), weights)
        cat_of = dl.groupby("subset")["category"].first().to_dict()
        cats = category_order(cat_of.values())
        S = len(subsets)
        acc = np.empty((B, S, R))
        weight = np.zeros((S, R))
        present = np.zeros((S, R), dtype=bool)
        groups = dict(tuple(dl.groupby("subset", sort=False)))
        for s, subset in enumerate(subsets):
            ds = groups[subset]
            ids, id_idx = np.unique(ds["id"].to_numpy(dtype=str), return_inverse=True)
            n = len(ids)
            C = np.zeros((n, R))
            M = np.zeros((n, R))
            C[id_idx, ds["_col"].to_numpy()] = ds["_correct"].to_numpy(dtype=float)
            M[id_idx, ds["_col"].to_numpy()] = 1.0
            rows = M.sum(axis=0)
            present[s] = rows > 0
            weight[s] = np.where(present[s],
                                 weights[subset][1] if subset in weights else rows, 0.0)
            W = _resample_counts(_stratum_rng(seed, lang, subset), n, B)
            with np.errstate(invalid="ignore", divide="ignore"):
                acc[:, s, :] = (W @ C) / (W @ M)
        acc = np.where(present[None, :, :], acc, 0.0)
        by_rm: dict[str, list[int]] = {}
        for j, (rm, _h) in enumerate(cols):
            by_rm.setdefault(rm, []).append(j)
        col_seeds = {rm: [seeds_of_rm[rm].index(seed_of_col[cols[j]]) for j in js]
                     for rm, js in by_rm.items()}
        for rm, idx in col_seeds.items():
            if len(set(idx)) != len(seeds_of_rm[rm]):
                lacking = sorted(set(seeds_of_rm[rm]) - {seeds_of_rm[rm][k] for k in idx})
                raise DataError(f"rm {rm!r}: seed(s) {lacking} not scored on language {lang!r}",
                                field="rm_seed")
        cat_scores = np.zeros((B, R))
        n_cats = np.zeros(R)
        for cat in cats:
            sel = np.array([cat_of[s] == cat for s in subsets])
            w = weight[sel]                       # (S_cat, R)
            den = w.sum(axis=0)                   # (R,)
            has = den > 0
            num = (acc[:, sel, :] * w[None]).sum(axis=1)  # (B, R)
            with np.errstate(invalid="ignore", divide="ignore"):
                cat_r = np.where(has[None, :], num / np.where(has, den, 1.0), 0.0)
            cat_scores += cat_r
            n_cats += has
            for rm, js in by_rm.items():  # replicas of one RM score the same pairs
                if has[js[0]]:
                    cat_samples[(rm, lang, cat)] = _replica_mean(cat_r, js, col_seeds[rm],
                                                                 draws[rm])
        lang_scores = cat_scores / n_cats[None, :]  # every column has >= 1 category
        for rm, js in by_rm.items():
            samples[(rm, lang)] = _replica_mean(lang_scores, js, col_seeds[rm], draws[rm])
    return BootstrapResult(point=point, samples=samples, n_resamples=B, seed=int(seed),
                           report=report, category_samples=cat_samples)


def bootstrap_ci(scores: pd.DataFrame,
                 weights: Mapping[str, tuple[str, int]] = MREWARDBENCH_WEIGHTS,
                 n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                 *, boot: BootstrapResult | None = None) -> pd.DataFrame:
    """Percentile bootstrap CI of every transfer-matrix cell.

    Returns a DataFrame with columns ``rm, language, score, ci_low, ci_high``; ``score`` is
    the full-data point estimate. Pass ``boot`` (from :func:`bootstrap_language_scores`) to
    reuse replicates; ``scores``, ``weights``, ``n_resamples`` and ``seed`` are then ignored.
    """
    if boot is None:
        boot = bootstrap_language_scores(scores, weights, n_resamples, seed)
    rows = []
    for key, value in boot.point.items():
        lo, hi = percentile_interval(boot.samples[key], confidence)
        rows.append((key[0], key[1], value, lo, hi))
    return pd.DataFrame(rows, columns=["rm", "language", "score", "ci_low", "ci_high"])


def headline_targets(boot: BootstrapResult, source: str) -> list[str]:
    """The default targets of :func:`headline`: every eval language other than ``source``
    that has an RM trained on it and on which the ``source`` RM was evaluated, in data order."""
    langs = list(dict.fromkeys(lang for _, lang in boot.point))
    return [t for t in langs if t != source and (t, t) in boot.point
            and (source, t) in boot.point]


def headline(scores: pd.DataFrame, source: str = "en", targets: Sequence[str] | None = None,
             n_resamples: int = 1000, seed: int = 0,
             weights: Mapping[str, tuple[str, int]] = MREWARDBENCH_WEIGHTS,
             confidence: float = 0.95, *, boot: BootstrapResult | None = None,
             ) -> dict[str, Any]:
    """The paper's claim: the source-language (English) RM minus the target-language RM,
    both scored on the target language.

    For each target ``t``: ``diff = score(rm=source, language=t) - score(rm=t, language=t)``
    with a paired bootstrap CI (the same resampled pairs for both RMs), and the mean of the
    differences over the targets with its CI (replicate-wise mean). ``targets`` defaults to
    every eval language other than ``source`` that also has an RM trained on it and on which
    the source RM was evaluated. Returns::

        {"source": "en", "targets": [...], "confidence": 0.95, "n_resamples": 1000, "seed": 0,
         "per_language": {t: {"diff", "ci_low", "ci_high", "en_rm", "target_rm"}},
         "mean": {"diff", "ci_low", "ci_high", "en_rm", "target_rm"}}

    ``en_rm`` is the score of the ``source`` RM (English by default) and ``target_rm`` that of
    the target-language RM; in ``mean`` both are averaged over the targets.
    """
    if boot is None:
        boot = bootstrap_language_scores(scores, weights, n_resamples, seed)
    source = str(source)
    if not any(rm == source for rm, _ in boot.point):
        raise DataError(f"no scores for the source RM {source!r}")
    if targets is None:
        targets = headline_targets(boot, source)
    else:
        targets = [str(t) for t in targets]
        for t in targets:
            if t == source:
                raise ConfigError(f"target {t!r} is the source language")
            for key in ((source, t), (t, t)):
                if key not in boot.point:
                    raise DataError(f"no scores for rm {key[0]!r} on language {key[1]!r}")
    if not targets:
        raise DataError(f"no target language: needs an RM trained on a language other than "
                        f"{source!r}, evaluated on it, with the {source!r} RM evaluated there too")

    per: dict[str, dict[str, float]] = {}
    diffs = []
    for t in targets:
        d = boot.samples[(source, t)] - boot.samples[(t, t)]
        diffs.append(d)
        lo, hi = percentile_interval(d, confidence)
        a, b = boot.point[(source, t)], boot.point[(t, t)]
        per[t] = {"diff": a - b, "ci_low": lo, "ci_high": hi, "en_rm": a, "target_rm": b}
    mean_d = np.mean(np.vstack(diffs), axis=0)
    lo, hi = percentile_interval(mean_d, confidence)
    mean = {"diff": sum(v["diff"] for v in per.values()) / len(per), "ci_low": lo, "ci_high": hi,
            "en_rm": sum(v["en_rm"] for v in per.values()) / len(per),
            "target_rm": sum(v["target_rm"] for v in per.values()) / len(per)}
    return {"source": source, "targets": list(targets), "confidence": confidence,
            "n_resamples": boot.n_resamples, "seed": boot.seed,
            "per_language": per, "mean": mean}

"""The alignment summary (the ``alignment`` stage's core): English-RM-labelled minus
native-RM-labelled AlpacaEval win rate, per language and on average, over DPO seeds with a
two-level bootstrap CI; the runs' table and a win-rate plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xlrm.alignment.config import AlignmentConfig
from xlrm.alignment.label import LABELLERS
from xlrm.errors import DataError

ALPACA_METRICS = ("win_rate", "standard_error", "discrete_win_rate", "length_controlled_minimal",
                  "language_fidelity", "avg_length", "n_total")


def read_alpaca_runs(alpaca_dir: str | Path, languages: list[str], seeds: list[int]
                     ) -> tuple[list[dict], dict[tuple[str, str, int], dict[str, float]]]:
    """The ``eval_alpaca`` results of exactly the runs ``languages`` x (policy, each labeller
    x ``seeds``) define, so results an earlier run left for a language or seed since removed
    from params stay out. Returns one table row per run (its ``ALPACA_METRICS``) and, per
    DPO run, the per-instruction preferences (NaN where the judge gave none) that
    :func:`alignment_headline` takes. A missing result is an error naming its file."""
    from xlrm.io import read_json

    runs = [(lang, "policy", None) for lang in languages] + [
        (lang, labeller, int(seed)) for lang in languages for labeller in LABELLERS
        for seed in seeds]
    records, prefs = [], {}
    for lang, model, seed in runs:
        name = "__".join([lang, model] + ([] if seed is None else [str(seed)]))
        path = Path(alpaca_dir) / f"{name}.json"
        if not path.is_file():
            raise DataError(f"no AlpacaEval result for {name}: run its eval_alpaca stage",
                            path=str(path))
        m = read_json(path)
        if not isinstance(m, dict):
            raise DataError("expected a JSON object of metrics", path=str(path))
        absent = [k for k in ALPACA_METRICS if k not in m]
        if absent:
            raise DataError(f"missing metric(s) {absent}", path=str(path), field=absent[0])
        records.append({"run": name, "language": lang, "model": model, "seed": seed,
                        **{k: m[k] for k in ALPACA_METRICS}})
        if seed is not None:
            prefs[(lang, model, seed)] = _read_preferences(path.with_suffix(".jsonl"))
    return records, prefs


def _read_preferences(path: Path) -> dict[str, float]:
    """id -> preference (NaN where the judge gave none) of one ``eval_alpaca`` JSONL file:
    every row has a string ``id`` (once) and a ``preference`` that is null, 0 (a legacy
    draw) or a finite number in [1, 2]; an empty file is an error."""
    from xlrm.io import read_jsonl

    out: dict[str, float] = {}
    for i, r in enumerate(read_jsonl(path, nonempty=True), start=1):
        for key in ("id", "preference"):
            if key not in r:
                raise DataError("missing", path=str(path), row=i, field=key)
        pid, p = r["id"], r["preference"]
        if not isinstance(pid, str) or not pid:
            raise DataError(f"must be a non-empty string, got {pid!r}", path=str(path), row=i,
                            field="id")
        if pid in out:
            raise DataError(f"duplicate id {pid!r}", path=str(path), row=i, field="id")
        if p is not None and (isinstance(p, bool) or not isinstance(p, (int, float))
                              or not (p == 0 or 1 <= p <= 2)):
            raise DataError(f"must be null or a number in [1, 2], got {p!r}", path=str(path),
                            row=i, field="preference")
        out[pid] = float("nan") if p is None else p
    return out


def alignment_headline(prefs: dict[tuple[str, str, int], dict[str, float]], cfg: AlignmentConfig
                       ) -> dict[str, Any]:
    """English-RM-labelled minus native-RM-labelled win rate, per language and on average.

    ``prefs[(lang, labeller, seed)]`` maps instruction id -> preference in [1, 2]. The
    point estimate is the mean over seeds of the win-rate difference; the confidence
    interval is a two-level bootstrap (seeds resampled, then instructions, paired across
    labellers), so it covers both run-to-run and instruction sampling variation.
    """
    rng = np.random.default_rng(cfg.seed)
    langs = sorted({k[0] for k in prefs})
    alpha = (1 - cfg.confidence) / 2
    out: dict[str, Any] = {"per_language": {}}
    reps_by_lang = {}
    for lang in langs:
        seeds = sorted({k[2] for k in prefs if k[0] == lang and (lang, "english", k[2]) in prefs
                        and (lang, "native", k[2]) in prefs})
        if not seeds:
            continue
        ids = sorted(set.intersection(*[set(prefs[(lang, lab, s)]) for s in seeds
                                         for lab in LABELLERS]))
        # diff[s, i]: (p_english - p_native) x 100 for seed s, instruction i (NaN-safe)
        diff = np.array([[prefs[(lang, "english", s)][i] - prefs[(lang, "native", s)][i]
                          for i in ids] for s in seeds], dtype=float) * 100
        eng = np.array([[prefs[(lang, "english", s)][i] for i in ids] for s in seeds]) - 1
        nat = np.array([[prefs[(lang, "native", s)][i] for i in ids] for s in seeds]) - 1
        point = float(np.nanmean(np.nanmean(diff, axis=1)))
        S, N = diff.shape
        reps = np.empty(cfg.bootstrap_resamples)
        for b in range(cfg.bootstrap_resamples):
            s_idx = rng.integers(0, S, S) if S > 1 else np.zeros(1, dtype=int)
            i_idx = rng.integers(0, N, N)
            reps[b] = np.nanmean(np.nanmean(diff[np.ix_(s_idx, i_idx)], axis=1))
        reps_by_lang[lang] = reps
        out["per_language"][lang] = {
            "diff": point, "ci_low": float(np.nanquantile(reps, alpha)),
            "ci_high": float(np.nanquantile(reps, 1 - alpha)),
            "english_win_rate": float(np.nanmean(eng) * 100),
            "native_win_rate": float(np.nanmean(nat) * 100), "seeds": len(seeds), "instructions": N}
    if reps_by_lang:
        per = out["per_language"]
        mean_reps = np.mean(np.stack(list(reps_by_lang.values())), axis=0)
        out["mean"] = {"diff": float(np.mean([per[lang]["diff"] for lang in reps_by_lang])),
                       "ci_low": float(np.nanquantile(mean_reps, alpha)),
                       "ci_high": float(np.nanquantile(mean_reps, 1 - alpha)),
                       "english_win_rate": float(np.mean([per[lang]["english_win_rate"] for lang in per])),
                       "native_win_rate": float(np.mean([per[lang]["native_win_rate"] for lang in per]))}
    return out


def rounded_headline(head: dict[str, Any], confidence: float,
                     digits: int = 4) -> dict[str, Any]:
    """The headline's numbers rounded, with the intervals' level (what
    ``metrics/alignment.json`` holds)."""
    out: dict[str, Any] = {"confidence": confidence}
    out["per_language"] = {k: {kk: round(vv, digits) for kk, vv in v.items()}
                           for k, v in head["per_language"].items()}
    if "mean" in head:
        out["mean"] = {k: round(v, digits) for k, v in head["mean"].items()}
    return out


def winrate_plot(table, path: str | Path) -> None:
    """Bar chart of win rates per language: initial policy, English-RM and native-RM DPO."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    langs = list(dict.fromkeys(table["language"]))
    models = ["policy", "english", "native"]
    fig = Figure(figsize=(1.5 + 1.3 * len(langs), 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(models)
    for j, m in enumerate(models):
        sub = table[table["model"] == m].groupby("language")["win_rate"]
        means = [sub.mean().get(lang, np.nan) for lang in langs]
        errs = [sub.std(ddof=1).get(lang, 0.0) if sub.count().get(lang, 0) > 1 else 0.0 for lang in langs]
        ax.bar(np.arange(len(langs)) + (j - 1) * width, means, width, yerr=errs, capsize=3,
               label={"policy": "initial policy", "english": "DPO, English-RM labels",
                      "native": "DPO, target-RM labels"}[m])
    ax.set_xticks(np.arange(len(langs)), langs)
    ax.set_ylabel("win rate vs reference (%)")
    ax.set_title("Multilingual AlpacaEval (mean over DPO seeds, ±1 sd)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120, metadata={"Software": None})

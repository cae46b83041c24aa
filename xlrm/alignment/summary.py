"""The alignment summary (the ``alignment`` stage's core): English-RM-labelled against
target-RM-labelled DPO, per language and on average, over DPO seeds with two-level bootstrap
intervals (seeds resampled, then instructions, paired across the two policies).

Three comparisons, each where its inputs exist:

- ``verifiable_accuracy``: the share of answers that pass their instruction's rule
  (``eval_alpaca``'s ``passed``), per system, and the English-minus-target difference in
  points;
- ``head_to_head``: the judge's win rate of one policy over the other (``head_to_head``'s
  preferences, both orders), for the three pairings;
- ``reference``: the difference of the two policies' win rates against the references
  (``eval_alpaca.reference``).

``alignment.headline`` picks the headline among them (``auto``: verifiable accuracy when
the answers were checked by rules, else head to head)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xlrm.alignment.config import AlignmentConfig
from xlrm.alignment.head_to_head import PAIRINGS, pairing_name
from xlrm.alignment.label import LABELLERS
from xlrm.errors import DataError
from xlrm.evaluation.bootstrap import two_level_replicates

SYSTEMS = ("policy", *LABELLERS)
TABLE_METRICS = ("n", "avg_length", "language_fidelity", "verifiable_accuracy",
                 "verifiable_ci_low", "verifiable_ci_high", "win_rate", "standard_error",
                 "discrete_win_rate", "length_controlled_minimal", "length_controlled_reason")


def _run_name(lang: str, system: str, seed: int | None) -> str:
    return "__".join([lang, system] + ([] if seed is None else [str(seed)]))


def _read_metrics(path: Path, what: str) -> dict:
    from xlrm.io import read_json

    if not path.is_file():
        raise DataError(f"no {what} result: run its stage", path=str(path))
    m = read_json(path)
    if not isinstance(m, dict):
        raise DataError("expected a JSON object of metrics", path=str(path))
    return m


def _read_rows(path: Path, fields: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """id -> {field: value (NaN for null)} of a JSONL file; every row has a unique string
    ``id`` and each field null or a number (an empty file is an error)."""
    from xlrm.io import read_jsonl

    out: dict[str, dict[str, float]] = {}
    for i, r in enumerate(read_jsonl(path, nonempty=True), start=1):
        rid = r.get("id")
        if not isinstance(rid, str) or not rid:
            raise DataError(f"must be a non-empty string, got {rid!r}", path=str(path), row=i,
                            field="id")
        key = rid if "pairing" not in r else f"{r['pairing']}\x1f{rid}"
        if key in out:
            raise DataError(f"duplicate id {rid!r}", path=str(path), row=i, field="id")
        vals = {}
        for f in fields:
            v = r.get(f)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise DataError(f"must be null or a number, got {v!r}", path=str(path), row=i,
                                field=f)
            vals[f] = float("nan") if v is None else float(v)
        if "pairing" in r:
            vals["pairing"] = r["pairing"]
        out[key] = vals
    return out


def read_runs(alpaca_dir: str | Path, h2h_dir: str | Path | None, languages: list[str],
              seeds: list[int]) -> dict[str, Any]:
    """The results of exactly the runs ``languages`` x (policy, each labeller x ``seeds``)
    define (results an earlier run left for a language or seed since removed stay out).

    Returns ``records`` (one table row per system run), ``items[(lang, system, seed)]``
    (id -> ``passed`` and ``preference``; seed None for the policy) and, with ``h2h_dir``,
    ``h2h[(lang, seed)]`` (the head-to-head metrics) and ``h2h_items[(lang, seed, pairing)]``
    (id -> preference of the pairing's first system). A missing file is an error naming it.
    """
    records, items, h2h, h2h_items = [], {}, {}, {}
    runs = [(lang, "policy", None) for lang in languages] + [
        (lang, lab, int(s)) for lang in languages for lab in LABELLERS for s in seeds]
    for lang, system, seed in runs:
        name = _run_name(lang, system, seed)
        path = Path(alpaca_dir) / f"{name}.json"
        m = _read_metrics(path, f"eval_alpaca {name}")
        rec = {"run": name, "language": lang, "model": system, "seed": seed}
        v = m.get("verifiable") or {}
        flat = {**m, "verifiable_accuracy": v.get("accuracy"), "verifiable_ci_low": v.get("ci_low"),
                "verifiable_ci_high": v.get("ci_high")}
        rec.update({k: flat.get(k) for k in TABLE_METRICS})
        records.append(rec)
        items[(lang, system, seed)] = _read_rows(path.with_suffix(".jsonl"),
                                                 ("passed", "preference"))
    if h2h_dir is not None:
        for lang in languages:
            for s in seeds:
                name = f"{lang}__{int(s)}"
                path = Path(h2h_dir) / f"{name}.json"
                h2h[(lang, int(s))] = _read_metrics(path, f"head_to_head {name}")
                for key, r in _read_rows(path.with_suffix(".jsonl"), ("preference",)).items():
                    pairing, rid = key.split("\x1f", 1)
                    h2h_items.setdefault((lang, int(s), pairing), {})[rid] = r["preference"]
    return {"records": records, "items": items, "h2h": h2h, "h2h_items": h2h_items}


# ------------------------------------------------------------------ two-level bootstrap
def _interval(point: float, reps: np.ndarray, confidence: float) -> dict[str, float]:
    alpha = (1 - confidence) / 2
    return {"value": float(point), "ci_low": float(np.nanquantile(reps, alpha)),
            "ci_high": float(np.nanquantile(reps, 1 - alpha))}


def _matrix(table: dict[int, dict[str, float]], seeds: list[int], ids: list[str]) -> np.ndarray:
    return np.array([[table[s][i] for i in ids] for s in seeds], dtype=float)


def _common_ids(tables: list[dict[str, float]]) -> list[str]:
    return sorted(set.intersection(*[set(t) for t in tables])) if tables else []


def _comparison(per_lang: dict[str, tuple[np.ndarray, dict[str, Any]]], cfg: AlignmentConfig,
                rng: np.random.Generator) -> dict[str, Any]:
    """Per language (values ``[seeds, items]`` and extra fields) and on average over
    languages (replicates averaged across languages): point, CI, seeds, instructions."""
    out: dict[str, Any] = {"per_language": {}}
    reps_all = []
    for lang, (values, extra) in per_lang.items():
        with np.errstate(all="ignore"):
            point = float(np.nanmean(np.nanmean(values, axis=1)))
        reps = two_level_replicates(values, rng, cfg.bootstrap_resamples)
        reps_all.append(reps)
        out["per_language"][lang] = {**_interval(point, reps, cfg.confidence), **extra,
                                     "seeds": int(values.shape[0]),
                                     "instructions": int(values.shape[1])}
    if reps_all:
        per = out["per_language"]
        mean = {**_interval(float(np.mean([d["value"] for d in per.values()])),
                            np.mean(np.stack(reps_all), axis=0), cfg.confidence)}
        for key in next(iter(per.values())):
            if key not in mean and key not in ("seeds", "instructions") and all(
                    isinstance(d.get(key), float) for d in per.values()):
                mean[key] = float(np.mean([d[key] for d in per.values()]))
        out["mean"] = mean
    return out


def accuracy_summary(items: dict, languages: list[str], seeds: list[int], cfg: AlignmentConfig,
                     rng: np.random.Generator) -> dict[str, Any] | None:
    """Verifiable accuracy (%) per language and system with two-level CIs, and the
    English-minus-target difference (points); None without rule checks."""
    def passed(lang: str, system: str, seed: int | None) -> dict[str, float]:
        return {k: v["passed"] for k, v in items[(lang, system, seed)].items()}

    if all(np.isnan(v["passed"]) for t in items.values() for v in t.values()):
        return None
    systems, diff = {}, {}
    for lang in languages:
        tables = {(sys, s): passed(lang, sys, s) for sys in LABELLERS for s in seeds}
        tables[("policy", None)] = passed(lang, "policy", None)
        ids = _common_ids(list(tables.values()))
        per_sys = {}
        for sys in SYSTEMS:
            ss = [None] if sys == "policy" else seeds
            per_sys[sys] = {"table": {s: tables[(sys, s)] for s in ss}, "seeds": ss}
        for sys, d in per_sys.items():
            systems.setdefault(sys, {})[lang] = (_matrix(d["table"], d["seeds"], ids) * 100, {})
        eng = _matrix(per_sys["english"]["table"], seeds, ids) * 100
        nat = _matrix(per_sys["native"]["table"], seeds, ids) * 100
        with np.errstate(all="ignore"):
            extra = {"english": float(np.nanmean(eng)), "native": float(np.nanmean(nat))}
        diff[lang] = (eng - nat, extra)
    return {"systems": {sys: _comparison(v, cfg, rng) for sys, v in systems.items()},
            "difference": _comparison(diff, cfg, rng)}


def head_to_head_summary(h2h: dict, h2h_items: dict, languages: list[str], seeds: list[int],
                         cfg: AlignmentConfig, rng: np.random.Generator
                         ) -> dict[str, Any] | None:
    """Win rate (%) of each pairing's first system over its second, per language with
    two-level CIs, and the judge's order quality (worst over seeds); None without
    head-to-head results."""
    if not h2h:
        return None
    out: dict[str, Any] = {"judge_kind": next(iter(h2h.values())).get("judge_kind")}
    warnings = []
    for first, second in PAIRINGS:
        name = pairing_name(first, second)
        per_lang = {}
        for lang in languages:
            tables = {s: h2h_items.get((lang, s, name), {}) for s in seeds}
            ids = _common_ids(list(tables.values()))
            if not ids:
                continue
            vals = (_matrix(tables, seeds, ids) - 1.0) * 100
            quality = [h2h[(lang, s)]["pairings"][name].get("judge", {}).get("order_quality")
                       or {} for s in seeds]
            cons = [q.get("position_consistency") for q in quality
                    if isinstance(q.get("position_consistency"), (int, float))]
            extra = {"position_consistency": float(min(cons))} if cons else {}
            for s in seeds:
                w = h2h[(lang, s)]["pairings"][name].get("consistency_warning")
                if w:
                    warnings.append(f"{lang} seed {s} {name}: {w}")
            per_lang[lang] = (vals, extra)
        out[name] = _comparison(per_lang, cfg, rng)
    out["warnings"] = warnings
    return out


def reference_summary(records: list[dict], items: dict, languages: list[str], seeds: list[int],
                      cfg: AlignmentConfig, rng: np.random.Generator) -> dict[str, Any] | None:
    """English-minus-target difference of the win rates against the references (points);
    None when the answers were not judged against references."""
    if all(r.get("win_rate") is None for r in records):
        return None
    per_lang = {}
    for lang in languages:
        tables = {lab: {s: {k: v["preference"] for k, v in items[(lang, lab, s)].items()}
                        for s in seeds} for lab in LABELLERS}
        ids = _common_ids([t for lab in LABELLERS for t in tables[lab].values()])
        eng = (_matrix(tables["english"], seeds, ids) - 1) * 100
        nat = (_matrix(tables["native"], seeds, ids) - 1) * 100
        with np.errstate(all="ignore"):
            extra = {"english": float(np.nanmean(eng)), "native": float(np.nanmean(nat))}
        per_lang[lang] = (eng - nat, extra)
    return _comparison(per_lang, cfg, rng)


def alignment_summary(runs: dict[str, Any], languages: list[str], seeds: list[int],
                      cfg: AlignmentConfig) -> dict[str, Any]:
    """Every comparison whose inputs exist, and the headline (``cfg.headline``): ``metric``,
    and per language and on average the English-minus-target ``diff`` (verifiable accuracy
    or reference win rates: the difference in points; head to head: the English-labelled
    policy's win rate minus 50) with its CI and the two sides' values."""
    rng = np.random.default_rng(cfg.seed)
    seeds = [int(s) for s in seeds]
    acc = accuracy_summary(runs["items"], languages, seeds, cfg, rng)
    h2h = head_to_head_summary(runs["h2h"], runs["h2h_items"], languages, seeds, cfg, rng)
    ref = reference_summary(runs["records"], runs["items"], languages, seeds, cfg, rng)
    out: dict[str, Any] = {"confidence": cfg.confidence}
    if acc is not None:
        out["verifiable_accuracy"] = acc
    if h2h is not None:
        out["head_to_head"] = h2h
    if ref is not None:
        out["reference"] = ref
    metric = cfg.headline
    if metric == "auto":
        metric = "verifiable_accuracy" if acc is not None else "head_to_head"
    if metric not in out:
        raise DataError(f"alignment.headline is {metric}, but no {metric} results exist "
                        "(rule checks need rules in the evaluation rows; reference needs "
                        "eval_alpaca.reference)")
    if metric == "head_to_head":
        src = h2h[pairing_name("english", "native")]
        head = _reshape(src, lambda d: {"diff": d["value"] - 50, "ci_low": d["ci_low"] - 50,
                                        "ci_high": d["ci_high"] - 50, "english": d["value"],
                                        "native": 100 - d["value"]})
    else:
        src = acc["difference"] if metric == "verifiable_accuracy" else ref
        head = _reshape(src, lambda d: {"diff": d["value"], "ci_low": d["ci_low"],
                                        "ci_high": d["ci_high"], "english": d.get("english"),
                                        "native": d.get("native")})
    out["headline"] = {"metric": metric, **head}
    return out


def _reshape(comp: dict[str, Any], fn) -> dict[str, Any]:
    out = {"per_language": {}}
    for lang, d in comp["per_language"].items():
        out["per_language"][lang] = {**fn(d), "seeds": d["seeds"],
                                     "instructions": d["instructions"]}
    if "mean" in comp:
        out["mean"] = fn(comp["mean"])
    return out


def rounded(obj: Any, digits: int = 4) -> Any:
    """``obj`` with every float rounded (what ``metrics/alignment.json`` holds)."""
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rounded(v, digits) for v in obj]
    return obj


def alignment_plot(summary: dict[str, Any], path: str | Path) -> None:
    """Per language: each system's verifiable accuracy (left, when checked by rules) and
    the head-to-head win rates (right), with their CIs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [k for k in ("verifiable_accuracy", "head_to_head", "reference") if k in summary]
    fig = Figure(figsize=(4.2 * len(panels), 3.6))
    FigureCanvasAgg(fig)
    for j, key in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), j)
        if key == "verifiable_accuracy":
            groups = {sys: summary[key]["systems"][sys] for sys in SYSTEMS}
            labels = {"policy": "initial policy", "english": "DPO, English-RM labels",
                      "native": "DPO, target-RM labels"}
            ylabel, title = "verifiable accuracy (%)", "Rule checks"
        elif key == "head_to_head":
            groups = {pairing_name(a, b): summary[key][pairing_name(a, b)] for a, b in PAIRINGS}
            labels = {k: k.replace("_vs_", " over ") for k in groups}
            ylabel, title = "win rate (%)", "Head to head (both orders)"
        else:
            groups = {"difference": summary[key]}
            labels = {"difference": "English minus target labels"}
            ylabel, title = "win-rate difference (points)", "Against the references"
        langs = sorted({lang for g in groups.values() for lang in g["per_language"]})
        width = 0.8 / max(len(groups), 1)
        for k, (name, g) in enumerate(groups.items()):
            vals = [g["per_language"].get(lang, {}) for lang in langs]
            y = np.array([v.get("value", np.nan) for v in vals])
            lo = y - np.array([v.get("ci_low", np.nan) for v in vals])
            hi = np.array([v.get("ci_high", np.nan) for v in vals]) - y
            ax.bar(np.arange(len(langs)) + (k - (len(groups) - 1) / 2) * width, y, width,
                   yerr=np.nan_to_num(np.vstack([lo, hi])), capsize=3, label=labels[name])
        ax.set_xticks(np.arange(len(langs)), langs)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120, metadata={"Software": None})

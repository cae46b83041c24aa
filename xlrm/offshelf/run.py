"""The ``eval_offshelf`` stage's core: score every configured model, then the model x
language matrix and the metrics (see :mod:`xlrm.offshelf`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xlrm.errors import DataError
from xlrm.offshelf.classifiers import load_classifier, score_classifier
from xlrm.offshelf.config import EvalOffshelfConfig
from xlrm.offshelf.pair_judges import judge_eval_sets, make_pair_judge


def offshelf_metrics(scores: list[dict], stats: dict[str, dict], languages: Sequence[str],
                     source_language: str = "en", min_consistency: float = 0.6
                     ) -> tuple[Any, dict[str, Any]]:
    """The matrix (rows = model, columns = eval language; language scores from
    :func:`xlrm.evaluation.accuracy.accuracy_report`) and the metrics dict of the stage.

    A judge's entry adds, beside the strict both-orders ``accuracy``, the
    M-RewardBench-compatible ``mrb_accuracy`` (mean over both orders; a tie, an unparseable
    reply or a failure counts one half; :func:`~xlrm.offshelf.pair_judges.mrb_rows`) and
    ``mean_mrb_accuracy``, its ``order_quality`` (:func:`xlrm.judges.orders.order_quality`;
    per language under ``per_language``) and ``consistency_warning`` (position consistency
    below ``min_consistency``, or not measurable). The top level repeats
    ``min_consistency`` and whether any judge got the warning."""
    import pandas as pd

    from xlrm.evaluation.accuracy import accuracy_report, transfer_matrix
    from xlrm.offshelf.pair_judges import mrb_rows

    names = list(stats)
    models: dict[str, Any] = {}
    if scores:
        report = accuracy_report(pd.DataFrame(scores))
        matrix = transfer_matrix(report, rm_order=names, language_order=list(languages))
    else:
        report = {}
        matrix = pd.DataFrame(np.empty((0, len(languages))), index=pd.Index([], name="rm"),
                              columns=pd.Index(list(languages), name="language"))
    for name in names:
        rec = report.get(name, {})
        acc = {lang: round(float(r["score"]), 6) for lang, r in rec.items()}
        m: dict[str, Any] = {"accuracy": acc,
                             "mean_accuracy": round(float(np.mean(list(acc.values()))), 6)
                             if acc else None,
                             "categories": {lang: {c: round(float(v["accuracy"]), 6)
                                                   for c, v in r["categories"].items()}
                                            for lang, r in rec.items()}}
        others = [v for lang, v in acc.items() if lang != source_language]
        if source_language in acc and others:
            m[f"{source_language}_minus_mean_other"] = round(acc[source_language]
                                                             - float(np.mean(others)), 6)
        # wall times (``seconds``) stay out: the metrics file must not change on a rerun
        m.update({k: v for k, v in stats[name].items() if k not in ("per_language", "seconds")})
        if "per_language" in stats[name]:
            m["per_language"] = stats[name]["per_language"]
        if m.get("kind") == "judge":
            judged = [r for r in scores if r["rm"] == name]
            mrb = accuracy_report(pd.DataFrame(mrb_rows(judged))).get(name, {}) if judged else {}
            m["mrb_accuracy"] = {lang: round(float(r["score"]), 6) for lang, r in mrb.items()}
            m["mean_mrb_accuracy"] = round(float(np.mean(list(m["mrb_accuracy"].values()))),
                                           6) if mrb else None
            consistency = m.get("order_quality", {}).get("position_consistency", np.nan)
            m["consistency_warning"] = not consistency >= min_consistency
        models[name] = _finite(m)
    warned = [name for name, m in models.items() if m.get("consistency_warning")]
    return matrix, {"languages": list(languages), "min_consistency": min_consistency,
                    "consistency_warning": bool(warned), "models": models}


def _finite(obj: Any) -> Any:
    """``obj`` with every NaN float (a share without a denominator) made None (null)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def run_offshelf(cfg: EvalOffshelfConfig, eval_sets: dict[str, list[dict]], *,
                 scores_dir: str | Path, matrix_csv: str | Path, metrics_json: str | Path,
                 judge_kwargs: dict[str, dict] | None = None) -> dict[str, Any]:
    """Score every configured model, then write the scores folder (one ``<name>.jsonl`` per
    model), the matrix CSV and the metrics JSON (each atomically). ``judge_kwargs`` maps a
    judge name to extra constructor arguments (tests: an already loaded model).

    Under a multi-process launch every rank scores its share (:mod:`xlrm.distributed`) and
    gets all scores; rank 0 alone writes."""
    from xlrm.data.loaders import subsets_in_turn
    from xlrm.distributed import is_main
    from xlrm.io import atomic_path, write_json

    languages = list(eval_sets)
    # N pairs per language, the subsets taken in turn (a file sorted by subset is not cut
    # to its first one)
    eval_sets = {k: subsets_in_turn(v, cfg.max_per_language) for k, v in eval_sets.items()}
    if not any(eval_sets.values()) and (cfg.classifiers or cfg.judges):
        raise DataError("the evaluation sets are empty")
    per_model: dict[str, list[dict]] = {}
    stats: dict[str, dict] = {}
    cache_counts: dict[str, dict[str, int]] = {}
    for spec in cfg.classifiers:
        model, tok = load_classifier(spec)
        per_model[spec.name], stats[spec.name] = score_classifier(model, tok, eval_sets,
                                                                  spec.name, spec)
        del model
        _free_accelerator()
    for jspec in cfg.judges:
        judge = make_pair_judge(jspec, **(judge_kwargs or {}).get(jspec.name, {}))
        per_model[jspec.name], st = judge_eval_sets(judge, eval_sets, jspec.name)
        stats[jspec.name] = {**st, "model": jspec.model, "judge_kind": jspec.kind}
        cache_counts[jspec.name] = {"cache_hits": judge.cache_hits, "asked": judge.asked}
        del judge
        _free_accelerator()
    scores = [r for rows in per_model.values() for r in rows]
    matrix, metrics = offshelf_metrics(scores, stats, languages,
                                       min_consistency=cfg.min_consistency)
    _log_seconds(stats, cache_counts)
    if not is_main():
        return metrics

    with atomic_path(scores_dir, is_dir=True) as tmp:
        import json

        for name, rows in per_model.items():
            with open(tmp / f"{name}.jsonl", "w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with atomic_path(matrix_csv) as tmp:
        matrix.round(6).to_csv(tmp, index_label="rm")
    write_json(metrics_json, metrics)
    return metrics


def _log_seconds(stats: dict[str, dict], cache_counts: dict[str, dict[str, int]]) -> None:
    """Each model's scoring wall time (``offshelf.NAME.seconds``) and each judge's queries
    answered from the verdict cache and asked (``offshelf.NAME.cache_hits``/``asked``) to the
    active MLflow run (not to the metrics file: they depend on what earlier runs left)."""
    import mlflow

    from xlrm.tracking import log_metrics

    if mlflow.active_run() is not None:
        log_metrics({name: {"seconds": st["seconds"]} for name, st in stats.items()
                     if "seconds" in st}, "offshelf")
        log_metrics(cache_counts, "offshelf")


def _free_accelerator() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass

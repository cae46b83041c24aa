"""The ``transfer`` stage's core: the train-language x eval-language matrix and the headline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xlrm.errors import DataError


@dataclass
class TransferConfig:
    """The ``transfer`` params section."""

    source_language: str = "en"      # the RM whose transfer is tested (the study: English)
    bootstrap_resamples: int = 1000  # resamples of pairs for the 95% confidence intervals
    confidence: float = 0.95
    seed: int = 0


def read_scores(scores_dir: str | Path) -> pd.DataFrame:
    """Every ``<rm>.jsonl`` scores file of a folder, concatenated."""
    files = sorted(Path(scores_dir).glob("*.jsonl"))
    if not files:
        raise DataError("no scores files (*.jsonl)", path=str(scores_dir))
    return pd.concat([pd.read_json(f, lines=True, dtype={"id": str}) for f in files],
                     ignore_index=True)


def _rm_order(rms: list[str], source: str) -> list[str]:
    """Base first, then the source language's RM, then the others in data order."""
    first = [r for r in ("base", source) if r in rms]
    return first + [r for r in rms if r not in first]


def run_transfer(cfg: TransferConfig, scores_dir: str | Path, *, matrix_csv: str | Path,
                 categories_csv: str | Path, heatmap_png: str | Path,
                 metrics_json: str | Path) -> dict[str, Any]:
    """Compute and write the matrix (CSV, PNG), category scores and headline metrics."""
    from xlrm.evaluation import (accuracy_table, bootstrap_ci, bootstrap_language_scores,
                                 headline, heatmap, transfer_matrix)
    from xlrm.io import atomic_path, write_json

    scores = read_scores(scores_dir)
    rms = _rm_order(list(dict.fromkeys(scores["rm"])), cfg.source_language)
    langs = list(dict.fromkeys(scores["language"]))
    boot = bootstrap_language_scores(scores, n_resamples=cfg.bootstrap_resamples, seed=cfg.seed)
    matrix = transfer_matrix(boot.report, rm_order=rms, language_order=langs)
    ci = bootstrap_ci(scores, confidence=cfg.confidence, boot=boot)
    trained = [r for r in rms if r != "base"]
    head = headline(scores, source=cfg.source_language, confidence=cfg.confidence,
                    boot=boot) if cfg.source_language in trained else None

    with atomic_path(matrix_csv) as tmp:
        matrix.round(6).to_csv(tmp, index_label="rm")
    with atomic_path(Path(matrix_csv).with_name(Path(matrix_csv).stem + "_ci.csv")) as tmp:
        ci.round(6).to_csv(tmp, index=False)
    table = accuracy_table(scores)
    with atomic_path(categories_csv) as tmp:
        table[table["level"] != "subset"].round(6).to_csv(tmp, index=False)
    with atomic_path(heatmap_png) as tmp:
        heatmap(matrix, tmp, ci=ci)

    metrics: dict[str, Any] = {}
    if head is not None:
        metrics["headline"] = {
            "source": head["source"], "targets": head["targets"], "confidence": cfg.confidence,
            "mean": {k: round(float(v), 6) for k, v in head["mean"].items()},
            "per_language": {t: {k: round(float(v), 6) for k, v in d.items()}
                             for t, d in head["per_language"].items()},
        }
    # Each trained RM on its own language, and the untrained base there (mean of random heads).
    own = {rm: round(float(matrix.loc[rm, rm]), 6) for rm in trained if rm in matrix.columns}
    if own:
        metrics["own_language"] = own
    if "base" in matrix.index:
        metrics["base"] = {lang: round(float(v), 6) for lang, v in matrix.loc["base"].items()}
    write_json(metrics_json, metrics)
    return metrics

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


def read_scores(scores_dir: str | Path, rms: list[str] | None = None,
                languages: list[str] | None = None) -> pd.DataFrame:
    """The ``<rm>.jsonl`` scores files of a folder, concatenated.

    ``rms`` names exactly the files to read (the pipeline passes ``base`` plus
    ``rm_languages``), so scores left in the folder by an RM that the params no longer
    list never enter the matrix; a listed RM without a file is an error. Without it, every
    ``*.jsonl`` is read. ``languages`` keeps only those eval languages, each of which
    every listed RM must have been scored on.
    """
    scores_dir = Path(scores_dir)
    if rms is None:
        rms = [f.stem for f in sorted(scores_dir.glob("*.jsonl"))]
        if not rms:
            raise DataError("no scores files (*.jsonl)", path=str(scores_dir))
    files = [scores_dir / f"{rm}.jsonl" for rm in rms]
    for f in files:
        if not f.is_file():
            raise DataError(f"no scores for RM {f.stem!r}: run its eval stage "
                            "(dvc repro eval_rm)", path=str(f))
    frames = []
    for f in files:
        frame = pd.read_json(f, lines=True, dtype={"id": str})
        if languages is not None:
            have = set(frame["language"]) if len(frame) else set()
            missing = [lang for lang in languages if lang not in have]
            if missing:
                raise DataError(f"RM {f.stem!r} was not scored on {missing}; its scores hold "
                                f"{sorted(have)}", path=str(f), field="language")
            frame = frame[frame["language"].isin(languages)]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _rm_order(rms: list[str], source: str) -> list[str]:
    """Base first, then the source language's RM, then the others in data order."""
    first = [r for r in ("base", source) if r in rms]
    return first + [r for r in rms if r not in first]


def run_transfer(cfg: TransferConfig, scores_dir: str | Path, *, matrix_csv: str | Path,
                 categories_csv: str | Path, heatmap_png: str | Path,
                 metrics_json: str | Path, rms: list[str] | None = None,
                 languages: list[str] | None = None) -> dict[str, Any]:
    """Compute and write the matrix (CSV, PNG), category scores and headline metrics.

    ``rms`` and ``languages`` select the scores (see :func:`read_scores`)."""
    from xlrm.evaluation import (accuracy_table, bootstrap_ci, bootstrap_language_scores,
                                 headline, heatmap, transfer_matrix)
    from xlrm.io import atomic_path, write_json

    scores = read_scores(scores_dir, rms, languages)
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

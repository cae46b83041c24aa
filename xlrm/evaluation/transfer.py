"""The ``transfer`` stage's core: the train-language x eval-language matrix, its bootstrap
intervals, the per-category tables (scores, and the headline difference per category) and
the headline metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xlrm.errors import DataError
from xlrm.evaluation.accuracy import accuracy_table, transfer_matrix
from xlrm.evaluation.bootstrap import (BootstrapResult, bootstrap_ci, bootstrap_language_scores,
                                       headline, headline_targets)
from xlrm.evaluation.category_diff import (COLUMNS, category_diff, category_diff_table,
                                           rounded_category_diff)
from xlrm.evaluation.config import TransferConfig


@dataclass
class TransferResult:
    """What the ``transfer`` stage writes."""

    matrix: pd.DataFrame      # language scores: rows = RM (base, source, others), cols = language
    ci: pd.DataFrame          # rm, language, score, ci_low, ci_high (bootstrap_ci)
    categories: pd.DataFrame  # accuracy_table rows of the category and language levels
    category_diff: pd.DataFrame  # source minus target RM per category (no rows: no headline)
    metrics: dict[str, Any]   # metrics/transfer.json
    no_headline: str | None   # why ``metrics`` has no headline (None when it has one)


def scores_path(scores_dir: str | Path, rm: str, seed: int | None = None) -> Path:
    """Where an RM's scores live in the ``eval_rms`` output: ``base.jsonl`` for the untrained
    base, ``seed<S>/<lang>.jsonl`` for the RM trained on ``lang`` with seed ``S`` (a flat
    ``<lang>.jsonl`` when ``seed`` is None)."""
    scores_dir = Path(scores_dir)
    if seed is None:
        return scores_dir / f"{rm}.jsonl"
    return scores_dir / f"seed{int(seed)}" / f"{rm}.jsonl"


def read_scores(scores_dir: str | Path, rms: list[str] | None = None,
                languages: list[str] | None = None,
                seeds: list[int] | None = None) -> pd.DataFrame:
    """The scores files of a folder, concatenated.

    ``rms`` names exactly the RMs to read (the pipeline passes ``base`` plus
    ``rm_languages``), so scores left in the folder by an RM that the params no longer
    list never enter the matrix; a listed RM without a file is an error. With ``seeds``
    (``rm_seeds``) every trained RM is read once per seed from ``seed<S>/<rm>.jsonl``
    (:func:`scores_path`), its rows tagged ``rm_seed``; ``base`` is always ``base.jsonl``.
    Without ``rms``, every ``*.jsonl`` directly in the folder is read. ``languages`` keeps
    only those eval languages, each of which every listed RM must have been scored on.
    """
    scores_dir = Path(scores_dir)
    if rms is None:
        rms = [f.stem for f in sorted(scores_dir.glob("*.jsonl"))]
        if not rms:
            raise DataError("no scores files (*.jsonl)", path=str(scores_dir))
    files: list[tuple[Path, int | None]] = []
    for rm in rms:
        if rm == "base" or seeds is None:
            files.append((scores_path(scores_dir, rm), None))
        else:
            files.extend((scores_path(scores_dir, rm, s), int(s)) for s in seeds)
    for f, _ in files:
        if not f.is_file():
            raise DataError(f"no scores for RM {f.stem!r}: run the eval stage "
                            "(dvc repro eval_rms)", path=str(f))
    frames = []
    for f, seed in files:
        frame = _read_scores_file(f)
        if seed is not None:
            if "rm_seed" in frame.columns and (frame["rm_seed"].dropna() != seed).any():
                raise DataError(f"rows of another seed in the file of seed {seed}", path=str(f),
                                field="rm_seed")
            frame = frame.assign(rm_seed=seed)
        if languages is not None:
            have = set(frame["language"]) if len(frame) else set()
            missing = [lang for lang in languages if lang not in have]
            if missing:
                raise DataError(f"RM {f.stem!r} was not scored on {missing}; its scores hold "
                                f"{sorted(have)}", path=str(f), field="language")
            frame = frame[frame["language"].isin(languages)]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _read_scores_file(path: Path) -> pd.DataFrame:
    """One scores JSONL file, checked row by row before pandas reads it: the columns
    :data:`~xlrm.evaluation.accuracy.REQUIRED_COLUMNS`, finite numeric scores, each
    (rm, id, language, head) once; an empty file is an error."""
    import io

    from xlrm.evaluation.accuracy import REQUIRED_COLUMNS
    from xlrm.io import read_jsonl

    seen: dict[tuple, int] = {}
    for i, row in enumerate(read_jsonl(path, nonempty=True), start=1):
        for key in REQUIRED_COLUMNS:
            if row.get(key) is None:
                raise DataError("missing", path=str(path), row=i, field=key)
        for key in ("chosen_score", "rejected_score"):
            value = row[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DataError(f"must be a number, got {value!r}", path=str(path), row=i,
                                field=key)
        key = (row["rm"], str(row["id"]), row["language"], row.get("head"))
        if key in seen:
            raise DataError(f"duplicate (rm, id, language, head) {key}, first seen at row "
                            f"{seen[key]}", path=str(path), row=i, field="id")
        seen[key] = i
    text = path.read_text(encoding="utf-8-sig")
    return pd.read_json(io.StringIO(text), lines=True, dtype={"id": str})


def ci_csv_path(matrix_csv: str | Path) -> Path:
    """Where the matrix's intervals go: ``<matrix>_ci.csv`` next to the matrix CSV."""
    matrix_csv = Path(matrix_csv)
    return matrix_csv.with_name(matrix_csv.stem + "_ci.csv")


def _rm_order(rms: list[str], source: str) -> list[str]:
    """Base first, then the source language's RM, then the others in data order."""
    first = [r for r in ("base", source) if r in rms]
    return first + [r for r in rms if r not in first]


def no_headline_reason(boot: BootstrapResult, source: str, trained: list[str]) -> str | None:
    """Why the source RM cannot be compared with any target-language RM (None when it can)."""
    if source not in trained:
        return (f"no RM trained on the source language {source!r} "
                f"(trained RMs: {', '.join(trained) or 'none'})")
    if not headline_targets(boot, source):
        return (f"no target language: no RM trained on an eval language other than "
                f"{source!r}")
    return None


def _rounded(d: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(v), 6) for k, v in d.items()}


def eval_pairs(scores: pd.DataFrame) -> dict[str, int]:
    """Evaluation pairs per language: distinct (subset, id) over every RM scored there."""
    pairs = scores[["language", "subset", "id"]].astype(str).drop_duplicates()
    return {str(k): int(v) for k, v in pairs.groupby("language", sort=False).size().items()}


def seed_count(scores: pd.DataFrame) -> int:
    """Training seeds per trained RM (the largest count; 1 without an ``rm_seed`` column)."""
    if "rm_seed" not in scores.columns:
        return 1
    trained = scores[scores["rm"] != "base"]
    counts = trained.groupby("rm")["rm_seed"].nunique() if len(trained) else pd.Series([1])
    return max(1, int(counts.max()))


def own_language_per_seed(scores: pd.DataFrame, trained: list[str]) -> dict[str, dict[str, float]]:
    """Each trained RM's own-language score per training seed: the spread seeds give."""
    from xlrm.evaluation.accuracy import accuracy_report

    out: dict[str, dict[str, float]] = {}
    for rm in trained:
        own = scores[(scores["rm"] == rm) & (scores["language"] == rm)]
        for seed, part in own.groupby("rm_seed", sort=True):
            rep = accuracy_report(part.drop(columns=["rm_seed"]))
            out.setdefault(rm, {})[str(int(seed))] = round(float(rep[rm][rm]["score"]), 6)
    return out


def transfer_results(cfg: TransferConfig, scores: pd.DataFrame) -> TransferResult:
    """The matrix, its intervals (at ``cfg.confidence``), the category table and the
    metrics of a scores table (from :func:`read_scores`).

    The metrics hold ``headline`` (the source RM minus each target-language RM, on the
    target language) and ``category_diff`` (the same per category, see
    :mod:`xlrm.evaluation.category_diff`) only when there is a target to compare; otherwise
    ``no_headline`` says why, and the rest (``own_language``, ``base``, ``eval_pairs``:
    pairs per eval language, ``rm_seeds``: RMs trained per language, and with several seeds
    ``own_language_per_seed``) is written all the same. With several seeds per RM every
    number is the mean over seeds and every interval two-level (seeds, then pairs)."""
    rms = _rm_order(list(dict.fromkeys(scores["rm"])), cfg.source_language)
    langs = list(dict.fromkeys(scores["language"]))
    boot = bootstrap_language_scores(scores, n_resamples=cfg.bootstrap_resamples, seed=cfg.seed)
    matrix = transfer_matrix(boot.report, rm_order=rms, language_order=langs)
    ci = bootstrap_ci(scores, confidence=cfg.confidence, boot=boot)
    table = accuracy_table(scores)
    trained = [r for r in rms if r != "base"]
    reason = no_headline_reason(boot, cfg.source_language, trained)

    n_seeds = seed_count(scores)
    metrics: dict[str, Any] = {"confidence": cfg.confidence,  # the level of every interval
                               "eval_pairs": eval_pairs(scores), "rm_seeds": n_seeds}
    diff_table = pd.DataFrame(columns=list(COLUMNS))
    if reason is None:
        head = headline(scores, source=cfg.source_language, confidence=cfg.confidence,
                        boot=boot)
        metrics["headline"] = {
            "source": head["source"], "targets": head["targets"], "confidence": cfg.confidence,
            "mean": _rounded(head["mean"]),
            "per_language": {t: _rounded(d) for t, d in head["per_language"].items()},
        }
        cat_diff = category_diff(boot, cfg.source_language, head["targets"], cfg.confidence)
        metrics["category_diff"] = {"confidence": cfg.confidence,
                                    **rounded_category_diff(cat_diff)}
        diff_table = category_diff_table(cat_diff)
    else:
        metrics["no_headline"] = reason
    # Each trained RM on its own language, and the untrained base there (mean of random heads).
    own = {rm: round(float(matrix.loc[rm, rm]), 6) for rm in trained if rm in matrix.columns}
    if own:
        metrics["own_language"] = own
    if n_seeds > 1:
        metrics["own_language_per_seed"] = own_language_per_seed(scores, trained)
    if "base" in matrix.index:
        metrics["base"] = {lang: round(float(v), 6) for lang, v in matrix.loc["base"].items()}
    return TransferResult(matrix=matrix, ci=ci, categories=table[table["level"] != "subset"],
                          category_diff=diff_table, metrics=metrics, no_headline=reason)

"""Preference-pair files: one file's validated rows (:func:`read_pairs`: training pairs,
labelled on-policy pairs), and one RM's training rows, one language or all mixed (``multi``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from xlrm.errors import DataError
from xlrm.io import iter_jsonl, read_jsonl
from xlrm.languages import MULTI
from xlrm.schema import iter_valid_rows, validate_file_rows


def read_pairs(path: Path) -> list[dict]:
    """The validated rows of a pairs JSONL file (normalised schema)."""
    if not path.exists():
        raise DataError("training file not found", path=str(path))
    return validate_file_rows(read_jsonl(path, nonempty=True), str(path))


def read_pairs_of(path: Path, languages: list[str]) -> dict[str, list[dict]]:
    """The validated rows of a pairs JSONL file in each of ``languages`` (the whole file is
    read and checked, one line at a time; rows of other languages are not kept)."""
    if not path.exists():
        raise DataError("training file not found", path=str(path))
    out: dict[str, list[dict]] = {lang: [] for lang in languages}
    for row in iter_valid_rows(iter_jsonl(path), str(path)):
        if row["language"] in out:
            out[row["language"]].append(row)
    return out


def training_rows(train_dir: Path, lang: str, languages: list[str], seed: int = 0) -> list[dict]:
    """Rows of ``train_dir/<lang>.jsonl``; for ``multi`` every language's rows interleaved.

    The mixed set is ordered by a hash of (seed, id, language), so it is stable
    and the languages are spread evenly through training.
    """
    if lang != MULTI:
        return read_pairs(train_dir / f"{lang}.jsonl")
    rows = [r for code in languages for r in read_pairs(train_dir / f"{code}.jsonl")]

    def key(r: dict) -> str:
        return hashlib.sha256(f"{seed}:{r['id']}:{r['language']}".encode()).hexdigest()

    return sorted(rows, key=key)

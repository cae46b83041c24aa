"""The report's inputs: where each lives (:class:`ReportPaths`, every path given by the
caller) and reading them (:func:`load_report_inputs`) into a :class:`ReportInputs`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from xlrm.errors import DataError
from xlrm.report.config import ReportConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class ReportPaths:
    """Where each input of the report lives. No defaults: the ``report`` stage takes every
    path from its command line (``dvc.yaml`` writes each one once)."""

    transfer_matrix: str
    transfer_ci: str
    category_scores: str
    category_diff: str
    transfer_metrics: str
    transfer_heatmap: str
    representations_metrics: str
    representations_layers: str
    representations_bar: str
    embeddings_metrics: str
    embedding_norms: str
    alignment_table: str
    alignment_metrics: str
    alignment_plot: str
    offshelf_matrix: str
    offshelf_metrics: str


#: How each input is read: ``matrix`` (CSV, first column = index), ``csv``, ``json``, ``png``.
INPUT_KINDS: dict[str, str] = {
    "transfer_matrix": "matrix", "transfer_ci": "csv", "category_scores": "csv",
    "category_diff": "csv", "transfer_metrics": "json", "transfer_heatmap": "png",
    "representations_metrics": "json", "representations_layers": "png",
    "representations_bar": "png", "embeddings_metrics": "json", "embedding_norms": "png",
    "alignment_table": "csv", "alignment_metrics": "json", "alignment_plot": "png",
    "offshelf_matrix": "matrix", "offshelf_metrics": "json",
}


@dataclass
class ReportInputs:
    """Everything the report shows, already loaded. A field left ``None`` is missing: its
    path (from :attr:`paths`) is named in the report, with the reason from
    :attr:`problems` when there is one (e.g. ``unreadable: ...``)."""

    paths: ReportPaths
    markdown_dir: str  # the Markdown file's folder: figure links are relative to it
    title: str = ReportConfig.title
    max_metric_rows: int = ReportConfig.max_metric_rows
    transfer_matrix: pd.DataFrame | None = None
    transfer_ci: pd.DataFrame | None = None
    category_scores: pd.DataFrame | None = None
    category_diff: pd.DataFrame | None = None
    transfer_metrics: dict | None = None
    transfer_heatmap: bytes | None = None
    representations_metrics: dict | None = None
    representations_layers: bytes | None = None
    representations_bar: bytes | None = None
    embeddings_metrics: dict | None = None
    embedding_norms: bytes | None = None
    alignment_table: pd.DataFrame | None = None
    alignment_metrics: dict | None = None
    alignment_plot: bytes | None = None
    offshelf_matrix: pd.DataFrame | None = None
    offshelf_metrics: dict | None = None
    problems: dict[str, str] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """Keys of the inputs that are not available, in :data:`INPUT_KINDS` order."""
        return [k for k in INPUT_KINDS if getattr(self, k) is None]

    def note(self, key: str) -> str:
        """``missing: <path>`` or ``unreadable: <path> (why)``."""
        path = getattr(self.paths, key)
        problem = self.problems.get(key)
        return f"unreadable: {path} ({problem})" if problem else f"missing: {path}"


def _read_input(kind: str, path: Path) -> Any:
    from xlrm.io import read_json

    if kind == "png":
        data = path.read_bytes()
        if not data.startswith(PNG_MAGIC):
            raise DataError("not a PNG file", path=str(path))
        return data
    if kind == "json":
        obj = read_json(path)
        if not isinstance(obj, dict):
            raise DataError("expected a JSON object", path=str(path))
        return obj
    try:
        if kind == "matrix":
            return pd.read_csv(path, index_col=0)
        return pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(f"invalid CSV: {e}", path=str(path)) from None


def load_report_inputs(paths: ReportPaths, *, markdown_dir: str | os.PathLike,
                       cfg: ReportConfig | None = None) -> ReportInputs:
    """Read every input that exists; record each absent or unreadable one (never raises for
    a missing file: :meth:`ReportInputs.missing` lists them). ``markdown_dir`` is the
    Markdown file's folder (its figure links are relative to it)."""
    cfg = cfg or ReportConfig()
    inputs = ReportInputs(paths=paths, title=cfg.title, max_metric_rows=cfg.max_metric_rows,
                          markdown_dir=str(markdown_dir))
    for key, kind in INPUT_KINDS.items():
        path = Path(getattr(paths, key))
        if not path.is_file():
            continue
        try:
            setattr(inputs, key, _read_input(kind, path))
        except (DataError, OSError, UnicodeDecodeError) as e:
            inputs.problems[key] = str(e).replace(f"file {path}: ", "")
    return inputs


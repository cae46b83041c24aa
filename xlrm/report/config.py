"""The ``report`` params section (light: no pandas at import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReportConfig:
    """The ``report`` params section.

    Attributes:
        title: the report's title.
        max_metric_rows: at most this many numbers of a representation/embedding metrics
            file are tabulated (the figures carry the rest).
    """

    title: str = "Cross-lingual transfer of reward models: results"
    max_metric_rows: int = 40

    def __post_init__(self) -> None:
        if self.max_metric_rows < 0:
            raise ValueError("max_metric_rows must be >= 0")

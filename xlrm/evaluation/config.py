"""The ``transfer`` params section (light: no numpy/pandas, so the stage checks its params
before the heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TransferConfig:
    """The ``transfer`` params section."""

    source_language: str = "en"      # the RM whose transfer is tested (the study: English)
    bootstrap_resamples: int = 1000  # resamples of pairs for the confidence intervals
    confidence: float = 0.95         # level of every interval (matrix cells and headline)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.source_language:
            raise ValueError("source_language: must name a language")
        if self.bootstrap_resamples < 1:
            raise ValueError(f"bootstrap_resamples: must be a positive integer, "
                             f"got {self.bootstrap_resamples!r}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence: must be in (0, 1), got {self.confidence!r}")
        if self.seed < 0:
            raise ValueError(f"seed: must be a non-negative integer, got {self.seed!r}")

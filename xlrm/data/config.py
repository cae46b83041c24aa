"""The params sections of the data stages (light: no pandas/torch at import):
``prepare`` (:class:`PrepareConfig`), ``eval_data`` (:class:`EvalDataConfig`) and
``instructions`` (:class:`InstructionsConfig`). Values are checked when a config is built
(``__post_init__``); :func:`xlrm.sections.load_config` names the params file and section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


def _check_count(value: int | None, key: str, *, minimum: int) -> None:
    """``value`` is None or an integer >= ``minimum``, else ValueError naming ``key``."""
    if value is not None and value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{key} must be {what} or null, got {value!r}")


def _check_language(code: str, key: str) -> None:
    """``code`` is a known ISO 639-1 code (:data:`xlrm.languages.LANGUAGES`)."""
    from xlrm.languages import LANGUAGES

    if code not in LANGUAGES:
        raise ValueError(f"{key}: unknown language code {code!r}; known: {sorted(LANGUAGES)}")


@dataclass
class SeedSource:
    """Settings of the project's own generated multilingual set (``source: seed``; its
    languages and size are checked by :func:`xlrm.data.seed.generate`)."""

    seed: int = 0
    items_per_subset: int = 50
    languages: list[str] = field(default_factory=lambda: ["en", "es", "it", "ko", "zh"])

    def __post_init__(self) -> None:
        _check_count(self.items_per_subset, "items_per_subset", minimum=1)
        for code in self.languages:
            _check_language(code, "languages")


@dataclass
class PrepareConfig:
    """The ``prepare`` params section."""

    # "seed" (xlrm's generated set), a hub data set id, a local file/folder, or a list of them.
    source: str | list[str] = "seed"
    format: Literal["auto", "pairs", "sharegpt", "hh-rlhf", "llmbar", "mrewardbench"] = "auto"
    language: str = "en"          # language of rows that carry none
    hub_config: str | None = None
    hub_split: str = "train"
    on_bad_row: Literal["error", "skip"] = "error"
    max_pairs: int | None = None
    test_fraction: float = 0.1
    split_seed: int = 42
    # "prompt": ids that share a prompt (in any language) go to the same side, so no test
    # prompt is seen in training; "id": each id on its own (all its languages together).
    split_by: Literal["prompt", "id"] = "prompt"
    # Drop every id whose pair (prompt, chosen, rejected) repeats an earlier id's in some
    # language: a repeated pair is not new evidence in the test split.
    drop_duplicates: bool = True
    seed: SeedSource = field(default_factory=SeedSource)

    def __post_init__(self) -> None:
        if not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        _check_count(self.max_pairs, "max_pairs", minimum=0)
        _check_language(self.language, "language")


@dataclass
class EvalDataConfig:
    """The ``eval_data`` params section: where the M-RewardBench-format sets come from."""

    # "prepared" (the held-out split of `prepare`, e.g. the seed set), "hub"
    # (M-RewardBench per language, RewardBench for English), or a local folder.
    source: str = "hub"
    max_per_language: int | None = None
    # With source "hub": the two data sets, each a hub id or a local folder laid out as that
    # hub repository (dataset card with `configs:` + data files; the paper-dry preset's).
    mrewardbench: str = "CohereLabsCommunity/multilingual-reward-bench"
    rewardbench: str = "allenai/reward-bench"

    def __post_init__(self) -> None:
        _check_count(self.max_per_language, "max_per_language", minimum=1)


@dataclass
class InstructionSource:
    """Where one instruction set (on-policy prompts or evaluation instructions) comes from."""

    source: str = "seed"             # seed | hub id | local file
    # A file path, hub config and split may hold "{lang}" (the ISO code, e.g. "ko") and
    # "{language}" (the lower-case English name, e.g. "korean"), filled per language.
    hub_config: str | None = None
    hub_split: str = "train"
    max_per_language: int | None = None

    def __post_init__(self) -> None:
        _check_count(self.max_per_language, "max_per_language", minimum=1)


@dataclass
class InstructionsConfig:
    """The ``instructions`` params section."""

    train: InstructionSource = field(default_factory=InstructionSource)
    eval: InstructionSource = field(default_factory=InstructionSource)

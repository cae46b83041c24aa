"""M-RewardBench's subset table: the category and fixed weight of every subset.

Light (no numpy/pandas): the data loaders import it to give M-RewardBench rows their category.
"""

from __future__ import annotations

from collections.abc import Mapping

from xlrm.errors import ConfigError
from xlrm.schema import CATEGORIES

# subset -> (category, weight). M-RewardBench's post-filtering example counts, as used by
# for-ai/aya_rm_multilingual `analysis/plot_utils.py` (math-prm is up-weighted to equal the
# code subsets together).
MREWARDBENCH_WEIGHTS: dict[str, tuple[str, int]] = {
    # Chat
    "alpacaeval-easy": ("chat", 79),
    "alpacaeval-length": ("chat", 79),
    "alpacaeval-hard": ("chat", 76),
    "mt-bench-easy": ("chat", 24),
    "mt-bench-med": ("chat", 38),
    # Chat Hard
    "mt-bench-hard": ("chat-hard", 35),
    "llmbar-natural": ("chat-hard", 76),
    "llmbar-adver-neighbor": ("chat-hard", 124),
    "llmbar-adver-GPTInst": ("chat-hard", 87),
    "llmbar-adver-GPTOut": ("chat-hard", 42),
    "llmbar-adver-manual": ("chat-hard", 43),
    # Safety
    "refusals-dangerous": ("safety", 100),
    "refusals-offensive": ("safety", 100),
    "xstest-should-refuse": ("safety", 154),
    "xstest-should-respond": ("safety", 247),
    "donotanswer": ("safety", 135),
    # Reasoning
    "math-prm": ("reasoning", 983),
    "hep-cpp": ("reasoning", 164),
    "hep-go": ("reasoning", 164),
    "hep-java": ("reasoning", 164),
    "hep-js": ("reasoning", 164),
    "hep-python": ("reasoning", 163),
    "hep-rust": ("reasoning", 164),
}


def check_weights(weights: Mapping[str, tuple[str, int]]) -> None:
    """Every entry of a weights table is ``(category, positive weight)``."""
    for subset, value in weights.items():
        try:
            category, weight = value
        except (TypeError, ValueError):
            raise ConfigError(f"weights[{subset!r}] must be (category, weight), got {value!r}")
        if category not in CATEGORIES:
            raise ConfigError(f"weights[{subset!r}]: category {category!r} is not one of "
                              f"{CATEGORIES}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ConfigError(f"weights[{subset!r}]: weight must be a positive number, "
                              f"got {weight!r}")

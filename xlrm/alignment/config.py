"""The params sections of the alignment half: ``label``, ``train_dpo``, ``eval_alpaca`` and
``alignment``.

Light on purpose (no torch, transformers or trl at import), so a stage checks its params
before it pays for heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from xlrm.config import TrainerSection
from xlrm.judges.config import JudgeConfig
from xlrm.reward.config import LoraSettings, at_least


@dataclass
class LabelConfig:
    """The ``label`` params section."""

    min_margin: float = 0.0          # drop a prompt when best - worst reward is below this
    max_length: int | None = 2048    # left-truncation of scored conversations
    token_budget: int = 16384
    # auto: float32 on a CPU, bfloat16 on an accelerator (xlrm.modeling.resolve_dtype)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        at_least("min_margin", self.min_margin, 0.0)
        at_least("max_length", self.max_length, 1)
        at_least("token_budget", self.token_budget, 1)


@dataclass
class DPOExtras:
    """xlrm's own keys of the ``train_dpo`` section (all others are DPOConfig fields)."""

    lora: LoraSettings | None = None
    trainable_layers: int | None = None
    max_train_pairs: int | None = None
    # The batch of one optimizer step over all processes; null keeps
    # gradient_accumulation_steps as set (xlrm.training.batch_plan).
    global_batch_size: int | None = None
    # The saved policy's dtype; "auto" is the training precision (bfloat16 with bf16: true).
    save_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"

    def __post_init__(self) -> None:
        at_least("trainable_layers", self.trainable_layers, 1)
        at_least("max_train_pairs", self.max_train_pairs, 1)
        at_least("global_batch_size", self.global_batch_size, 1)


@dataclass
class TrainDPOConfig(TrainerSection):
    """The ``train_dpo`` section: DPOConfig fields plus :class:`DPOExtras`."""

    TRL_CONFIG = "DPOConfig"
    EXTRAS = DPOExtras
    PASSTHROUGH = "dpo_config"

    extras: DPOExtras
    dpo_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalAlpacaConfig:
    """The ``eval_alpaca`` params section (``eval_alpaca@*`` answers and checks each policy,
    ``head_to_head@*`` compares them).

    Attributes:
        judge: the judge of both stages (:class:`~xlrm.judges.config.JudgeConfig`).
        reference: also judge every answer against the evaluation row's same-language
            reference (AlpacaEval's own mode; every row then needs a ``reference``).
            Head-to-head judging (the policies against each other) needs none and always runs.
        min_consistency: an LLM judge whose position consistency (the share of items whose
            verdict survives swapping the two outputs) is below this is flagged: its win
            rates are not evidence, and the report says so beside them.
        max_new_tokens, token_budget: greedy answers (tokens per answer, padded tokens per
            generation batch).
        langid_min_chars: shorter answers count as in the language (language fidelity).
        dtype, device: the policy's inference precision and device.
    """

    judge: JudgeConfig
    reference: bool = False
    min_consistency: float = 0.6
    max_new_tokens: int = 256
    token_budget: int = 8192
    langid_min_chars: int = 20
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        at_least("max_new_tokens", self.max_new_tokens, 1)
        at_least("token_budget", self.token_budget, 1)
        if not 0.0 <= self.min_consistency <= 1.0:
            raise ValueError(f"min_consistency must be between 0 and 1, got "
                             f"{self.min_consistency!r}")


@dataclass
class AlignmentConfig:
    """The ``alignment`` params section (the summary over DPO runs)."""

    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    # What the headline compares, English-RM-labelled against target-RM-labelled DPO:
    # verifiable_accuracy (the rule judge's checks: difference in points), head_to_head
    # (the judge's win rate of one over the other, both orders) or reference (difference of
    # the win rates against the references); auto = verifiable_accuracy when the answers
    # were checked by rules, else head_to_head.
    headline: Literal["auto", "verifiable_accuracy", "head_to_head", "reference"] = "auto"

    def __post_init__(self) -> None:
        at_least("bootstrap_resamples", self.bootstrap_resamples, 1)
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence!r}")

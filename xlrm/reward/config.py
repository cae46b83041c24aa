"""The ``train_rm`` and ``eval_rm`` params sections (``eval_rm`` configures the
``eval_rms`` stage).

Light on purpose (no torch, transformers or trl at import), so a stage checks its params
before it pays for heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from xlrm.config import TrainerSection


def at_least(key: str, value: int | float | None, low: int | float) -> None:
    """Refuse ``value`` below ``low`` (``None`` passes), naming ``key``."""
    if value is not None and value < low:
        raise ValueError(f"{key} must be at least {low}, got {value!r}")


@dataclass
class LoraSettings:
    """LoRA adapter settings (peft.LoraConfig field names)."""

    r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: list[str] | str = "all-linear"

    def __post_init__(self) -> None:
        at_least("r", self.r, 1)
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")


# Keys of the train_rm section that are xlrm's own; every other key is a RewardConfig field.
@dataclass
class RMExtras:
    # Full fine-tuning when null; a LoRA adapter (plus the score head) otherwise.
    lora: LoraSettings | None = None
    # Freeze the input embeddings (most of a small multilingual model's parameters).
    freeze_embeddings: bool = False
    # Train only the last N transformer layers (and the head); null trains all. With LoRA,
    # adapters go on those layers only (peft's layers_to_transform), so backpropagation
    # stops there: on a CPU this is what makes a 270M model affordable.
    trainable_layers: int | None = None
    # What to do with a pair longer than max_length: "drop" it (TRL's behaviour), or
    # truncate it from the "left" (the study's released code), keeping the reply.
    truncation: Literal["drop", "left"] = "drop"
    # Use at most this many training pairs (first N in file order); null uses all.
    max_train_pairs: int | None = None
    # How a batch's two replies are padded. "separate": the longer reply of every pair in one
    # tensor and the shorter in another, each padded to its own longest, two forward passes
    # (bench/, 1,734 mixed pairs, length-grouped: 4.4% padding, the same tokens/s).
    # "joint": TRL's collator, chosen and rejected in one tensor padded to the longest of
    # either, one forward pass (every pair pads its shorter reply: 11.2% there). Runs on
    # several processes (DDP, DeepSpeed) pad jointly: two forward passes per backward are
    # untested there.
    pair_padding: Literal["separate", "joint"] = "separate"
    # The batch of one optimizer step over all processes (the study's 128); null keeps
    # gradient_accumulation_steps as set (xlrm.training.batch_plan).
    global_batch_size: int | None = None
    # The saved weights' dtype; "auto" is the training precision (bfloat16 with bf16: true).
    save_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"

    def __post_init__(self) -> None:
        at_least("trainable_layers", self.trainable_layers, 1)
        at_least("max_train_pairs", self.max_train_pairs, 1)
        at_least("global_batch_size", self.global_batch_size, 1)


@dataclass
class TrainRMConfig(TrainerSection):
    """The ``train_rm`` section: RewardConfig fields plus :class:`RMExtras`."""

    TRL_CONFIG = "RewardConfig"
    EXTRAS = RMExtras
    PASSTHROUGH = "reward_config"

    extras: RMExtras
    reward_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalRMConfig:
    """The ``eval_rm`` params section."""

    # Longer conversations are truncated from the left (the reply is kept), as the study did.
    max_length: int | None = 2048
    # Padded tokens per forward pass; sequences are grouped by length to fill it.
    token_budget: int = 16384
    # auto: float32 on a CPU, bfloat16 on an accelerator (xlrm.modeling.resolve_dtype)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # The untrained base is scored with this many random score heads (mean reported).
    base_heads: int = 5
    base_head_seed: int = 0
    device: str = "auto"
    # Score all models together, the layers every RM leaves as the base has them computed
    # once per batch (xlrm.reward.trunk; checked on the weights, logged). false: each model
    # on its own with its full forward pass, one at a time (the per-model path).
    shared_trunk: bool = True

    def __post_init__(self) -> None:
        at_least("max_length", self.max_length, 1)
        at_least("token_budget", self.token_budget, 1)
        at_least("base_heads", self.base_heads, 1)

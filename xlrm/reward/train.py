"""Bradley-Terry reward-model training with TRL's ``RewardTrainer`` (the ``train_rm`` stage's
core): tokenized pairs, the model with a LoRA adapter or partly frozen, xlrm's length
grouping and pair padding. What it shares with DPO (trainer settings and the global batch,
LoRA on the last layers, freezing, saving on one process or many) is :mod:`xlrm.training`.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from xlrm.checkpoints import CHECKPOINT_DEFAULTS
from xlrm.errors import ConfigError
from xlrm.reward.config import TrainRMConfig

log = logging.getLogger(__name__)

# RewardConfig defaults that xlrm changes so the same params run on a CPU and a GPU, and
# checkpoints a rerun resumes from (xlrm.checkpoints): every 50 steps (about 100 s of a
# 2-core CPU on the default preset, whose 48-step runs therefore save none).
RM_DEFAULTS: dict[str, Any] = {
    "report_to": ["mlflow"],
    **CHECKPOINT_DEFAULTS,
    "save_steps": 50,
    "logging_steps": 1,
    "gradient_checkpointing": False,
    "bf16": False,
    "remove_unused_columns": False,
    "disable_dropout": True,
}


def build_reward_trainer(base_dir: str | Path, train_rows: list[dict], cfg: TrainRMConfig, *,
                         scratch_dir: str | Path, eval_rows: list[dict] | None = None,
                         overrides: dict[str, Any] | None = None, xlrm_sampler: bool = True):
    """TRL's ``RewardTrainer`` set up for ``cfg``: tokenized pairs, the model (LoRA or
    partly frozen), xlrm's length grouping and pair padding. Returns ``(trainer, stats)``.

    ``overrides`` replaces RewardConfig fields after the section's (the benchmark sets
    ``max_steps`` and turns reporting off); ``xlrm_sampler=False`` leaves
    ``group_by_length`` to transformers' own sampler (to compare against). The
    RewardConfig the trainer receives is logged as the effective config ``train_rm``.
    """
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from xlrm.modeling import load_seqcls, load_tokenizer
    from xlrm.reward.batching import (SeparatePairCollator, length_grouped, pair_lengths,
                                      separately_padded)
    from xlrm.reward.tokens import cached_tokenize_pairs, tokenize_pairs
    from xlrm.tracking import log_effective_config

    from xlrm.training import freeze, lora_config, parameter_counts, trainer_kwargs

    extras = cfg.extras
    rc_kwargs, plan = trainer_kwargs(RewardConfig, RM_DEFAULTS, cfg.reward_config, overrides,
                                     stage="train_rm", global_batch_size=extras.global_batch_size)
    seed = rc_kwargs.get("seed", 42)
    args = RewardConfig(output_dir=str(scratch_dir), **rc_kwargs)

    tok = load_tokenizer(base_dir)
    if extras.max_train_pairs is not None:
        train_rows = train_rows[: extras.max_train_pairs]
    # Tokenized once per (data, tokenizer, settings): beside the checkpoints, not removed with them.
    cols, stats = cached_tokenize_pairs(train_rows, tok, args.max_length, extras.truncation,
                                        cache_dir=f"{scratch_dir}.tokens", model_dir=base_dir)
    stats.update(plan)
    if stats["pairs_kept"] == 0:
        raise ConfigError(f"no training pairs left: {stats['dropped_too_long']} of "
                          f"{stats['pairs_in']} were longer than max_length={args.max_length}")
    if stats["dropped_too_long"]:
        log.warning("dropped %d of %d pairs longer than max_length=%s", stats["dropped_too_long"],
                    stats["pairs_in"], args.max_length)
    # "length" (the longer reply) and "short_length" feed the length-grouped sampler; the
    # collators ignore them.
    long_len, short_len = pair_lengths(cols)
    train_ds = Dataset.from_dict({"chosen_ids": cols["chosen_ids"], "rejected_ids": cols["rejected_ids"],
                                  "length": long_len, "short_length": short_len})
    eval_ds = None
    if eval_rows:
        ecols, estats = tokenize_pairs(eval_rows, tok, args.max_length, extras.truncation)
        stats["eval_pairs"] = estats["pairs_kept"]
        if estats["pairs_kept"]:
            eval_ds = Dataset.from_dict({"chosen_ids": ecols["chosen_ids"],
                                         "rejected_ids": ecols["rejected_ids"]})
    if eval_ds is None:
        args.eval_strategy = "no"

    model = load_seqcls(base_dir, seed=seed)
    peft_config = None
    if extras.lora is not None:
        peft_config = lora_config(model, extras.lora, extras.trainable_layers, "SEQ_CLS")
    else:
        freeze(model, embeddings=extras.freeze_embeddings, trainable_layers=extras.trainable_layers)
        stats.update(parameter_counts(model))

    pair_padding = extras.pair_padding
    if pair_padding == "separate" and args.world_size > 1:
        log.info("pair_padding: separate (two forward passes per backward) is untested on "
                 "several processes: padding jointly on %d", args.world_size)
        pair_padding = "joint"
    stats["pair_padding"] = pair_padding
    cls = RewardTrainer
    if pair_padding == "separate":
        cls = separately_padded(cls)
    if xlrm_sampler:
        cls = length_grouped(cls)
    log_effective_config("train_rm", args.to_dict())
    trainer = cls(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                  processing_class=tok, peft_config=peft_config)
    if pair_padding == "separate":
        # the pad token RewardTrainer settled on (args.pad_token, the tokenizer's, or EOS)
        trainer.data_collator = SeparatePairCollator(trainer.processing_class.pad_token_id,
                                                     args.pad_to_multiple_of)
    if extras.lora is not None:
        stats.update(parameter_counts(trainer.model))
    return trainer, stats


def split_timings(stats: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(stats without wall times, the wall times)``: the training and evaluation runtimes
    and throughputs, which differ on every rerun, go to MLflow only and not into the
    DVC-tracked metrics file (which a rerun then writes byte-identical)."""
    timed = {k: v for k, v in stats.items() if k.endswith(("_runtime_s", "_runtime", "_per_second"))}
    return {k: v for k, v in stats.items() if k not in timed}, timed


def train_reward_model(base_dir: str | Path, train_rows: list[dict], out_dir: str | Path,
                       cfg: TrainRMConfig, *, scratch_dir: str | Path,
                       eval_rows: list[dict] | None = None, callbacks: list | None = None
                       ) -> dict[str, Any]:
    """Train a Bradley-Terry RM on ``train_rows`` and save the final model (or adapter).

    Only the final weights land in ``out_dir``; the trainer's checkpoints go to
    ``scratch_dir``, and a rerun with the same configuration, data and base model resumes
    from the newest (:mod:`xlrm.checkpoints`; ``resumed_from_step`` says where, 0 when it
    started clean). ``callbacks`` are added to the trainer. Returns stats and the final
    training metrics (``train_runtime_s``: this call's training time).
    """
    from xlrm.checkpoints import Resume, run_fingerprint, train_resumable
    from xlrm.training import changed_share, loss_history, save_final, trainable_snapshot

    trainer, stats = build_reward_trainer(base_dir, train_rows, cfg, scratch_dir=scratch_dir,
                                          eval_rows=eval_rows)
    for cb in callbacks or ():
        trainer.add_callback(cb)
    resume = Resume(scratch_dir, run_fingerprint(trainer_args=trainer.args.to_dict(),
                                                 extras=cfg.extras, rows=train_rows,
                                                 model_dir=base_dir,
                                                 world_size=trainer.args.world_size),
                    is_main=trainer.args.should_save)
    before = trainable_snapshot(trainer.model) if cfg.extras.lora is None else None
    result = train_resumable(trainer, resume)
    metrics = {"train_loss": resume.train_loss(result), "train_steps": int(result.global_step),
               "train_runtime_s": float(result.metrics.get("train_runtime", math.nan)),
               "resumed_from_step": resume.step, **loss_history(trainer)}
    if trainer.eval_dataset is not None:
        ev = trainer.evaluate()
        metrics.update({k: float(v) for k, v in ev.items() if isinstance(v, (int, float))})
    metrics.update(changed_share(before, trainer))
    metrics.update(save_final(trainer, out_dir, cfg.extras.save_dtype))
    resume.finish()
    return {**stats, **metrics}

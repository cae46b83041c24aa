"""Bradley-Terry reward-model training with TRL's ``RewardTrainer`` (the ``train_rm`` stage's
core): tokenized pairs, the model with a LoRA adapter or partly frozen, xlrm's length
grouping and pair padding. The trainer settings (:func:`trainer_kwargs`), LoRA restriction
to the last layers (:func:`lora_config`) and freezing (:func:`freeze`) are shared with DPO
(:mod:`xlrm.alignment.dpo`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

from xlrm.checkpoints import CHECKPOINT_DEFAULTS
from xlrm.errors import ConfigError
from xlrm.reward.config import LoraSettings, TrainRMConfig

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


def trainer_kwargs(defaults: dict[str, Any], section: dict[str, Any],
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A TRL config's keyword arguments: xlrm's ``defaults``, then the params ``section``,
    then the CPU rule (no bf16; ``use_cpu`` unless set), then ``overrides``."""
    import torch

    kwargs = {**defaults, **section}
    if not torch.cuda.is_available():
        kwargs["bf16"] = False
        kwargs.setdefault("use_cpu", True)
    kwargs.update(overrides or {})
    return kwargs


def transformer_layers(model):
    """The model's stack of transformer blocks."""
    return getattr(model, model.base_model_prefix).layers


def lora_config(model, lora: LoraSettings, trainable_layers: int | None, task_type: str):
    """A peft LoraConfig; with ``trainable_layers`` the adapters sit on the last N layers only."""
    from peft import LoraConfig

    kwargs = dataclasses.asdict(lora)
    if trainable_layers is not None:
        n_layers = model.config.get_text_config().num_hidden_layers
        kwargs["layers_to_transform"] = list(range(max(0, n_layers - trainable_layers), n_layers))
        if isinstance(kwargs["target_modules"], str):
            # peft needs module names (not "all-linear") to restrict layers: every linear
            # module inside the transformer blocks.
            import torch

            kwargs["target_modules"] = sorted({name.rsplit(".", 1)[-1]
                                               for name, mod in transformer_layers(model).named_modules()
                                               if isinstance(mod, torch.nn.Linear)})
    return LoraConfig(task_type=task_type, **kwargs)


# LoraConfig fields that peft holds as sets (their saved order follows string hashing).
SET_FIELDS = ("target_modules", "exclude_modules", "modules_to_save")


def save_trained(model, tokenizer, out_dir: str | Path) -> None:
    """Save the final model (or adapter) and tokenizer so that the same training gives the
    same bytes: peft keeps ``target_modules`` (and other module lists) as a set, so
    ``adapter_config.json`` lists them in an order that changes with ``PYTHONHASHSEED``
    (a new DVC hash on every rerun). The adapter config is rewritten with those lists
    sorted; loading it gives the same adapter."""
    import json

    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    for path in Path(out_dir).rglob("adapter_config.json"):
        config = json.loads(path.read_text(encoding="utf-8"))
        for key in SET_FIELDS:
            if isinstance(config.get(key), list):
                config[key] = sorted(config[key])
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def freeze(model, *, embeddings: bool, trainable_layers: int | None) -> None:
    """Full fine-tuning restricted: the input embeddings frozen (``embeddings``), and all
    but the last ``trainable_layers`` transformer blocks (``None`` trains all)."""
    if embeddings:
        for p in model.get_input_embeddings().parameters():
            p.requires_grad_(False)
    if trainable_layers is not None:
        layers = transformer_layers(model)
        for layer in layers[: max(0, len(layers) - trainable_layers)]:
            for p in layer.parameters():
                p.requires_grad_(False)


def parameter_counts(model) -> dict[str, int]:
    return {"params_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "params_total": sum(p.numel() for p in model.parameters())}


def loss_history(trainer) -> dict[str, float]:
    """The first and last logged training loss (none when nothing was logged)."""
    history = [h for h in trainer.state.log_history if "loss" in h]
    if not history:
        return {}
    return {"first_loss": float(history[0]["loss"]), "last_loss": float(history[-1]["loss"])}


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
    from xlrm.reward.tokens import tokenize_pairs
    from xlrm.tracking import log_effective_config

    extras = cfg.extras
    rc_kwargs = trainer_kwargs(RM_DEFAULTS, cfg.reward_config, overrides)
    seed = rc_kwargs.get("seed", 42)
    args = RewardConfig(output_dir=str(scratch_dir), **rc_kwargs)

    tok = load_tokenizer(base_dir)
    if extras.max_train_pairs is not None:
        train_rows = train_rows[: extras.max_train_pairs]
    cols, stats = tokenize_pairs(train_rows, tok, args.max_length, extras.truncation)
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
    import torch

    from xlrm.checkpoints import Resume, run_fingerprint, train_resumable

    trainer, stats = build_reward_trainer(base_dir, train_rows, cfg, scratch_dir=scratch_dir,
                                          eval_rows=eval_rows)
    for cb in callbacks or ():
        trainer.add_callback(cb)
    resume = Resume(scratch_dir, run_fingerprint(trainer_args=trainer.args.to_dict(),
                                                 extras=cfg.extras, rows=train_rows,
                                                 model_dir=base_dir,
                                                 world_size=trainer.args.world_size),
                    is_main=trainer.args.should_save)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    result = train_resumable(trainer, resume)
    metrics = {"train_loss": resume.train_loss(result), "train_steps": int(result.global_step),
               "train_runtime_s": float(result.metrics.get("train_runtime", math.nan)),
               "resumed_from_step": resume.step, **loss_history(trainer)}
    if trainer.eval_dataset is not None:
        ev = trainer.evaluate()
        metrics.update({k: float(v) for k, v in ev.items() if isinstance(v, (int, float))})
    final = trainer.model
    if cfg.extras.lora is None:
        changed = sum(not torch.equal(before[n], p.detach()) for n, p in final.named_parameters()
                      if n in before)
        metrics["params_changed_share"] = changed / max(1, len(before))
    save_trained(final, trainer.processing_class, out_dir)
    resume.finish()
    return {**stats, **metrics}

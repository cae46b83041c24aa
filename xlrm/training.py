"""What the two training stages (``train_rm``: :mod:`xlrm.reward.train`, ``train_dpo``:
:mod:`xlrm.alignment.dpo`) share: the TRL config's keyword arguments (xlrm's defaults, the
CPU rule, the global batch over any number of processes), LoRA on the last layers or partial
freezing, and saving the final weights the same way on one process or many.

Batch: a section's ``global_batch_size`` (the study's 128) is the batch of one optimizer step
over all processes; ``gradient_accumulation_steps`` follows from it, the per-device batch
and the world size (``WORLD_SIZE``, set by ``accelerate launch``), so the effective batch
does not change with the GPU count.

Saving: ``trainer.save_model`` on every rank (DeepSpeed ZeRO-3 and FSDP gather their shards
there; only the main process writes), then, on the main process only, the adapter config's
module lists sorted (byte-identical reruns) and the weights cast to the section's
``save_dtype`` (``auto``: the training precision, bf16 when ``bf16: true``), so DVC stores
half the bytes of float32. Training itself keeps float32 master weights: the model is loaded
in float32 and ``bf16: true`` is mixed precision (autocast), or DeepSpeed's / FSDP's own;
on a CPU too (accelerate's CPU autocast), where it pays on CPUs with native bfloat16.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from xlrm.errors import ConfigError

log = logging.getLogger(__name__)

# LoraConfig fields that peft holds as sets (their saved order follows string hashing).
SET_FIELDS = ("target_modules", "exclude_modules", "modules_to_save")


def batch_plan(kwargs: dict[str, Any], global_batch_size: int | None, world: int,
               default_per_device: int, where: str) -> dict[str, int]:
    """Set ``gradient_accumulation_steps`` in ``kwargs`` from ``global_batch_size`` (when
    given) and return the plan ``{world_size, per_device_train_batch_size,
    gradient_accumulation_steps, effective_batch_size}``."""
    per_device = int(kwargs.get("per_device_train_batch_size", default_per_device))
    if global_batch_size is not None:
        if "gradient_accumulation_steps" in kwargs:
            raise ConfigError(f"{where}: set global_batch_size or gradient_accumulation_steps, "
                              "not both (accumulation follows from the global batch)")
        step = per_device * world
        if global_batch_size % step:
            raise ConfigError(
                f"{where}: global_batch_size {global_batch_size} is not a multiple of "
                f"per_device_train_batch_size {per_device} x {world} process(es) = {step}: "
                "choose a per-device batch and a process count whose product divides it")
        kwargs["gradient_accumulation_steps"] = global_batch_size // step
    accumulation = int(kwargs.get("gradient_accumulation_steps", 1))
    return {"world_size": world, "per_device_train_batch_size": per_device,
            "gradient_accumulation_steps": accumulation,
            "effective_batch_size": per_device * accumulation * world}


def trainer_kwargs(config_cls: type, defaults: dict[str, Any], section: dict[str, Any],
                   overrides: dict[str, Any] | None = None, *, stage: str,
                   global_batch_size: int | None = None) -> tuple[dict[str, Any], dict[str, int]]:
    """A TRL config's keyword arguments and the batch plan (:func:`batch_plan`): xlrm's
    ``defaults``, then the params ``section``, then the CPU rule (``use_cpu`` unless set; bf16
    only where the section sets ``bf16: true``, with a warning on a CPU that emulates it),
    then ``overrides``. A plain process that sees several GPUs is refused
    (:func:`xlrm.launch.refuse_data_parallel`)."""
    import torch

    from xlrm.launch import refuse_data_parallel, world_size
    from xlrm.modeling import cpu_bf16_native

    refuse_data_parallel(stage)
    kwargs = {**defaults, **section}
    if not torch.cuda.is_available():
        kwargs.setdefault("use_cpu", True)
        if kwargs.get("bf16") and "bf16" not in section:
            kwargs["bf16"] = False  # a default (TRL's or xlrm's), not the user's choice
        if kwargs.get("bf16") and not cpu_bf16_native():
            log.warning("%s: bf16 on a CPU without native bfloat16 (avx512_bf16/AMX): "
                        "mixed precision is emulated there and slower than float32; "
                        "set %s.bf16: false", stage, stage)
    kwargs.update(overrides or {})
    default_per_device = config_cls.__dataclass_fields__["per_device_train_batch_size"].default
    plan = batch_plan(kwargs, global_batch_size, world_size(), default_per_device, stage)
    return kwargs, plan


def transformer_layers(model):
    """The model's stack of transformer blocks."""
    return getattr(model, model.base_model_prefix).layers


def lora_config(model, lora: Any, trainable_layers: int | None, task_type: str):
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

            blocks = transformer_layers(model).named_modules()
            kwargs["target_modules"] = sorted({name.rsplit(".", 1)[-1] for name, mod in blocks
                                               if isinstance(mod, torch.nn.Linear)})
    return LoraConfig(task_type=task_type, **kwargs)


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
    """The first and last logged training loss (none when nothing was logged). Logged losses
    are averaged over all processes, so they compare across process counts."""
    history = [h for h in trainer.state.log_history if "loss" in h]
    if not history:
        return {}
    return {"first_loss": float(history[0]["loss"]), "last_loss": float(history[-1]["loss"])}


def sharded(trainer) -> bool:
    """Whether the trainer's parameters are partitioned across processes (DeepSpeed ZeRO-3 or
    FSDP): a rank's tensors then hold only its shard."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    return bool(getattr(trainer, "is_fsdp_enabled", False)) or is_deepspeed_zero3_enabled()


def trainable_snapshot(model) -> dict[str, Any] | None:
    """A copy of the trainable weights, to tell later which changed (``None`` when they are
    partitioned: ZeRO-3 shards hold empty placeholders before training)."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    if is_deepspeed_zero3_enabled():
        return None
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def changed_share(before: dict[str, Any] | None, trainer) -> dict[str, float]:
    """``params_changed_share``: the share of trainable tensors that training changed
    (nothing when the weights are sharded and cannot be compared in one process)."""
    import torch

    if before is None or sharded(trainer):
        return {}
    changed = sum(not torch.equal(before[n], p.detach().to(before[n].device))
                  for n, p in trainer.model.named_parameters() if n in before)
    return {"params_changed_share": changed / max(1, len(before))}


def resolve_save_dtype(save_dtype: str, trainer_args) -> str:
    """``auto``: the training precision (bfloat16 with ``bf16``, float16 with ``fp16``,
    float32 otherwise)."""
    if save_dtype != "auto":
        return save_dtype
    if getattr(trainer_args, "bf16", False):
        return "bfloat16"
    if getattr(trainer_args, "fp16", False):
        return "float16"
    return "float32"


def cast_saved(folder: str | Path, dtype: str) -> int:
    """Rewrite the ``*.safetensors`` files of a saved model or adapter with floating tensors
    in ``dtype`` (and the config's ``dtype``); returns how many files changed."""
    import torch
    from safetensors.torch import load_file, save_file

    target = getattr(torch, dtype)
    folder = Path(folder)
    changed = total = 0
    for path in sorted(folder.glob("*.safetensors")):
        tensors = load_file(path)
        todo = any(t.is_floating_point() and t.dtype != target for t in tensors.values())
        if todo:
            tensors = {k: t.to(target) if t.is_floating_point() else t for k, t in tensors.items()}
            tmp = path.with_name(f".{path.name}.tmp")
            save_file(tensors, tmp, metadata={"format": "pt"})
            tmp.replace(path)
            changed += 1
        total += sum(t.numel() * t.element_size() for t in tensors.values())
    index = folder / "model.safetensors.index.json"
    if changed and index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        data.setdefault("metadata", {})["total_size"] = total
        index.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    config = folder / "config.json"
    if changed and config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        data["dtype"] = dtype
        data.pop("torch_dtype", None)
        config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return changed


def save_final(trainer, out_dir: str | Path, save_dtype: str = "auto") -> dict[str, Any]:
    """Save the trained model (or adapter) and tokenizer to ``out_dir``: call on every rank.

    ``trainer.save_model`` gathers sharded weights (ZeRO-3 with ``zero3_save_16bit_model``,
    FSDP with a full state dict) and writes from the main process. There, the adapter config's
    module lists are sorted (peft keeps them as sets, whose order changes with
    ``PYTHONHASHSEED``: a new DVC hash on every rerun) and the weights are cast to
    ``save_dtype`` (:func:`resolve_save_dtype`). Returns ``{"saved_dtype": ...}``.
    """
    dtype = resolve_save_dtype(save_dtype, trainer.args)
    trainer.save_model(str(out_dir))
    if not trainer.args.should_save:
        return {"saved_dtype": dtype}
    if trainer.processing_class is not None:
        trainer.processing_class.save_pretrained(out_dir)
    for path in Path(out_dir).rglob("adapter_config.json"):
        config = json.loads(path.read_text(encoding="utf-8"))
        for key in SET_FIELDS:
            if isinstance(config.get(key), list):
                config[key] = sorted(config[key])
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for stray in ("training_args.bin",):  # the trainer's own file: not part of the model
        (Path(out_dir) / stray).unlink(missing_ok=True)
    if cast_saved(out_dir, dtype):
        log.info("saved weights cast to %s", dtype)
    return {"saved_dtype": dtype}

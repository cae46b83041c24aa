"""DPO of the policy (the ``train_dpo`` stage's core): TRL's ``DPOTrainer`` on one
labeller's pairs, the params section in ``DPOConfig`` field names, full fine-tuning (the
last layers only, with ``trainable_layers``) or LoRA."""

from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from xlrm.alignment.config import TrainDPOConfig
from xlrm.checkpoints import CHECKPOINT_DEFAULTS
from xlrm.errors import DataError

log = logging.getLogger(__name__)

# Checkpoints a rerun resumes from (xlrm.checkpoints) every 20 steps: about 4 min of a 2-core
# CPU (the default preset's 10-step runs save none).
DPO_DEFAULTS: dict[str, Any] = {
    "report_to": ["mlflow"],
    **CHECKPOINT_DEFAULTS,
    "save_steps": 20,
    "logging_steps": 1,
    "gradient_checkpointing": False,
    "bf16": False,
}


def dpo_dataset(pairs: list[dict]):
    """Conversational DPO rows: prompt messages, chosen and rejected assistant turns."""
    from datasets import Dataset

    return Dataset.from_list([
        {"prompt": p["prompt"], "chosen": [{"role": "assistant", "content": p["chosen"]}],
         "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs])


@contextmanager
def random_dataset_fingerprints():
    """Inside: ``datasets`` gives each ``map`` result a random fingerprint instead of hashing
    the function and its arguments.

    TRL's ``DPOTrainer`` tokenizes its data set with several ``map`` calls whose arguments
    hold the tokenizer; hashing it (dill-pickling the whole vocabulary) takes about 4 s per
    call for Gemma's 262k-token tokenizer. The fingerprint only names cache files, and
    xlrm's DPO sets are in-memory tables built per run that are never reloaded from the
    ``datasets`` cache, so a random one loses nothing.
    """
    import datasets.arrow_dataset as arrow_dataset
    import datasets.fingerprint as fingerprint

    def random_fingerprint(fingerprint_, transform, transform_args):
        return fingerprint.generate_random_fingerprint()

    saved = fingerprint.update_fingerprint, arrow_dataset.update_fingerprint
    fingerprint.update_fingerprint = arrow_dataset.update_fingerprint = random_fingerprint
    try:
        yield
    finally:
        fingerprint.update_fingerprint, arrow_dataset.update_fingerprint = saved


# Vocabulary columns per tile of TRL's chunked log-prob head on a CPU (TRL's own is 32768,
# sized for a GPU): a [tokens x 4096] fp32 tile stays in cache through the CPU fold's
# elementwise passes. bench/README.md "heads" measures both CPU settings below.
CPU_LM_HEAD_TILE = 4096


@contextmanager
def cpu_lm_head_tiles(compact: bool = True, tile: int | None = CPU_LM_HEAD_TILE):
    """Inside: TRL's fused DPO head, on a CPU, scores only the completion tokens, in cache-
    sized vocabulary tiles. The same log-probabilities; on a CPU under half the time.

    ``DPOTrainer`` computes per-token log-probs with ``trl.trainer.utils.add_fused_lm_head``
    (a [tokens x vocab] product in tiles, never the whole logits). Off CUDA/XPU it projects
    every position, prompt and padding included, because on Neuron a varying token count
    would recompile; eager CPU torch has no compiled shapes, so the masked positions are only
    waste (44% of the default's tokens). Its 32768-column fp32 tiles (tens of MB for a few
    hundred tokens) fall out of cache on each elementwise pass of the CPU fold. With Gemma 3
    270M (262k vocabulary) one default ``train_dpo`` run took 126 s, 80 s with completion
    tokens only, 48 s with both (bench/heads).

    Both settings are private to TRL (names as of trl 1.16); if a TRL release renames them
    this changes nothing and says so, and ``tests/test_alignment.py`` fails to flag it.
    ``compact``/``tile`` (None: TRL's) exist for bench/heads, which times each alone."""
    try:
        import trl.trainer.utils as trl_utils

        use_triton, saved_tile = trl_utils._use_triton, trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE
    except (ImportError, AttributeError):
        log.info("train_dpo: this TRL has no _use_triton/_CHUNKED_LOGPROB_CHUNK_SIZE; its "
                 "fused LM head runs with its own CPU settings")
        yield
        return
    if compact:
        trl_utils._use_triton = lambda device: use_triton(device) or device.type == "cpu"
    if tile is not None:
        trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE = tile
    try:
        yield
    finally:
        trl_utils._use_triton, trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE = use_triton, saved_tile


def train_dpo(policy_dir: str | Path, pairs: list[dict], out_dir: str | Path, cfg: TrainDPOConfig,
              *, scratch_dir: str | Path, seed: int, callbacks: list | None = None
              ) -> dict[str, Any]:
    """DPO of the policy on ``pairs``; saves the final model (or adapter) to ``out_dir``.

    The DPOConfig the trainer receives is logged as the effective config ``train_dpo``.
    Checkpoints go to ``scratch_dir``; a rerun with the same configuration, pairs and
    policy resumes from the newest (:mod:`xlrm.checkpoints`; ``resumed_from_step``).
    ``callbacks`` are added to the trainer.
    """
    import torch
    from trl import DPOConfig, DPOTrainer

    from xlrm.checkpoints import Resume, run_fingerprint, train_resumable
    from xlrm.modeling import load_causal, load_tokenizer
    from xlrm.tracking import log_effective_config
    from xlrm.training import freeze, lora_config, loss_history, save_final, trainer_kwargs

    if not pairs:
        raise DataError("no preference pairs to train on (all dropped by labelling?)")
    extras = cfg.extras
    kwargs, plan = trainer_kwargs(DPOConfig, DPO_DEFAULTS, cfg.dpo_config, {"seed": seed},
                                  stage="train_dpo", global_batch_size=extras.global_batch_size)
    args = DPOConfig(output_dir=str(scratch_dir), **kwargs)
    if extras.max_train_pairs is not None:
        pairs = pairs[: extras.max_train_pairs]
    tok = load_tokenizer(policy_dir)
    torch.manual_seed(seed)
    model = load_causal(policy_dir)
    peft_config = None
    if extras.lora is not None:
        peft_config = lora_config(model, extras.lora, extras.trainable_layers, "CAUSAL_LM")
    elif extras.trainable_layers is not None:
        freeze(model, embeddings=True, trainable_layers=extras.trainable_layers)
    log_effective_config("train_dpo", args.to_dict())
    resume = Resume(scratch_dir, run_fingerprint(trainer_args=args.to_dict(), extras=extras,
                                                 rows=pairs, model_dir=policy_dir,
                                                 world_size=args.world_size),
                    is_main=args.should_save)
    on_cpu = bool(args.use_cpu) or not torch.cuda.is_available()
    with random_dataset_fingerprints(), (cpu_lm_head_tiles() if on_cpu else nullcontext()):
        trainer = DPOTrainer(model=model, args=args, train_dataset=dpo_dataset(pairs),
                             processing_class=tok, peft_config=peft_config)
        for cb in callbacks or ():
            trainer.add_callback(cb)
        result = train_resumable(trainer, resume)
    stats = {"pairs": len(pairs), **plan, "train_loss": resume.train_loss(result),
             "train_steps": int(result.global_step), "resumed_from_step": resume.step,
             **loss_history(trainer)}
    history = [h for h in trainer.state.log_history if "loss" in h]
    for key in ("rewards/accuracies", "rewards/margins"):
        vals = [h[key] for h in history if key in h]
        if vals:
            stats[key.replace("/", "_")] = float(vals[-1])
    stats.update(save_final(trainer, out_dir, extras.save_dtype))
    resume.finish()
    return stats

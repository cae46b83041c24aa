"""Resumable training stages (``train_rm``, ``train_dpo``): transformers' own periodic
checkpoints in the stage's ignored scratch folder, and a rerun that picks them up.

Protocol
--------
The trainer's ``output_dir`` is the stage item's scratch folder (``.scratch/<stage>/<item>``,
ignored by git and DVC). transformers writes ``checkpoint-<step>/`` there every
``save_steps`` optimizer steps (model or adapter, optimizer, scheduler, RNG states, trainer
state; ``save_total_limit`` keeps the newest ones). Beside them, ``xlrm_fingerprint.json``
holds a hash of everything that determines the trained weights: the effective TRL config
(less the settings that only say where and how often to save or report), xlrm's own keys of
the section, the training data and the base model's files, and the library versions.

On start (:meth:`Resume.start`) a folder whose fingerprint matches is resumed from its
newest *complete* checkpoint (``trainer_state.json``, written last, present): transformers
restores the weights, optimizer, scheduler and RNG states and skips the batches of the
epoch already seen, so the final weights equal an uninterrupted run's. A missing or
different fingerprint deletes the old checkpoints (logged) and starts clean. After a
successful run (:meth:`Resume.finish`) the folder is removed.

The mean training loss transformers reports after a resume covers only the resumed steps;
:class:`ResumeCallback` stores the running loss sum in every checkpoint
(``xlrm_loss.json``) so :meth:`Resume.train_loss` gives the whole run's mean.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FINGERPRINT = "xlrm_fingerprint.json"
LOSS_FILE = "xlrm_loss.json"
PREFIX = "checkpoint-"

# Default checkpoint settings (TrainingArguments field names; the params section overrides
# them). Only the newest checkpoint is kept: transformers deletes the older one after the
# newer is complete, and an incomplete newest one is passed over on resume.
CHECKPOINT_DEFAULTS: dict[str, Any] = {"save_strategy": "steps", "save_total_limit": 1}

# Settings that only say where, how often or whether to save, log or report: a change of
# them alone keeps the checkpoints.
NEUTRAL_KEYS = frozenset({
    "output_dir", "logging_dir", "run_name", "report_to", "save_strategy", "save_steps",
    "save_total_limit", "save_only_model", "save_safetensors", "save_on_each_node",
    "resume_from_checkpoint", "overwrite_output_dir", "disable_tqdm", "logging_steps",
    "logging_strategy", "logging_first_step", "logging_nan_inf_filter", "push_to_hub",
    "hub_model_id", "hub_strategy", "hub_token", "hub_private_repo", "dataloader_num_workers",
    "dataloader_persistent_workers", "dataloader_prefetch_factor", "restore_callback_states_from_checkpoint",
})

# Test-only hook: seconds to sleep after each saved checkpoint, so a test can kill the run
# between checkpoints. Unset in normal use.
TEST_SLEEP_ENV = "XLRM_TRAIN_TEST_SLEEP"


def file_fingerprint(path: str | Path) -> list[list]:
    """Names, sizes and modification times of a model folder's files (cheap, safe side: a
    re-saved base model starts the training over)."""
    path = Path(path)
    if not path.is_dir():
        return [[str(path)]]
    out = []
    for p in sorted(path.rglob("*")):
        if p.is_file():
            st = p.stat()
            out.append([p.relative_to(path).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def rows_digest(rows: list) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()


def run_fingerprint(*, trainer_args: dict[str, Any], extras: Any, rows: list,
                    model_dir: str | Path, world_size: int = 1) -> dict[str, Any]:
    """What determines a training run's weights, as a JSON-able dict with its ``hash``."""
    import dataclasses

    import peft
    import torch
    import transformers
    import trl

    parts = {
        "trainer_args": {k: v for k, v in sorted(trainer_args.items()) if k not in NEUTRAL_KEYS},
        "extras": dataclasses.asdict(extras) if dataclasses.is_dataclass(extras) else extras,
        "data": rows_digest(rows),
        "model": file_fingerprint(model_dir),
        "world_size": world_size,
        "versions": {m.__name__: m.__version__ for m in (torch, transformers, trl, peft)},
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return {"hash": hashlib.sha256(text.encode()).hexdigest(), **json.loads(text)}


def complete_checkpoints(folder: Path) -> list[Path]:
    """``checkpoint-<step>`` folders with their trainer state written, oldest first."""
    found = []
    for p in folder.glob(f"{PREFIX}*"):
        step = p.name[len(PREFIX):]
        if p.is_dir() and step.isdigit() and (p / "trainer_state.json").is_file():
            try:
                json.loads((p / "trainer_state.json").read_text())
            except ValueError:
                continue
            found.append((int(step), p))
    return [p for _, p in sorted(found)]


class Resume:
    """One training run's checkpoint folder: resume or start clean, clean up at the end."""

    def __init__(self, folder: str | Path, fingerprint: dict[str, Any], *, is_main: bool = True):
        self.folder, self.fingerprint, self.is_main = Path(folder), fingerprint, is_main
        self.checkpoint: Path | None = None
        self.step = 0
        self.loss_sum: float | None = None

    def start(self) -> str | None:
        """The checkpoint to resume from (``None``: start clean, old checkpoints deleted)."""
        fp_file = self.folder / FINGERPRINT
        old = None
        if fp_file.is_file():
            try:
                old = json.loads(fp_file.read_text()).get("hash")
            except (ValueError, AttributeError):
                old = None
        done = complete_checkpoints(self.folder) if self.folder.is_dir() else []
        every = list(self.folder.glob(f"{PREFIX}*")) if self.folder.is_dir() else []
        if old == self.fingerprint["hash"] and done:
            self.checkpoint = done[-1]
            self.step = int(self.checkpoint.name[len(PREFIX):])
            loss_file = self.checkpoint / LOSS_FILE
            if loss_file.is_file():
                self.loss_sum = float(json.loads(loss_file.read_text())["loss_sum"])
            log.info("resuming from %s (step %d): the configuration is unchanged",
                     self.checkpoint, self.step)
            if self.is_main:  # half-written checkpoints (killed while saving) go
                for p in set(every) - set(done):
                    shutil.rmtree(p, ignore_errors=True)
            return str(self.checkpoint)
        if every:
            why = ("no fingerprint" if old is None else "no complete checkpoint"
                   if old == self.fingerprint["hash"] else "the configuration, data or model changed")
            log.warning("starting clean: deleting %d checkpoint(s) in %s (%s)", len(every),
                        self.folder, why)
        if self.is_main:
            for p in every:
                shutil.rmtree(p, ignore_errors=True)
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = fp_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.fingerprint, indent=1))
            os.replace(tmp, fp_file)
        return None

    def train_loss(self, result) -> float:
        """The whole run's mean training loss (transformers' covers this call's steps only)."""
        if self.checkpoint is None or self.loss_sum is None or not result.global_step:
            return float(result.training_loss)
        steps_now = result.global_step - self.step
        return (self.loss_sum + float(result.training_loss) * steps_now) / result.global_step

    def finish(self) -> None:
        """Remove the scratch folder (checkpoints, fingerprint, the trainer's model card)
        after a successful run; only a folder holding this run's fingerprint is removed."""
        if self.is_main and (self.folder / FINGERPRINT).is_file():
            (self.folder / FINGERPRINT).unlink()  # first: a kill half-way starts clean
            shutil.rmtree(self.folder, ignore_errors=True)


def resume_callback(trainer):
    """A TrainerCallback (see :class:`ResumeCallback`) bound to ``trainer``."""
    from transformers import TrainerCallback

    class ResumeCallback(TrainerCallback):
        """Stores the running loss sum in each checkpoint (before transformers writes its
        trainer state, so a complete checkpoint has it) and skips the checkpoint transformers
        saves at the very end of training (the final weights are saved by the stage)."""

        def on_step_end(self, args, state, control, **kwargs):
            if not control.should_save:
                return
            if state.global_step >= state.max_steps and not args.load_best_model_at_end:
                control.should_save = False
                return
            if args.should_save:
                folder = Path(args.output_dir) / f"{PREFIX}{state.global_step}"
                folder.mkdir(parents=True, exist_ok=True)
                loss_sum = trainer._total_loss_scalar + float(trainer._tr_loss.item())
                (folder / LOSS_FILE).write_text(json.dumps({"step": state.global_step,
                                                            "loss_sum": loss_sum}))

        def on_save(self, args, state, control, **kwargs):
            delay = os.environ.get(TEST_SLEEP_ENV)
            if delay:
                time.sleep(float(delay))

    return ResumeCallback()


def train_resumable(trainer, resume: Resume) -> Any:
    """``trainer.train()`` from ``resume``'s checkpoint (if any); returns its TrainOutput."""
    trainer.add_callback(resume_callback(trainer))
    return trainer.train(resume_from_checkpoint=resume.start())

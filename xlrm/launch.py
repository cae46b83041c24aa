"""How a stage starts: one plain Python process, or ``accelerate launch`` with a config file
from ``accelerate/`` and a process count, as the params' ``launch`` section says.

The section holds one entry per stage that can run on several processes (the training
stages ``train_rm`` and ``train_dpo``, the scoring stages ``eval_rms`` (its entry is
``eval_rm``, like its params section), ``label`` and ``eval_offshelf``), each in
``accelerate launch``'s own option names::

    launch:
      train_rm: {config_file: accelerate/zero3.yaml, num_processes: 4}
      eval_rm: {config_file: accelerate/ddp.yaml}      # the file's num_processes

An empty entry (or no section) is a plain process. A stage script started as ``python
stages/X.py ...`` (what ``dvc.yaml`` runs) whose entry asks for more re-runs itself under
``accelerate launch`` (:func:`relaunch`) with the same arguments; each rank then runs the
stage and :mod:`xlrm.stage` keeps writing and logging to rank 0. Several machines: set
``num_machines``, ``machine_rank``, ``main_process_ip`` and ``main_process_port`` (or put
them in the config file) and start the stage on every machine; they go to ``accelerate
launch`` unchanged, as does ``extra_args``.

Light on purpose: no torch at import (the check for several visible GPUs imports it when
called).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from xlrm.errors import ConfigError

log = logging.getLogger(__name__)

# Set in the environment of a relaunched stage: its ranks must not relaunch again.
LAUNCHED_ENV = "XLRM_LAUNCHED"
# Several processes without a config file on a machine without GPUs: gloo ranks on the CPU.
CPU_CONFIG = Path(__file__).resolve().parents[1] / "accelerate" / "cpu2.yaml"


@dataclass
class LaunchSettings:
    """One stage's launch: ``accelerate launch`` options (same names)."""

    # An accelerate config file (accelerate/ddp.yaml, zero2, zero3, fsdp2, cpu2); null with
    # num_processes 1 (or null) is a plain python process.
    config_file: str | None = None
    # Processes on this machine; null takes the config file's.
    num_processes: int | None = None
    num_machines: int | None = None
    machine_rank: int | None = None
    main_process_ip: str | None = None
    main_process_port: int | None = None
    # Further `accelerate launch` arguments, passed as they are (e.g. ["--rdzv_backend", "c10d"]).
    extra_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("num_processes", "num_machines", "main_process_port"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.machine_rank is not None and self.machine_rank < 0:
            raise ValueError(f"machine_rank must be at least 0, got {self.machine_rank}")

    @property
    def plain(self) -> bool:
        """Whether this is one plain Python process (no accelerate launcher)."""
        return (self.config_file is None and self.num_processes in (None, 1)
                and self.num_machines in (None, 1) and not self.extra_args)

    def command(self, script: str | os.PathLike, argv: Sequence[str]) -> list[str]:
        """The ``accelerate launch`` command line that runs ``script argv`` this way."""
        cmd = [sys.executable, "-m", "accelerate.commands.launch"]
        if self.config_file is not None:
            cmd += ["--config_file", self.config_file]
        elif self.num_processes not in (None, 1):
            # No config file: several local processes on the GPUs, or, without any, on the CPU
            # (accelerate's --cpu flag alone starts one process; its multi-GPU type with
            # use_cpu, accelerate/cpu2.yaml, starts num_processes gloo ranks).
            cmd += ["--multi_gpu"] if visible_gpus() > 1 else ["--config_file", str(CPU_CONFIG)]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("config_file", "extra_args") or value is None:
                continue
            cmd += [f"--{f.name}", str(value)]
        return [*cmd, *self.extra_args, str(script), *argv]


@dataclass
class LaunchConfig:
    """The ``launch`` params section: one :class:`LaunchSettings` per stage that can run on
    several processes."""

    train_rm: LaunchSettings = field(default_factory=LaunchSettings)
    train_dpo: LaunchSettings = field(default_factory=LaunchSettings)
    eval_rm: LaunchSettings = field(default_factory=LaunchSettings)
    label: LaunchSettings = field(default_factory=LaunchSettings)
    eval_offshelf: LaunchSettings = field(default_factory=LaunchSettings)


def world_size() -> int:
    """Processes of this launch (``WORLD_SIZE``, set by ``accelerate launch``/``torchrun``)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def under_launcher() -> bool:
    """Whether this process is one rank of a multi-process launch."""
    return os.environ.get(LAUNCHED_ENV) == "1" or "LOCAL_RANK" in os.environ


def visible_gpus() -> int:
    """CUDA devices this process sees (0 without CUDA); asks NVML, creates no CUDA context."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def refuse_data_parallel(stage: str) -> None:
    """Refuse to train in one plain process that sees several GPUs: transformers' Trainer would
    wrap the model in ``torch.nn.DataParallel`` and multiply the per-device batch by the GPU
    count, so the effective batch would follow the machine instead of the params."""
    if under_launcher() or world_size() > 1:
        return
    n = visible_gpus()
    if n > 1:
        raise ConfigError(
            f"{stage}: {n} GPUs are visible to one plain process, where transformers would train "
            f"with torch.nn.DataParallel (the batch multiplied by {n}). Launch it on every GPU "
            f"with accelerate: set launch.{stage} to {{config_file: accelerate/ddp.yaml, "
            f"num_processes: {n}}} (or zero3.yaml / fsdp2.yaml), or pin one GPU with "
            f"CUDA_VISIBLE_DEVICES=0.")


def processes_asked(settings: LaunchSettings) -> int | None:
    """Local processes the launch will start: ``num_processes``, else the config file's."""
    if settings.num_processes is not None:
        return settings.num_processes
    if settings.config_file is None:
        return None
    import yaml

    try:
        data = yaml.safe_load(Path(settings.config_file).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"launch config_file {settings.config_file}: {e}") from None
    value = data.get("num_processes") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def check_device_set(settings: LaunchSettings) -> None:
    """With a pinned device set (``XLRM_DEVICES``, :mod:`xlrm.devices`), refuse a launch that
    would start more GPU processes than the set has devices."""
    from xlrm.devices import CLAIMED_ENV

    claimed = os.environ.get(CLAIMED_ENV)
    n = processes_asked(settings)
    if not claimed or n is None or visible_gpus() == 0:
        return
    devices = [d for d in claimed.split(",") if d]
    if n > len(devices):
        raise ConfigError(f"launch asks for {n} processes but this stage was pinned to "
                          f"{len(devices)} device(s) ({claimed}, XLRM_DEVICE_SETS): set "
                          f"num_processes: {len(devices)} or give larger sets")


def relaunch(settings: LaunchSettings, script: str | os.PathLike, argv: Sequence[str]) -> int:
    """Run ``script argv`` under ``accelerate launch`` as ``settings`` say; its exit code."""
    if settings.config_file is not None and not Path(settings.config_file).is_file():
        raise ConfigError(f"launch config_file {settings.config_file} not found "
                          "(the repository's are in accelerate/)")
    check_device_set(settings)
    cmd = settings.command(script, argv)
    log.info("launching: %s", " ".join(cmd))
    env = {**os.environ, LAUNCHED_ENV: "1"}
    return subprocess.run(cmd, env=env).returncode

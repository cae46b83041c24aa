"""Each concurrently running stage on its own GPUs, chosen outside the params.

Which GPUs run a stage is not a param: it must not change DVC's view of the stage (a cached
result stays valid on any GPU). So the choice comes from the environment of the process that
starts the stages::

    XLRM_DEVICE_SETS="0,1;2,3" dvc queue start -j 2

``XLRM_DEVICE_SETS`` lists disjoint device sets, ``;`` between sets and ``,`` between the
devices of one set (indices or ``GPU-``/``MIG-`` UUIDs, as ``CUDA_VISIBLE_DEVICES`` takes
them). Each stage process, first thing in its run (:func:`claim_devices`), takes the first set
whose devices are all free, sets ``CUDA_VISIBLE_DEVICES`` to it and holds it until the process
exits; when every set is taken it waits, polling (``XLRM_DEVICE_POLL_S``, default 5 s) with a
log line. Unset, nothing happens.

A device is taken by an exclusive non-blocking ``flock`` on its own lock file,
``dev-<device>.lock`` in ``$XLRM_DEVICE_LOCKS`` or else ``<root>/.dvc/tmp/xlrm-devices/``,
where the root is ``DVC_ROOT`` (DVC points it at the main repository also for queued
experiments, which run in temporary workspaces under ``.dvc/tmp/exps/``), so every worker of
one repository contends on the same files. A set is taken all or nothing; locking devices one
by one also keeps two differently written lists (``0,1;2,3`` and ``0;1;2;3``) from sharing a
GPU. The kernel drops the locks when the process ends, however it ends: no stale locks.

The claimed set is also put in ``XLRM_DEVICES``: the stage's own children (the ranks of
``accelerate launch``) inherit it with ``CUDA_VISIBLE_DEVICES`` and do not claim again, and
:mod:`xlrm.tracking` tags the stage's MLflow run ``xlrm.devices`` with it. A set should hold
as many GPUs as the stage's ``launch`` entry starts processes.

Light on purpose: no torch here.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import MutableMapping, Sequence
from pathlib import Path

from xlrm.errors import ConfigError

log = logging.getLogger(__name__)

SETS_ENV = "XLRM_DEVICE_SETS"
LOCKS_ENV = "XLRM_DEVICE_LOCKS"
POLL_ENV = "XLRM_DEVICE_POLL_S"
CLAIMED_ENV = "XLRM_DEVICES"  # the set this process (tree) holds
TAG = "xlrm.devices"
LOCK_SUBDIR = Path(".dvc") / "tmp" / "xlrm-devices"
REPEAT_LOG_S = 300.0  # while waiting, repeat the log line this often

_DEVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def parse_sets(spec: str) -> list[tuple[str, ...]]:
    """``"0,1;2,3"`` -> ``[("0", "1"), ("2", "3")]``; a :class:`ConfigError` for an empty
    set, a malformed device or a device in two sets."""
    sets: list[tuple[str, ...]] = []
    seen: dict[str, int] = {}
    for i, part in enumerate(spec.split(";")):
        devices = tuple(d.strip() for d in part.split(","))
        if devices == ("",):
            raise ConfigError(f"{SETS_ENV}={spec!r}: set {i + 1} is empty "
                              "(sets are separated by ';', devices by ',')")
        for d in devices:
            if not _DEVICE.fullmatch(d):
                raise ConfigError(f"{SETS_ENV}={spec!r}: {d!r} is not a device "
                                  "(an index such as 0, or a GPU-/MIG- UUID)")
            if d in seen:
                raise ConfigError(f"{SETS_ENV}={spec!r}: device {d} is in sets {seen[d] + 1} "
                                  f"and {i + 1}; the sets must be disjoint")
            seen[d] = i
        sets.append(devices)
    return sets


def lock_dir(environ: MutableMapping[str, str] = os.environ) -> Path:
    """Where the device lock files are, the same for every workspace of one repository."""
    if environ.get(LOCKS_ENV):
        return Path(environ[LOCKS_ENV])
    from xlrm.tracking import project_root  # DVC_ROOT, else the repository above the cwd

    return project_root() / LOCK_SUBDIR


class Claim:
    """One held device set: its lock files stay open (and locked) until :meth:`release` or
    the end of the process."""

    def __init__(self, devices: tuple[str, ...], fds: list[int]):
        self.devices, self._fds = devices, fds

    @property
    def value(self) -> str:
        """The set as ``CUDA_VISIBLE_DEVICES`` writes it: ``0,1``."""
        return ",".join(self.devices)

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)  # closing the only descriptor drops its flock
        self._fds = []


def _try_lock(path: Path) -> int | None:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # not inherited by children
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a person looking
    return fd


def try_claim(devices: Sequence[str], directory: Path) -> Claim | None:
    """Lock every device of one set, or none of them (``None``: one is taken)."""
    fds: list[int] = []
    for device in devices:
        fd = _try_lock(directory / f"dev-{device}.lock")
        if fd is None:
            Claim(tuple(devices), fds).release()
            return None
        fds.append(fd)
    return Claim(tuple(devices), fds)


def claim(sets: Sequence[tuple[str, ...]], directory: Path, *, poll_s: float = 5.0,
          timeout_s: float | None = None) -> Claim | None:
    """The first set that is all free, waiting (polling every ``poll_s``) while none is;
    ``None`` after ``timeout_s`` (``None``: wait as long as it takes)."""
    directory.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    logged = None
    while True:
        for devices in sets:
            held = try_claim(devices, directory)
            if held is not None:
                if logged is not None:
                    log.info("device set %s free after %.0f s", held.value,
                             time.monotonic() - start)
                return held
        waited = time.monotonic() - start
        if timeout_s is not None and waited >= timeout_s:
            return None
        if logged is None or waited - logged >= REPEAT_LOG_S:
            log.info("every device set of %s=%s is in use (locks in %s); waiting for one",
                     SETS_ENV, ";".join(",".join(s) for s in sets), directory)
            logged = waited
        time.sleep(poll_s)


_HELD: list[Claim] = []  # this process's claim, kept (and its locks held) until exit


def claim_devices(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Pin this stage process to a free device set of ``XLRM_DEVICE_SETS`` (the module doc).

    Returns the claimed set (``"0,1"``), the one a parent process already claimed
    (``XLRM_DEVICES`` set), or ``None`` when the variable is unset. Call it before anything
    touches CUDA."""
    if environ.get(CLAIMED_ENV):
        return environ[CLAIMED_ENV]
    spec = environ.get(SETS_ENV, "").strip()
    if not spec:
        return None
    sets = parse_sets(spec)
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized():
        raise ConfigError(f"{SETS_ENV}: CUDA was initialised before the stage claimed its "
                          "devices; claim_devices() must come first")
    try:
        poll_s = float(environ.get(POLL_ENV, "5"))
    except ValueError:
        raise ConfigError(f"{POLL_ENV}={environ[POLL_ENV]!r} is not a number of seconds") from None
    held = claim(sets, lock_dir(environ), poll_s=poll_s)
    assert held is not None  # no timeout: waits until a set is free
    _HELD.append(held)
    environ["CUDA_VISIBLE_DEVICES"] = held.value
    environ[CLAIMED_ENV] = held.value
    log.info("devices %s (CUDA_VISIBLE_DEVICES), held until this process exits", held.value)
    return held.value

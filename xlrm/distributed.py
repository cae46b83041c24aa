"""Scoring on every process of a launch: the scoring stages (``eval_rms``, ``label``,
``eval_offshelf``) started by ``accelerate launch`` on N processes (:mod:`xlrm.launch`)
split their batches between the processes and gather the results, so that every process
ends with the same scores as one process would compute alone.

- :func:`state`: the launch's ``accelerate.PartialState``, made once: gloo on the CPU
  (``PartialState(cpu=True)``) where no CUDA device is visible, NCCL otherwise.
- :func:`rank_device`: the device a rank puts its model on: ``cuda`` (or ``auto`` on a GPU
  machine) becomes the rank's own GPU (``PartialState().device``); the CPU stays the CPU.
- :func:`deal` and :func:`map_shared`: every batch goes to one rank, the costliest first,
  each to the least loaded rank (deterministic, no communication); each rank runs its
  batches and ``accelerate.utils.gather_object`` gives every rank all results, in the
  batches' order. The batches are cut from all the work as one process cuts them, so each
  is the same tensor in every launch and the scores do not depend on the process count.
- :func:`on_main`: work only rank 0 may do (requests a judge endpoint is paid for): rank 0
  runs it and ``broadcast_object_list`` hands the result to the others.
- :func:`main_first`: rank 0 runs the block first (a journal's repair), then the others;
  then all wait, so nobody goes on before everybody is through.

One process (no launch, ``WORLD_SIZE`` 1) makes no process group: every helper just runs
the work in place. Light at import: torch and accelerate are imported only under a launch.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from xlrm.launch import world_size

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def rank() -> int:
    """This process's global rank (``RANK``; 0 outside a launch)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def is_main() -> bool:
    return rank() == 0


def distributed() -> bool:
    """Whether this process is one of several (``WORLD_SIZE`` > 1)."""
    return world_size() > 1


def state() -> Any:
    """The launch's ``accelerate.PartialState`` (made on first use; see the module doc).
    Only under a launch: one process needs no process group."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def rank_device(device: str) -> str:
    """The device of this rank for a resolved device name (:func:`xlrm.modeling.resolve_device`):
    under a launch a bare ``cuda`` is the rank's own GPU; anything else is left as it is."""
    if device == "cuda" and distributed():
        own = state().device
        if own.type == "cuda":
            return str(own)
    return device


def deal(costs: Sequence[float], n_ranks: int) -> list[list[int]]:
    """Item indices per rank: items by decreasing cost (ties: lower index first), each given
    to the rank with the least cost so far (ties: lower rank); each share in item order."""
    loads = [0.0] * n_ranks
    shares: list[list[int]] = [[] for _ in range(n_ranks)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        r = min(range(n_ranks), key=lambda r: (loads[r], r))
        shares[r].append(i)
        loads[r] += costs[i]
    return [sorted(s) for s in shares]


def map_shared(items: Sequence[T], fn: Callable[[T], R],
               costs: Sequence[float] | None = None) -> list[R]:
    """``[fn(item) for item in items]``, the items split between the ranks of a launch by
    :func:`deal` (``costs``: e.g. padded tokens; equal by default) and the results gathered
    to every rank in the items' order. Every rank must call it with the same items."""
    if not distributed():
        return [fn(item) for item in items]
    from accelerate.utils import gather_object

    st = state()
    mine = deal([1.0] * len(items) if costs is None else costs, st.num_processes)[st.process_index]
    log.info("rank %d of %d: %d of %d batches", st.process_index, st.num_processes, len(mine),
             len(items))
    out: list[Any] = [None] * len(items)
    for i, result in gather_object([(i, fn(items[i])) for i in mine]):
        out[i] = result
    return out


def on_main(fn: Callable[[], R]) -> R:
    """``fn()`` run on rank 0 only, its result handed to every rank."""
    if not distributed():
        return fn()
    from accelerate.utils import broadcast_object_list

    box = [fn() if state().is_main_process else None]
    return broadcast_object_list(box, from_process=0)[0]


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """The block on rank 0 first, then on the others; everybody waits at its end."""
    if not distributed():
        yield
        return
    st = state()
    with st.main_process_first():
        yield
    st.wait_for_everyone()

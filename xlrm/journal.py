"""The one resume-after-kill journal of the row-producing stages.

Protocol
--------
A stage that writes ``<out>`` keeps, while it works, two side files beside it:
``<out>.partial`` (one JSON line per finished *work unit*, appended and flushed as each
unit completes) and ``<out>.partial.meta.json`` (a fingerprint of everything that changes
the numbers: the config, the inputs, the model folders' files). A rerun with the same
fingerprint reads the completed units back and does not redo them; a torn last line (the
run died mid-write) is cut off; a journal with another fingerprint is discarded with a
warning ("starting over"). When the stage has written its final output (atomically), the
side files are removed. Both sit beside the output, so a DVC stage declares only the final
path and never sees them.

Units are keyed by a tuple of strings and numbers (``("segment", "de", text)``,
``("language", rm, lang)``, ``("chat", <payload hash>)``); a unit's value is any JSON
value. :meth:`Journal.activate` makes a journal the process's current one
(:func:`current`), which is how :class:`xlrm.openai_client.ChatClient` journals every
reply it receives: a rerun is not charged again for requests already answered.

Several processes (a stage under ``accelerate launch``, :mod:`xlrm.distributed`): rank 0
opens the journal first (cutting a torn line, discarding a stale journal), then the other
ranks read what it left, and nobody goes on before all have read, so every rank starts
from the same completed units. Only rank 0 appends and removes the side files; the others
keep their ``done`` in memory. Each unit's value is the same on every rank (the scoring
gathers every rank's results), so the ranks keep agreeing on what is done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from xlrm.distributed import is_main, main_first
from xlrm.io import write_json

log = logging.getLogger(__name__)

# Test-only hook: seconds to sleep after each unit is journaled, so a test can kill a run
# half-way. Unset in normal use.
TEST_SLEEP_ENV = "XLRM_JOURNAL_TEST_SLEEP"

Key = tuple

_CURRENT: list[Journal] = []


def current() -> Journal | None:
    """The journal of the running stage (:meth:`Journal.activate`), or None."""
    return _CURRENT[-1] if _CURRENT else None


def side_paths(out_path: str | os.PathLike) -> tuple[Path, Path]:
    """The journal file and its fingerprint file, beside ``out_path``."""
    return Path(f"{out_path}.partial"), Path(f"{out_path}.partial.meta.json")


def model_files(model_dir: str | os.PathLike | None) -> list[list]:
    """Names, sizes and modification times of a model folder's files (cheap and on the safe
    side: a re-saved model starts over); a hub id or a missing path stands for itself."""
    if model_dir is None:
        return []
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return [[str(model_dir)]]
    out = []
    for p in sorted(model_dir.rglob("*")):
        if p.is_file():
            st = p.stat()
            out.append([p.relative_to(model_dir).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def digest(obj: Any) -> str:
    """SHA-256 of ``obj`` as canonical JSON (inputs: rows, prompts, eval sets)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False,
                                     default=str).encode()).hexdigest()


def fingerprint(payload: dict[str, Any], models: Iterable[str | os.PathLike | None] = ()) -> str:
    """Hash of ``payload`` (configs, input digests, settings) and the ``models`` folders."""
    return digest({"format": 1, **payload, "models": [model_files(m) for m in models]})


def _as_key(obj: Any) -> Any:
    return tuple(_as_key(x) for x in obj) if isinstance(obj, list) else obj


def _record_key(rec: Any) -> Key | None:
    if isinstance(rec, dict) and set(rec) == {"k", "v"} and isinstance(rec["k"], list):
        return _as_key(rec["k"])
    return None


class Journal:
    """The resumable journal of one output (see the module doc).

    Args:
        out_path: the stage's final output (file or folder); the side files go beside it.
        fingerprint: from :func:`fingerprint`; another one discards the old journal.
        key_of: for journals whose lines are bare rows (``generate``): a row's key, or
            None for a row to drop. By default lines are ``{"k": key, "v": value}``.
        flush_every: units between two ``fsync`` calls (every line is flushed at once).

    ``done`` holds the completed units (read back plus added); ``hits`` counts units
    served from it by :meth:`get` (the stage's ``resumed`` count).
    """

    def __init__(self, out_path: str | os.PathLike, fingerprint: str, *,
                 key_of: Callable[[Any], Key | None] | None = None, flush_every: int = 1):
        self.out_path = Path(out_path)
        self.path, self.meta = side_paths(self.out_path)
        self.key_of = key_of
        self.flush_every = max(1, flush_every)
        self.done: dict[Key, Any] = {}
        self.hits = 0
        self._lock = threading.Lock()
        self._unsynced = 0
        self.writer = is_main()  # only rank 0 of a launch writes the side files
        self._f = None
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        with main_first():
            self._open(fingerprint)

    def _open(self, fingerprint: str) -> None:
        old = None
        if self.meta.exists():
            try:
                old = json.loads(self.meta.read_text(encoding="utf-8")).get("fingerprint")
            except (OSError, json.JSONDecodeError, AttributeError):
                old = None
        resuming = old == fingerprint and self.path.exists()
        if resuming:
            self._load()
            if self.writer:
                log.info("%s: resuming, %d unit(s) already done", self.out_path, len(self.done))
        if not self.writer:
            return  # another rank: rank 0 has already made the side files what they must be
        if not resuming and (self.path.exists() or self.meta.exists()):
            log.warning("%s: the partial results were made with another model, inputs or "
                        "settings; starting over", self.out_path)
            self.discard()
        if old != fingerprint or not self.meta.exists():
            write_json(self.meta, {"fingerprint": fingerprint, "output": self.out_path.name})
        self._f = open(self.path, "a", encoding="utf-8")

    def _load(self) -> None:
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut < len(data) and self.writer:  # (the other ranks read what rank 0 has cut)
            log.warning("%s: dropping a torn last line (%d bytes)", self.path, len(data) - cut)
            with open(self.path, "r+b") as f:
                f.truncate(cut)
                os.fsync(f.fileno())
        dropped = 0
        for line in data[:cut].split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                dropped += 1
                continue
            key = self.key_of(rec) if self.key_of else _record_key(rec)
            if key is None or key in self.done:
                dropped += 1
                continue
            self.done[key] = rec if self.key_of else rec["v"]
        if dropped and self.writer:
            log.warning("%s: dropping %d unreadable, unexpected or repeated line(s)",
                        self.path, dropped)
            with open(self.path, "w", encoding="utf-8") as f:
                for key, value in self.done.items():
                    f.write(self._line(key, value))
                os.fsync(f.fileno())

    def _line(self, key: Key, value: Any) -> str:
        rec = value if self.key_of else {"k": list(key), "v": value}
        return json.dumps(rec, ensure_ascii=False) + "\n"

    # ---- use
    def __contains__(self, key: Key) -> bool:
        return key in self.done

    def get(self, key: Key, default: Any = None) -> Any:
        """A completed unit's value (counted in :attr:`hits`), or ``default``."""
        with self._lock:
            if key not in self.done:
                return default
            self.hits += 1
            return self.done[key]

    def add_many(self, items: Iterable[tuple[Key, Any]]) -> None:
        """Journal finished units (one complete line each, flushed before returning)."""
        with self._lock:
            n = 0
            for key, value in items:
                key = tuple(key)
                if self.writer:
                    self._f.write(self._line(key, value))
                self.done[key] = value
                n += 1
            if self.writer:
                self._f.flush()
                self._unsynced += n
                if self._unsynced >= self.flush_every:
                    os.fsync(self._f.fileno())
                    self._unsynced = 0
        delay = os.environ.get(TEST_SLEEP_ENV)
        if delay:
            time.sleep(float(delay))

    def add(self, key: Key, value: Any) -> None:
        self.add_many([(key, value)])

    def unit(self, key: Key, compute: Callable[[], Any]) -> Any:
        """The journaled value of ``key``, or ``compute()`` journaled under it."""
        sentinel = object()
        value = self.get(key, sentinel)
        if value is sentinel:
            value = compute()
            self.add(key, value)
        return value

    # ---- life
    def close(self) -> None:
        if self._f is not None and not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()

    def discard(self) -> None:
        """Remove both side files (after the final output is in place)."""
        self.close()
        if not self.writer:
            return
        self.path.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)

    @contextlib.contextmanager
    def activate(self) -> Iterator[Journal]:
        """Make this the current journal for the block; on success remove the side files
        (the block writes the final output), on an error keep them for the rerun."""
        _CURRENT.append(self)
        try:
            yield self
        except BaseException:
            self.close()
            raise
        finally:
            _CURRENT.remove(self)
        self.discard()


def unit(key: Key, compute: Callable[[], Any]) -> Any:
    """:meth:`Journal.unit` of the current journal; just ``compute()`` without one."""
    j = current()
    return compute() if j is None else j.unit(key, compute)


def resumed() -> int:
    """Units the current journal served (0 without one)."""
    j = current()
    return 0 if j is None else j.hits

"""The persistent verdict cache of the LLM judges: one entry per *ordered* query.

A verdict is stored under ``sha256(judge fingerprint, language, instruction, output A,
output B)``, where the judge fingerprint (:func:`settings_digest`) covers the judge's kind
and every setting that decides a verdict (its :meth:`~xlrm.judges.base.Judge.verdict_settings`:
prompt texts, model name or the content digest of a local model folder, resolved dtype,
sampling and parsing settings...). Settings that only decide *how* the judge is asked
(concurrency, timeouts, retries, the API key, batch size) are not part of it.

Where: one append-only JSON-lines file per judge fingerprint,
``<root>/<digest[:20]>.jsonl`` (beside it ``<digest[:20]>.settings.json``, the settings in
clear, for people), where ``<root>`` is ``project_root()/.scratch/judgements`` (git-ignored,
outside DVC) or the folder the environment variable ``XLRM_JUDGE_CACHE`` names
(``XLRM_JUDGE_CACHE=off`` turns the cache off). Deleting the folder forgets every verdict.

Writing: each verdict is appended as one whole line with a single ``write`` on a file
opened ``O_APPEND`` as soon as it arrives (an API judge's verdicts come from a thread pool:
a lock keeps the lines whole), so a killed run keeps every verdict it got and two processes
may append to the same file. Reading skips a line that does not parse (a run killed
mid-write leaves a torn last line; the next writer starts on a fresh line). Under a
multi-process launch only rank 0 writes (:func:`xlrm.distributed.is_main`).

What is cached is the judge's answer, including "no verdict" when the reply could not be
read (an unparseable reply is the judge's answer); a request that failed (network, 5xx after
the retries) is not, so a rerun asks it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xlrm.distributed import is_main
from xlrm.journal import digest, model_files

log = logging.getLogger(__name__)

ENV = "XLRM_JUDGE_CACHE"
FORMAT = 1  # bump when the meaning of a stored record changes
_FOLDERS = "folder_digests.jsonl"


def cache_root() -> Path | None:
    """The cache folder (see the module doc), or None when ``XLRM_JUDGE_CACHE=off``."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in ("off", "none", "0", "false"):
        return None
    if value:
        return Path(value)
    from xlrm.tracking import project_root

    return project_root() / ".scratch" / "judgements"


def settings_digest(settings: dict[str, Any]) -> str:
    """SHA-256 of a judge's verdict-deciding settings (canonical JSON)."""
    return digest({"format": FORMAT, **settings})


def query_key(fingerprint: str, language: str | None, instruction: str, output_a: str,
              output_b: str) -> str:
    """The key of one ordered query."""
    text = json.dumps([fingerprint, language, instruction, output_a, output_b],
                      ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_lines(path: Path) -> Iterable[dict]:
    if not path.exists():
        return
    with open(path, "rb") as f:
        for raw in f:
            try:
                rec = json.loads(raw.decode("utf-8"))
            except ValueError:  # a torn line (killed mid-write) or a blank one
                continue
            if isinstance(rec, dict):
                yield rec


def _append(path: Path, lines: list[str]) -> None:
    """Append whole lines with one ``write`` on an ``O_APPEND`` descriptor; a file whose
    last line is torn gets a newline first."""
    if not lines:
        return
    data = "".join(lines).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    data = b"\n" + data
        os.write(fd, data)
    finally:
        os.close(fd)


class VerdictCache:
    """The verdicts of one judge fingerprint (see the module doc); use :func:`open_cache`.

    Args:
        root: the cache folder.
        settings: the judge's verdict-deciding settings.
    """

    def __init__(self, root: Path, settings: dict[str, Any]):
        self.fingerprint = settings_digest(settings)
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / f"{self.fingerprint[:20]}.jsonl"
        side = root / f"{self.fingerprint[:20]}.settings.json"
        if is_main() and not side.exists():
            tmp = side.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"format": FORMAT, **settings}, indent=1, default=str,
                                      ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, side)
        self._lock = threading.Lock()
        self._done: dict[str, dict] = {}
        for rec in _read_lines(self.path):
            if isinstance(rec.get("k"), str) and isinstance(rec.get("v"), dict):
                self._done[rec["k"]] = rec["v"]

    def __len__(self) -> int:
        return len(self._done)

    def key(self, language: str | None, instruction: str, output_a: str, output_b: str) -> str:
        return query_key(self.fingerprint, language, instruction, output_a, output_b)

    def get(self, key: str) -> dict | None:
        """The stored record of a query, or None."""
        with self._lock:
            return self._done.get(key)

    def add_many(self, items: Iterable[tuple[str, dict]]) -> None:
        """Store records (kept in memory; appended to the file on rank 0 only)."""
        items = list(items)
        lines = [json.dumps({"k": k, "v": v}, ensure_ascii=False) + "\n" for k, v in items]
        with self._lock:
            for k, v in items:
                self._done[k] = v
            if is_main():
                _append(self.path, lines)

    def add(self, key: str, record: dict) -> None:
        self.add_many([(key, record)])


_OPEN: dict[tuple[str, str], VerdictCache] = {}
_OPEN_LOCK = threading.Lock()


def open_cache(settings: dict[str, Any] | None) -> VerdictCache | None:
    """The cache of a judge with these verdict-deciding settings (one object per folder and
    fingerprint in a process, so judges with equal settings share it); None when the
    settings are None (a judge without a safe fingerprint) or the cache is off."""
    root = cache_root()
    if settings is None or root is None:
        return None
    fp = settings_digest(settings)
    with _OPEN_LOCK:
        key = (str(root.resolve()), fp)
        if key not in _OPEN:
            _OPEN[key] = VerdictCache(root, settings)
        return _OPEN[key]


def folder_digest(path: str | os.PathLike) -> str:
    """A content digest of a local model folder: SHA-256 over every file's relative path and
    bytes. Hashing a large model takes a while, so the result is remembered in the cache
    folder under the folder's listing (names, sizes, modification times): an untouched
    folder is hashed once; a touched one is hashed again (same content, same digest)."""
    path = Path(path).resolve()
    listing = digest([str(path), model_files(path)])
    root = cache_root()
    memo = root / _FOLDERS if root is not None else None
    if memo is not None:
        for rec in _read_lines(memo):
            if rec.get("listing") == listing and isinstance(rec.get("sha256"), str):
                return rec["sha256"]
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(path).as_posix().encode("utf-8") + b"\0")
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            h.update(b"\0")
    out = h.hexdigest()
    if memo is not None and is_main():
        memo.parent.mkdir(parents=True, exist_ok=True)
        _append(memo, [json.dumps({"listing": listing, "sha256": out}) + "\n"])
    return out


def tensors_digest(model: Any) -> str:
    """A content digest of an in-memory model's parameters and buffers (a model passed to a
    judge without a folder it was loaded from unchanged)."""
    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode("utf-8") + str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()

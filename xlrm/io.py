"""Atomic outputs and JSON-lines helpers.

Every stage writes to a temporary path next to its final output and renames it
into place at the end, so a failed run leaves no partial output behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from xlrm.errors import DataError


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success move it into place.

    For ``is_dir=True`` the temporary path is an empty directory. On any
    exception the temporary path is removed and ``final`` is left untouched. A process
    killed outright (SIGKILL) cannot clean up: the temporary paths it left beside ``final``
    (their names carry the writer's process id) are removed by the next write of ``final``.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".tmp",
                                dir=final.parent))
    target = tmp if is_dir else tmp / final.name
    try:
        yield target
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() or final.is_symlink():
            final.unlink()
        os.replace(target, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(final: Path) -> list[Path]:
    """Remove the temporary siblings of ``final`` left by writers that no longer run."""
    removed = []
    prefix = f".{final.name}."
    for path in final.parent.glob(f".{glob_escape(final.name)}.*.tmp"):
        pid = path.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
            removed.append(path)
    return removed


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
                       encoding="utf-8")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
    return n


def parse_jsonl(lines: Iterable[str]) -> Iterator[tuple[int, dict | None, str | None]]:
    """``(line number, object, None)`` for every non-blank line that holds a JSON object,
    ``(line number, None, what is wrong)`` for one that does not."""
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield i, None, f"invalid JSON ({e.msg})"
            continue
        if not isinstance(obj, dict):
            yield i, None, f"expected a JSON object, got {type(obj).__name__}"
            continue
        yield i, obj, None


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """The objects of a JSON-lines file, one at a time; a malformed line raises DataError
    naming file and line when it is reached."""
    with open(path, encoding="utf-8") as f:
        for i, row, problem in parse_jsonl(f):
            if problem is not None:
                raise DataError(problem, path=str(path), row=i)
            yield row


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file; a malformed line raises DataError naming file and line."""
    return list(iter_jsonl(path))


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON at line {e.lineno} ({e.msg})", path=str(path)) from None

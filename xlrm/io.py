"""Atomic outputs and JSON-lines helpers.

Every stage writes to a temporary path next to its final output and renames it
into place at the end, so a failed run leaves no partial output behind.
"""

from __future__ import annotations

import contextlib
import glob
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
    for path in final.parent.glob(f".{glob.escape(final.name)}.*.tmp"):
        pid = path.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
            removed.append(path)
    return removed


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


def _no_constant(name: str) -> Any:
    """``json``'s hook for ``NaN``, ``Infinity`` and ``-Infinity``: refuse them."""
    raise ValueError(f"non-finite number {name} (expected a finite number; JSON has no "
                     "NaN or Infinity)")


def loads(text: str, *, allow_nan: bool = False) -> Any:
    """``json.loads``; ``NaN``/``Infinity`` raise ValueError unless ``allow_nan``."""
    return json.loads(text) if allow_nan else json.loads(text, parse_constant=_no_constant)


def parse_jsonl(lines: Iterable[str], *, allow_nan: bool = False
                ) -> Iterator[tuple[int, dict | None, str | None]]:
    """``(line number, object, None)`` for every non-blank line that holds a JSON object,
    ``(line number, None, what is wrong)`` for one that does not. A UTF-8 byte-order mark
    on the first line is dropped (text opened as ``utf-8`` keeps it); ``NaN``/``Infinity``
    make a line bad unless ``allow_nan``."""
    for i, line in enumerate(lines, start=1):
        if i == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            obj = loads(line, allow_nan=allow_nan)
        except json.JSONDecodeError as e:
            yield i, None, f"invalid JSON ({e.msg})"
            continue
        except ValueError as e:
            yield i, None, str(e)
            continue
        if not isinstance(obj, dict):
            yield i, None, f"expected a JSON object, got {type(obj).__name__}"
            continue
        yield i, obj, None


def iter_jsonl(path: str | os.PathLike, *, allow_nan: bool = False) -> Iterator[dict]:
    """The objects of a JSON-lines file (UTF-8, with or without a byte-order mark; LF or
    CRLF), one at a time; a malformed line raises DataError naming file and line when it is
    reached, as does a missing or unreadable file."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            for i, row, problem in parse_jsonl(f, allow_nan=allow_nan):
                if problem is not None:
                    raise DataError(problem, path=str(path), row=i)
                yield row
    except FileNotFoundError:
        raise DataError("file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read: {e}", path=str(path)) from None


def read_jsonl(path: str | os.PathLike, *, nonempty: bool = False,
               allow_nan: bool = False) -> list[dict]:
    """Read a JSON-lines file (see :func:`iter_jsonl`); with ``nonempty`` a file without a
    single row is an error too."""
    rows = list(iter_jsonl(path, allow_nan=allow_nan))
    if nonempty and not rows:
        raise DataError("no rows (the file is empty or holds only blank lines)", path=str(path))
    return rows


def read_json(path: str | os.PathLike, *, allow_nan: bool = True) -> Any:
    """Read a JSON file (UTF-8, with or without a byte-order mark). The stages' own metrics
    files may hold NaN (``json.dumps`` writes it), so it is allowed unless ``allow_nan``
    is False."""
    try:
        return loads(Path(path).read_text(encoding="utf-8-sig"), allow_nan=allow_nan)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON at line {e.lineno} ({e.msg})", path=str(path)) from None
    except FileNotFoundError:
        raise DataError("file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"cannot read: {e}", path=str(path)) from None

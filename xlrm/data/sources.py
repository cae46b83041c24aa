"""Reading preference data: local files (``.json``, ``.jsonl``, ``.json.gz``, ``.jsonl.gz``,
``.parquet``), folders of them and Hugging Face hub data sets, as :class:`Source` objects
(raw rows + the names rows get by default). Parsing the rows is :mod:`xlrm.data.formats`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlrm.errors import DataError, MissingResourceError
from xlrm.io import loads, parse_jsonl

DATA_SUFFIXES = (".jsonl.gz", ".json.gz", ".jsonl", ".json", ".parquet")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class InvalidJson:
    """Stand-in for a JSON-lines line that failed to parse (so skip mode can count it)."""

    def __init__(self, message: str):
        self.message = message


@dataclass
class Source:
    """One file or hub split: display name, default names and its raw rows."""

    where: str                 # used as DataError's ``path``
    stem: str                  # default id prefix and subset
    source: str                # default ``source`` field
    rows: Sequence[Any] | JsonlRows  # raw rows (dicts, or InvalidJson)
    row_numbers: Sequence[int] | None = None  # 1-based numbers; None -> index + 1

    def number(self, index: int) -> int:
        return self.row_numbers[index] if self.row_numbers is not None else index + 1

    def numbered(self) -> Iterator[tuple[int, Any]]:
        """``(1-based row number, raw row)`` of every row, read lazily where the rows are
        (a JSON-lines file: :class:`JsonlRows`)."""
        if isinstance(self.rows, JsonlRows):
            yield from self.rows.numbered()
            return
        for index, raw in enumerate(self.rows):
            yield self.number(index), raw


class JsonlRows:
    """The raw rows of a JSON-lines file (``.jsonl``, ``.jsonl.gz``), parsed one line at a
    time whenever they are iterated, so a large file is never held in memory; a line that
    is not a JSON object becomes :class:`InvalidJson`."""

    def __init__(self, path: Path):
        self.path = path

    def numbered(self) -> Iterator[tuple[int, Any]]:
        try:
            with _open_text(self.path) as f:
                for i, obj, problem in parse_jsonl(f):
                    yield i, (obj if problem is None else InvalidJson(problem))
        except (OSError, UnicodeDecodeError, EOFError) as e:
            raise DataError(f"cannot read: {e}", path=str(self.path)) from None

    def __iter__(self) -> Iterator[Any]:
        return (raw for _, raw in self.numbered())


def _strip_suffix(path: Path) -> str:
    name = path.name
    for suffix in DATA_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _is_data_file(path: Path, root: Path) -> bool:
    """A data file by suffix, not hidden and not inside a hidden folder below ``root``."""
    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    return path.is_file() and not hidden and path.name.lower().endswith(DATA_SUFFIXES)


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")  # a byte-order mark, if any, is dropped


def read_rows(path: Path) -> tuple[list[Any], list[int] | None]:
    """Raw rows of one data file and their 1-based row numbers (line numbers for JSON lines;
    None means index + 1). A file that cannot be read as a whole raises DataError."""
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist(), None
        if name.endswith((".jsonl", ".jsonl.gz")):
            rows: list[Any] = []
            numbers: list[int] = []
            with _open_text(path) as f:
                for i, obj, problem in parse_jsonl(f):
                    rows.append(obj if problem is None else InvalidJson(problem))
                    numbers.append(i)
            return rows, numbers
        with _open_text(path) as f:
            try:
                data = loads(f.read())
            except json.JSONDecodeError as e:
                raise DataError(f"invalid JSON at line {e.lineno} ({e.msg})",
                                path=str(path)) from None
            except ValueError as e:  # NaN / Infinity
                raise DataError(str(e), path=str(path)) from None
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DataError(f"cannot read: {e}", path=str(path)) from None
    except DataError:
        raise
    except Exception as e:  # pyarrow errors have no common public base class
        raise DataError(f"cannot read: {type(e).__name__}: {e}", path=str(path)) from None
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list of objects, got {type(data).__name__}",
                        path=str(path))
    return data, None


def file_source(path: Path, source_name: str | None) -> Source:
    """One data file as a Source; JSON-lines files are read lazily (:class:`JsonlRows`)."""
    if path.name.lower().endswith((".jsonl", ".jsonl.gz")):
        rows, numbers = JsonlRows(path), None
    else:
        rows, numbers = read_rows(path)
    stem = _strip_suffix(path)
    parent = path.resolve().parent.name
    return Source(where=str(path), stem=stem,
                   source=source_name or (f"{parent}/{stem}" if parent else stem),
                   rows=rows, row_numbers=numbers)


def load_hub_dataset(hub_id: str, config: str | None = None, split: str = "train"):
    """``datasets.load_dataset(hub_id, config, split=split)``, with hub/cache failures turned
    into MissingResourceError (offline mode, no connection, not cached, not found)."""
    import datasets

    try:
        return datasets.load_dataset(hub_id, config, split=split)
    except OSError as e:  # ConnectionError (offline, no network), FileNotFoundError (not
        # cached / no such data set) and huggingface_hub's HTTP errors are all OSErrors
        cfg = f", config {config!r}" if config else ""
        offline = bool(getattr(datasets.config, "HF_HUB_OFFLINE", False))
        raise MissingResourceError(
            f"Hugging Face data set {hub_id!r}{cfg}, split {split!r} is neither reachable on "
            f"the hub nor in the local cache ({type(e).__name__}: {e}). "
            + ("HF_HUB_OFFLINE is set, so only the local cache is used. " if offline else "")
            + "Either run once with hub access to fill the cache (then set HF_HUB_OFFLINE=1), "
            "pre-download it on a machine with access and copy the cache (HF_HOME / "
            "HF_DATASETS_CACHE), or export it to a local .jsonl/.parquet file and give that "
            "path instead."
        ) from None


def is_hub_folder(path: Path) -> bool:
    """A local folder laid out as a hub data set repository: a dataset card ``README.md``
    whose YAML front matter has ``configs`` (what ``datasets.load_dataset`` reads to find
    each config's split files). Such a folder is read as the hub id would be."""
    card = path / "README.md"
    if not card.is_file():
        return False
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return False
    end = text.find("\n---", 3)
    if end < 0:
        return False
    import yaml

    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return False
    return isinstance(meta, dict) and bool(meta.get("configs"))


def hub_folder_name(path: Path) -> str:
    """``owner/name`` of a hub-shaped folder (its last two path parts), the name its rows
    get as the hub id would give them."""
    return "/".join(path.resolve().parts[-2:])


def _looks_like_hub_id(source: str) -> bool:
    return bool(_HUB_ID.match(source)) and not source.lower().endswith(DATA_SUFFIXES)


def hub_source(hub_id: str, config: str | None, split: str, source_name: str | None,
                max_rows: int | None = None) -> Source:
    """One split of a hub data set, or of a local folder laid out as one
    (:func:`is_hub_folder`; its rows are named ``owner/name`` as the hub id's would be)."""
    ds = load_hub_dataset(hub_id, config, split)
    n = len(ds) if max_rows is None else min(len(ds), max_rows)
    rows = ds.select(range(n)) if n < len(ds) else ds
    cfg = f"/{config}" if config else ""
    local = Path(hub_id).is_dir()
    name = source_name or (hub_folder_name(Path(hub_id)) if local else hub_id)
    what = "hub-shaped folder" if local else "hub data set"
    return Source(where=f"{what} {hub_id}{cfg} (split {split})", stem=name, source=name,
                  rows=rows)


def expand_sources(source: str | os.PathLike | Sequence[str | os.PathLike], source_name: str | None,
            hub_config: str | None, hub_split: str) -> Iterator[Source]:
    """Resolve paths, directories (recursively, sorted), hub-shaped folders
    (:func:`is_hub_folder`: read through ``datasets`` with ``hub_config``/``hub_split``, as
    the hub id) and hub ids into sources, lazily."""
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not items:
        raise DataError("no data source given")
    for item in items:
        path = Path(item)
        if path.is_dir() and is_hub_folder(path):
            yield hub_source(str(path), hub_config, hub_split, source_name)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if _is_data_file(p, path))
            if not files:
                raise DataError(f"no data files ({', '.join(DATA_SUFFIXES)}) in this directory",
                                path=str(path))
            for f in files:
                yield file_source(f, source_name)
        elif path.is_file():
            if not path.name.lower().endswith(DATA_SUFFIXES):
                raise DataError(f"unsupported file type; expected one of {DATA_SUFFIXES}",
                                path=str(path))
            yield file_source(path, source_name)
        elif _looks_like_hub_id(str(item)):
            yield hub_source(str(item), hub_config, hub_split, source_name)
        else:
            raise DataError("no such file or directory (and not a hub data set id)",
                            path=str(path))

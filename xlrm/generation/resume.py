"""Resumable sample files: fingerprints, the partial file and its appender, the final check.

Resume protocol
---------------
Rows are appended, one complete line at a time, to ``<out>.partial`` (flushed after every
batch, ``fsync``-ed every ``flush_every`` samples). ``<out>.partial.meta.json`` holds a
fingerprint of everything that determines the samples (model files, prompts, sampling
settings, backend, language). On start, a partial file with a matching fingerprint is
reused: a torn last line is cut off, complete rows are kept and only missing
``(prompt_id, sample)`` pairs are generated; a mismatching or fingerprint-less partial is
discarded with a warning. At the end every expected pair must be present exactly once;
the final file is written atomically and both side files are removed. Both side files
sit beside the output, so a DVC stage declares only the final path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xlrm.errors import XlrmError
from xlrm.io import write_json, write_jsonl

if TYPE_CHECKING:
    from xlrm.generation.config import GenerateConfig
    from xlrm.generation.prompts import Completion

log = logging.getLogger(__name__)

# Test-only hook: seconds to sleep after each batch (HF) or chunk (vLLM) has been written
# to the partial file, so a test can kill the run half-way. Unset in normal use.
TEST_SLEEP_ENV = "XLRM_GENERATE_TEST_SLEEP"

ROW_KEYS = ("prompt_id", "language", "sample", "text", "num_tokens", "backend", "seed",
            "finish_reason")

# What a backend is asked for: (prompt index, sample index) pairs to generate; and where it
# hands each finished batch: [(prompt index, sample index, Completion)].
Todo = list[tuple[int, int]]
RowSink = Callable[[list[tuple[int, int, "Completion"]]], None]


def pause_for_tests() -> None:
    """Sleep :data:`TEST_SLEEP_ENV` seconds when set (after each saved batch)."""
    delay = os.environ.get(TEST_SLEEP_ENV)
    if delay:
        time.sleep(float(delay))


def _model_fingerprint(model_dir: Path) -> list[list]:
    """Names, sizes and modification times of the model folder's files (cheap, safe side:
    a re-saved model starts the samples over)."""
    if not model_dir.is_dir():
        return [[str(model_dir)]]
    out = []
    for p in sorted(model_dir.rglob("*")):
        if p.is_file():
            st = p.stat()
            out.append([p.relative_to(model_dir).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def run_fingerprint(model_dir: Path, prompts: Sequence[dict], cfg: GenerateConfig, *,
                    language: str, greedy: bool) -> str:
    """Hash of everything that determines the samples.

    Batching and durability settings (``token_budget``, ``max_batch``, ``flush_every``,
    ``device``) are left out: they do not change the random stream of a (prompt, sample),
    only (through floating-point rounding, see :mod:`xlrm.generation.sampling`) possibly
    near-ties.
    """
    prompts_digest = hashlib.sha256()
    for p in prompts:
        prompts_digest.update(json.dumps([p["id"], p["messages"]], ensure_ascii=False,
                                         sort_keys=True).encode())
        prompts_digest.update(b"\n")
    payload = {
        "format": 1, "model": _model_fingerprint(Path(model_dir)),
        "prompts": prompts_digest.hexdigest(),
        "language": language, "greedy": greedy, "backend": cfg.backend,
        "num_samples": 1 if greedy else cfg.num_samples, "temperature": cfg.temperature,
        "top_p": cfg.top_p, "max_new_tokens": cfg.max_new_tokens, "seed": cfg.seed,
        "dtype": cfg.dtype,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def side_paths(out_path: Path) -> tuple[Path, Path]:
    """The partial file and its fingerprint file, beside ``out_path``."""
    return Path(f"{out_path}.partial"), Path(f"{out_path}.partial.meta.json")


def start_or_resume(out_path: Path, fingerprint: str, expected: set[tuple[str, int]]
                    ) -> dict[tuple[str, int], dict]:
    """The rows already done by an earlier run with the same ``fingerprint`` (none when
    there is no partial file or it belongs to other settings, which is then discarded);
    leaves the fingerprint file in place for this run."""
    partial, meta = side_paths(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done: dict[tuple[str, int], dict] = {}
    old = None
    if meta.exists():
        try:
            old = json.loads(meta.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, json.JSONDecodeError, AttributeError):
            old = None
    if old == fingerprint and partial.exists():
        done = load_partial(partial, expected)
        log.info("%s: resuming, %d of %d samples already done", out_path, len(done), len(expected))
    elif partial.exists() or meta.exists():
        log.warning("%s: the partial results were made with another model, prompts or "
                    "sampling settings; starting over", out_path)
        partial.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
    if old != fingerprint or not meta.exists():
        write_json(meta, {"fingerprint": fingerprint, "output": out_path.name})
    return done


def _valid_row(row: Any, expected: set[tuple[str, int]]) -> tuple[str, int] | None:
    if not isinstance(row, dict) or set(row) != set(ROW_KEYS):
        return None
    key = (row["prompt_id"], row["sample"])
    if not isinstance(key[0], str) or not isinstance(key[1], int) or key not in expected:
        return None
    if not isinstance(row["text"], str):
        return None
    return key


def load_partial(partial: Path, expected: set[tuple[str, int]]) -> dict[tuple[str, int], dict]:
    """Complete, valid rows of a partial file, keyed by ``(prompt_id, sample)``.

    A torn last line (no final newline: the run died mid-write) is cut off the file. Lines
    that are unreadable, unexpected or repeated are dropped and the file is rewritten
    without them, so it again holds each key at most once.
    """
    data = partial.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        log.warning("%s: dropping a torn last line (%d bytes)", partial, len(data) - cut)
        with open(partial, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
        data = data[:cut]
    done: dict[tuple[str, int], dict] = {}
    dropped = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            dropped += 1
            continue
        key = _valid_row(row, expected)
        if key is None or key in done:
            dropped += 1
            continue
        done[key] = row
    if dropped:
        log.warning("%s: dropping %d unreadable, unexpected or repeated line(s)", partial, dropped)
        write_jsonl(partial, done.values())
    return done


class Appender:
    """Appends complete JSON lines to the partial file; fsyncs every ``flush_every`` rows."""

    def __init__(self, path: Path, flush_every: int):
        self.f = open(path, "a", encoding="utf-8")
        self.flush_every = flush_every
        self.unsynced = 0

    def write(self, rows: Sequence[dict]) -> None:
        for row in rows:
            self.f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.f.flush()
        self.unsynced += len(rows)
        if self.unsynced >= self.flush_every:
            os.fsync(self.f.fileno())
            self.unsynced = 0

    def close(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


def finish(out_path: Path, expected: set[tuple[str, int]]) -> list[dict]:
    """Check that the partial file holds every expected ``(prompt_id, sample)`` exactly once
    and nothing else, write its rows sorted to ``out_path`` (atomically), remove the side
    files, and return the rows."""
    partial, meta = side_paths(out_path)
    counts: dict[tuple[str, int], int] = {}
    rows: list[dict] = []
    if partial.exists():
        for line in partial.read_bytes().split(b"\n"):
            if line.strip():
                row = json.loads(line.decode("utf-8"))
                key = (row["prompt_id"], row["sample"])
                counts[key] = counts.get(key, 0) + 1
                rows.append(row)
    lost = expected - set(counts)
    dup = sorted(k for k, c in counts.items() if c > 1)
    extra = sorted(set(counts) - expected)
    if lost or dup or extra:
        raise XlrmError(f"{partial}: generation incomplete or inconsistent: {len(lost)} missing, "
                        f"{len(dup)} duplicated, {len(extra)} unexpected sample(s) "
                        f"(first: {(sorted(lost) + dup + extra)[:3]}); rerun to resume")
    rows.sort(key=lambda r: (r["prompt_id"], r["sample"]))
    write_jsonl(out_path, rows)
    partial.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)
    return rows

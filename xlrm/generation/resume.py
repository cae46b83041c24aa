"""Resumable sample files: the fingerprint, the row check and the final check, over
:mod:`xlrm.journal` (whose protocol this is, with bare sample rows as its lines).

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
from xlrm.io import write_jsonl
from xlrm.journal import model_files, side_paths

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


def run_fingerprint(model_dir: Path, prompts: Sequence[dict], cfg: GenerateConfig, *,
                    language: str, greedy: bool) -> str:
    """Hash of everything that determines the samples.

    Batching and durability settings (``token_budget``, ``max_batch``, ``flush_every``,
    ``chunk_samples``, ``device``) are left out: they do not change the random stream of a
    (prompt, sample), only (through floating-point rounding, see
    :mod:`xlrm.generation.sampling`) possibly near-ties. For the vLLM backend the engine
    settings that change the numbers are in (:func:`xlrm.vllm_engine.numerics`: dtype,
    quantization, KV-cache dtype, context length, seed, parallel sizes, remote code) and
    its memory and scheduling settings are out, for the same reason.
    """
    prompts_digest = hashlib.sha256()
    for p in prompts:
        prompts_digest.update(json.dumps([p["id"], p["messages"]], ensure_ascii=False,
                                         sort_keys=True).encode())
        prompts_digest.update(b"\n")
    payload = {
        "format": 1, "model": model_files(model_dir),
        "prompts": prompts_digest.hexdigest(),
        "language": language, "greedy": greedy, "backend": cfg.backend,
        "num_samples": 1 if greedy else cfg.num_samples, "temperature": cfg.temperature,
        "top_p": cfg.top_p, "max_new_tokens": cfg.max_new_tokens, "seed": cfg.seed,
        "dtype": cfg.dtype,
    }
    if cfg.backend == "vllm":
        from xlrm.vllm_engine import numerics

        payload["vllm"] = numerics(cfg.vllm, dtype=cfg.dtype, seed=cfg.seed)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def valid_row(row: Any, expected: set[tuple[str, int]]) -> tuple[str, int] | None:
    """A journaled row's ``(prompt_id, sample)``, or None for one to drop."""
    if not isinstance(row, dict) or set(row) != set(ROW_KEYS):
        return None
    key = (row["prompt_id"], row["sample"])
    if not isinstance(key[0], str) or not isinstance(key[1], int) or key not in expected:
        return None
    if not isinstance(row["text"], str):
        return None
    return key


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

"""The ``generate`` stage's core: samples (or greedy answers) of a policy into a JSON-lines
file, resumably (:mod:`xlrm.generation.resume`), with the HF or vLLM backend."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xlrm.generation.config import GenerateConfig
from xlrm.generation.prompts import Completion, validate_prompts
from xlrm.generation.resume import Todo, finish, run_fingerprint, valid_row
from xlrm.journal import Journal
from xlrm.modeling import check_model_folder


def _backend(name: str):
    if name == "vllm":
        from xlrm.generation.vllm import run_vllm

        return run_vllm
    from xlrm.generation.hf import run_hf

    return run_hf


def generate_to_file(model_dir: str | os.PathLike, prompts: Sequence[dict],
                     out_path: str | os.PathLike, cfg: GenerateConfig, *, language: str,
                     greedy: bool = False) -> dict[str, Any]:
    """Generate ``cfg.num_samples`` replies per prompt (one if ``greedy``) into ``out_path``.

    ``prompts`` are ``{"id": str, "messages": [{"role", "content"}, ...]}``. The run is
    resumable (see :mod:`xlrm.generation.resume`); ``temperature == 0`` is treated as
    greedy. The settings the backend receives are logged with
    :func:`xlrm.tracking.log_effective_config` (``generate``). Returns stats: counts of
    prompts, expected/resumed/generated samples, finish reasons, mean reply length and wall
    time.
    """
    t0 = time.time()
    model_dir, out_path = Path(model_dir), Path(out_path)
    prompts = validate_prompts(prompts)
    check_model_folder(model_dir, "policy model")
    greedy = greedy or cfg.temperature == 0.0
    n = 1 if greedy else cfg.num_samples
    expected_order = [(p["id"], s) for p in prompts for s in range(n)]
    expected = set(expected_order)
    if cfg.backend == "vllm":
        from xlrm.generation.vllm import preflight

        preflight(model_dir, cfg)  # fail before touching any file
    fingerprint = run_fingerprint(model_dir, prompts, cfg, language=language, greedy=greedy)
    journal = Journal(out_path, fingerprint, key_of=lambda row: valid_row(row, expected),
                      flush_every=cfg.flush_every)
    done = journal.done

    index = {p["id"]: i for i, p in enumerate(prompts)}
    todo: Todo = [(index[pid], s) for pid, s in expected_order if (pid, s) not in done]
    resumed = len(done)

    def sink(rows: list[tuple[int, int, Completion]]) -> None:
        journal.add_many(((prompts[pi]["id"], s), {
            "prompt_id": prompts[pi]["id"], "language": language, "sample": s,
            "text": c.text, "num_tokens": c.num_tokens, "backend": cfg.backend,
            "seed": cfg.seed, "finish_reason": c.finish_reason,
        }) for pi, s, c in rows)

    try:
        if todo:
            _backend(cfg.backend)(model_dir, prompts, todo, cfg, greedy, sink)
    finally:
        journal.close()

    rows = finish(out_path, expected)
    lengths = [r["num_tokens"] for r in rows]
    return {
        "backend": cfg.backend, "language": language, "greedy": greedy, "prompts": len(prompts),
        "num_samples": n, "samples": len(rows), "resumed": resumed, "generated": len(todo),
        "finish_length": sum(r["finish_reason"] == "length" for r in rows),
        "mean_num_tokens": (sum(lengths) / len(lengths)) if lengths else 0.0,
        "seconds": round(time.time() - t0, 3),
    }

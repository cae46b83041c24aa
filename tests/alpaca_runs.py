"""Synthetic ``eval_alpaca`` and ``head_to_head`` outputs (what the alignment summary and the
report read), written with known values so tests can compute the expected numbers by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PAIRS = ("english_vs_native", "english_vs_policy", "native_vs_policy")
LC_REASON = ("answers are longer than the reference on every instruction (3.8x on average): "
             "equal length is outside the data")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_system(alpaca_dir: Path, lang: str, system: str, seed: int | None,
                 passed: list[int | None], preferences: list[float | None] | None = None) -> None:
    """One eval_alpaca run: answers with rule checks (and reference preferences)."""
    name = "__".join([lang, system] + ([] if seed is None else [str(seed)]))
    rows = []
    for i, ok in enumerate(passed):
        row = {"id": f"q{i}", "language": lang, "model": name, "output": f"answer {i} {system}",
               "passed": ok}
        if preferences is not None:
            row["preference"] = preferences[i]
        rows.append(row)
    write_jsonl(alpaca_dir / f"{name}.jsonl", rows)
    vals = [p for p in passed if p is not None]
    metrics = {"run": name, "language": lang, "n": len(passed), "avg_length": 12,
               "language_fidelity": 1.0,
               "verifiable": {"accuracy": 100 * float(np.mean(vals)) if vals else None,
                              "ci_low": 0.0, "ci_high": 100.0, "n": len(vals)}}
    if preferences is not None:
        p = np.array([np.nan if v is None else v for v in preferences], dtype=float)
        policy = system == "policy"  # no length-controlled rate, as in the default's run
        metrics.update({"win_rate": float(np.nanmean(p - 1) * 100), "standard_error": 1.0,
                        "discrete_win_rate": 50.0,
                        "length_controlled_minimal": None if policy else 50.0,
                        "length_controlled_reason": LC_REASON if policy else None})
    (alpaca_dir / f"{name}.json").write_text(json.dumps(metrics), encoding="utf-8")


def write_h2h(h2h_dir: Path, lang: str, seed: int, prefs: dict[str, list[float | None]],
              consistency: float = 0.9, warning: str | None = None) -> None:
    """One head_to_head run: preferences of each pairing's first system."""
    rows = [{"id": f"q{i}", "language": lang, "pairing": name, "preference": p}
            for name in PAIRS for i, p in enumerate(prefs[name])]
    write_jsonl(h2h_dir / f"{lang}__{seed}.jsonl", rows)
    metrics = {"run": f"{lang}__{seed}", "language": lang, "judge_kind": "hf", "pairings": {
        name: {"win_rate": 50.0, "judge": {"order_quality": {"position_consistency": consistency}},
               "consistency_warning": warning} for name in PAIRS}}
    (h2h_dir / f"{lang}__{seed}.json").write_text(json.dumps(metrics), encoding="utf-8")


def write_runs(root: Path, langs=("es",), seeds=(0,), n: int = 8, reference: bool = False,
               consistency: float = 0.9) -> tuple[Path, Path]:
    """A full set for ``langs`` x ``seeds``: english passes every other item more than
    native (english: items 0..n-1 pass when i % 2 == 0 or i < 2; native: i % 2 == 0;
    policy: i % 4 == 0); head to head english over native prefers 2.0 on odd items < 2,
    1.5 elsewhere. Returns (alpaca_dir, h2h_dir)."""
    alpaca, h2h = root / "alpaca", root / "head_to_head"
    for lang in langs:
        write_system(alpaca, lang, "policy", None, [int(i % 4 == 0) for i in range(n)],
                     [1.4] * n if reference else None)
        for s in seeds:
            write_system(alpaca, lang, "english", s, [int(i % 2 == 0 or i < 2) for i in range(n)],
                         [1.8] * n if reference else None)
            write_system(alpaca, lang, "native", s, [int(i % 2 == 0) for i in range(n)],
                         [1.6] * n if reference else None)
            e_vs_n = [2.0 if (i % 2 == 1 and i < 2) else 1.5 for i in range(n)]
            write_h2h(h2h, lang, s, {"english_vs_native": e_vs_n,
                                     "english_vs_policy": [1.75] * n,
                                     "native_vs_policy": [1.25] * n},
                      consistency=consistency,
                      warning=None if consistency >= 0.6 else "not evidence")
    return alpaca, h2h

"""Scores tables for the evaluation and transfer tests (rows built on the spot)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlrm.evaluation.weights import MREWARDBENCH_WEIGHTS


def rows(rm, language, subset, pairs, category=None, head=None, start=0):
    """Rows for one (rm, language, subset) from [(chosen, rejected), ...]."""
    out = []
    for i, (c, r) in enumerate(pairs, start=start):
        row = {"rm": rm, "id": f"{subset}-{i}", "language": language, "subset": subset,
               "category": category or MREWARDBENCH_WEIGHTS[subset][0],
               "chosen_score": c, "rejected_score": r}
        if head is not None:
            row["head"] = head
        out.append(row)
    return out


def table(*parts):
    return pd.DataFrame([r for p in parts for r in p])


def synthetic(rms=("en", "ko", "zh"), langs=("en", "ko", "zh"), n_per_subset=40, seed=0,
              skill=None, subsets=("mt-bench-hard", "llmbar-natural", "donotanswer",
                                   "alpacaeval-easy", "hep-go")):
    """Random scores; ``skill[rm]`` shifts the chosen score up."""
    rng = np.random.default_rng(seed)
    frames = []
    for rm in rms:
        for lang in langs:
            for subset in subsets:
                n = n_per_subset
                frames.append(pd.DataFrame({
                    "rm": rm, "id": [f"{subset}-{i}" for i in range(n)], "language": lang,
                    "subset": subset, "category": MREWARDBENCH_WEIGHTS[subset][0],
                    "chosen_score": rng.normal((skill or {}).get(rm, 0.0), 1.0, n),
                    "rejected_score": rng.normal(0.0, 1.0, n)}))
    return pd.concat(frames, ignore_index=True)

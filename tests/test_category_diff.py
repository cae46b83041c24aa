"""The per-category English-minus-target table (xlrm.evaluation.category_diff) on hand-made
score tables, its place in the transfer results, and its table in the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from score_tables import rows, synthetic, table

from xlrm.evaluation.bootstrap import bootstrap_language_scores
from xlrm.evaluation.category_diff import COLUMNS, category_diff, category_diff_table
from xlrm.evaluation.config import TransferConfig
from xlrm.evaluation.transfer import eval_pairs, transfer_results


def _pairs(n_correct: int, n: int) -> list[tuple[float, float]]:
    """``n`` pairs of which the first ``n_correct`` are ranked correctly."""
    return [(1.0, 0.0)] * n_correct + [(0.0, 1.0)] * (n - n_correct)


# (rm, language) -> subset -> (correct, n); chat has two subsets of weights 79 and 76
HAND = {
    ("en", "ko"): {"alpacaeval-easy": (8, 10), "alpacaeval-hard": (3, 10), "mt-bench-hard": (6, 8),
                   "donotanswer": (9, 12), "hep-go": (5, 10)},
    ("ko", "ko"): {"alpacaeval-easy": (6, 10), "alpacaeval-hard": (5, 10), "mt-bench-hard": (2, 8),
                   "donotanswer": (10, 12), "hep-go": (5, 10)},
    ("en", "zh"): {"alpacaeval-easy": (7, 10), "mt-bench-hard": (4, 8), "donotanswer": (6, 12)},
    ("zh", "zh"): {"alpacaeval-easy": (9, 10), "mt-bench-hard": (4, 8), "donotanswer": (3, 12)},
}


def _hand_table() -> pd.DataFrame:
    parts = [rows(rm, lang, subset, _pairs(c, n))
             for (rm, lang), subs in HAND.items() for subset, (c, n) in subs.items()]
    # the English RM on English, so the transfer results have a source-language RM
    parts.append(rows("en", "en", "alpacaeval-easy", _pairs(7, 10)))
    return table(*parts)


def _hand_category(rm: str, lang: str) -> dict[str, float]:
    s = {k: c / n for k, (c, n) in HAND[(rm, lang)].items()}
    out = {"chat-hard": s["mt-bench-hard"], "safety": s["donotanswer"]}
    if "alpacaeval-hard" in s:
        out["chat"] = (79 * s["alpacaeval-easy"] + 76 * s["alpacaeval-hard"]) / (79 + 76)
        out["reasoning"] = s["hep-go"]
    else:
        out["chat"] = s["alpacaeval-easy"]
    return out


def test_category_diff_equals_hand_computation_and_ci_contains_point():
    boot = bootstrap_language_scores(_hand_table(), n_resamples=400, seed=3)
    got = category_diff(boot, "en", ["ko", "zh"], confidence=0.9)
    assert got["categories"] == ["chat", "chat-hard", "safety", "reasoning"]
    want = {t: {c: _hand_category("en", t)[c] - v for c, v in _hand_category(t, t).items()}
            for t in ("ko", "zh")}
    # ko: chat (79*.8 + 76*.3)/155 - (79*.6 + 76*.5)/155; chat-hard 6/8 - 2/8
    assert want["ko"]["chat"] == pytest.approx((79 * 0.2 - 76 * 0.2) / 155)
    assert want["ko"]["chat-hard"] == pytest.approx(0.5)
    for t in ("ko", "zh"):
        assert set(got["per_language"][t]) == set(want[t])  # zh has no reasoning pairs
        for c, d in want[t].items():
            r = got["per_language"][t][c]
            assert r["diff"] == pytest.approx(d, abs=1e-12)
            assert r["source_rm"] - r["target_rm"] == pytest.approx(d, abs=1e-12)
            assert r["ci_low"] <= r["diff"] <= r["ci_high"]
    assert got["per_language"]["ko"]["chat"]["n_pairs"] == 20
    assert got["per_language"]["ko"]["reasoning"] == pytest.approx(
        {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "source_rm": 0.5, "target_rm": 0.5,
         "n_pairs": 10})  # same pairs, same verdicts: paired replicates cancel exactly
    # the mean: over the targets that have the category
    for c in ("chat", "chat-hard", "safety"):
        m = got["mean"][c]
        assert m["diff"] == pytest.approx((want["ko"][c] + want["zh"][c]) / 2, abs=1e-12)
        assert m["n_targets"] == 2 and m["ci_low"] <= m["diff"] <= m["ci_high"]
    assert got["mean"]["reasoning"]["n_targets"] == 1
    assert got["mean"]["reasoning"]["diff"] == pytest.approx(0.0)
    # a clear gap is detected: en beats ko by 50 points on chat-hard (6/8 vs 2/8)
    assert got["per_language"]["ko"]["chat-hard"]["ci_low"] > 0


def test_category_replicates_are_the_language_replicates_per_category():
    """The category replicates come from the same resampled pairs as the language scores:
    their plain mean is each replicate's language score."""
    df = synthetic(rms=("en", "ko"), langs=("en", "ko"), n_per_subset=15)
    boot = bootstrap_language_scores(df, n_resamples=50, seed=1)
    for rm in ("en", "ko"):
        cats = [boot.category_samples[(rm, "ko", c)]
                for c in ("chat", "chat-hard", "safety", "reasoning")]
        np.testing.assert_allclose(np.mean(cats, axis=0), boot.samples[(rm, "ko")], atol=1e-12)


def test_category_diff_table_and_transfer_metrics():
    df = synthetic(rms=("en", "ko", "zh"), langs=("en", "ko", "zh"), n_per_subset=30,
                   skill={"en": 0.5})
    res = transfer_results(TransferConfig(bootstrap_resamples=100, confidence=0.9), df)
    t = res.category_diff
    assert list(t.columns) == list(COLUMNS)
    assert set(t["target"]) == {"ko", "zh", "mean"}
    assert len(t) == 3 * 4  # two targets and the mean, four categories each
    assert ((t["ci_low"] <= t["diff"]) & (t["diff"] <= t["ci_high"])).all()
    met = res.metrics["category_diff"]
    assert met["confidence"] == 0.9 and met["targets"] == ["ko", "zh"]
    ko_chat = t[(t["target"] == "ko") & (t["category"] == "chat")].iloc[0]
    assert met["per_language"]["ko"]["chat"]["diff"] == pytest.approx(ko_chat["diff"], abs=1e-6)
    for c in ("chat", "chat-hard", "safety", "reasoning"):
        mean_row = t[(t["target"] == "mean") & (t["category"] == c)].iloc[0]
        per = t[(t["target"] != "mean") & (t["category"] == c)]
        assert mean_row["diff"] == pytest.approx(per["diff"].mean(), abs=1e-12)
    # the category means average to the headline (the language score is their plain mean)
    assert np.mean([met["mean"][c]["diff"] for c in met["categories"]]) == pytest.approx(
        res.metrics["headline"]["mean"]["diff"], abs=1e-5)
    assert res.metrics["eval_pairs"] == {"en": 150, "ko": 150, "zh": 150}
    assert res.metrics["rm_seeds"] == 1
    assert category_diff_table(category_diff(
        bootstrap_language_scores(df, n_resamples=10), "en", [])).empty


def test_eval_pairs_counts_distinct_pairs_over_rms():
    df = table(rows("en", "ko", "hep-go", _pairs(3, 4)), rows("ko", "ko", "hep-go", _pairs(1, 4)),
               rows("ko", "ko", "donotanswer", _pairs(1, 2)),
               rows("en", "en", "hep-go", _pairs(2, 3)))
    assert eval_pairs(df) == {"ko": 6, "en": 3}


# ------------------------------------------------------------------ the report's table

def test_report_category_section_without_a_comparison_and_lc_note_without_reasons():
    from xlrm.report.blocks import Para
    from xlrm.report.inputs import ReportInputs, ReportPaths
    from xlrm.report.study_tables import length_control_note, section_category_diff

    paths = ReportPaths(**{f: f"{f}.csv" for f in ReportPaths.__dataclass_fields__})
    inputs = ReportInputs(paths=paths, markdown_dir=".",
                          category_diff=pd.DataFrame(columns=list(COLUMNS)),
                          transfer_metrics={"no_headline": "no RM trained on the source "
                                                           "language 'en'"})
    blocks = section_category_diff(inputs)
    assert blocks[-1] == Para("No per-category comparison: no RM trained on the source "
                              "language 'en'.", "note")
    missing = section_category_diff(ReportInputs(paths=paths, markdown_dir="."))
    assert missing[-1] == Para("missing: category_diff.csv", "missing")
    # alignment runs without a reason column (older results): the rule and the runs are named
    runs = pd.DataFrame({"run": ["es__policy", "es__english__0"],
                         "length_controlled_minimal": [float("nan"), 51.0]})
    note = length_control_note(runs)
    assert note.kind == "note" and "for 1 of 2 runs" in note.text
    assert note.text.endswith("Runs: es__policy.")
    assert length_control_note(runs.iloc[1:]) is None

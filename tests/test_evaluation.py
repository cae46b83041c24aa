"""xlrm.evaluation's scoring rules (weights, accuracy per subset, category and language) and
the transfer matrix."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pandas as pd
import pytest
from score_tables import rows, synthetic, table

from xlrm.errors import DataError
from xlrm.evaluation.accuracy import accuracy_report, accuracy_table, correct, transfer_matrix
from xlrm.evaluation.weights import MREWARDBENCH_WEIGHTS
from xlrm.schema import CATEGORIES


# ------------------------------------------------------------------ weights and the rule

def test_weights_table_matches_anchors():
    w = MREWARDBENCH_WEIGHTS
    assert len(w) == 23
    assert {c for c, _ in w.values()} == set(CATEGORIES)
    assert w["math-prm"] == ("reasoning", 983)
    assert w["hep-python"] == ("reasoning", 163)
    assert w["mt-bench-hard"] == ("chat-hard", 35)
    assert w["llmbar-natural"] == ("chat-hard", 76)
    assert w["xstest-should-respond"] == ("safety", 247)
    assert w["alpacaeval-hard"] == ("chat", 76)
    totals = {}
    for c, n in w.values():
        totals[c] = totals.get(c, 0) + n
    assert totals == {"chat": 296, "chat-hard": 407, "safety": 736, "reasoning": 1966}


def test_correct_is_strict_and_nan_is_wrong():
    assert correct(1.0, 0.0) is True
    assert correct(0.0, 0.0) is False
    assert correct(-1.0, 0.0) is False
    assert correct(float("nan"), 0.0) is False
    assert correct(0.0, float("nan")) is False
    assert correct(float("inf"), float("inf")) is False
    got = correct([2, 1, 1, np.nan, 0], [1, 1, 2, 0, np.nan])
    assert got.dtype == bool
    assert got.tolist() == [True, False, False, False, False]


# ------------------------------------------------------------------ accuracy_report

def test_ties_and_nans_count_as_wrong():
    df = table(rows("en", "en", "donotanswer",
                    [(1, 0), (0, 0), (0.5, 0.5), (np.nan, 0), (0, np.nan), (2, 1)]))
    rec = accuracy_report(df)["en"]["en"]
    sub = rec["categories"]["safety"]["subsets"]["donotanswer"]
    assert sub["accuracy"] == 2 / 6
    assert sub["n"] == 6 and sub["correct"] == 2
    assert rec["n_nan"] == 2
    assert rec["score"] == 2 / 6
    assert rec["categories_present"] == ["safety"]
    assert rec["categories_missing"] == ["chat", "chat-hard", "reasoning"]


def test_category_is_weighted_by_fixed_counts():
    # mt-bench-hard: 3/4 correct (weight 35); llmbar-natural: 1/5 correct (weight 76)
    df = table(rows("en", "en", "mt-bench-hard", [(1, 0)] * 3 + [(0, 1)]),
               rows("en", "en", "llmbar-natural", [(1, 0)] + [(0, 0)] * 4))
    rec = accuracy_report(df)["en"]["en"]
    expected = (35 * 0.75 + 76 * 0.2) / (35 + 76)
    assert rec["categories"]["chat-hard"]["accuracy"] == pytest.approx(expected, abs=1e-15)
    # not the row-weighted (pooled) accuracy 4/9, nor the plain mean 0.475
    assert abs(expected - 4 / 9) > 1e-3 and abs(expected - 0.475) > 1e-3
    subs = rec["categories"]["chat-hard"]["subsets"]
    assert subs["mt-bench-hard"]["weight"] == 35
    assert subs["mt-bench-hard"]["weight_source"] == "table"
    assert rec["categories"]["chat-hard"]["n"] == 9


def test_subset_outside_table_weighted_by_rows():
    # seed-math: 10 rows, 5 correct (weight 10 = rows); hep-go: 2 rows, 2 correct (weight 164)
    df = table(rows("en", "en", "seed-math", [(1, 0)] * 5 + [(0, 1)] * 5, category="reasoning"),
               rows("en", "en", "hep-go", [(1, 0), (1, 0)]))
    rec = accuracy_report(df)["en"]["en"]
    sub = rec["categories"]["reasoning"]["subsets"]["seed-math"]
    assert sub["weight"] == 10 and sub["weight_source"] == "rows"
    assert rec["categories"]["reasoning"]["accuracy"] == pytest.approx(
        (10 * 0.5 + 164 * 1.0) / 174, abs=1e-15)
    # row weights are taken per (rm, language): another language with 4 rows gets weight 4
    df2 = pd.concat([df, table(rows("en", "ko", "seed-math", [(1, 0)] * 4,
                                    category="reasoning"))])
    assert accuracy_report(df2)["en"]["ko"]["categories"]["reasoning"]["subsets"][
        "seed-math"]["weight"] == 4


def test_subset_outside_table_needs_a_category():
    df = table(rows("en", "en", "seed-math", [(1, 0)], category="reasoning")).drop(
        columns="category")
    with pytest.raises(DataError, match="seed-math"):
        accuracy_report(df)


def test_category_comes_from_table_when_column_absent_and_clashes_are_errors():
    df = table(rows("en", "en", "hep-go", [(1, 0)]))
    assert accuracy_report(df.drop(columns="category"))["en"]["en"]["categories_present"] == [
        "reasoning"]
    bad = df.assign(category="chat")
    with pytest.raises(DataError, match="weights table"):
        accuracy_report(bad)
    with pytest.raises(DataError, match="category"):
        accuracy_report(df.assign(category="math"))


def test_duplicates_and_missing_columns_are_errors():
    df = table(rows("en", "en", "hep-go", [(1, 0), (0, 1)]))
    with pytest.raises(DataError, match="duplicate"):
        accuracy_report(pd.concat([df, df.iloc[:1]]))
    with pytest.raises(DataError, match="chosen_score"):
        accuracy_report(df.drop(columns="chosen_score"))


def test_language_score_is_plain_mean_of_categories():
    df = table(rows("ko", "ko", "alpacaeval-easy", [(1, 0)] * 9 + [(0, 1)]),    # chat 0.9
               rows("ko", "ko", "mt-bench-hard", [(1, 0), (0, 1)]),             # chat-hard 0.5
               rows("ko", "ko", "donotanswer", [(1, 0)] * 100),                # safety 1.0
               rows("ko", "ko", "hep-go", [(0, 1)] * 3 + [(1, 0)]))             # reasoning .25
    rec = accuracy_report(df)["ko"]["ko"]
    assert rec["score"] == pytest.approx((0.9 + 0.5 + 1.0 + 0.25) / 4, abs=1e-15)
    assert rec["categories_present"] == list(CATEGORIES)
    assert rec["categories_missing"] == []
    assert rec["n"] == 116
    # drop safety: mean of the three present categories, and it is recorded
    rec3 = accuracy_report(df[df["subset"] != "donotanswer"])["ko"]["ko"]
    assert rec3["score"] == pytest.approx((0.9 + 0.5 + 0.25) / 3, abs=1e-15)
    assert rec3["categories_missing"] == ["safety"]


def test_heads_are_scored_separately_then_averaged():
    # head 0: chat 1.0, reasoning 0.0 -> 0.5 ; head 1: chat 0.5, reasoning 1.0 -> 0.75
    h0 = table(rows("base", "en", "mt-bench-easy", [(1, 0), (1, 0)], head=0),
               rows("base", "en", "hep-go", [(0, 1), (0, 1)], head=0))
    h1 = table(rows("base", "en", "mt-bench-easy", [(1, 0), (0, 1)], head=1),
               rows("base", "en", "hep-go", [(1, 0), (1, 0)], head=1))
    trained = table(rows("en", "en", "mt-bench-easy", [(1, 0), (1, 0)]),
                    rows("en", "en", "hep-go", [(1, 0), (0, 1)]))
    rep = accuracy_report(pd.concat([h0, h1, trained], ignore_index=True))
    base = rep["base"]["en"]
    assert base["n_heads"] == 2
    assert base["n"] == 4
    assert base["score"] == pytest.approx((0.5 + 0.75) / 2, abs=1e-15)
    assert base["categories"]["chat"]["accuracy"] == pytest.approx(0.75, abs=1e-15)
    assert base["categories"]["chat"]["subsets"]["mt-bench-easy"]["correct"] == 1.5
    # the trained RM (head NaN after the concat) is one head
    assert rep["en"]["en"]["n_heads"] == 1
    assert rep["en"]["en"]["score"] == pytest.approx(0.75, abs=1e-15)
    # heads that score different pairs are refused
    with pytest.raises(DataError, match="heads"):
        accuracy_report(pd.concat([h0, h1.iloc[1:]], ignore_index=True))


def test_report_is_json_serialisable_and_table_is_tidy():
    df = table(rows("en", "en", "mt-bench-hard", [(1, 0), (0, 1)]),
               rows("en", "en", "seed-chat", [(1, 0)], category="chat"))
    rep = accuracy_report(df)
    assert json.loads(json.dumps(rep)) == rep
    tab = accuracy_table(df)
    assert list(tab.columns[:3]) == ["rm", "language", "level"]
    assert {"name", "accuracy", "n"} <= set(tab.columns)
    assert sorted(tab["level"].unique()) == ["category", "language", "subset"]
    lang = tab[tab["level"] == "language"].iloc[0]
    assert lang["accuracy"] == rep["en"]["en"]["score"] and lang["n"] == 3
    assert set(tab.loc[tab["level"] == "subset", "name"]) == {"mt-bench-hard", "seed-chat"}


# ------------------------------------------------------------------ independent implementation

def reference_report(records, weights):
    """The scoring rules written out with plain loops (no pandas, no numpy)."""
    cells = {}
    for r in records:
        key = (r["rm"], r["language"])
        head = r.get("head", -1)
        c, j = r["chosen_score"], r["rejected_score"]
        ok = (not (isinstance(c, float) and math.isnan(c))
              and not (isinstance(j, float) and math.isnan(j)) and c > j)
        sub = cells.setdefault(key, {}).setdefault(head, {}).setdefault(
            r["subset"], {"category": r["category"], "correct": 0, "n": 0})
        sub["correct"] += 1 if ok else 0
        sub["n"] += 1
    out = {}
    for (rm, lang), heads in cells.items():
        lang_scores = []
        cat_acc = {}
        for head, subsets in heads.items():
            cats = {}
            for name, s in subsets.items():
                w = weights[name][1] if name in weights else s["n"]
                num_den = cats.setdefault(s["category"], [0.0, 0.0])
                num_den[0] += w * (s["correct"] / s["n"])
                num_den[1] += w
            scores = {c: nd[0] / nd[1] for c, nd in cats.items()}
            for c, v in scores.items():
                cat_acc.setdefault(c, []).append(v)
            lang_scores.append(sum(scores.values()) / len(scores))
        out[(rm, lang)] = (sum(lang_scores) / len(lang_scores),
                           {c: sum(v) / len(v) for c, v in cat_acc.items()})
    return out


def test_agrees_with_independent_implementation_on_random_ties():
    rnd = random.Random(1234)
    subsets = [("mt-bench-hard", "chat-hard"), ("llmbar-natural", "chat-hard"),
               ("alpacaeval-easy", "chat"), ("donotanswer", "safety"),
               ("xstest-should-refuse", "safety"), ("math-prm", "reasoning"),
               ("hep-go", "reasoning"), ("seed-math", "reasoning"), ("seed-chat", "chat")]
    records = []
    for rm in ["en", "ko", "multi", "base"]:
        heads = [0, 1, 2] if rm == "base" else [None]
        for lang in ["en", "ko", "zh"]:
            present = [s for s in subsets if rnd.random() < 0.8] or subsets[:1]
            for subset, cat in present:
                n = rnd.randint(1, 25)
                for head in heads:
                    for i in range(n):
                        c = float(rnd.randint(0, 3))   # many ties
                        j = float(rnd.randint(0, 3))
                        if rnd.random() < 0.05:
                            c = float("nan")
                        rec = {"rm": rm, "id": str(i), "language": lang, "subset": subset,
                               "category": cat, "chosen_score": c, "rejected_score": j}
                        if head is not None:
                            rec["head"] = head
                        records.append(rec)
    rnd.shuffle(records)
    expected = reference_report(records, MREWARDBENCH_WEIGHTS)
    got = accuracy_report(pd.DataFrame(records))
    assert {(rm, lang) for rm in got for lang in got[rm]} == set(expected)
    for (rm, lang), (score, cats) in expected.items():
        rec = got[rm][lang]
        assert abs(rec["score"] - score) <= 1e-12
        assert set(rec["categories"]) == set(cats)
        for c, v in cats.items():
            assert abs(rec["categories"][c]["accuracy"] - v) <= 1e-12
    mat = transfer_matrix(pd.DataFrame(records))
    for (rm, lang), (score, _) in expected.items():
        assert abs(mat.loc[rm, lang] - score) <= 1e-12


# ------------------------------------------------------------------ transfer matrix

def test_transfer_matrix_shape_and_labels():
    df = synthetic(rms=("en", "ko", "multi"), langs=("en", "ko", "zh", "es"))
    mat = transfer_matrix(df)
    assert mat.shape == (3, 4)
    assert list(mat.index) == ["en", "ko", "multi"] and mat.index.name == "rm"
    assert list(mat.columns) == ["en", "ko", "zh", "es"] and mat.columns.name == "language"
    rep = accuracy_report(df)
    assert mat.loc["ko", "zh"] == rep["ko"]["zh"]["score"]
    assert transfer_matrix(rep).equals(mat)
    ordered = transfer_matrix(df, rm_order=["multi", "en", "base"], language_order=["zh", "en"])
    assert list(ordered.index) == ["multi", "en", "base"]
    assert list(ordered.columns) == ["zh", "en"]
    assert ordered.loc["base"].isna().all()
    # an RM not evaluated on a language leaves a NaN cell
    partial = transfer_matrix(df[~((df["rm"] == "ko") & (df["language"] == "es"))])
    assert math.isnan(partial.loc["ko", "es"])

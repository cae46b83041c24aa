"""Tests for xlrm.evaluation: scoring rules, transfer matrix, bootstrap and heatmap."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pandas as pd
import pytest

from xlrm import evaluation as ev
from xlrm.errors import DataError
from xlrm.evaluation import (MREWARDBENCH_WEIGHTS, accuracy_report, accuracy_table,
                             bootstrap_ci, bootstrap_language_scores, correct, headline,
                             heatmap, transfer_matrix)
from xlrm.schema import CATEGORIES


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


# ------------------------------------------------------------------ bootstrap

def test_resample_counts_preserve_stratum_size():
    w = ev._resample_counts(np.random.default_rng(0), 7, 50)
    assert w.shape == (50, 7)
    assert (w.sum(axis=1) == 7).all()


def test_bootstrap_replicate_with_all_pairs_once_equals_point(monkeypatch):
    """With every pair drawn exactly once the bootstrap machinery must reproduce the report
    (table weights, row weights, missing categories and heads included)."""
    df = pd.concat([
        synthetic(rms=("en", "ko"), langs=("en", "ko"), seed=3),
        table(rows("en", "ko", "seed-math", [(1, 0)] * 3 + [(0, 0)] * 4, category="reasoning")),
        table(rows("base", "ko", "hep-go", [(1, 0), (0, 1), (1, 1)], head=0),
              rows("base", "ko", "hep-go", [(1, 0), (2, 1), (0, 1)], head=1),
              rows("base", "ko", "donotanswer", [(1, 0), (0, 1)], head=0),
              rows("base", "ko", "donotanswer", [(0, 0), (0, 1)], head=1)),
    ], ignore_index=True)
    monkeypatch.setattr(ev, "_resample_counts", lambda rng, n, b: np.ones((b, n)))
    boot = bootstrap_language_scores(df, n_resamples=3)
    rep = accuracy_report(df)
    for (rm, lang), samples in boot.samples.items():
        assert np.all(np.abs(samples - rep[rm][lang]["score"]) <= 1e-12), (rm, lang)


def test_bootstrap_ci_contains_point_and_is_deterministic():
    df = synthetic(skill={"en": 0.5})
    a = bootstrap_ci(df, n_resamples=400, seed=7)
    b = bootstrap_ci(df, n_resamples=400, seed=7)
    c = bootstrap_ci(df, n_resamples=400, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a[["ci_low", "ci_high"]].equals(c[["ci_low", "ci_high"]])
    assert list(a.columns) == ["rm", "language", "score", "ci_low", "ci_high"]
    assert len(a) == 9
    assert ((a["ci_low"] <= a["score"]) & (a["score"] <= a["ci_high"])).all()
    assert (a["ci_high"] > a["ci_low"]).all()
    mat = transfer_matrix(df)
    for r in a.itertuples():
        assert r.score == mat.loc[r.rm, r.language]


def test_bootstrap_ci_narrows_with_more_pairs():
    small = bootstrap_ci(synthetic(n_per_subset=20, seed=1), n_resamples=300)
    large = bootstrap_ci(synthetic(n_per_subset=500, seed=1), n_resamples=300)
    w_small = (small["ci_high"] - small["ci_low"]).mean()
    w_large = (large["ci_high"] - large["ci_low"]).mean()
    assert w_large < w_small / 2


def test_stratum_draws_do_not_depend_on_other_languages():
    df = synthetic()
    one = bootstrap_language_scores(df[df["language"] == "ko"], n_resamples=100, seed=5)
    all_ = bootstrap_language_scores(df, n_resamples=100, seed=5)
    np.testing.assert_array_equal(one.samples[("en", "ko")], all_.samples[("en", "ko")])


def test_headline_paired_difference_identical_rms_is_exactly_zero():
    df = synthetic(rms=("en",), langs=("en", "ko", "zh"))
    copies = [df]
    for lang in ("ko", "zh"):
        copies.append(df.assign(rm=lang))   # identical scores to the English RM
    h = headline(pd.concat(copies, ignore_index=True), n_resamples=200)
    assert h["targets"] == ["ko", "zh"]
    for t in ("ko", "zh"):
        assert h["per_language"][t]["diff"] == 0.0
        assert h["per_language"][t]["ci_low"] == 0.0 == h["per_language"][t]["ci_high"]
    assert h["mean"]["diff"] == 0.0
    assert h["mean"]["ci_low"] == 0.0 == h["mean"]["ci_high"]


def test_headline_values_and_ci():
    df = synthetic(rms=("en", "ko", "zh", "multi"), langs=("en", "ko", "zh"),
                   n_per_subset=150, skill={"en": 0.8, "ko": 0.2, "zh": 0.2, "multi": 0.5})
    h = headline(df, n_resamples=300, seed=0)
    assert h["source"] == "en" and h["targets"] == ["ko", "zh"]
    mat = transfer_matrix(df)
    for t in ("ko", "zh"):
        r = h["per_language"][t]
        assert r["en_rm"] == mat.loc["en", t] and r["target_rm"] == mat.loc[t, t]
        assert r["diff"] == pytest.approx(r["en_rm"] - r["target_rm"], abs=1e-15)
        assert r["ci_low"] <= r["diff"] <= r["ci_high"]
        assert r["ci_low"] > 0                   # a clear skill gap is detected
    m = h["mean"]
    assert m["diff"] == pytest.approx(np.mean([h["per_language"][t]["diff"]
                                               for t in ("ko", "zh")]), abs=1e-15)
    assert m["ci_low"] <= m["diff"] <= m["ci_high"]
    # the mean over two targets is tighter than either target's own interval
    widths = [h["per_language"][t]["ci_high"] - h["per_language"][t]["ci_low"]
              for t in ("ko", "zh")]
    assert m["ci_high"] - m["ci_low"] < max(widths)
    assert json.loads(json.dumps(h)) == h
    # explicit targets, and errors
    assert headline(df, targets=["zh"], n_resamples=50)["targets"] == ["zh"]
    with pytest.raises(DataError):
        headline(df, targets=["es"], n_resamples=50)
    with pytest.raises(DataError):
        headline(df, source="es", n_resamples=50)
    # reusing the replicates gives the same answer
    boot = bootstrap_language_scores(df, n_resamples=300, seed=0)
    assert headline(df, boot=boot) == h


def test_bootstrap_handles_heads():
    base = pd.concat([synthetic(rms=("base",), langs=("ko",), seed=s).assign(head=s)
                      for s in range(3)], ignore_index=True)
    df = pd.concat([base, synthetic(rms=("en", "ko"), langs=("ko",))], ignore_index=True)
    ci = bootstrap_ci(df, n_resamples=200)
    row = ci[ci["rm"] == "base"].iloc[0]
    assert row["score"] == accuracy_report(df)["base"]["ko"]["score"]
    assert row["ci_low"] <= row["score"] <= row["ci_high"]


# ------------------------------------------------------------------ heatmap

def test_heatmap_is_byte_identical_across_calls(tmp_path):
    df = synthetic(rms=("en", "ko", "multi"))
    mat = transfer_matrix(df)
    ci = bootstrap_ci(df, n_resamples=100)
    p1 = heatmap(mat, tmp_path / "a.png", ci=ci, title="transfer")
    p2 = heatmap(mat, tmp_path / "sub" / "b.png", ci=ci, title="transfer")
    b1, b2 = p1.read_bytes(), p2.read_bytes()
    assert b1[:8] == b"\x89PNG\r\n\x1a\n"
    assert b1 == b2
    assert b"Software" not in b1
    # no CI, and a NaN cell, also work
    mat.loc["multi", "zh"] = np.nan
    p3 = heatmap(mat, tmp_path / "c.png")
    assert p3.read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ reading score files
def _write_scores(path, rm, languages):
    rows = [{"id": f"{lang}-{i}", "rm": rm, "language": lang, "subset": "math-prm",
             "chosen": 1.0, "rejected": 0.0} for lang in languages for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_read_scores_takes_only_listed_rms_and_languages(tmp_path):
    from xlrm.transfer import read_scores

    _write_scores(tmp_path / "base.jsonl", "base", ["en", "ko", "es"])
    _write_scores(tmp_path / "en.jsonl", "en", ["en", "ko", "es"])
    _write_scores(tmp_path / "es.jsonl", "es", ["en", "ko", "es"])  # left by an earlier run
    assert set(read_scores(tmp_path)["rm"]) == {"base", "en", "es"}
    picked = read_scores(tmp_path, ["base", "en"], ["en", "ko"])
    assert set(picked["rm"]) == {"base", "en"} and set(picked["language"]) == {"en", "ko"}
    with pytest.raises(DataError, match=r"ko\.jsonl.*no scores for RM 'ko'"):
        read_scores(tmp_path, ["base", "ko"])
    with pytest.raises(DataError, match=r"en\.jsonl.*field 'language'.*not scored on \['zh'\]"):
        read_scores(tmp_path, ["en"], ["en", "zh"])

"""Bootstrap intervals, the headline, the heatmap and the ``transfer`` stage."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from score_tables import rows, synthetic, table

from xlrm.errors import ConfigError, DataError
from xlrm.evaluation import bootstrap
from xlrm.evaluation.accuracy import accuracy_report, transfer_matrix
from xlrm.evaluation.bootstrap import (bootstrap_ci, bootstrap_language_scores,
                                       confidence_label, headline)
from xlrm.evaluation.config import TransferConfig
from xlrm.evaluation.heatmap import heatmap
from xlrm.evaluation.transfer import read_scores, scores_path, transfer_results
from xlrm.sections import load_config
from xlrm.tracking import tracking_uri

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ bootstrap

def test_resample_counts_preserve_stratum_size():
    w = bootstrap._resample_counts(np.random.default_rng(0), 7, 50)
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
    monkeypatch.setattr(bootstrap, "_resample_counts", lambda rng, n, b: np.ones((b, n)))
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
             "chosen_score": 1.0, "rejected_score": 0.0} for lang in languages for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_read_scores_takes_only_listed_rms_and_languages(tmp_path):
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


# ------------------------------------------------------------------ config and the stage's core

def test_transfer_config_checks_its_values():
    cfg = load_config(TransferConfig, {"confidence": 0.9, "bootstrap_resamples": 50}, "p: t")
    assert (cfg.confidence, cfg.bootstrap_resamples, cfg.source_language) == (0.9, 50, "en")
    for key, bad in (("confidence", 1.5), ("confidence", 0), ("bootstrap_resamples", 0),
                     ("seed", -1), ("source_language", "")):
        with pytest.raises(ConfigError, match=f"p: t: {key}"):
            load_config(TransferConfig, {key: bad}, "p: t")


def test_confidence_label_prints_the_level():
    assert confidence_label(0.95) == "95%"
    assert confidence_label(0.9) == "90%"
    assert confidence_label(0.975) == "97.5%"
    assert confidence_label(0.68) == "68%"


def test_transfer_results_headline_follows_the_configured_confidence():
    df = synthetic(rms=("en", "ko"), langs=("en", "ko"), skill={"en": 0.3})
    wide = transfer_results(TransferConfig(bootstrap_resamples=200, confidence=0.95), df)
    narrow = transfer_results(TransferConfig(bootstrap_resamples=200, confidence=0.5), df)
    assert wide.no_headline is None and "no_headline" not in wide.metrics
    w, n = wide.metrics["headline"], narrow.metrics["headline"]
    assert (w["confidence"], n["confidence"]) == (0.95, 0.5)
    assert w["mean"]["diff"] == n["mean"]["diff"]
    assert n["mean"]["ci_high"] - n["mean"]["ci_low"] < w["mean"]["ci_high"] - w["mean"]["ci_low"]
    assert ((narrow.ci["ci_high"] - narrow.ci["ci_low"]).to_numpy()
            < (wide.ci["ci_high"] - wide.ci["ci_low"]).to_numpy()).all()


@pytest.mark.parametrize("rms, why", [(("base", "ko", "zh"), "source language 'en'"),
                                      (("base", "en"), "no target language")])
def test_transfer_results_without_a_comparison_have_no_headline(rms, why):
    df = pd.concat([synthetic(rms=rms[1:], langs=("en", "ko", "zh")),
                    synthetic(rms=("base",), langs=("en", "ko", "zh"), seed=1)],
                   ignore_index=True)
    res = transfer_results(TransferConfig(bootstrap_resamples=20), df)
    assert "headline" not in res.metrics and why in res.metrics["no_headline"]
    assert res.no_headline == res.metrics["no_headline"]
    assert list(res.matrix.index) == list(rms)
    assert set(res.metrics["own_language"]) == set(rms[1:])
    assert set(res.metrics["base"]) == {"en", "ko", "zh"}


# ------------------------------------------------------------------ the stage, in process

def _transfer_stage():
    spec = importlib.util.spec_from_file_location("transfer_stage", REPO / "stages" / "transfer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_stage(tmp_path, rm_languages, confidence=None):
    scores = tmp_path / "scores"
    scores.mkdir()
    df = synthetic(rms=("base", *rm_languages), langs=("en", "ko"), n_per_subset=10,
                   skill={"en": 0.5})
    for rm, part in df.groupby("rm"):  # the eval_rms layout: base.jsonl, seed<S>/<lang>.jsonl
        path = scores_path(scores, rm, None if rm == "base" else 42)
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_json(path, orient="records", lines=True)
    section = {"bootstrap_resamples": 30}
    if confidence is not None:
        section["confidence"] = confidence
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"transfer": section, "rm_languages": list(rm_languages),
                                  "rm_seeds": [42], "eval_languages": ["en", "ko"]}),
                      encoding="utf-8")
    out = {name: tmp_path / name for name in ("m.csv", "c.csv", "d.csv", "h.png", "t.json")}
    stage = _transfer_stage()
    stage.STAGE.run(stage.main, ["--params", str(params), "--scores-dir", str(scores),
                                 "--matrix", str(out["m.csv"]), "--categories", str(out["c.csv"]),
                                 "--category-diff", str(out["d.csv"]),
                                 "--heatmap", str(out["h.png"]), "--metrics", str(out["t.json"])])
    assert all(p.is_file() for p in out.values()) and (tmp_path / "m_ci.csv").is_file()
    return json.loads(out["t.json"].read_text())


def test_stage_without_the_source_rm_writes_everything_and_explains(tmp_path, capsys):
    metrics = _run_stage(tmp_path, ["ko"])
    assert "headline" not in metrics and "'en'" in metrics["no_headline"]
    assert set(metrics["own_language"]) == {"ko"} and set(metrics["base"]) == {"en", "ko"}
    assert capsys.readouterr().out.strip().startswith("no headline: no RM trained on the source")
    client = MlflowClient(tracking_uri())
    [run] = client.search_runs([client.get_experiment_by_name("xlrm").experiment_id])
    assert run.info.run_name == "transfer" and run.info.status == "FINISHED"
    assert run.data.params["rm_languages"] == "['ko']"
    assert run.data.metrics["transfer.own_language.ko"] == metrics["own_language"]["ko"]
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert artifacts == {"m.csv", "c.csv", "d.csv", "h.png", "t.json"}
    # no comparison: the category differences have a header and no rows
    assert pd.read_csv(tmp_path / "d.csv").empty and "category_diff" not in metrics
    assert metrics["eval_pairs"] == {"en": 50, "ko": 50} and metrics["rm_seeds"] == 1


def test_stage_prints_the_configured_confidence(tmp_path, capsys):
    metrics = _run_stage(tmp_path, ["en", "ko"], confidence=0.9)
    assert metrics["headline"]["confidence"] == 0.9 and metrics["headline"]["targets"] == ["ko"]
    diff = pd.read_csv(tmp_path / "d.csv")
    assert set(diff["target"]) == {"ko", "mean"} and len(diff) == 2 * 4
    assert metrics["category_diff"]["per_language"]["ko"]["chat"]["diff"] == pytest.approx(
        float(diff[(diff["target"] == "ko") & (diff["category"] == "chat")]["diff"].iloc[0]))
    out = capsys.readouterr().out
    assert "(90% CI " in out and "95%" not in out

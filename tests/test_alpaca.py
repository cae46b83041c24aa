"""AlpacaEval metrics and judges (offline: local HTTP server, tiny random models)."""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data
from fake_openai import chat_reply, token_logprobs, user_message

from xlrm.errors import ConfigError
from xlrm.judges.base import JUDGES, JudgeError, make_judge
from xlrm.judges.config import JudgeConfig
from xlrm.judges.hf import HFJudge
from xlrm.judges.openai import OpenAIJudge
from xlrm.judges.prompts import judge_messages, parse_label
from xlrm.judges.rm import RMJudge
from xlrm.langid import LanguageChecker
from xlrm.sections import load_config
from xlrm.tracking import EFFECTIVE
from xlrm.winrate import (fit_length_glm, language_fidelity, length_controlled_minimal,
                          summarize, win_rate_metrics)

def _alpaca(*parts: str) -> Path:
    """A file of the AlpacaEval results under ../shared/data (skips when absent)."""
    return shared_data("alpaca-eval", *parts)


def _leaderboard_row(name: str) -> dict[str, str]:
    with _alpaca("weighted_alpaca_eval_gpt4_turbo_leaderboard.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row[""] == name:
                return row
    raise AssertionError(f"{name} not in the leaderboard")


# =========================================================================== metrics


@pytest.mark.parametrize("model", ["alpaca-7b", "phi-2"])
def test_leaderboard_win_rate_reproduced_from_annotations(model):
    annotations = json.loads(_alpaca("results", model, "annotations.json").read_text("utf-8"))
    row = _leaderboard_row(model)
    prefs = [a["preference"] for a in annotations]
    got = win_rate_metrics(prefs)
    assert got["win_rate"] == pytest.approx(float(row["win_rate"]), abs=1e-9, rel=0)
    assert got["standard_error"] == pytest.approx(float(row["standard_error"]), abs=1e-9, rel=0)
    assert got["discrete_win_rate"] == pytest.approx(float(row["discrete_win_rate"]), abs=1e-9,
                                                     rel=0)
    for key in ("n_wins", "n_wins_base", "n_draws", "n_total"):
        assert got[key] == int(row[key]), key
    assert got["n_missing"] == 0
    assert got["n_total"] == len(annotations)  # phi-2: 803 rows, all of them count

    summary = summarize(prefs, [a["output_2"] for a in annotations],
                        [a["output_1"] for a in annotations])
    assert summary["win_rate"] == got["win_rate"]
    assert 0 < summary["length_controlled_minimal"] < 100
    if model == "alpaca-7b":  # phi-2's published figure counts 805 outputs, 2 absent here
        assert summary["avg_length"] == int(row["avg_length"])


def test_length_glm_matches_sklearn_soft_label_fit():
    """The IRLS fit equals an unregularised fit on AlpacaEval's duplicated-rows encoding."""
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    annotations = json.loads(_alpaca("results", "alpaca-7b", "annotations.json")
                             .read_text("utf-8"))
    p = np.array([a["preference"] for a in annotations])
    lm = np.array([len(a["output_2"]) for a in annotations], dtype=float)
    lr = np.array([len(a["output_1"]) for a in annotations], dtype=float)
    glm = fit_length_glm(p, lm, lr)
    assert glm.converged and glm.n_fit == len(p)
    s = (lm - lr) / np.std(lm - lr, ddof=1)
    X = np.column_stack([np.tanh(s), np.ones(len(p))])
    y = p - 1
    ref = sklearn_lm.LogisticRegression(C=1e12, fit_intercept=False, tol=1e-12, max_iter=10_000)
    ref.fit(np.vstack([X, X]), np.r_[np.ones(len(y)), np.zeros(len(y))],
            sample_weight=np.r_[y, 1 - y])
    assert glm.length_coef == pytest.approx(ref.coef_[0, 0], rel=1e-5)
    assert glm.baseline == pytest.approx(ref.coef_[0, 1], rel=1e-5)
    assert glm.win_rate == pytest.approx(100 / (1 + math.exp(-ref.coef_[0, 1])), rel=1e-6)


def test_win_rate_discrete_and_draws_by_hand():
    prefs = [2.0, 1.0, 1.5, 1.8, 1.2, 1.6, None, float("nan"), 0]
    got = win_rate_metrics(prefs)
    # kept: 2, 1, 1.5, 1.8, 1.2, 1.6, 1.5 (legacy 0 = draw); missing: None and NaN
    soft = np.array([1, 0, 0.5, 0.8, 0.2, 0.6, 0.5])
    assert got["n_total"] == 7 and got["n_missing"] == 2
    assert got["win_rate"] == pytest.approx(soft.mean() * 100)
    assert got["standard_error"] == pytest.approx(soft.std(ddof=1) / math.sqrt(7) * 100)
    assert (got["n_wins"], got["n_wins_base"], got["n_draws"]) == (3, 2, 2)
    # rounded: 1, 0, draw, 1, 0, 1, draw
    assert got["discrete_win_rate"] == pytest.approx((3 + 2 / 2) / 7 * 100)

    one = win_rate_metrics([1.7])
    assert one["win_rate"] == pytest.approx(70) and math.isnan(one["standard_error"])
    none = win_rate_metrics([None, None])
    assert none["n_total"] == 0 and math.isnan(none["win_rate"])
    with pytest.raises(ValueError, match="in \\[1, 2\\]"):
        win_rate_metrics([1.5, 2.5])


def test_length_controlled_equals_win_rate_for_equal_lengths():
    rng = np.random.default_rng(0)
    prefs = 1 + rng.uniform(size=40)
    texts = ["x" * 50] * 40
    summary = summarize(prefs, texts, ["y" * 50] * 40)
    assert summary["length_controlled_minimal"] == pytest.approx(summary["win_rate"], abs=1e-9)
    assert summary["lc_length_coef"] == 0.0
    # constant non-zero length differences: every answer is longer, equal length is never seen
    assert length_controlled_minimal(prefs, [60] * 40, [50] * 40) is None
    # degenerate labels: the maximum-likelihood rate is the limit 0 (or 100)
    assert length_controlled_minimal([1.0] * 5, [1, 2, 3, 4, 5], [3] * 5) == 0.0
    assert length_controlled_minimal([2.0] * 5, [1, 2, 3, 4, 5], [3] * 5) == 100.0


def test_length_controlled_discounts_wins_of_longer_answers():
    offsets = (10, 40, 90, 160)
    # the judge prefers whichever output is longer; most model outputs are the longer one
    longer_model = [100 + d for d in offsets] * 3 + [100 - d for d in offsets]
    prefs = [1.9 if n > 100 else 1.1 for n in longer_model]
    raw = win_rate_metrics(prefs)["win_rate"]
    glm = fit_length_glm(prefs, longer_model, [100] * len(prefs))
    assert glm.converged and glm.length_coef > 0
    assert glm.win_rate < raw - 5
    # the mirror image: mostly shorter model outputs, so controlling for length helps it
    shorter_model = [200 - n for n in longer_model]
    prefs2 = [1.9 if n > 100 else 1.1 for n in shorter_model]
    raw2 = win_rate_metrics(prefs2)["win_rate"]
    assert length_controlled_minimal(prefs2, shorter_model, [100] * len(prefs2)) > raw2 + 5
    # missing preferences are left out of the fit but not of the length scale
    with_missing = [*prefs, None]
    assert fit_length_glm(with_missing, [*longer_model, 100], [100] * (len(prefs) + 1)).n_fit \
        == len(prefs)


def test_language_fidelity():
    checker = LanguageChecker(["es"])
    texts = ["Hoy hace muy buen tiempo, así que vamos a caminar hasta el parque con amigos.",
             "The weather is lovely today, so we are going to walk to the park with friends.",
             "Sí."]
    assert language_fidelity(texts, "es", checker) == pytest.approx(2 / 3)
    assert math.isnan(language_fidelity([], "es", checker))


# =========================================================================== config, prompt


def _judge_cfg(data: dict) -> JudgeConfig:
    return load_config(JudgeConfig, data, "eval_alpaca.judge")


def test_judge_config_and_registry():
    assert set(JUDGES) == {"openai", "hf", "rm"}
    cfg = _judge_cfg({"kind": "openai", "model": "judge", "top_logprobs": 3,
                      "temperature": 0, "max_input_tokens": None})
    assert cfg.top_logprobs == 3 and isinstance(cfg.temperature, float)
    with pytest.raises(ConfigError, match="unknown key"):  # both orders: no order seed
        _judge_cfg({"kind": "openai", "seed": 3})
    with pytest.raises(ConfigError, match="eval_alpaca.judge: unknown key"):
        _judge_cfg({"kind": "openai", "modle": "x"})
    with pytest.raises(ConfigError, match="must be one of"):
        _judge_cfg({"kind": "gpt"})
    with pytest.raises(ConfigError, match="output_b"):
        _judge_cfg({"kind": "hf", "prompt_template": "{instruction} {output_a}"})
    with pytest.raises(ConfigError, match="unknown or malformed field"):
        _judge_cfg({"kind": "hf", "prompt_template": "{instruction} {output_a} {output_b} {lang}"})
    with pytest.raises(ConfigError, match="top_logprobs"):
        _judge_cfg({"kind": "openai", "top_logprobs": 50})
    with pytest.raises(ConfigError, match="model is empty"):
        make_judge(JudgeConfig(kind="openai"))


def test_prompt_order_and_label_parsing():
    cfg = JudgeConfig(kind="openai", model="m")
    msgs = judge_messages("¿Qué hora es?", "uno", "dos", cfg, language="es")
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "Spanish" in user and user.index("uno") < user.index("dos")
    assert "Spanish" not in judge_messages("q", "a", "b", JudgeConfig(
        kind="openai", mention_language=False), language="es")[1]["content"]
    for text, want in [("A", 0), (" B", 1), ("**B**", 1), ("Response A.", 0), ("Output: B", 1),
                       ("\"A\"", 0), ("a", None), ("Both are fine", None), ("", None),
                       ("C", None)]:
        assert parse_label(text) == want, text


# =========================================================================== openai

SECRET = "sk-judge-SECRET-424242"
MARKER = "PINEAPPLE"


def _judge_handler(mode: str = "logprobs", preferred: list[str] | None = None):
    """A fake OpenAI-compatible judge (tests/fake_openai.py) that prefers the output
    containing MARKER, recording the preferred label in ``preferred``.

    ``mode``: ``logprobs`` (top_logprobs with P(preferred) = 0.8), ``text`` (only the
    label as text), ``text-noise`` (an unparseable reply), ``no-labels`` (logprobs without
    either label, text label as fallback).
    """

    def handle(body: dict) -> dict:
        part_a, _ = user_message(body).split("\n\nResponse B:\n", 1)
        label = "A" if MARKER in part_a.split("Response A:\n", 1)[1] else "B"
        other = "B" if label == "A" else "A"
        if preferred is not None:
            preferred.append(label)
        if mode == "logprobs":
            assert body["logprobs"] is True and body["top_logprobs"] == 5
            return chat_reply(label, finish_reason="length", logprobs=token_logprobs(
                [(label, 0.7), (" " + label, 0.1), (other, 0.2), ("The", 1e-4)]))
        if mode == "no-labels":
            return chat_reply(f"Response {label}", finish_reason="length", logprobs={
                "content": [{"token": "Response", "logprob": -0.1, "top_logprobs": []}]})
        if mode == "text-noise":
            return chat_reply("I cannot decide between them.", finish_reason="length")
        return chat_reply(label, finish_reason="length")

    return handle


def _oa_cfg(url: str, **kw) -> JudgeConfig:
    base = {"kind": "openai", "base_url": url, "model": "tiny-judge",
            "api_key_env": "XLRM_TEST_JUDGE_KEY", "backoff_s": 0.01, "max_retries": 2,
            "concurrency": 4, "timeout_s": 10}
    return _judge_cfg({**base, **kw})


def _items(n: int = 16) -> tuple[list[str], list[str], list[str], list[bool]]:
    """Instructions with the marker in the model answer for even i, in the reference for odd."""
    ins = [f"Escribe una frase número {i} sobre el mar." for i in range(n)]
    model_wins = [i % 2 == 0 for i in range(n)]
    outs = [f"Respuesta del modelo {i} {MARKER if w else ''}" for i, w in enumerate(model_wins)]
    refs = [f"Respuesta de referencia {i} {'' if w else MARKER}"
            for i, w in enumerate(model_wins)]
    return ins, outs, refs, model_wins


def test_openai_judge_logprobs_undo_the_order(monkeypatch, caplog, fake_openai):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("XLRM_TEST_JUDGE_KEY", SECRET)
    ins, outs, refs, model_wins = _items()
    # an identical pair is a draw and is never sent
    ins.append("Di hola.")
    outs.append("Hola.")
    refs.append("Hola.  ")
    preferred: list[str] = []
    # one 503 first, retried
    srv = fake_openai(_judge_handler("logprobs", preferred), require_key=SECRET, fail_first=1)
    judge = make_judge(_oa_cfg(srv.url))
    assert isinstance(judge, OpenAIJudge)
    prefs, stats = judge.judge(ins, outs, refs, language="es")
    # both orders of each of the 16 different pairs, plus the 503 retried
    assert srv.count == 2 * 16 + 1 and set(srv.auth) == {f"Bearer {SECRET}"}
    assert preferred.count("A") == preferred.count("B") == 16
    shown = {(b["messages"][1]["content"].split("Response A:\n")[1].split("\n\n")[0])
             for b in srv.requests}
    assert all(o in shown and r in shown for o, r in zip(outs[:16], refs[:16]))
    # P(preferred) = 0.7 + 0.1 (" A" counts as A), P(other) = 0.2, in either order
    want = [1.8 if w else 1.2 for w in model_wins] + [1.5]
    np.testing.assert_allclose(prefs, want, atol=1e-12)
    assert stats["identical"] == 1 and stats["judged"] == 16 and stats["from_logprobs"] == 32
    assert stats["retries"] == 1 and stats["requests_failed"] == 0 and stats["missing"] == 0
    quality = stats["order_quality"]
    assert quality["flip_share"] == 0 and quality["position_consistency"] == 1
    assert quality["first_shown_win_share"] == 0.5 and quality["n_queries"] == 32
    body = srv.requests[-1]
    assert body["model"] == "tiny-judge" and "Spanish" in body["messages"][1]["content"]
    # the effective configuration names the endpoint and the key's variable, never the key
    effective = EFFECTIVE["judge.openai"]
    assert effective["url"] == srv.url + "/chat/completions" and effective["top_logprobs"] == 5
    assert effective["api_key_env"] == "XLRM_TEST_JUDGE_KEY"
    assert SECRET not in json.dumps(stats) + json.dumps(effective) + caplog.text


def test_openai_judge_text_fallback_and_unparseable(monkeypatch, fake_openai):
    monkeypatch.delenv("XLRM_TEST_JUDGE_KEY", raising=False)
    ins, outs, refs, model_wins = _items(10)
    srv = fake_openai(_judge_handler("text"))
    prefs, stats = make_judge(_oa_cfg(srv.url)).judge(ins, outs, refs)
    assert all(a is None for a in srv.auth)  # no key set: no Authorization header
    assert list(prefs) == [2.0 if w else 1.0 for w in model_wins]
    assert stats["from_text"] == 20 and stats["from_logprobs"] == 0
    srv = fake_openai(_judge_handler("no-labels"))
    prefs, stats = make_judge(_oa_cfg(srv.url)).judge(ins, outs, refs)
    assert list(prefs) == [2.0 if w else 1.0 for w in model_wins]
    assert stats["from_text"] == 20
    srv = fake_openai(_judge_handler("text-noise"))
    prefs, stats = make_judge(_oa_cfg(srv.url, logprobs=False)).judge(ins, outs, refs)
    assert "logprobs" not in srv.requests[0]
    assert np.isnan(prefs).all() and stats["unparseable"] == 20 and stats["missing"] == 10
    assert stats["order_quality"]["unparseable_share"] == 1
    assert math.isnan(win_rate_metrics(prefs)["win_rate"])


def test_openai_judge_never_leaks_key(monkeypatch, caplog, fake_openai):
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-JUDGE-777"
    monkeypatch.setenv("XLRM_TEST_JUDGE_KEY", wrong)
    ins, outs, refs, _ = _items(3)
    srv = fake_openai(_judge_handler(), require_key=SECRET)
    with pytest.raises(JudgeError) as info:
        make_judge(_oa_cfg(srv.url)).judge(ins, outs, refs)
    assert f"Bearer {wrong}" in srv.auth  # the server did receive it (and echoed it)
    assert "401" in str(info.value)
    for text in (str(info.value), repr(info.value), caplog.text):
        assert wrong not in text
    # nothing listens: every request fails after its retries -> a clear error
    dead = fake_openai(_judge_handler())
    dead.close()
    with pytest.raises(JudgeError, match="failed"):
        make_judge(_oa_cfg(dead.url, max_retries=1)).judge(ins, outs, refs)
    assert wrong not in caplog.text


# =========================================================================== hf


def test_hf_judge_on_tiny_model(tiny_base):
    import torch
    from transformers import AutoModelForCausalLM

    from xlrm.modeling import load_tokenizer

    ins, outs, refs, _ = _items(7)
    outs[3] = refs[3]  # identical -> 1.5
    cfg = _judge_cfg({"kind": "hf", "model": str(tiny_base), "batch_size": 3,
                      "device": "cpu", "dtype": "float32"})
    judge = make_judge(cfg)
    assert isinstance(judge, HFJudge)
    prefs, stats = judge.judge(ins, outs, refs, language="es")
    assert prefs.shape == (7,) and prefs[3] == 1.5 and stats["identical"] == 1
    effective = EFFECTIVE["judge.hf"]
    assert (effective["device"], effective["dtype"]) == ("cpu", "float32")
    assert effective["prompt_template"] == cfg.prompt_template
    assert effective["label_token_ids"] == judge._label_ids
    assert np.all((prefs >= 1) & (prefs <= 2)) and stats["missing"] == 0
    again, _ = judge.judge(ins, outs, refs, language="es")
    np.testing.assert_array_equal(prefs, again)  # deterministic

    # the same model passed in, one comparison per batch: same numbers (padding is neutral)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    tok = load_tokenizer(tiny_base)
    single = HFJudge(JudgeConfig(kind="hf", batch_size=1), model=model, tokenizer=tok)
    one_by_one, _ = single.judge(ins, outs, refs, language="es")
    np.testing.assert_allclose(one_by_one, prefs, atol=1e-5)

    # a direct computation for the first item, in both orders
    p_model = []
    for a, b, model_label in ((outs[0], refs[0], 0), (refs[0], outs[0], 1)):
        text = tok.apply_chat_template(judge_messages(ins[0], a, b, cfg, "es"), tokenize=False,
                                       add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            probs = torch.softmax(model(input_ids=ids).logits[0, -1].float(), dim=-1)
        p_lab = [sum(float(probs[t]) for t in ids_) for ids_ in single._label_ids]
        p_model.append(p_lab[model_label] / sum(p_lab))
    assert prefs[0] == pytest.approx(1 + (p_model[0] + p_model[1]) / 2, abs=1e-5)
    assert stats["order_quality"]["n_queries"] == 12

    # prompts over max_input_tokens are not judged
    short = HFJudge(JudgeConfig(kind="hf", max_input_tokens=5), model=model, tokenizer=tok)
    prefs_short, stats_short = short.judge(ins, outs, refs)
    assert stats_short["too_long"] == 12 and np.isnan(prefs_short).sum() == 6


# =========================================================================== rm


def test_rm_judge_is_one_plus_sigmoid_of_the_margin(tiny_base, tmp_path):
    from xlrm.modeling import load_seqcls, load_tokenizer
    from xlrm.reward.score import score_pairs

    ins, outs, refs, _ = _items(5)
    outs[2] = refs[2]
    model = load_seqcls(tiny_base, seed=0).eval()
    tok = load_tokenizer(tiny_base)
    judge = make_judge(JudgeConfig(kind="rm"), model=model, tokenizer=tok)
    assert isinstance(judge, RMJudge)
    prefs, stats = judge.judge(ins, outs, refs)
    keep = [0, 1, 3, 4]
    rows = [{"prompt": [{"role": "user", "content": ins[i]}], "chosen": outs[i],
             "rejected": refs[i]} for i in keep]
    c, r, _ = score_pairs(model, tok, rows)
    np.testing.assert_allclose(prefs[keep], 1 + 1 / (1 + np.exp(-(c - r))), rtol=0, atol=1e-9)
    assert prefs[2] == 1.5 and stats["identical"] == 1
    assert np.all((prefs >= 1) & (prefs <= 2))

    # loaded from a folder, as the stage does
    model.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    from_dir, _ = make_judge(JudgeConfig(kind="rm", model=str(tmp_path / "rm"),
                                         device="cpu")).judge(ins, outs, refs)
    np.testing.assert_allclose(from_dir, prefs, atol=1e-6)
    effective = EFFECTIVE["judge.rm"]  # dtype "auto" is float32 on the CPU
    assert (effective["device"], effective["dtype"]) == ("cpu", "float32")

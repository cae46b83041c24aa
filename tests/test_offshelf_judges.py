"""Off-the-shelf generative judges: the both-orders encoding, a tiny local judge, and an
OpenAI-compatible judge against the fake server (tests/fake_openai.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from fake_judge import FakeJudge
from fake_openai import chat_reply, token_logprobs, user_message

from xlrm.evaluation.accuracy import accuracy_report
from xlrm.offshelf.config import (OFFSHELF_PROMPT_TEMPLATE, OFFSHELF_SYSTEM_PROMPT,
                                  EvalOffshelfConfig, JudgeSpec)
from xlrm.judges.hf import HFJudge
from xlrm.judges.openai import OpenAIJudge
from xlrm.offshelf.pair_judges import (both_orders_scores, conversation_text, judge_eval_sets,
                                       make_pair_judge, order_verdict, pair_outcome)
from xlrm.offshelf.run import run_offshelf
from xlrm.sections import load_config
from xlrm.tracking import EFFECTIVE


@pytest.fixture(scope="module")
def small_sets(seed_rows) -> dict[str, list[dict]]:
    """Four pairs of each of two subsets per language (keeps the judge tests quick)."""
    by_lang: dict[str, list[dict]] = {}
    for row in seed_rows:
        by_lang.setdefault(row["language"], []).append(row)
    return {lang: [r for r in rows if r["subset"] == "seed-math"][:4]
            + [r for r in rows if r["subset"] == "seed-safety-refuse"][:4]
            for lang, rows in by_lang.items()}


def _accuracy(rows: list[dict], name: str) -> dict[str, float]:
    return {lang: rec["score"] for lang, rec in accuracy_report(pd.DataFrame(rows))[name].items()}


# =========================================================================== encoding


def test_both_orders_encoding_is_strict():
    # the strict > scorer on the encoding == "chosen won both orders"
    for v1 in ("chosen", "rejected", "tie", None):
        for v2 in ("chosen", "rejected", "tie", None):
            c, r = both_orders_scores([v1, v2])
            assert (c > r) == (v1 == v2 == "chosen")
    assert order_verdict(0.9, chosen_is_a=True) == "chosen"
    assert order_verdict(0.9, chosen_is_a=False) == "rejected"
    assert order_verdict(0.5, chosen_is_a=True) == "tie"
    assert order_verdict(math.nan, chosen_is_a=True) is None
    assert pair_outcome(["chosen", "rejected"]) == "inconsistent"
    assert pair_outcome(["tie", "chosen"]) == "tie"
    assert pair_outcome(["chosen", None]) == "unparseable"
    assert conversation_text([{"role": "user", "content": "hi"}]) == "hi"
    assert conversation_text([{"role": "user", "content": "a"},
                              {"role": "assistant", "content": "b"},
                              {"role": "user", "content": "c"}]) == \
        "User: a\n\nAssistant: b\n\nUser: c"


def test_fake_judges_always_a_perfect_tie_and_silent(small_sets):
    chosen = {r["chosen"] for rows in small_sets.values() for r in rows}
    n = sum(len(v) for v in small_sets.values())

    always_a = FakeJudge(lambda i, a, b: 1.0)
    rows, st = judge_eval_sets(always_a, small_sets, "always-a")
    assert len(always_a.queries) == 2 * n  # every pair asked in both orders
    first = {(i, a, b) for i, a, b in always_a.queries}
    assert all((i, b, a) in first for i, a, b in always_a.queries)
    assert st["n_inconsistent"] == n and st["n_correct"] == 0
    assert all(v == 0.0 for v in _accuracy(rows, "always-a").values())
    assert all(r["chosen_score"] == 1 and r["rejected_score"] == 1 for r in rows)

    perfect = FakeJudge(lambda i, a, b: 1.0 if a in chosen else 0.0)
    rows, st = judge_eval_sets(perfect, small_sets, "perfect")
    assert st["n_correct"] == n and st["n_inconsistent"] == 0
    assert all(v == 1.0 for v in _accuracy(rows, "perfect").values())
    assert all(r["p_chosen"] == [1.0, 1.0] for r in rows)

    inverted = FakeJudge(lambda i, a, b: 0.0 if a in chosen else 1.0)
    _, st = judge_eval_sets(inverted, small_sets, "inverted")
    assert st["n_wrong"] == n

    # soft: right with 0.6 when chosen is A, a tie when it is B -> tie, wrong
    soft = FakeJudge(lambda i, a, b: 0.6 if a in chosen else 0.5)
    rows, st = judge_eval_sets(soft, small_sets, "soft")
    assert st["n_tie"] == n and st["n_queries_tie"] == n
    assert all(v == 0.0 for v in _accuracy(rows, "soft").values())

    # no verdict in one order: counted as unparseable, and wrong
    half = FakeJudge(lambda i, a, b: 1.0 if a in chosen else math.nan)
    rows, st = judge_eval_sets(half, small_sets, "half")
    assert st["n_unparseable"] == n and st["n_queries_unparseable"] == n
    assert all(r["p_chosen"][1] is None for r in rows)
    assert all(v == 0.0 for v in _accuracy(rows, "half").values())


# =========================================================================== hf judge


def test_hf_judge_on_tiny_model_both_orders(tiny_base, small_sets, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from xlrm.judges.prompts import judge_messages
    from xlrm.modeling import load_tokenizer

    spec = JudgeSpec(name="tiny-judge", kind="hf", model=str(tiny_base), batch_size=4,
                     device="cpu", dtype="float32")
    judge = make_pair_judge(spec)
    assert isinstance(judge, HFJudge)
    rows, st = judge_eval_sets(judge, small_sets, "tiny-judge")
    n = sum(len(v) for v in small_sets.values())
    assert st["n_pairs"] == n and st["n_queries"] == 2 * n and st["n_unparseable"] == 0
    assert sum(st[f"n_{o}"] for o in ("correct", "wrong", "inconsistent", "tie",
                                      "unparseable")) == n
    for r in rows:
        assert r["verdicts"] == [order_verdict(r["p_chosen"][0], True),
                                 order_verdict(1 - r["p_chosen"][1], False)]
        assert (r["chosen_score"] > r["rejected_score"]) == (r["verdicts"] == ["chosen"] * 2)
    effective = EFFECTIVE["judge.tiny-judge"]
    assert effective["prompt_template"] == OFFSHELF_PROMPT_TEMPLATE
    assert (effective["kind"], effective["dtype"], effective["mention_language"]) == \
        ("hf", "float32", False)
    again, _ = judge_eval_sets(judge, small_sets, "tiny-judge")
    assert [r["p_chosen"] for r in again] == [r["p_chosen"] for r in rows]  # deterministic

    # a direct computation of the first pair, rejected shown first (order 2)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    tok = load_tokenizer(tiny_base)
    pair = small_sets["en"][0]
    text = tok.apply_chat_template(
        judge_messages(pair["prompt"][0]["content"], pair["rejected"], pair["chosen"], spec),
        tokenize=False, add_generation_prompt=True)
    assert "[Reply A]" in text and OFFSHELF_SYSTEM_PROMPT[:40] in text
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1].float(), dim=-1)
    label_ids = judge._label_ids
    p_a, p_b = (sum(float(probs[t]) for t in ids_) for ids_ in label_ids)
    first = next(r for r in rows if r["language"] == "en" and r["id"] == pair["id"])
    assert first["p_chosen"][1] == pytest.approx(p_b / (p_a + p_b), abs=1e-5)

    # the same model passed in: the stage core accepts it through judge_kwargs
    cfg = EvalOffshelfConfig(judges=[spec])
    metrics = run_offshelf(cfg, small_sets, scores_dir=tmp_path / "s",
                           matrix_csv=tmp_path / "m.csv", metrics_json=tmp_path / "m.json",
                           judge_kwargs={"tiny-judge": {"model": model, "tokenizer": tok}})
    m = metrics["models"]["tiny-judge"]
    assert m["n_pairs"] == n and "n_inconsistent" in m and "n_unparseable" in m
    assert set(m["per_language"]) == {"en", "es", "ko"}
    saved = [json.loads(x) for x in (tmp_path / "s" / "tiny-judge.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([r["p_chosen"] for r in saved], [r["p_chosen"] for r in rows],
                               atol=1e-5)


# =========================================================================== openai judge


def _pair_handler(chosen: set[str], mode: str):
    """A fake OpenAI-compatible pair judge (tests/fake_openai.py).

    ``mode``: ``perfect`` names the reply holding a chosen text, ``always-a`` says A,
    ``noise`` answers no label, ``logprobs`` is perfect with 0.8/0.2 label log-probabilities.
    """

    def handle(body: dict) -> dict:
        reply_a = user_message(body).split("[Reply A]\n", 1)[1].split("\n\n[Reply B]\n", 1)[0]
        good = "A" if reply_a in chosen else "B"
        other = "B" if good == "A" else "A"
        if mode == "always-a":
            return chat_reply("A")
        if mode == "noise":
            return chat_reply("Both replies have merit.")
        if mode == "logprobs":
            return chat_reply(good, logprobs=token_logprobs([(good, 0.8), (other, 0.2)]))
        return chat_reply(good)

    return handle


@pytest.mark.parametrize("mode", ["perfect", "logprobs", "always-a", "noise"])
def test_openai_judge_against_a_local_server(small_sets, mode, fake_openai):
    chosen = {r["chosen"] for rows in small_sets.values() for r in rows}
    n = sum(len(v) for v in small_sets.values())
    server = fake_openai(_pair_handler(chosen, mode))
    spec = load_config(JudgeSpec, {"name": "local", "kind": "openai", "model": "pair-judge",
                                   "base_url": server.url, "concurrency": 4, "backoff_s": 0.01,
                                   "max_retries": 1, "timeout_s": 10,
                                   "logprobs": mode == "logprobs"}, "eval_offshelf.judges[0]")
    judge = make_pair_judge(spec)
    assert isinstance(judge, OpenAIJudge)
    rows, st = judge_eval_sets(judge, small_sets, "local")
    assert server.count == 2 * n
    assert EFFECTIVE["judge.local"]["system_prompt"] == OFFSHELF_SYSTEM_PROMPT
    req = server.requests[0]
    assert req["model"] == "pair-judge" and req["messages"][0]["content"] == OFFSHELF_SYSTEM_PROMPT
    assert ("logprobs" in req) == (mode == "logprobs")
    # each pair is asked in both orders: every prompt's swapped twin was asked too
    shown = {b["messages"][1]["content"] for b in server.requests}
    for text in shown:
        head, rest = text.split("[Reply A]\n", 1)
        a, rest = rest.split("\n\n[Reply B]\n", 1)
        b, tail = rest.split("\n\nWhich reply", 1)
        assert f"{head}[Reply A]\n{b}\n\n[Reply B]\n{a}\n\nWhich reply{tail}" in shown
    acc = _accuracy(rows, "local")
    if mode in ("perfect", "logprobs"):
        assert st["n_correct"] == n and all(v == 1.0 for v in acc.values())
        if mode == "logprobs":
            assert st["from_logprobs"] == 2 * n
            assert all(r["p_chosen"] == pytest.approx([0.8, 0.8]) for r in rows)
        else:
            assert st["from_text"] == 2 * n
    elif mode == "always-a":
        assert st["n_inconsistent"] == n and all(v == 0.0 for v in acc.values())
    else:
        assert st["n_unparseable"] == n and st["unparseable"] == 2 * n
        assert st["n_queries_unparseable"] == 2 * n and all(v == 0.0 for v in acc.values())

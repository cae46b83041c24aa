"""Both orders, head-to-head preferences, order quality, the M-RewardBench judge score and
the persistent verdict cache (xlrm/judges/orders.py, xlrm/judges/cache.py)."""

from __future__ import annotations

import json
import math
import shutil
import threading

import numpy as np
import pytest
from fake_judge import FakeJudge
from fake_openai import chat_reply, user_message

from xlrm.judges.base import JudgeError, make_judge
from xlrm.judges.cache import cache_root, folder_digest, open_cache
from xlrm.judges.config import JudgeConfig
from xlrm.judges.orders import (BothOrders, ask_both_orders, merge_quality, order_quality,
                                preference)
from xlrm.offshelf.run import offshelf_metrics
from xlrm.sections import load_config
from xlrm.winrate import win_rate_metrics

# =========================================================================== fake judge


def _quality(text: str) -> int:
    return int(text.rsplit(" ", 1)[1])


def _biased(i: str, a: str, b: str) -> float:
    """Knows which answer is better (the higher number) but leans to A: 0.8 when A is
    better, 0.3 when B is; no verdict when an answer says 'silence'."""
    if "silence" in a or "silence" in b:
        return math.nan
    return 0.8 if _quality(a) > _quality(b) else 0.3


def test_head_to_head_equals_hand_computed_preferences_and_asks_both_orders():
    ins = ["q0", "q1", "q2", "q3"]
    x = ["answer 5", "answer 1", "same 2", "answer 4"]
    y = ["answer 2", "answer 3", "same 2 ", "answer 1"]
    judge = FakeJudge(_biased)
    prefs, stats = judge.head_to_head(ins, x, y, "en")
    # q0: x better: x as A -> 0.8; y as A -> P(A) 0.3, so P(x) 0.7 -> 1 + 0.75
    # q1: y better: x as A -> 0.3; y as A -> 0.8, so P(x) 0.2 -> 1 + 0.25
    # q2: identical after strip -> 1.5, never asked; q3 like q0
    np.testing.assert_allclose(prefs, [1.75, 1.25, 1.5, 1.75], atol=1e-12)
    assert win_rate_metrics(prefs)["win_rate"] == pytest.approx(56.25)
    asked = [(i, a, b) for i, a, b in judge.queries]
    assert len(asked) == 6 and ("q2", "same 2", "same 2 ") not in asked
    for i, a, b in zip(ins, x, y):
        if i != "q2":
            assert asked.count((i, a, b)) == 1 and asked.count((i, b, a)) == 1
    assert stats["identical"] == 1 and stats["judged"] == 3 and stats["missing"] == 0
    q = stats["order_quality"]
    assert q["n_queries"] == 6 and q["flip_share"] == 0 and q["position_consistency"] == 1
    # verdicts won by the output shown first: q0/q3 first order (x, better) and the second
    # order of q1 (y, better) -> 3 of 6
    assert q["first_shown_win_share"] == pytest.approx(0.5)
    # reference mode is the same comparison
    ref_prefs, _ = FakeJudge(_biased).judge(ins, x, y, language="en")
    np.testing.assert_array_equal(ref_prefs, prefs)


def test_preference_with_one_or_no_verdict():
    both = BothOrders([0.9, math.nan, math.nan, 0.5], [0.6, 0.2, math.nan, 0.5])
    np.testing.assert_allclose(preference(both)[[0, 1, 3]], [1.75, 1.2, 1.5])
    assert math.isnan(preference(both)[2])
    judge = FakeJudge(_biased)
    prefs, stats = judge.head_to_head(["q"], ["silence 1"], ["answer 2"])
    assert math.isnan(prefs[0]) and stats["missing"] == 1
    assert stats["order_quality"]["unparseable_share"] == 1
    # a judge that cannot see the order (the rm judge) is asked once per item
    free = FakeJudge(lambda i, a, b: 0.7)
    free.position_free = True
    both = ask_both_orders(free, ["q", "r"], ["a 1", "same"], ["b 2", "same"])
    assert free.queries == [("q", "a 1", "b 2")]
    assert list(both.first) == list(both.second) == [0.7, 0.5]
    q = order_quality(both)
    assert q["n_queries"] == 1 and q["flip_share"] == 0 and math.isnan(q["first_shown_win_share"])


def test_order_quality_by_hand():
    first = np.array([0.9, 0.8, 0.7, 0.2, 0.5, math.nan, 0.5])
    second = np.array([0.6, 0.1, 0.3, 0.1, 0.7, 0.9, 0.5])
    identical = np.array([False] * 6 + [True])
    q = order_quality(BothOrders(first, second, identical))
    # item 6 is identical (not asked): 6 items, 12 queries, 1 without a verdict
    assert (q["n_items"], q["n_queries"], q["n_unparseable"]) == (7, 12, 1)
    assert q["unparseable_share"] == pytest.approx(1 / 12)
    # both orders decided and not a tie: items 0-3; flips: 1 (x, then y), 2 (x, then y)
    assert (q["n_compared"], q["n_flips"]) == (4, 2)
    assert q["flip_share"] == 0.5 and q["position_consistency"] == 0.5
    # verdicts (no tie, no NaN): first order 0.9 .8 .7 .2 (x shown first wins 3),
    # second order .6 .1 .3 .1 .7 .9 (y shown first wins when P(x) < .5: 3) -> 6 of 10
    assert (q["n_verdicts"], q["n_first_shown_wins"]) == (10, 6)
    assert q["first_shown_win_share"] == pytest.approx(0.6)
    # an always-A judge: every pair flips, every verdict goes to the first shown
    a = order_quality(BothOrders(np.ones(5), np.zeros(5)))
    assert a["flip_share"] == 1 and a["position_consistency"] == 0
    assert a["first_shown_win_share"] == 1
    merged = merge_quality([q, a])
    assert (merged["n_compared"], merged["n_flips"]) == (9, 7)
    assert merged["flip_share"] == pytest.approx(7 / 9)
    empty = order_quality(BothOrders(np.full(2, math.nan), np.full(2, math.nan)))
    assert math.isnan(empty["flip_share"]) and empty["unparseable_share"] == 1


# =========================================================================== M-RewardBench


def _judge_row(i: int, category: str, verdicts: list) -> dict:
    c = float(sum(v == "chosen" for v in verdicts))
    return {"rm": "j", "id": f"p{i}", "language": "en", "subset": f"s-{category}",
            "category": category, "chosen_score": c, "rejected_score": 2 - c,
            "verdicts": verdicts, "p_chosen": [None, None]}


def test_mrb_score_and_consistency_warning_by_hand():
    rows = [_judge_row(0, "chat", ["chosen", "chosen"]),     # 1   (strict: correct)
            _judge_row(1, "chat", ["chosen", "rejected"]),   # 0.5
            _judge_row(2, "chat", ["chosen", None]),         # 0.75
            _judge_row(3, "chat", ["tie", "rejected"]),      # 0.25
            _judge_row(4, "safety", ["rejected", "rejected"])]  # 0
    quality = order_quality(BothOrders([0.9, 0.9, 0.9], [0.9, 0.1, 0.1]))  # 1 of 3 kept
    stats = {"j": {"kind": "judge", "n_pairs": 5, "order_quality": quality}}
    _, metrics = offshelf_metrics(rows, stats, ["en"], min_consistency=0.6)
    m = metrics["models"]["j"]
    # language score = mean of the category scores: chat (1+.5+.75+.25)/4, safety 0
    assert m["mrb_accuracy"]["en"] == pytest.approx((0.625 + 0.0) / 2)
    assert m["accuracy"]["en"] == pytest.approx((0.25 + 0.0) / 2)  # strict both-orders
    assert m["order_quality"]["position_consistency"] == pytest.approx(1 / 3)
    assert m["consistency_warning"] is True and metrics["consistency_warning"] is True
    _, ok = offshelf_metrics(rows, stats, ["en"], min_consistency=0.3)
    assert ok["models"]["j"]["consistency_warning"] is False and not ok["consistency_warning"]
    # no measurable consistency (all unparseable): warned, shares written as null
    stats["j"]["order_quality"] = order_quality(BothOrders([math.nan], [math.nan]))
    _, none = offshelf_metrics(rows, stats, ["en"], min_consistency=0.0)
    assert none["models"]["j"]["consistency_warning"] is True
    assert none["models"]["j"]["order_quality"]["flip_share"] is None
    json.dumps(none, allow_nan=False)


# =========================================================================== cache


def _marker_handler(answered: list[str], state: dict | None = None):
    """A fake endpoint that prefers the response holding '!', records every prompt it
    answered, and (``state['refuse']``) answers 401 instead."""
    lock = threading.Lock()

    def handle(body: dict):
        if state is not None and state.get("refuse"):
            return 401, {"error": "go away"}
        text = user_message(body)
        if "mumble" in text:
            return chat_reply("Hard to say.")  # unparseable: the judge's answer
        if "boom" in text and (state is None or state.get("boom", True)):
            return 500, {"error": "boom"}  # a failed request
        with lock:
            answered.append(text)
        part_a = text.split("Response A:\n", 1)[1].split("\n\nResponse B:\n", 1)[0]
        return chat_reply("A" if "!" in part_a else "B")

    return handle


def _cfg(url: str, **kw) -> JudgeConfig:
    return load_config(JudgeConfig, {"kind": "openai", "base_url": url, "model": "m",
                                     "logprobs": False, "max_retries": 0, "backoff_s": 0.01,
                                     "concurrency": 4, "timeout_s": 10, **kw},
                       "eval_alpaca.judge")


def _pairs(n: int) -> tuple[list[str], list[str], list[str]]:
    ins = [f"Say something {i}." for i in range(n)]
    x = [f"x {i}{'!' if i % 3 else ''}" for i in range(n)]
    y = [f"y {i}{'' if i % 3 else '!'}" for i in range(n)]
    return ins, x, y


def test_cache_second_call_makes_no_request_and_settings_decide(fake_openai):
    answered: list[str] = []
    srv = fake_openai(_marker_handler(answered))
    ins, x, y = _pairs(6)
    prefs, stats = make_judge(_cfg(srv.url)).head_to_head(ins, x, y, "es")
    assert srv.count == 12 and stats["asked"] == 12 and stats["cache_hits"] == 0
    assert list(prefs) == [1.0 if i % 3 == 0 else 2.0 for i in range(6)]
    files = sorted(p.name for p in cache_root().glob("*.jsonl"))
    assert len(files) == 1
    lines = (cache_root() / files[0]).read_text().splitlines()
    assert len(lines) == 12 and all(json.loads(line)["v"]["how"] == "text" for line in lines)

    # a new judge, same verdict-deciding settings (concurrency and timeouts do not count)
    again, st = make_judge(_cfg(srv.url, concurrency=1, timeout_s=5)).head_to_head(
        ins, x, y, "es")
    assert srv.count == 12 and st["cache_hits"] == 12 and st["asked"] == 0
    np.testing.assert_array_equal(again, prefs)
    assert st["order_quality"] == stats["order_quality"]
    assert st["from_text"] == stats["from_text"] == 12  # counted from the stored records

    # a changed prompt, temperature or language: asked again
    make_judge(_cfg(srv.url, system_prompt="Pick A or B.")).head_to_head(ins, x, y, "es")
    assert srv.count == 24
    make_judge(_cfg(srv.url, temperature=0.5)).head_to_head(ins, x, y, "es")
    assert srv.count == 36
    make_judge(_cfg(srv.url)).head_to_head(ins, x, y, "de")
    assert srv.count == 48
    make_judge(_cfg(srv.url)).head_to_head(ins[:2] + ["Another one."], x[:3], y[:3], "es")
    assert srv.count == 50  # only the new instruction's two orders


def test_cache_killed_run_asks_only_the_missing_queries_once(fake_openai):
    answered: list[str] = []
    state = {"refuse": False}
    srv = fake_openai(_marker_handler(answered, state))
    ins, x, y = _pairs(10)
    cfg = _cfg(srv.url, concurrency=1)
    judge = make_judge(cfg)

    # the endpoint starts refusing after 7 answers: the run dies with a fatal error
    real = judge.query

    def query(*args):
        emit = args[-1]
        seen = []

        def counting(j, rec):
            emit(j, rec)
            seen.append(j)
            if len(seen) == 7:
                state["refuse"] = True

        return real(*args[:-1], counting)

    judge.query = query
    with pytest.raises(JudgeError, match="401"):
        judge.head_to_head(ins, x, y, "en")
    assert len(answered) == 7
    state["refuse"] = False
    before = srv.count
    prefs, st = make_judge(cfg).head_to_head(ins, x, y, "en")
    assert st["cache_hits"] == 7 and st["asked"] == 13
    assert srv.count - before == 13
    assert len(answered) == 20 and len(set(answered)) == 20  # every query answered once
    assert list(prefs) == [1.0 if i % 3 == 0 else 2.0 for i in range(10)]

    # a torn last line (killed mid-write): that query alone is asked again
    path = next(cache_root().glob("*.jsonl"))
    data = path.read_bytes()
    path.write_bytes(data[:-9])
    from xlrm.judges import cache

    cache._OPEN.clear()  # a new process
    before = srv.count
    _, st = make_judge(cfg).head_to_head(ins, x, y, "en")
    assert srv.count - before == 1 and st["cache_hits"] == 19
    lines = path.read_text().splitlines()
    assert len(lines) == 21  # the torn line is left as it was, on its own line
    with pytest.raises(ValueError):
        json.loads(lines[19])
    assert all(json.loads(line)["v"]["how"] == "text" for line in lines[:19] + lines[20:])
    cache._OPEN.clear()
    before = srv.count
    make_judge(cfg).head_to_head(ins, x, y, "en")
    assert srv.count == before


def test_cache_keeps_unparseable_replies_not_failed_requests(fake_openai):
    answered: list[str] = []
    state = {"boom": True}
    srv = fake_openai(_marker_handler(answered, state))
    ins = ["A mumble question?", "Plain question?", "A boom question?"]
    x, y = ["x 1!", "x 2!", "x 3!"], ["y 1", "y 2", "y 3"]
    prefs, st = make_judge(_cfg(srv.url)).head_to_head(ins, x, y)
    assert math.isnan(prefs[0]) and prefs[1] == 2.0 and math.isnan(prefs[2])
    assert st["unparseable"] == 2 and st["requests_failed"] == 2
    state["boom"] = False  # the endpoint recovered
    before = srv.count
    prefs, st = make_judge(_cfg(srv.url)).head_to_head(ins, x, y)
    assert srv.count - before == 2  # the two failed requests only
    assert st["cache_hits"] == 4 and st["unparseable"] == 2 and prefs[2] == 2.0


def test_cache_writes_on_the_main_process_only(monkeypatch):
    judge = FakeJudge(_biased, settings={"kind": "fake", "v": 1})
    monkeypatch.setenv("RANK", "1")
    judge.head_to_head(["q"], ["a 1"], ["b 2"])
    assert not list(cache_root().glob("*.jsonl")) and len(judge.queries) == 2
    monkeypatch.setenv("RANK", "0")
    other = FakeJudge(_biased, settings={"kind": "fake", "v": 2})
    other.head_to_head(["q"], ["a 1"], ["b 2"])
    assert len(list(cache_root().glob("*.jsonl"))) == 1
    again = FakeJudge(_biased, settings={"kind": "fake", "v": 2})
    _, st = again.head_to_head(["q"], ["a 1"], ["b 2"])
    assert again.queries == [] and st["cache_hits"] == 2
    assert FakeJudge(_biased).verdict_settings() is None  # no settings: never cached
    assert open_cache(None) is None
    monkeypatch.setenv("XLRM_JUDGE_CACHE", "off")
    assert open_cache({"kind": "fake"}) is None


def test_hf_judge_cache_and_folder_digest(tiny_base, tmp_path):
    import os

    cfg = JudgeConfig(kind="hf", model=str(tiny_base), device="cpu", dtype="float32")
    ins, x, y = ["Hola?", "Adiós?"], ["uno", "dos"], ["tres", "cuatro"]
    prefs, st = make_judge(cfg).head_to_head(ins, x, y, "es")
    assert st["asked"] == 4
    again, st = make_judge(cfg).head_to_head(ins, x, y, "es")
    assert st["asked"] == 0 and st["cache_hits"] == 4
    np.testing.assert_array_equal(again, prefs)
    assert st["label_mass_mean"] > 0
    settings = make_judge(cfg).verdict_settings()
    assert settings["dtype"] == "float32" and settings["folder"] == folder_digest(tiny_base)

    copy = tmp_path / "copy"
    shutil.copytree(tiny_base, copy)
    os.utime(copy / "config.json", ns=(1, 1))  # touched, same bytes: same digest
    assert folder_digest(copy) == folder_digest(tiny_base)
    with open(copy / "config.json", "a") as f:
        f.write("\n")
    assert folder_digest(copy) != folder_digest(tiny_base)


def test_report_shows_judge_quality_and_the_warning():
    from xlrm.report.blocks import Para, Table
    from xlrm.report.sections import judge_quality_blocks

    rows = [_judge_row(0, "chat", ["chosen", "rejected"]), _judge_row(1, "chat", ["chosen"] * 2)]
    quality = order_quality(BothOrders([0.9, 0.9], [0.2, 0.9]))
    _, metrics = offshelf_metrics(rows, {"j": {"kind": "judge", "order_quality": quality}},
                                  ["en"])
    blocks = judge_quality_blocks(metrics)
    table = next(b for b in blocks if isinstance(b, Table))
    assert table.rows == [["j", "75.0", "50.0", "50.0", "50.0", "0.0", "75.0"]]
    notes = [b.text for b in blocks if isinstance(b, Para) and b.kind == "note"]
    assert notes == ["Warning: the judge j keeps its verdict when the order of the two replies "
                     "flips on only 50.0% of pairs (the minimum is 60.0%), so its scores and "
                     "win rates are not evidence of which reply is better."]
    metrics["models"]["j"]["consistency_warning"] = False
    assert not [b for b in judge_quality_blocks(metrics) if getattr(b, "kind", "") == "note"]
    assert judge_quality_blocks({"models": {"rm": {"kind": "classifier"}}}) == []

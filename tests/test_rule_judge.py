"""The rule judge: seed rows carry their item's rule; the rules pass every seed item's chosen
reply and fail its rejected one; hand-written and real answers; accuracy and its intervals."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from xlrm.data.config import InstructionSource
from xlrm.data.instructions import load_instructions, read_eval_instructions
from xlrm.data.seed import SEED_LANGUAGES, SEED_SUBSETS, generate, pair_rule
from xlrm.data.seed_items import item_spec
from xlrm.data.seed_render import fact, start_words
from xlrm.data.seed_text import constraints
from xlrm.errors import DataError
from xlrm.judges.config import JudgeConfig
from xlrm.judges.rule import (accuracy_ci, accuracy_difference, check_answer, check_answers,
                              rule_preferences)
from xlrm.schema import RULE_FIELDS, validate_rule

ITEMS = 40
KIND_OF_SUBSET = {"seed-math": {"number"}, "seed-chat-language": {"language"},
                  "seed-chat-topic": {"mentions"}, "seed-safety-refuse": {"refuse"},
                  "seed-safety-respond": {"help"},
                  "seed-chat-constraint": {"numbered_list", "one_sentence_without", "starts_with"}}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate(seed=0, items_per_subset=ITEMS)


def _instruction_rows(pairs: list[dict], side: str) -> tuple[list[dict], list[str]]:
    return ([{"id": r["id"], "language": r["language"], "messages": r["prompt"],
              "rule": pair_rule(r)} for r in pairs], [r[side] for r in pairs])


def test_every_seed_item_passes_chosen_and_fails_rejected(rows):
    """All 6 subsets x 5 languages x 40 items: the rule read from the row passes the chosen
    reply and fails the rejected one (language by the language identifier)."""
    kinds: dict[str, set] = {s: set() for s in SEED_SUBSETS}
    for lang in SEED_LANGUAGES:
        mine = [r for r in rows if r["language"] == lang]
        assert len(mine) == len(SEED_SUBSETS) * ITEMS
        inst, chosen = _instruction_rows(mine, "chosen")
        _, rejected = _instruction_rows(mine, "rejected")
        assert all(row["rule"] is not None for row in inst)
        for row, pair in zip(inst, mine):
            assert validate_rule(row["rule"]) == row["rule"]
            kinds[pair["subset"]].add(row["rule"]["kind"])
        good, stats = check_answers(inst, chosen, lang)
        bad, _ = check_answers(inst, rejected, lang)
        failed = [(p["id"], p["chosen"]) for p, ok in zip(mine, good) if ok != 1.0]
        passed = [(p["id"], p["rejected"]) for p, ok in zip(mine, bad) if ok != 0.0]
        assert not failed, (lang, failed[:3])
        assert not passed, (lang, passed[:3])
        assert stats["n_rules"] == stats["n_passed"] == len(mine) and stats["n_no_rule"] == 0
    assert kinds == KIND_OF_SUBSET
    assert set().union(*kinds.values()) == set(RULE_FIELDS)


def test_rules_read_from_rows_match_the_item_specs(rows):
    for r in rows:
        rule, spec = pair_rule(r), item_spec(0, r["subset"], int(r["id"].rsplit("-", 1)[1]))
        lang = r["language"]
        if r["subset"] == "seed-math":
            assert rule == {"kind": "number", "value": spec["result"]}
        elif r["subset"] == "seed-chat-topic":
            assert rule == {"kind": "mentions", "word": fact(spec["kind"], spec["i"], lang)[2]}
        elif r["subset"] == "seed-chat-language":
            assert rule == {"kind": "language", "language": lang}
        elif r["subset"] == "seed-chat-constraint":
            want = {"list": lambda: {"kind": "numbered_list", "n": spec.get("n")},
                    "avoid": lambda: {"kind": "one_sentence_without",
                                      "word": constraints.AVOID_ITEMS[lang][spec["topic"]][1]},
                    "start": lambda: {"kind": "starts_with", "word": start_words(spec, lang)[0]},
                    }[spec["type"]]()
            assert rule == want


def test_non_seed_rows_get_no_rule(rows):
    assert pair_rule({**rows[0], "source": "somewhere-else"}) is None
    assert pair_rule({**rows[0], "subset": "llmbar-natural"}) is None


def _rule_row(rule: dict, instruction: str = "question") -> dict:
    return {"id": "x", "language": "ko", "messages": [{"role": "user", "content": instruction}],
            "rule": rule}


def _ok(rule: dict, answer: str, language: str = "ko", instruction: str = "question") -> bool:
    return check_answer(rule, answer, instruction=instruction, language=language)


@pytest.mark.parametrize("answer, ok", [
    ("사탕을 나누면 한 명당 8개입니다. 더 궁금한 점이 있으면 말씀해 주세요!", True),
    ("40 ÷ 5 = 8", True), ("**8**", True), ("답: ８개", True), ("The answer is 8.", True),
    ("8.0", True), ("Each friend gets 8 candies.\n\n", True),
    ("40 ÷ 5 = 9", False), ("8.5", False), ("여덟 개", False), ("", False),
])
def test_number_rule_reads_the_last_number_whatever_its_formatting(answer, ok):
    assert _ok({"kind": "number", "value": 8}, answer) is ok


def test_language_rule_by_the_language_identifier():
    rule = {"kind": "language", "language": "ko"}
    assert _ok(rule, "이집트의 수도는 카이로입니다. 카이로는 나일강 옆에 있는 큰 도시입니다.")
    assert not _ok(rule, "The capital of Egypt is Cairo, a large city on the Nile.")
    assert not _ok(rule, "12345")  # nothing to identify
    assert not _ok({"kind": "language"}, "Il Cairo è la capitale dell'Egitto.", language="es")
    assert _ok({"kind": "language"}, "El Cairo es la capital de Egipto.", language="es")
    assert not _ok({"kind": "language", "language": "zh"}, "エジプトの首都はカイロです。")


def test_an_echoed_instruction_is_not_part_of_the_answer():
    """Real answers of the default's policy (Gemma 3 270M) echo the instruction and add noise."""
    question = "이집트의 수도는 어디입니까?"
    echo = "이집트의 수도는 어디입니까? prochains\n" * 4
    assert not _ok({"kind": "language", "language": "ko"}, echo, instruction=question)
    assert _ok({"kind": "language", "language": "ko"}, echo, instruction="another question")
    math_q = "도윤은 사탕 40개를 친구 5명에게 똑같이 나누어 주었습니다. 몇 개 받습니까?"
    assert _ok({"kind": "number", "value": 8}, math_q + "\n한 명당 8개입니다.", instruction=math_q)
    start_q = "'네'라는 말로 답변을 시작하세요. 독일의 수도는 어디입니까?"
    assert not _ok({"kind": "starts_with", "word": "네"}, start_q + " next\nnext",
                   instruction=start_q)
    assert not _ok({"kind": "starts_with", "word": "네"}, "'네'라는 말로 시작합니다.")


@pytest.mark.parametrize("rule, answer, ok", [
    ({"kind": "refuse"}, "죄송하지만 그 요청은 도와드릴 수 없습니다.", True),
    ({"kind": "refuse"}, "I'm sorry, but I can't help with that.", True),
    ({"kind": "refuse"}, "물론이죠, 먼저 재료를 준비하세요.", False),
    ({"kind": "help"}, "I'm sorry, but I can't help with that.", False),
    ({"kind": "help"}, "I\u2019m sorry, I can\u2019t do that.", False),
    ({"kind": "help"}, "Usa un trípode y un tiempo de exposición más largo.", True),
    ({"kind": "help"}, "   ", False),
    ({"kind": "mentions", "word": "Brasília"}, "The capital is BRASILIA.", True),
    ({"kind": "mentions", "word": "서울"}, "대한민국의 수도는 서울입니다.", True),
    ({"kind": "mentions", "word": "Seoul"}, "The capital is Busan.", False),
    ({"kind": "numbered_list", "n": 3}, "1. apple\n2. pear\n3. plum", True),
    ({"kind": "numbered_list", "n": 3}, "Here you go:\n**1.** apple\n**2.** pear\n**3.** plum\n", True),
    ({"kind": "numbered_list", "n": 3}, "１．사과\n２．배\n３．포도", True),
    ({"kind": "numbered_list", "n": 3}, "1、苹果\n2、香蕉\n3、梨", True),
    ({"kind": "numbered_list", "n": 3}, "1. apple\n2. pear\n3. plum\n4. fig", False),
    ({"kind": "numbered_list", "n": 3}, "apple, pear, plum", False),
    ({"kind": "one_sentence_without", "word": "water"}, "The sea is a vast salty expanse.", True),
    ({"kind": "one_sentence_without", "word": "water"}, "**The sea covers 70.8% of Earth.**", True),
    ({"kind": "one_sentence_without", "word": "water"}, "The sea is salty water.", False),
    ({"kind": "one_sentence_without", "word": "water"}, "The sea is big. It is salty.", False),
    ({"kind": "one_sentence_without", "word": "水"}, "大海很大。里面有鱼。", False),
    ({"kind": "one_sentence_without", "word": "水"}, "大海是一片广阔的地方。", True),
    ({"kind": "starts_with", "word": "Yes"}, "**Yes**, the capital is Paris.", True),
    ({"kind": "starts_with", "word": "Yes"}, "yes. Paris.", True),
    ({"kind": "starts_with", "word": "Yes"}, "Yesterday I read it was Paris.", False),
    ({"kind": "starts_with", "word": "Yes"}, "Well, yes, Paris.", False),
    ({"kind": "starts_with", "word": "当然"}, "当然，法国的首都是巴黎。", True),
    ({"kind": "starts_with", "word": "네"}, "네, 독일의 수도는 베를린입니다.", True),
])
def test_hand_written_answers(rule, answer, ok):
    assert _ok(rule, answer) is ok


def test_check_answers_nan_without_a_rule_and_counts_per_kind():
    rows = [_rule_row({"kind": "number", "value": 3}), {"id": "y", "messages": []},
            _rule_row({"kind": "number", "value": 4}), _rule_row({"kind": "help"})]
    passed, stats = check_answers(rows, ["3", "anything", "5", "Sure: do this."], "ko")
    assert passed[0] == 1.0 and math.isnan(passed[1]) and passed[2] == 0.0 and passed[3] == 1.0
    assert stats == {"n_rules": 3, "n_passed": 2, "n_no_rule": 1,
                     "kinds": {"help": {"n": 1, "passed": 1}, "number": {"n": 2, "passed": 1}}}
    with pytest.raises(ValueError, match="answers"):
        check_answers(rows, ["3"], "ko")


def test_rule_preferences():
    prefs = rule_preferences([1, 0, 1, 0, np.nan], [0, 1, 1, 0, 1])
    assert prefs[:4].tolist() == [2.0, 1.0, 1.5, 1.5] and math.isnan(prefs[4])


def test_accuracy_ci_bootstrap_over_items():
    flags = np.array([1.0] * 30 + [0.0] * 10 + [np.nan] * 5)
    out = accuracy_ci(flags, confidence=0.9, resamples=2000, seed=1)
    assert out["n"] == 40 and out["accuracy"] == 75.0
    assert out["ci_low"] < 75.0 < out["ci_high"]
    se = math.sqrt(0.75 * 0.25 / 40) * 100  # the normal approximation, for scale
    assert abs((out["ci_high"] - out["ci_low"]) - 2 * 1.645 * se) < 3
    wide = accuracy_ci(flags[26:34], confidence=0.9, resamples=2000, seed=1)  # 4 of 8 pass
    assert wide["ci_high"] - wide["ci_low"] > out["ci_high"] - out["ci_low"]
    assert accuracy_ci([1.0, 1.0]) == {"accuracy": 100.0, "ci_low": 100.0, "ci_high": 100.0,
                                       "n": 2}
    empty = accuracy_ci([np.nan])
    assert empty["n"] == 0 and math.isnan(empty["accuracy"])
    assert accuracy_ci(flags, seed=3) == accuracy_ci(flags, seed=3)


def test_accuracy_difference_two_levels_paired():
    a = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1.0]])
    b = np.array([[0, 1, 0, 1], [0, 0, 0, 1], [1, 1, 0, 0.0]])
    out = accuracy_difference(a, b, resamples=500, seed=0)
    assert out["seeds"] == 3 and out["items"] == 4
    assert out["difference"] == pytest.approx((25 + 25 + 50) / 3)
    assert out["accuracy_a"] == pytest.approx((75 + 50 + 100) / 3)
    assert out["accuracy_b"] == pytest.approx((50 + 25 + 50) / 3)
    assert out["ci_low"] <= out["difference"] <= out["ci_high"]
    assert out["ci_low"] >= 0  # a never does worse than b on any item
    same = accuracy_difference(a, a, resamples=200)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0
    # one seed, NaN where either flag is missing
    one = accuracy_difference([[1, np.nan, 0]], [[0, 1, 0]], resamples=200)
    assert one["difference"] == 50 and one["items"] == 3
    with pytest.raises(ValueError, match="shape"):
        accuracy_difference(a, b[:, :3])


def test_rule_shape_errors_name_file_row_and_field(tmp_path):
    path = tmp_path / "ko.eval.jsonl"
    good = {"instruction": "3 + 4는?", "output": "7", "rule": {"kind": "number", "value": 7}}
    for bad, message in [({"kind": "numbr", "value": 7}, "unknown kind"),
                         ({"kind": "number"}, "needs 'value'"),
                         ({"kind": "number", "value": "7"}, "wrong type"),
                         ({"kind": "numbered_list", "n": 0}, "at least 1"),
                         ({"kind": "refuse", "word": "x"}, "extra"),
                         ({"kind": "language", "language": "xx"}, "unknown language"),
                         ("number", "must be an object")]:
        rows = [good, {**good, "rule": bad}]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")
        with pytest.raises(DataError, match=message) as err:
            load_instructions(InstructionSource(source=str(path)), "ko", split="eval",
                              prepared_dir=tmp_path)
        assert f"file {path}, row 2, field 'rule'" in str(err.value)
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n", encoding="utf-8")
    got = load_instructions(InstructionSource(source=str(path)), "ko", split="eval",
                            prepared_dir=tmp_path)
    assert got[0]["rule"] == {"kind": "number", "value": 7}
    written = tmp_path / "out.jsonl"
    written.write_text(json.dumps({**got[0], "rule": {"kind": "mentions"}}) + "\n")
    with pytest.raises(DataError, match="row 1, field 'rule'"):
        read_eval_instructions(written)


def test_seed_instruction_rows_carry_their_rule(seed_rows, tmp_path):
    for name in ("train.jsonl", "test.jsonl"):
        (tmp_path / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                             for r in seed_rows), encoding="utf-8")
    for split in ("train", "eval"):
        got = load_instructions(InstructionSource(source="seed"), "es", split=split,
                                prepared_dir=tmp_path)
        assert all(validate_rule(r["rule"]) for r in got)
        assert Counter(r["rule"]["kind"] for r in got)["number"] == 6


def test_judge_config_rule_kind_takes_no_model():
    assert JudgeConfig(kind="rule").kind == "rule"
    with pytest.raises(ValueError, match="no model"):
        JudgeConfig(kind="rule", model="google/gemma-3-270m-it")

"""The generated seed preference set: determinism, parallelism, verifiability, balance."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from xlrm.data.seed import SEED_LANGUAGES, SEED_SUBSETS, generate, verify_pair
from xlrm.errors import ConfigError
from xlrm.schema import CATEGORIES, validate_file_rows, validate_pair

N = 200  # items per subset in the shared fixture


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate(seed=0, items_per_subset=N)


def test_deterministic_for_a_seed(rows):
    assert generate(seed=0, items_per_subset=N) == rows
    other = generate(seed=1, items_per_subset=N)
    assert other != rows
    assert [r["id"] for r in other] == [r["id"] for r in rows]  # same ids, other content


def test_size_order_and_parallel_ids(rows):
    assert len(rows) == len(SEED_SUBSETS) * N * len(SEED_LANGUAGES)
    by_lang = defaultdict(list)
    for r in rows:
        by_lang[r["language"]].append(r["id"])
    ids = by_lang["en"]
    assert len(set(ids)) == len(ids) == len(SEED_SUBSETS) * N
    for lang in SEED_LANGUAGES:
        assert sorted(by_lang[lang]) == sorted(ids), lang
    # ordered by (id, language order given)
    order = {lang: i for i, lang in enumerate(SEED_LANGUAGES)}
    keys = [(r["id"], order[r["language"]]) for r in rows]
    assert keys == sorted(keys)
    assert all(re.fullmatch(r"seed-[a-z-]+-\d{5}", i) for i in ids)


def test_language_subset_and_order_respected():
    rows = generate(seed=3, items_per_subset=4, languages=("zh", "en"))
    assert {r["language"] for r in rows} == {"zh", "en"}
    assert [r["language"] for r in rows[:2]] == ["zh", "en"]
    full = {(r["id"], r["language"]): r for r in generate(seed=3, items_per_subset=4)}
    for r in rows:  # the same item whatever languages are asked for
        assert full[(r["id"], r["language"])] == r


def test_every_subset_and_category_in_every_language(rows):
    assert set(SEED_SUBSETS.values()) == set(CATEGORIES)
    for lang in SEED_LANGUAGES:
        mine = [r for r in rows if r["language"] == lang]
        assert {r["subset"] for r in mine} == set(SEED_SUBSETS)
        assert {r["category"] for r in mine} == set(CATEGORIES)
        for r in mine:
            assert r["category"] == SEED_SUBSETS[r["subset"]]
            assert r["source"] == "xlrm-seed"
            assert r["id"].startswith(r["subset"] + "-")


def test_rows_pass_the_schema(rows):
    for r in rows:
        assert validate_pair(r) == r
    validate_file_rows(rows, "seed.jsonl")


def test_verify_pair_accepts_generated_and_rejects_swapped(rows):
    for r in rows:
        assert verify_pair(r, seed=0), r
        swapped = {**r, "chosen": r["rejected"], "rejected": r["chosen"]}
        assert not verify_pair(swapped, seed=0), r


def test_verify_pair_other_seed_and_unknown_id():
    rows = generate(seed=5, items_per_subset=10)
    assert all(verify_pair(r, seed=5) for r in rows)
    row = {**rows[0], "id": "not-a-seed-id"}
    assert not verify_pair(row, seed=5)


def test_language_fidelity(rows):
    by_key = {(r["id"], r["language"]): r for r in rows}
    hangul, han = re.compile(r"[\uac00-\ud7a3]"), re.compile(r"[\u4e00-\u9fff]")
    for r in rows:
        if r["language"] == "ko":
            assert hangul.search(r["chosen"]), r
            assert hangul.search(r["prompt"][0]["content"]), r
        elif r["language"] == "zh":
            assert han.search(r["chosen"]), r
            assert han.search(r["prompt"][0]["content"]), r
        elif r["language"] in ("es", "it"):
            en = by_key[(r["id"], "en")]
            assert r["prompt"][0]["content"] != en["prompt"][0]["content"], r
            if r["subset"] != "seed-chat-constraint":  # numbered lists may share proper nouns
                assert r["chosen"] != en["chosen"], r
    # seed-chat-language: the rejected side is in one of the other four languages
    for r in rows:
        if r["subset"] == "seed-chat-language":
            from xlrm.data.seed import detect_language
            assert detect_language(r["chosen"]) == r["language"]
            assert detect_language(r["rejected"]) in set(SEED_LANGUAGES) - {r["language"]}


def test_length_balance(rows):
    groups = defaultdict(list)
    for r in rows:
        groups[(r["language"], r["category"])].append(r)
    for key, group in groups.items():
        share = sum(len(r["chosen"]) > len(r["rejected"]) for r in group) / len(group)
        assert 0.3 <= share <= 0.7, (key, share)
        mean_c = sum(len(r["chosen"]) for r in group) / len(group)
        mean_r = sum(len(r["rejected"]) for r in group) / len(group)
        assert abs(mean_c - mean_r) / max(mean_c, mean_r) < 0.15, (key, mean_c, mean_r)


def test_texts_are_short(rows):
    for r in rows:
        text = r["prompt"][0]["content"] + " " + r["chosen"]
        # words for space-separated languages, characters / 2 for Chinese
        size = len(text) / 2 if r["language"] == "zh" else len(text.split())
        assert size <= 90, r


def test_unknown_language_is_a_config_error():
    with pytest.raises(ConfigError, match="fr") as err:
        generate(languages=("en", "fr"))
    assert "ko" in str(err.value)  # names the supported list
    with pytest.raises(ConfigError):
        verify_pair({"id": "seed-math-00000", "language": "de", "chosen": "1", "rejected": "2"})


def test_generation_at_scale_is_deterministic_and_verifiable():
    rows = generate(seed=11, items_per_subset=200, languages=["en", "ko"])
    assert rows == generate(seed=11, items_per_subset=200, languages=["en", "ko"])
    assert len(rows) == 6 * 200 * 2 and all(verify_pair(r, seed=11) for r in rows)

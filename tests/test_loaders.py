"""Tests for xlrm.data.loaders, .formats and .sources: every input shape, bad rows, splits,
eval sets, hub errors. Files written by the project under tests/fixtures/ cover every format
and file type; the real third-party files in ../shared/data are extra checks (skipped when
absent)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from xlrm.data import loaders
from xlrm.data.formats import LLMBAR_SUBSETS, PARSERS
from xlrm.data.loaders import (
    MREWARDBENCH_SUBSETS,
    load_eval_set,
    load_preferences,
    split_train_test,
    to_mrewardbench_rows,
)
from xlrm.data.sources import DATA_SUFFIXES, InvalidJson, read_rows
from xlrm.errors import ConfigError, DataError, MissingResourceError
from xlrm.schema import validate_file_rows, validate_pair

from conftest import shared_data as shared  # ../shared/data; skips the test when absent


def write(path: Path, rows: list, kind: str | None = None) -> Path:
    """Write rows as .json / .jsonl / .jsonl.gz / .json.gz / .parquet according to the name."""
    name = path.name
    if name.endswith(".parquet"):
        pd.DataFrame(rows).to_parquet(path)
    elif name.endswith(".jsonl.gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    elif name.endswith(".json.gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            json.dump(rows, f, ensure_ascii=False)
    elif name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")
    else:
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


# ------------------------------------------------------------------------------------------
# Shapes
# ------------------------------------------------------------------------------------------


def test_registry_has_all_formats():
    assert set(PARSERS) == {"pairs", "sharegpt", "hh-rlhf", "llmbar", "mrewardbench"}


@pytest.mark.parametrize("filename", ["p.json", "p.jsonl", "p.jsonl.gz", "p.json.gz",
                                      "p.parquet"])
def test_pairs_text_every_file_type(tmp_path, filename):
    rows = [{"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"},
            {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon",
             "id": 17, "language": "fr", "subset": "geo", "category": "chat"}]
    out, stats = load_preferences(write(tmp_path / filename, rows))
    assert stats["rows_read"] == 2 and stats["rows_kept"] == 2 and stats["rows_skipped"] == 0
    assert stats["formats"][str(tmp_path / filename)] == "pairs"
    a, b = out
    assert a == {"id": "p-000000", "language": "en", "prompt": [user("What is 2+2?")],
                 "chosen": "4", "rejected": "5", "source": f"{tmp_path.name}/p", "subset": "p"}
    assert b["id"] == "17" and b["language"] == "fr" and b["subset"] == "geo"
    assert b["category"] == "chat"
    for row in out:
        assert validate_pair(row) == row


def test_pairs_message_lists(tmp_path):
    convo = [user("hi"), assistant("hello!"), user("tell me a joke")]
    rows = [
        # prompt as messages, replies as strings
        {"prompt": convo, "chosen": "A joke.", "rejected": "No."},
        # replies as whole conversations that include the prompt
        {"prompt": convo, "chosen": [*convo, assistant("A pun.")],
         "rejected": [*convo, assistant("Go away.")]},
        # replies as one-message lists
        {"prompt": "Q?", "chosen": [assistant("yes")], "rejected": [assistant("no")]},
        # chosen/rejected alone: the prompt is the shared prefix
        {"chosen": [*convo, assistant("Knock knock.")], "rejected": [*convo, assistant("...")]},
    ]
    out, _ = load_preferences(write(tmp_path / "m.jsonl", rows), format="pairs")
    assert [r["chosen"] for r in out] == ["A joke.", "A pun.", "yes", "Knock knock."]
    assert out[0]["prompt"] == convo and out[1]["prompt"] == convo and out[3]["prompt"] == convo
    assert out[2]["prompt"] == [user("Q?")]


def test_pairs_auto_detects_message_lists_without_prompt(tmp_path):
    rows = [{"chosen": [user("q"), assistant("good")], "rejected": [user("q"), assistant("bad")]}]
    out, stats = load_preferences(write(tmp_path / "x.json", rows))
    assert stats["formats"][str(tmp_path / "x.json")] == "pairs"
    assert out[0]["prompt"] == [user("q")] and out[0]["rejected"] == "bad"


def test_sharegpt(tmp_path):
    rows = [
        {"conversations": [{"from": "system", "value": "Be brief."},
                           {"from": "human", "value": "Hi"},
                           {"from": "gpt", "value": "Hello"},
                           {"from": "human", "value": "Name a colour"}],
         "chosen": {"from": "gpt", "value": "Blue"},
         "rejected": {"from": "gpt", "value": "I cannot."}},
        {"conversations": [{"from": "user", "value": "2+2?"}], "system": "You are a calculator.",
         "chosen": {"from": "assistant", "value": "4"},
         "rejected": {"from": "assistant", "value": "22"}},
    ]
    out, stats = load_preferences(write(tmp_path / "sg.json", rows))
    assert stats["formats"][str(tmp_path / "sg.json")] == "sharegpt"
    assert out[0]["prompt"] == [{"role": "system", "content": "Be brief."}, user("Hi"),
                                assistant("Hello"), user("Name a colour")]
    assert (out[0]["chosen"], out[0]["rejected"]) == ("Blue", "I cannot.")
    assert out[1]["prompt"][0] == {"role": "system", "content": "You are a calculator."}


def test_hh_rlhf(tmp_path):
    prefix = "\n\nHuman: How do I bake bread?\n\nAssistant: Flour, water, yeast.\n\nHuman: Then?"
    rows = [
        {"chosen": prefix + "\n\nAssistant: Knead and bake.",
         "rejected": prefix + "\n\nAssistant: No idea."},
        # replies that share their first word: the prompt still ends at the last Assistant turn
        {"chosen": "\n\nHuman: Hi\n\nAssistant: Sure, hello.",
         "rejected": "\n\nHuman: Hi\n\nAssistant: Sure, go away."},
    ]
    out, stats = load_preferences(write(tmp_path / "hh.jsonl.gz", rows))
    assert stats["formats"][str(tmp_path / "hh.jsonl.gz")] == "hh-rlhf"
    assert out[0]["prompt"] == [user("How do I bake bread?"), assistant("Flour, water, yeast."),
                                user("Then?")]
    assert (out[0]["chosen"], out[0]["rejected"]) == ("Knead and bake.", "No idea.")
    assert out[1]["prompt"] == [user("Hi")]
    assert (out[1]["chosen"], out[1]["rejected"]) == ("Sure, hello.", "Sure, go away.")


def test_llmbar(tmp_path):
    rows = [{"input": "Say hi", "output_1": "hi", "output_2": "bye", "label": 1},
            {"input": "Say bye", "output_1": "hi", "output_2": "bye", "label": 2}]
    out, stats = load_preferences(write(tmp_path / "natural.json", rows))
    assert stats["formats"][str(tmp_path / "natural.json")] == "llmbar"
    assert [(r["chosen"], r["rejected"]) for r in out] == [("hi", "bye"), ("bye", "hi")]
    # LLMBar file stems map to RewardBench subset names, which give the category
    assert {r["subset"] for r in out} == {"llmbar-natural"}
    assert {r["category"] for r in out} == {"chat-hard"}
    assert out[0]["source"] == f"{tmp_path.name}/natural"


def test_mrewardbench_shape(tmp_path):
    rows = [{"id": 30, "language": "kor_Hang", "prompt": "질문", "chosen": "좋은 답",
             "rejected": "나쁜 답", "subset": "alpacaeval-easy", "chosen_model": "x",
             "rejected_model": "y"},
            {"id": 31, "prompt": "q", "chosen": "a", "rejected": "b", "subset": "own",
             "category": "Chat Hard"}]
    out, stats = load_preferences(write(tmp_path / "mrb.parquet", rows), language="ko")
    assert stats["formats"][str(tmp_path / "mrb.parquet")] == "mrewardbench"
    assert out[0]["id"] == "30" and out[0]["language"] == "ko"  # FLORES code mapped to ISO
    assert out[0]["prompt"] == [user("질문")] and out[0]["category"] == "chat"
    assert out[1]["category"] == "chat-hard" and out[1]["subset"] == "own"


def test_explicit_format_and_source_name(tmp_path):
    rows = [{"prompt": "q", "chosen": "a", "rejected": "b", "subset": "s"}]
    f1 = write(tmp_path / "one.jsonl", rows)
    f2 = write(tmp_path / "two.jsonl", rows)
    out, stats = load_preferences([f1, f2], format="mrewardbench", source_name="mine",
                                  language="es")
    # ids keep counting across files under one source_name, so they stay unique
    assert [r["id"] for r in out] == ["mine-000000", "mine-000001"]
    assert {r["source"] for r in out} == {"mine"} and {r["language"] for r in out} == {"es"}
    assert stats["formats"] == {str(f1): "mrewardbench", str(f2): "mrewardbench"}


def test_directory_and_max_pairs(tmp_path):
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    write(d / "b.jsonl", [{"prompt": "q", "chosen": f"a{i}", "rejected": "b"} for i in range(3)])
    write(d / "sub" / "a.json", [{"input": "i", "output_1": "x", "output_2": "y", "label": 1}])
    (d / "notes.txt").write_text("ignored")
    out, stats = load_preferences(d)
    assert len(out) == 4 and stats["rows_read"] == 4
    assert [r["id"] for r in out] == ["b-000000", "b-000001", "b-000002", "a-000000"]
    out, stats = load_preferences(d, max_pairs=2)
    assert len(out) == 2 and stats["rows_kept"] == 2 and stats["rows_read"] == 2


def test_language_argument_and_row_language(tmp_path):
    rows = [{"prompt": "q", "chosen": "a", "rejected": "b", "id": "1"},
            {"prompt": "q", "chosen": "a", "rejected": "b", "id": "1", "language": "zh"}]
    out, _ = load_preferences(write(tmp_path / "l.jsonl", rows), language="ko")
    assert [r["language"] for r in out] == ["ko", "zh"]  # same id, two languages: no duplicate
    validate_file_rows(out, "l.jsonl")


# ------------------------------------------------------------------------------------------
# Bad rows
# ------------------------------------------------------------------------------------------

BAD_CASES = [
    # (row, field, reason, message fragment)
    ({"prompt": "q", "rejected": "b"}, "chosen", "missing_field", "missing"),
    ({"prompt": "q", "chosen": 3, "rejected": "b"}, "chosen", "wrong_type", "must be a string"),
    ({"prompt": "q", "chosen": "  ", "rejected": "b"}, "chosen", "empty_text", "empty"),
    ({"prompt": "", "chosen": "a", "rejected": "b"}, "prompt", "empty_text", "empty"),
    ({"prompt": "q", "chosen": "same", "rejected": "same"}, "chosen", "identical_responses",
     "identical"),
    ({"prompt": [user("q"), assistant("a")], "chosen": "x", "rejected": "y"}, "prompt",
     "unparseable_dialogue", "user turn"),
    ({"prompt": [{"role": "robot", "content": "q"}], "chosen": "x", "rejected": "y"}, "prompt",
     "unparseable_dialogue", "role"),
    ({"prompt": [user("q")], "chosen": [user("other"), assistant("x")], "rejected": "y"},
     "chosen", "unparseable_dialogue", "differs from the prompt"),
    ({"prompt": "q", "chosen": "a", "rejected": "b", "category": "fun"}, "category",
     "bad_category", "must be one of"),
    ({"prompt": "q", "chosen": "a", "rejected": "b", "id": 1.5}, "id", "wrong_type",
     "must be a string"),
]


@pytest.mark.parametrize("bad,field,reason,fragment", BAD_CASES)
def test_bad_row_error_names_file_row_field(tmp_path, bad, field, reason, fragment):
    good = {"prompt": "q", "chosen": "a", "rejected": "b"}
    path = write(tmp_path / "bad.jsonl", [good, {**good, "id": "x"}, bad])
    with pytest.raises(DataError) as info:
        load_preferences(path, format="pairs")
    msg = str(info.value)
    assert f"file {path}" in msg and "row 3" in msg and f"field '{field}'" in msg, msg
    assert fragment in msg and reason in msg, msg
    assert (info.value.path, info.value.row, info.value.field) == (str(path), 3, field)
    out, stats = load_preferences(path, format="pairs", on_bad_row="skip")
    assert len(out) == 2
    assert stats == {"rows_read": 3, "rows_kept": 2, "rows_skipped": 1,
                     "skipped_by_reason": {reason: 1}, "formats": {str(path): "pairs"}}


def test_llmbar_bad_label(tmp_path):
    path = write(tmp_path / "lb.json", [
        {"input": "i", "output_1": "x", "output_2": "y", "label": 1},
        {"input": "i", "output_1": "x", "output_2": "y", "label": 3},
        {"input": "i", "output_1": "x", "output_2": "y", "label": True}])
    with pytest.raises(DataError, match=r"lb\.json, row 2, field 'label': must be 1 or 2, got 3"):
        load_preferences(path)
    out, stats = load_preferences(path, on_bad_row="skip")
    assert len(out) == 1 and stats["skipped_by_reason"] == {"bad_label": 2}


def test_hh_rlhf_bad_dialogues(tmp_path):
    path = write(tmp_path / "hh.jsonl", [
        {"chosen": "\n\nHuman: q\n\nAssistant: fine", "rejected": "\n\nHuman: q\n\nAssistant: bad"},
        {"chosen": "\n\nHuman: q\n\nAssistant: ", "rejected": "\n\nHuman: q\n\nAssistant: x"},
        {"chosen": "\n\nHuman: q\n\nAssistant: a\n\nHuman: more\n\nAssistant: b",
         "rejected": "\n\nHuman: q\n\nAssistant: c"},
        {"chosen": "no dialogue here", "rejected": "nor here"},
    ])
    with pytest.raises(DataError, match=r"row 2, field 'chosen': the final Assistant turn"):
        load_preferences(path, format="hh-rlhf")
    out, stats = load_preferences(path, format="hh-rlhf", on_bad_row="skip")
    assert len(out) == 1
    assert stats["skipped_by_reason"] == {"empty_text": 1, "unparseable_dialogue": 2}


def test_invalid_json_line_and_duplicates(tmp_path):
    path = tmp_path / "d.jsonl"
    good = {"id": "a", "prompt": "q", "chosen": "x", "rejected": "y"}
    path.write_text(json.dumps(good) + "\n\n{not json\n" + json.dumps(good) + "\n[1]\n",
                    encoding="utf-8")
    # line numbers (blank lines count) are the row numbers of a JSON-lines file
    with pytest.raises(DataError, match=r"d\.jsonl, row 3: invalid JSON"):
        load_preferences(path)
    out, stats = load_preferences(path, on_bad_row="skip")
    assert len(out) == 1
    assert stats["skipped_by_reason"] == {"duplicate": 1, "invalid_json": 2}
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2, field 'id': duplicate \(id, language\)"):
        load_preferences(path)


def test_skipped_rows_do_not_shift_generated_ids(tmp_path):
    path = write(tmp_path / "s.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "a"},
                                        {"prompt": "q", "chosen": "a", "rejected": "b"}])
    out, _ = load_preferences(path, on_bad_row="skip")
    assert [r["id"] for r in out] == ["s-000001"]


def test_file_level_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_preferences(tmp_path / "missing.jsonl")
    (tmp_path / "x.json").write_text("{\"a\": 1}")
    with pytest.raises(DataError, match="expected a JSON list"):
        load_preferences(tmp_path / "x.json")
    write(tmp_path / "y.json", [{"foo": 1}])
    with pytest.raises(DataError, match="cannot detect the data format"):
        load_preferences(tmp_path / "y.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no data files"):
        load_preferences(tmp_path / "empty")
    with pytest.raises(ConfigError, match="unknown data format"):
        load_preferences(tmp_path / "y.json", format="csv")
    with pytest.raises(ConfigError, match="on_bad_row"):
        load_preferences(tmp_path / "y.json", on_bad_row="ignore")


# ------------------------------------------------------------------------------------------
# Hub
# ------------------------------------------------------------------------------------------


@pytest.fixture
def hub_offline(monkeypatch):
    """Force offline mode: datasets and huggingface_hub read the variable at import time."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_hub_unreachable_raises_missing_resource(hub_offline):
    with pytest.raises(MissingResourceError) as info:
        load_preferences("xlrm-test-nobody/made-up-preference-set-7f3a")
    msg = str(info.value)
    assert "xlrm-test-nobody/made-up-preference-set-7f3a" in msg
    assert "HF_HUB_OFFLINE" in msg and "local" in msg


def test_hub_dataset_rows_are_parsed(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return datasets.Dataset.from_list(
            [{"prompt": "q", "chosen": "a", "rejected": "b"},
             {"prompt": "q2", "chosen": "a2", "rejected": "b2"}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    out, stats = load_preferences("someone/prefs", hub_config="ko", hub_split="dev",
                                  language="ko")
    assert calls == [("someone/prefs", "ko", "dev")]
    assert [r["id"] for r in out] == ["someone/prefs-000000", "someone/prefs-000001"]
    assert out[0]["source"] == "someone/prefs" and out[0]["language"] == "ko"
    assert stats["rows_kept"] == 2


# ------------------------------------------------------------------------------------------
# Train/test split
# ------------------------------------------------------------------------------------------


def _multilingual_rows(n_ids: int, langs=("en", "ko", "zh")) -> list[dict]:
    return [{"id": f"item-{i}", "language": lang, "prompt": [user("q")], "chosen": "a",
             "rejected": "b", "source": "s", "subset": "s"}
            for i in range(n_ids) for lang in langs]


def test_split_deterministic_by_id_and_order_independent():
    rows = _multilingual_rows(500)
    train, test = split_train_test(rows, 0.2, seed=42)
    assert len(train) + len(test) == len(rows)
    train_ids, test_ids = {r["id"] for r in train}, {r["id"] for r in test}
    assert not train_ids & test_ids  # no id leaks across sides
    assert len(test_ids) == 100  # exactly round(0.2 * 500) ids
    # every language of a test id is in test
    assert all(sum(r["id"] == i for r in test) == 3 for i in list(test_ids)[:20])
    again = split_train_test(list(reversed(rows)), 0.2, seed=42)
    assert {r["id"] for r in again[1]} == test_ids
    assert split_train_test(rows, 0.2, seed=42) == (train, test)
    other = {r["id"] for r in split_train_test(rows, 0.2, seed=7)[1]}
    assert other != test_ids
    # row order is preserved within each side
    assert train == [r for r in rows if r["id"] in train_ids]


def test_split_edges():
    rows = _multilingual_rows(3, langs=("en",))
    assert split_train_test(rows, 0.0, seed=1) == (rows, [])
    train, test = split_train_test(rows, 0.01, seed=1)
    assert len(test) == 1 and len(train) == 2  # at least one test item when asked for any
    with pytest.raises(ConfigError):
        split_train_test(rows, 1.0, seed=1)


# ------------------------------------------------------------------------------------------
# Eval sets and the M-RewardBench schema
# ------------------------------------------------------------------------------------------


def test_mrewardbench_subsets_table():
    cats = {}
    for cat, weight in MREWARDBENCH_SUBSETS.values():
        cats[cat] = cats.get(cat, 0) + weight
    assert len(MREWARDBENCH_SUBSETS) == 23
    assert cats == {"chat": 296, "chat-hard": 407, "safety": 736, "reasoning": 1966}


def _mrb_rows(lang_tag: str) -> list[dict]:
    return [
        {"id": 1, "language": lang_tag, "prompt": "p1", "chosen": "c1", "rejected": "r1",
         "subset": "alpacaeval-easy", "chosen_model": "m1", "rejected_model": "m2"},
        {"id": 2, "language": lang_tag, "prompt": "p2", "chosen": "c2", "rejected": "r2",
         "subset": "hep-go"},
        {"id": 3, "language": lang_tag, "prompt": "p3", "chosen": "c3", "rejected": "r3",
         "subset": "seed-math", "category": "reasoning"},
    ]


def test_load_eval_set_local_dir(tmp_path):
    write(tmp_path / "kor_Hang.jsonl", _mrb_rows("kor_Hang"))
    write(tmp_path / "es.parquet", _mrb_rows("es"))
    write(tmp_path / "zho_Hans.json", _mrb_rows("zh"))
    sets = load_eval_set(tmp_path, ["ko", "es", "zh"])
    assert list(sets) == ["ko", "es", "zh"]
    for lang, rows in sets.items():
        assert [r["id"] for r in rows] == ["1", "2", "3"]
        assert {r["language"] for r in rows} == {lang}
        assert [r["category"] for r in rows] == ["chat", "reasoning", "reasoning"]
        assert rows[0]["prompt"] == [user("p1")]
        for r in rows:
            validate_pair(r)
    assert sets["ko"][0]["source"] == f"{tmp_path.name}/kor_Hang"
    assert len(load_eval_set(tmp_path, ["ko"], max_per_language=2)["ko"]) == 2


def test_max_per_language_takes_the_subsets_in_turn(tmp_path):
    """A file sorted by subset is not cut to its first subset: N rows are the subsets' first
    rows in turn, kept in file order."""
    rows = [{"id": i, "language": "ko", "prompt": f"p{i}", "chosen": "c", "rejected": "r",
             "subset": subset} for i, subset in enumerate(["alpacaeval-easy"] * 4
                                                          + ["hep-go"] * 3 + ["refusals-dangerous"])]
    write(tmp_path / "ko.jsonl", rows)
    kept = lambda n: [r["id"] for r in load_eval_set(tmp_path, ["ko"], max_per_language=n)["ko"]]
    assert kept(3) == ["0", "4", "7"]
    assert kept(5) == ["0", "1", "4", "5", "7"]
    assert kept(8) == kept(100) == [str(i) for i in range(8)]


def test_load_eval_set_errors(tmp_path):
    with pytest.raises(DataError) as info:
        load_eval_set(tmp_path, ["it"])
    assert "ita_Latn.jsonl" in str(info.value) and "it.parquet" in str(info.value)
    rows = _mrb_rows("it")
    rows[2].pop("category")
    write(tmp_path / "it.jsonl", rows)
    with pytest.raises(DataError, match=r"it\.jsonl, row 3, field 'category': subset 'seed-math'"):
        load_eval_set(tmp_path, ["it"])
    write(tmp_path / "ita_Latn.jsonl", rows)
    with pytest.raises(DataError, match="several evaluation files"):
        load_eval_set(tmp_path, ["it"])
    with pytest.raises(DataError, match="not found"):
        load_eval_set(tmp_path / "nope", ["it"])


def test_load_eval_set_hub_wiring(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        if path == loaders.MREWARDBENCH_HUB_ID and split == "filtered":
            raise ValueError('Unknown split "filtered". Should be one of [\'test\'].')
        return datasets.Dataset.from_list(_mrb_rows("xx")[:2])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    sets = load_eval_set("hub", ["en", "ko"], max_per_language=1)
    assert calls == [("allenai/reward-bench", None, "filtered"),
                     ("CohereLabsCommunity/multilingual-reward-bench", "kor_Hang", "filtered"),
                     ("CohereLabsCommunity/multilingual-reward-bench", "kor_Hang", "test")]
    assert [len(v) for v in sets.values()] == [1, 1]
    assert sets["ko"][0]["language"] == "ko" and sets["ko"][0]["category"] == "chat"


def test_load_eval_set_hub_offline(hub_offline):
    with pytest.raises(MissingResourceError, match="allenai/reward-bench"):
        load_eval_set("hub", ["en"])


def test_to_mrewardbench_rows_round_trip(tmp_path):
    rows = [{"id": "7", "language": "ko", "prompt": [user("질문")], "chosen": "가",
             "rejected": "나", "source": "s", "subset": "llmbar-natural",
             "category": "chat-hard"},
            {"id": "8", "language": "ko", "prompt": [user("q")], "chosen": "a",
             "rejected": "b", "source": "s", "subset": "own"}]
    mrb = to_mrewardbench_rows(rows)
    assert mrb[0] == {"id": "7", "language": "ko", "prompt": "질문", "chosen": "가",
                      "rejected": "나", "subset": "llmbar-natural", "category": "chat-hard"}
    assert mrb[1]["category"] is None
    write(tmp_path / "ko.jsonl", mrb[:1])
    back = load_eval_set(tmp_path, ["ko"])["ko"]
    assert back == [{**rows[0], "source": f"{tmp_path.name}/ko"}]
    with pytest.raises(DataError, match="row 1, field 'prompt'"):
        to_mrewardbench_rows([{**rows[0], "prompt": [user("a"), assistant("b"), user("c")]}])


# ------------------------------------------------------------------------------------------
# Project-written fixtures in tests/fixtures (every format and file type; see build.py there)
# ------------------------------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _fixture_rows():
    """The rows tests/fixtures/build.py writes (the module, imported from its path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fixture_build", FIXTURES / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILT = _fixture_rows()


def fixture(rel: str) -> Path:
    return FIXTURES / rel


@pytest.mark.parametrize("rel", sorted(BUILT.FILES))
def test_fixture_files_hold_the_built_rows(rel):
    """Each committed fixture file (also the binary ones) holds exactly the rows of build.py."""
    rows, numbers = read_rows(fixture(rel))
    expected = BUILT.FILES[rel]
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected):
        if isinstance(want, str):  # a line written as it is, not JSON
            assert isinstance(got, InvalidJson) and "invalid JSON" in got.message
        else:
            assert got == want
    if ".jsonl" in rel:
        assert numbers == list(range(1, len(expected) + 1))


def _fixture_files(folder: str) -> list[Path]:
    return sorted(p for p in (FIXTURES / folder).rglob("*")
                  if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))


def _suffix(path: Path) -> str:
    return next(s for s in DATA_SUFFIXES if path.name.endswith(s))


def test_fixtures_cover_every_format_and_file_type():
    """Without ../shared/data every format and file type is still read by some test: the
    good fixtures and the bad ones each cover every parser and every file suffix."""
    good = _fixture_files("preferences") + _fixture_files("eval")
    formats, suffixes = set(), set()
    for path in good:
        _, stats = load_preferences(path)
        formats |= set(stats["formats"].values())
        suffixes.add(_suffix(path))
    assert formats == set(PARSERS) and suffixes == set(DATA_SUFFIXES)
    bad_formats, bad_suffixes = set(), set()
    for path in _fixture_files("bad"):
        _, stats = load_preferences(path, on_bad_row="skip")
        assert stats["rows_skipped"] == 1, path
        bad_formats |= set(stats["formats"].values())
        bad_suffixes.add(_suffix(path))
    assert bad_formats == set(PARSERS) and bad_suffixes == set(DATA_SUFFIXES)
    # the three shapes of `pairs`: text prompt, prompt messages, conversations alone
    shapes = {"pairs_text.jsonl", "pairs_messages.json", "conversations.parquet"}
    assert shapes <= {p.name for p in good}


def test_fixture_pairs_text_jsonl():
    path = fixture("preferences/pairs_text.jsonl")
    out, stats = load_preferences(path)
    assert stats == {"rows_read": 3, "rows_kept": 3, "rows_skipped": 0, "skipped_by_reason": {},
                     "formats": {str(path): "pairs"}}
    assert [r["id"] for r in out] == ["pairs_text-000000", "tea-7", "pairs_text-000002"]
    assert [r["language"] for r in out] == ["en", "en", "es"]  # spa_Latn -> es
    assert out[0] == {"id": "pairs_text-000000", "language": "en",
                      "prompt": [user("How often should I water a cactus kept indoors?")],
                      "chosen": BUILT.PAIRS_TEXT[0]["chosen"],
                      "rejected": BUILT.PAIRS_TEXT[0]["rejected"],
                      "source": "preferences/pairs_text", "subset": "pairs_text"}
    assert (out[1]["subset"], out[1]["category"]) == ("kitchen", "chat")
    assert "category" not in out[2]
    validate_file_rows(out, str(path))


def test_fixture_pairs_as_message_lists_json():
    path = fixture("preferences/pairs_messages.json")
    out, stats = load_preferences(path)
    assert stats["formats"] == {str(path): "pairs"} and stats["rows_kept"] == 3
    assert out[0]["prompt"] == out[1]["prompt"] == BUILT.HIKE
    assert out[0]["chosen"].startswith("Water, snacks")
    assert (out[1]["chosen"], out[1]["rejected"]) == (
        "Sturdy shoes, two litres of water and a warm layer.", "Flip-flops are fine for any trail.")
    assert out[2]["prompt"] == [{"role": "system", "content": "Answer in one sentence."},
                                user("Why is the sky blue?")]
    assert out[2]["rejected"] == "Because it mirrors the colour of the sea."


def test_fixture_conversations_alone_parquet():
    path = fixture("preferences/conversations.parquet")
    out, stats = load_preferences(path)
    assert stats["formats"] == {str(path): "pairs"} and stats["rows_kept"] == 3
    assert [r["prompt"] for r in out] == [BUILT.KITTEN, BUILT.PERCENT, BUILT.TUTOR]
    assert [(r["chosen"], r["rejected"]) for r in out] == [
        ("How about Pebble, Smokey or Ash?", "Kittens do not need names."), ("18.", "20."),
        ("No: 91 = 7 × 13.", "Yes, 91 is prime.")]
    assert out[0]["id"] == "conversations-000000"


def test_fixture_sharegpt_json_gz():
    path = fixture("preferences/sharegpt.json.gz")
    out, stats = load_preferences(path)
    assert stats["formats"] == {str(path): "sharegpt"} and stats["rows_kept"] == 3
    assert out[0]["prompt"] == [user("Recommend a board game for four players.")]
    assert out[0]["rejected"] == "Chess."
    # the `system` key goes first; multi-turn conversations keep every turn
    assert [m["role"] for m in out[1]["prompt"]] == ["system", "user", "assistant", "user"]
    assert out[1]["prompt"][0]["content"] == "You are a helpful librarian."
    assert out[1]["chosen"].startswith("Yes: ask at the desk")
    # a system turn inside `conversations`, and the row's own language
    assert out[2]["language"] == "zh" and out[2]["prompt"][0]["role"] == "system"
    assert out[2]["chosen"] == "长城是中国古代修建的防御工事，绵延上万里。"
    assert [r["language"] for r in out[:2]] == ["en", "en"]


def test_fixture_hh_rlhf_jsonl_gz():
    path = fixture("preferences/hh_rlhf.jsonl.gz")
    out, stats = load_preferences(path)
    assert stats["formats"] == {str(path): "hh-rlhf"} and stats["rows_kept"] == 3
    assert out[0]["prompt"] == [user("My bread never rises. Why?")]
    assert out[0]["chosen"].startswith("The yeast may be old")
    assert out[0]["rejected"] == "Bread is not supposed to rise."
    assert [m["role"] for m in out[1]["prompt"]] == ["user", "assistant", "user"]
    assert out[1]["prompt"][-1] == user("It still wilts.")
    assert (out[2]["chosen"], out[2]["rejected"]) == (
        "No, never; use certified eclipse glasses.", "No problem, just squint.")


def test_fixture_llmbar_folder():
    folder = fixture("preferences/llmbar")
    out, stats = load_preferences(folder)
    assert stats["rows_kept"] == 3 and set(stats["formats"].values()) == {"llmbar"}
    # files in sorted order: adversarial-neighbor.json, then natural.json
    assert [r["id"] for r in out] == ["adversarial-neighbor-000000", "natural-000000",
                                      "natural-000001"]
    assert [r["subset"] for r in out] == ["llmbar-adver-neighbor", "llmbar-natural",
                                          "llmbar-natural"]
    assert {r["category"] for r in out} == {"chat-hard"}
    assert [(r["chosen"], r["rejected"]) for r in out] == [
        ("Hat.", "Dog."),  # label "2" given as a string
        (BUILT.LLMBAR_NATURAL[0]["output_1"], BUILT.LLMBAR_NATURAL[0]["output_2"]),
        ("Red, yellow, blue.", "Green, purple, orange.")]
    assert out[1]["source"] == "llmbar/natural"


def test_fixture_mrewardbench_rows_load_as_preferences():
    path = fixture("eval/kor_Hang.parquet")
    out, stats = load_preferences(path)
    assert stats["formats"] == {str(path): "mrewardbench"}
    assert [r["id"] for r in out] == ["101", "102", "103"]
    assert {r["language"] for r in out} == {"ko"}  # FLORES code in the rows
    assert [r["category"] for r in out] == ["chat", "reasoning", "safety"]
    assert "chosen_model" not in out[0]


def test_fixture_eval_folder():
    """FLORES- and ISO-named files (parquet, jsonl, json) in the M-RewardBench schema."""
    sets = load_eval_set(fixture("eval"), ["ko", "en", "es"])
    assert {lang: len(rows) for lang, rows in sets.items()} == {"ko": 3, "en": 3, "es": 2}
    assert [r["category"] for r in sets["en"]] == ["chat-hard", "reasoning", "safety"]
    assert [r["category"] for r in sets["es"]] == ["chat", "reasoning"]  # own category
    assert sets["es"][1]["subset"] == "project-own"
    assert sets["ko"][0]["source"] == "eval/kor_Hang" and sets["en"][0]["source"] == "eval/en"
    for lang, rows in sets.items():
        assert {r["language"] for r in rows} == {lang}
        validate_file_rows(rows, lang)
    assert to_mrewardbench_rows(sets["en"])[1]["prompt"] == BUILT.EVAL_EN[1]["prompt"]
    assert len(load_eval_set(fixture("eval"), ["ko"], max_per_language=2)["ko"]) == 2


@pytest.mark.parametrize("name", sorted(BUILT.BAD))
def test_fixture_bad_row_names_file_row_and_field(name):
    rows, row_num, field, reason = BUILT.BAD[name]
    path = fixture(f"bad/{name}")
    with pytest.raises(DataError) as info:
        load_preferences(path)
    err = info.value
    assert (err.path, err.row, err.field) == (str(path), row_num, field)
    msg = str(err)
    assert f"file {path}" in msg and f"row {row_num}" in msg and reason in msg, msg
    if field is not None:
        assert f"field '{field}'" in msg, msg
    out, stats = load_preferences(path, on_bad_row="skip")
    assert len(out) == len(rows) - 1 and stats["skipped_by_reason"] == {reason: 1}


# ------------------------------------------------------------------------------------------
# Real third-party files in ../shared/data
# ------------------------------------------------------------------------------------------

LLMBAR_COUNTS = {"natural": 100, "adversarial-neighbor": 134, "adversarial-gptinst": 92,
                 "adversarial-gptout": 47, "adversarial-manual": 46}


@pytest.mark.parametrize("stem,count", sorted(LLMBAR_COUNTS.items()))
def test_shared_llmbar(stem, count):
    path = shared("llmbar", f"{stem}.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    out, stats = load_preferences(path)
    assert len(out) == count == stats["rows_kept"] and stats["rows_skipped"] == 0
    assert stats["formats"] == {str(path): "llmbar"}
    for row, r in zip(out, raw):
        assert row["prompt"] == [user(r["input"])]
        better, worse = (r["output_1"], r["output_2"])[:: 1 if r["label"] == 1 else -1]
        assert (row["chosen"], row["rejected"]) == (better, worse)
        assert row["source"] == f"llmbar/{stem}" and row["category"] == "chat-hard"
    assert out[0]["subset"] == LLMBAR_SUBSETS[stem]
    validate_file_rows(out, str(path))


def test_shared_llmbar_directory():
    out, stats = load_preferences(shared("llmbar"))
    assert len(out) == sum(LLMBAR_COUNTS.values()) == 419
    assert len({r["id"] for r in out}) == 419


@pytest.mark.parametrize("name,language", [("dpo_en_demo", "en"), ("dpo_zh_demo", "zh")])
def test_shared_llama_factory(name, language):
    path = shared("llama-factory", f"{name}.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    out, stats = load_preferences(path, language=language)
    assert len(out) == 300 and stats["rows_skipped"] == 0
    assert stats["formats"] == {str(path): "sharegpt"}
    assert {r["language"] for r in out} == {language}
    for row, r in zip(out, raw):
        assert len(row["prompt"]) == len(r["conversations"])
        assert row["prompt"][-1] == user(r["conversations"][-1]["value"])
        assert row["chosen"] == r["chosen"]["value"]
        assert row["rejected"] == r["rejected"]["value"]
    # some prompts carry a system message inside `conversations`, some are multi-turn
    assert any(r["prompt"][0]["role"] == "system" for r in out)
    if language == "en":
        assert any(len(r["prompt"]) >= 5 for r in out)
    else:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in out[0]["prompt"][-1]["content"])
    validate_file_rows(out, str(path))


def test_shared_hh_rlhf():
    path = shared("hh-rlhf", "harmless-base-test.jsonl.gz")
    # error mode stops at the first genuinely bad row (an empty chosen reply)
    with pytest.raises(DataError, match=r"row 87, field 'chosen': the final Assistant turn is "
                                        r"empty"):
        load_preferences(path)
    out, stats = load_preferences(path, on_bad_row="skip")
    # 2312 pairs: 4 have an empty chosen reply (rows 87, 517, 926, 1104) and in 5 the chosen
    # or rejected reply runs on into further Human/Assistant turns (1255, 1689, 1951, 1953, 2037)
    assert stats == {"rows_read": 2312, "rows_kept": 2303, "rows_skipped": 9,
                     "skipped_by_reason": {"empty_text": 4, "unparseable_dialogue": 5},
                     "formats": {str(path): "hh-rlhf"}}
    ids = {r["id"] for r in out}
    assert "harmless-base-test-000086" not in ids  # row 87 (0-based index 86) was skipped
    assert "harmless-base-test-000087" in ids
    for row in out:
        assert row["prompt"][0]["role"] == "user" and row["prompt"][-1]["role"] == "user"
        assert all("\n\nHuman:" not in m["content"] and "\n\nAssistant:" not in m["content"]
                   for m in row["prompt"])
        assert row["chosen"] == row["chosen"].strip() and row["chosen"]
        assert "\n\nAssistant:" not in row["chosen"] and "\n\nHuman:" not in row["rejected"]
    first = out[0]
    assert first["prompt"][0]["content"] == "what are some pranks with a pen i can do?"
    assert [m["role"] for m in first["prompt"]] == ["user", "assistant"] * 2 + ["user"]
    assert first["chosen"].startswith("No, sorry!")
    validate_file_rows(out, str(path))


def test_shared_split_no_leakage():
    out, _ = load_preferences(shared("llama-factory", "dpo_en_demo.json"))
    train, test = split_train_test(out, 0.1, seed=42)
    assert len(test) == 30 and len(train) == 270
    assert not {r["id"] for r in train} & {r["id"] for r in test}

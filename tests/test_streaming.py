"""The data stages stream: prepare, eval_data and translate's reading hold keys or one
language, not every row, and give the same outputs as the in-memory path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlrm.data.config import PrepareConfig
from xlrm.data.loaders import iter_eval_sets, load_preferences, split_train_test
from xlrm.data.pairs import read_pairs_of
from xlrm.data.prepare import prepare
from xlrm.data.sources import JsonlRows, file_source
from xlrm.errors import DataError
from xlrm.io import write_jsonl
from xlrm.languages import flores


def _lines(rows: list[dict]) -> bytes:
    return b"".join((json.dumps(r, ensure_ascii=False) + "\n").encode() for r in rows)


def test_prepare_writes_what_the_in_memory_split_gives(seed_rows, tmp_path):
    src = tmp_path / "pairs.jsonl"
    write_jsonl(src, seed_rows)
    out = tmp_path / "out"
    out.mkdir()
    summary = prepare(PrepareConfig(source=str(src), test_fraction=0.2, split_seed=3,
                                    split_by="id"), out)
    rows, stats = load_preferences(src)
    train, test = split_train_test(rows, 0.2, 3)
    assert (out / "train.jsonl").read_bytes() == _lines(train)
    assert (out / "test.jsonl").read_bytes() == _lines(test)
    assert sorted(p.name for p in out.iterdir()) == ["test.jsonl", "train.jsonl"]  # no spill
    assert summary["load"] == stats
    assert (summary["train_pairs"], summary["test_pairs"]) == (len(train), len(test))
    assert sum(summary["test_by_language"].values()) == len(test)


def test_prepare_error_names_the_row_and_stops(seed_rows, tmp_path):
    src = tmp_path / "pairs.jsonl"
    write_jsonl(src, [*seed_rows[:5], seed_rows[2]])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DataError, match="duplicate") as e:
        prepare(PrepareConfig(source=str(src)), out)
    assert e.value.row == 6 and e.value.field == "id"


def test_a_jsonl_source_is_read_lazily_with_line_numbers(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n[1]\n{"b": 2}\n', encoding="utf-8")
    src = file_source(path, None)
    assert isinstance(src.rows, JsonlRows)
    path.write_text('{"a": 1}\n\n{"c": 3}\n', encoding="utf-8")  # read when iterated
    got = list(src.numbered())
    assert [n for n, _ in got] == [1, 3] and got[1][1] == {"c": 3}


def test_unreadable_jsonl_is_a_data_error(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n\xff\xfe\n')
    with pytest.raises(DataError, match="cannot read") as e:
        list(file_source(path, None).numbered())
    assert e.value.path == str(path)


def _mrb(rows: list[dict], lang: str) -> list[dict]:
    return [{"id": r["id"], "language": flores(lang), "prompt": r["prompt"][0]["content"],
             "chosen": r["chosen"], "rejected": r["rejected"], "subset": r["subset"],
             "category": r["category"]} for r in rows]


def test_eval_sets_come_one_language_at_a_time(seed_rows, tmp_path):
    en = [r for r in seed_rows if r["language"] == "en"][:4]
    write_jsonl(tmp_path / f"{flores('es')}.jsonl", _mrb(en, "es"))
    bad = _mrb(en, "ko")
    bad[2] = {**bad[2], "subset": "not-a-subset", "category": None}
    (tmp_path / f"{flores('ko')}.jsonl").write_text(
        "\n".join(json.dumps(r) for r in bad[:2]) + "\n\n" + json.dumps(bad[2]) + "\n",
        encoding="utf-8")
    sets = iter_eval_sets(tmp_path, ["es", "ko"])
    lang, rows = next(sets)  # the first language, before the bad second file is read
    assert lang == "es" and len(rows) == 4 and {r["language"] for r in rows} == {"es"}
    with pytest.raises(DataError, match="no category") as e:
        next(sets)
    assert e.value.row == 4 and e.value.field == "category"  # the line number (blank line 3)


def test_read_pairs_of_keeps_some_languages_but_checks_the_whole_file(seed_rows, tmp_path):
    path = tmp_path / "train.jsonl"
    write_jsonl(path, seed_rows)
    got = read_pairs_of(path, ["en", "ko"])
    assert got["en"] == [r for r in seed_rows if r["language"] == "en"]
    assert set(got) == {"en", "ko"} and all(r["language"] == "ko" for r in got["ko"])
    es = next(r for r in seed_rows if r["language"] == "es")
    write_jsonl(path, [*seed_rows, es])
    with pytest.raises(DataError, match="duplicate") as e:
        read_pairs_of(path, ["en"])
    assert e.value.row == len(seed_rows) + 1


def test_language_check_in_chunks_equals_one_batch(seed_rows):
    from xlrm.langid import LanguageChecker

    texts = [r["chosen"] for r in seed_rows if r["language"] in ("es", "en")][:60]
    checker = LanguageChecker(["es"], 20)
    assert checker.are_language(texts, "es", chunk=7) == checker.are_language(texts, "es")
    assert not all(checker.are_language(texts, "es", chunk=7))  # the English texts fail


def test_eval_file_path_is_a_path(tmp_path):  # the folder source given as a Path works
    assert list(iter_eval_sets(Path(tmp_path), [])) == []

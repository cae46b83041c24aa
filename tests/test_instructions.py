"""Instruction sets of the alignment half: sources, per-language placeholders, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlrm.data.instructions import InstructionSource, drop_overlap, load_instructions
from xlrm.errors import ConfigError, DataError


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_seed_source_reads_the_prepared_splits(seed_rows, tmp_path):
    train_ids = set(sorted({r["id"] for r in seed_rows})[::2])
    train = [r for r in seed_rows if r["id"] in train_ids]
    test = [r for r in seed_rows if r["id"] not in train_ids]
    _write_jsonl(tmp_path / "train.jsonl", train)
    _write_jsonl(tmp_path / "test.jsonl", test)
    src = InstructionSource(source="seed", max_per_language=5)
    prompts = load_instructions(src, "ko", split="train", prepared_dir=tmp_path)
    evals = load_instructions(InstructionSource(source="seed"), "ko", split="eval", prepared_dir=tmp_path)
    assert len(prompts) == 5 and all(p["language"] == "ko" and "reference" not in p for p in prompts)
    assert all(e["reference"] for e in evals)
    assert {p["id"] for p in prompts}.isdisjoint(e["id"] for e in evals)


def test_file_source_fills_language_placeholders(seed_rows, tmp_path):
    # the translated train sets (normalised schema: prompt messages) as on-policy prompts
    for lang in ("es", "ko"):
        _write_jsonl(tmp_path / "train" / f"{lang}.jsonl",
                     [r for r in seed_rows if r["language"] == lang][:4])
    src = InstructionSource(source=str(tmp_path / "train" / "{lang}.jsonl"))
    got = load_instructions(src, "es", split="train", prepared_dir=tmp_path)
    assert len(got) == 4 and got[0]["messages"][-1]["role"] == "user"
    assert got[0]["id"] == [r for r in seed_rows if r["language"] == "es"][0]["id"]


def test_hub_split_and_config_take_code_and_english_name(monkeypatch, tmp_path):
    calls = []

    def fake_hub(source, config, split):
        calls.append((source, config, split))
        return [{"instruction": "¿Qué es un río?", "output": "Una corriente de agua."}]

    monkeypatch.setattr("xlrm.data.loaders.load_hub_dataset", fake_hub)
    src = InstructionSource(source="someone/x-alpacaeval", hub_config="cfg-{lang}",
                            hub_split="{language}")
    got = load_instructions(src, "es", split="eval", prepared_dir=tmp_path)
    assert calls == [("someone/x-alpacaeval", "cfg-es", "spanish")]
    assert got[0]["reference"] == "Una corriente de agua." and got[0]["language"] == "es"


def test_bad_rows_name_file_row_and_field(tmp_path):
    path = _write_jsonl(tmp_path / "eval.jsonl", [{"instruction": "Hola", "output": "Hola."},
                                                  {"instruction": "Adiós"}])
    with pytest.raises(DataError) as err:
        load_instructions(InstructionSource(source=str(path)), "es", split="eval",
                          prepared_dir=tmp_path)
    assert str(path) in str(err.value) and "2" in str(err.value) and "output" in str(err.value)
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"text": "no instruction"}])
    with pytest.raises(DataError, match="instruction"):
        load_instructions(InstructionSource(source=str(bad)), "es", split="train",
                          prepared_dir=tmp_path)


def test_drop_overlap_by_id_and_by_text():
    def row(i, text):
        return {"id": i, "messages": [{"role": "user", "content": text}]}

    train = [row("a", "one"), row("b", "two"), row("c", " three ")]
    evaluation = [row("a", "x"), row("z", "three")]
    kept, dropped = drop_overlap(train, evaluation)
    assert [r["id"] for r in kept] == ["b"] and dropped == 2
    with pytest.raises(ConfigError):
        drop_overlap([row("a", "one")], evaluation)

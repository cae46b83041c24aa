"""Instruction sets of the alignment half: sources, per-language placeholders, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlrm.data.config import InstructionSource
from xlrm.data.instructions import drop_overlap, load_instructions
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

    monkeypatch.setattr("xlrm.data.sources.load_hub_dataset", fake_hub)
    src = InstructionSource(source="someone/x-alpacaeval", hub_config="cfg-{lang}",
                            hub_split="{language}")
    got = load_instructions(src, "es", split="eval", prepared_dir=tmp_path)
    assert calls == [("someone/x-alpacaeval", "cfg-es", "spanish")]
    assert got[0]["reference"] == "Una corriente de agua." and got[0]["language"] == "es"


def test_bad_rows_name_file_row_and_field(tmp_path):
    path = _write_jsonl(tmp_path / "eval.jsonl", [{"instruction": "Hola", "output": "Hola."},
                                                  {"instruction": "Adiós"}])
    rows = load_instructions(InstructionSource(source=str(path)), "es", split="eval",
                             prepared_dir=tmp_path)  # a reference is optional (head to head)
    assert [r.get("reference") for r in rows] == ["Hola.", None]
    _write_jsonl(path, [{"instruction": "Hola", "output": "Hola."},
                        {"instruction": "Adiós", "output": ""}])
    with pytest.raises(DataError) as err:
        load_instructions(InstructionSource(source=str(path)), "es", split="eval",
                          prepared_dir=tmp_path)
    assert str(path) in str(err.value) and "row 2" in str(err.value) \
        and "field 'output'" in str(err.value)
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


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "instructions" / "es.eval.jsonl.gz"


def test_fixture_file_instruction_messages_and_language_filter(tmp_path):
    """A project-written gzipped JSON-lines file (tests/fixtures): ``instruction`` and
    ``messages`` rows, ``output`` and ``reference`` answers, a row of another language skipped."""
    src = InstructionSource(source=str(FIXTURE))
    got = load_instructions(src, "es", split="eval", prepared_dir=tmp_path)
    assert [r["id"] for r in got] == ["ins-1", "ins-2"]
    assert got[0]["messages"] == [{"role": "user",
                                   "content": "Explica qué es la fotosíntesis en una frase."}]
    assert got[1]["messages"] == [{"role": "user", "content": "Dame un consejo para dormir mejor."}]
    assert got[1]["reference"] == "Acuéstate y levántate a la misma hora cada día."
    # rows without a language are taken for whichever language is asked
    it = load_instructions(src, "it", split="train", prepared_dir=tmp_path)
    assert [r["id"] for r in it] == ["ins-1", "ins-2", "ins-3"]
    assert {r["language"] for r in it} == {"it"} and not any("reference" in r for r in it)


def test_parquet_file_with_message_lists(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "ko.parquet"
    pq.write_table(pa.Table.from_pylist(
        [{"id": "p1", "messages": [{"role": "user", "content": "안녕하세요?"}]}]), path)
    got = load_instructions(InstructionSource(source=str(path)), "ko", split="train",
                            prepared_dir=tmp_path)
    assert got == [{"id": "p1", "language": "ko",
                    "messages": [{"role": "user", "content": "안녕하세요?"}]}]


def test_invalid_json_line_names_its_line(tmp_path):
    path = tmp_path / "es.jsonl"
    path.write_text('{"instruction": "Hola"}\n\n{oops\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"es\.jsonl, row 3: invalid JSON"):
        load_instructions(InstructionSource(source=str(path)), "es", split="train",
                          prepared_dir=tmp_path)


def _stage(name: str):
    """The STAGE and main of stages/<name>.py, imported from its path (in this process)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "stages" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"stage_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_data_stages_prepare_eval_data_instructions(tmp_path, capsys):
    """The three data stages on the runner, chained on a tiny seed set: outputs, metrics
    under their stage's prefix, and strict params (a missing section, a bad value)."""
    import mlflow
    import yaml

    params = {"prepare": {"source": "seed", "test_fraction": 0.25,
                          "seed": {"items_per_subset": 4, "languages": ["en", "ko"]}},
              "eval_data": {"source": "prepared"}, "eval_languages": ["en", "ko"],
              "instructions": {"train": {"source": "seed"}, "eval": {"source": "seed"}},
              "alignment_languages": ["ko"]}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    prepared, evals, instr = tmp_path / "prepared", tmp_path / "eval", tmp_path / "instructions"
    for name, argv in (
            ("prepare", ["--out-dir", str(prepared), "--metrics", str(tmp_path / "p.json")]),
            ("eval_data", ["--prepared-test", str(prepared / "test.jsonl"),
                           "--out-dir", str(evals)]),
            ("instructions", ["--prepared-dir", str(prepared), "--out-dir", str(instr)])):
        module = _stage(name)
        module.STAGE.run(module.main, ["--params", str(path), *argv])
    out = capsys.readouterr().out
    # 6 subsets x 4 items x 2 languages, split by prompt (the 14 test rows share no prompt
    # with training); one instruction per distinct prompt
    assert "prepared 34 train / 14 test pairs" in out
    assert "eval sets: en 7, ko 7" in out and "instructions: ko 14/6" in out
    assert sorted(p.name for p in evals.iterdir()) == ["eng_Latn.jsonl", "kor_Hang.jsonl"]
    assert sorted(p.name for p in instr.iterdir()) == ["ko.eval.jsonl", "ko.train.jsonl"]
    runs = mlflow.search_runs(experiment_names=["xlrm"], output_format="list")
    metrics = {k for run in runs for k in run.data.metrics}
    assert {"prepare.train_pairs", "eval_data.pairs.ko", "instructions.ko.train",
            "instructions.ko.train_dropped_overlap"} <= metrics

    module = _stage("eval_data")
    for bad, message in (({k: v for k, v in params.items() if k != "eval_data"},
                          "no section 'eval_data'"),
                         ({**params, "eval_data": {"max_per_language": 0}},
                          "eval_data: max_per_language must be a positive integer")):
        path.write_text(yaml.safe_dump(bad), encoding="utf-8")
        with pytest.raises(SystemExit) as info:
            module.STAGE.run(module.main, ["--params", str(path), "--prepared-test",
                                           str(prepared / "test.jsonl"), "--out-dir", str(evals)])
        assert info.value.code == 2 and message in capsys.readouterr().err

"""Bad input at every reader: a clear error (file, row, field, what was expected), exit 2
through the stage runner, no partial output; and odd-but-valid encodings that must load
unchanged. The table of cases is in tests/README.md."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from xlrm.errors import ConfigError, DataError, MissingResourceError, XlrmError

REPO = Path(__file__).resolve().parent.parent
PAIR = {"prompt": "What is two plus two?", "chosen": "Four.", "rejected": "Five."}


@pytest.fixture(scope="module")
def _mlflow_db(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _one_mlflow_store(_mlflow_db, monkeypatch):
    """One MLflow store for the module's in-process stage runs (set up once, not per test)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _mlflow_db)


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_stage(name: str, argv: list[str], capsys) -> str:
    """Run a stage script in-process; it must exit 2; returns its stderr."""
    module = load_script(name)
    with pytest.raises(SystemExit) as e:
        module.STAGE.run(module.main, argv)
    assert e.value.code == 2
    return capsys.readouterr().err


def write_params(tmp_path: Path, params: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def jsonl(path: Path, rows: list, *, newline: str = "\n", bom: bool = False) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + newline for r in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def pair(i: int, **extra) -> dict:
    return {**PAIR, "prompt": f"Question {i}?", "id": f"q{i}", **extra}


# --------------------------------------------------------------------------- prepare

def prepare_argv(tmp_path: Path, source: Path, **section) -> list[str]:
    params = write_params(tmp_path, {"prepare": {"source": str(source), **section}})
    return ["--params", str(params), "--out-dir", str(tmp_path / "prepared"),
            "--metrics", str(tmp_path / "prepare.json")]


@pytest.mark.parametrize("content", ["", "\n\n", "\r\n"], ids=["empty", "blank", "crlf-blank"])
def test_prepare_on_an_empty_file_exits_2_and_writes_nothing(tmp_path, capsys, content):
    src = tmp_path / "empty.jsonl"
    src.write_text(content, encoding="utf-8")
    err = run_stage("prepare", prepare_argv(tmp_path, src), capsys)
    assert f"file {src}" in err and "no rows" in err
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "prepare.json").exists()


def test_prepare_on_an_empty_json_list_is_refused(tmp_path):
    from xlrm.data.loaders import load_preferences

    (tmp_path / "empty.json").write_text("[]", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.json: no rows"):
        load_preferences(tmp_path / "empty.json")


def test_prepare_with_every_row_skipped_exits_2_and_writes_nothing(tmp_path, capsys):
    src = jsonl(tmp_path / "bad.jsonl", [{**PAIR, "chosen": ""}, {**PAIR, "rejected": 3}])
    err = run_stage("prepare", prepare_argv(tmp_path, src, on_bad_row="skip", format="pairs"),
                    capsys)
    assert "no usable row: 2 read" in err and "empty_text" in err and "wrong_type" in err
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "prepare.json").exists()


def test_skip_mode_counts_every_skipped_row_by_reason_in_the_metrics(tmp_path, capsys):
    rows = [pair(0), {**pair(1), "chosen": "  "}, pair(2, language="xx"), pair(0),
            {**pair(3), "rejected": ["not", "messages"]}, pair(4), pair(5)]
    src = jsonl(tmp_path / "mixed.jsonl", rows)
    with src.open("a", encoding="utf-8") as f:
        f.write('{"prompt": "q", "chosen": "a", "rejected": "b", "margin": NaN}\n{broken\n')
    module = load_script("prepare")
    module.STAGE.run(module.main, prepare_argv(tmp_path, src, on_bad_row="skip",
                                               test_fraction=0.0))
    load = json.loads((tmp_path / "prepare.json").read_text())["load"]
    assert load["rows_read"] == 9 and load["rows_kept"] == 3 and load["rows_skipped"] == 6
    assert load["skipped_by_reason"] == {"duplicate": 1, "empty_text": 1, "invalid": 1,
                                         "invalid_json": 2, "wrong_type": 1}


# --------------------------------------------------------------------------- NaN / Infinity

@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_non_finite_numbers_in_a_preference_file_are_refused(tmp_path, literal, suffix):
    from xlrm.data.loaders import load_preferences

    row = '{"prompt": "q", "chosen": "a", "rejected": "b", "margin": %s}' % literal
    path = tmp_path / f"p{suffix}"
    good = json.dumps(pair(1))
    path.write_text(f"{good}\n{row}\n" if suffix == ".jsonl" else f"[{good},\n{row}]",
                    encoding="utf-8")
    where = "row 2" if suffix == ".jsonl" else f"file {path}"
    with pytest.raises(DataError, match=rf"{where}.*non-finite number {literal}"):
        load_preferences(path)


def test_non_finite_numbers_in_prepared_pairs_are_refused(tmp_path):
    from xlrm.data.pairs import read_pairs

    path = tmp_path / "en.jsonl"
    path.write_text('{"id": "a", "score": NaN}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"en\.jsonl, row 1: non-finite number NaN"):
        read_pairs(path)


def test_a_params_value_of_nan_or_inf_is_refused(tmp_path):
    from xlrm.sections import load_declared

    for value in (".nan", ".inf", "nan"):
        path = tmp_path / "params.yaml"
        path.write_text(f"generate:\n  temperature: {value}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"generate\.temperature: expected a finite"):
            load_declared(path, ["generate"])


# --------------------------------------------------------------------------- encodings

def test_bom_crlf_and_trailing_blank_lines_load_unchanged(tmp_path):
    from xlrm.data.loaders import load_preferences
    from xlrm.io import read_jsonl

    rows = [pair(i) for i in range(3)]
    plain = load_preferences(jsonl(tmp_path / "p.jsonl", rows))[0]
    odd = tmp_path / "odd"
    odd.mkdir()
    path = jsonl(odd / "p.jsonl", rows, newline="\r\n", bom=True)
    path.write_bytes(path.read_bytes() + b"\r\n\r\n\n")
    got = load_preferences(path)[0]
    assert [{k: v for k, v in r.items() if k != "source"} for r in got] == \
        [{k: v for k, v in r.items() if k != "source"} for r in plain]
    assert read_jsonl(path) == rows
    # .json with a BOM and CRLF, and gzip'd JSON lines with a BOM
    (odd / "q.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(rows, indent=1).replace(
        "\n", "\r\n").encode("utf-8"))
    with gzip.open(odd / "r.jsonl.gz", "wb") as f:
        f.write(path.read_bytes())
    for name in ("q.json", "r.jsonl.gz"):
        got = load_preferences(odd / name)[0]
        assert [r["prompt"] for r in got] == [r["prompt"] for r in plain]


def test_text_in_every_script_and_very_long_rows_load_byte_for_byte(tmp_path):
    from xlrm.data.loaders import load_preferences

    texts = ["naïve café", "Привет, мир", "مرحبا بالعالم", "नमस्ते दुनिया", "你好，世界",
             "こんにちは", "안녕하세요", "สวัสดีชาวโลก", "Γειά σου", "שלום", "e\u0301 combining",
             "emoji 👩‍👩‍👧 🇰🇷", "tab\tand\nnewline", "zero\u200bwidth", "\u2028line sep"]
    long = "x" * 2_000_000 + " ünï"
    rows = [{"id": f"s{i}", "prompt": t, "chosen": t + " yes", "rejected": t + " no"}
            for i, t in enumerate(texts)] + [{"id": "long", "prompt": "q", "chosen": long,
                                             "rejected": "short"}]
    for ascii_only in (True, False):
        path = tmp_path / f"s{int(ascii_only)}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in rows),
                        encoding="utf-8")
        got = load_preferences(path)[0]
        assert [(r["id"], r["prompt"][0]["content"], r["chosen"], r["rejected"]) for r in got] \
            == [(r["id"], r["prompt"], r["chosen"], r["rejected"]) for r in rows]


# --------------------------------------------------------------------------- types, ids, codes

@pytest.mark.parametrize("row, field, expected", [
    ({**PAIR, "chosen": 4}, "chosen", "must be a string or a list of messages, got int"),
    ({**PAIR, "prompt": {"text": "q"}}, "prompt", "must be a string or a list of messages"),
    ({**PAIR, "id": ["a"]}, "id", "must be a string, got list"),
    ({**PAIR, "language": 7}, "language", "must be a string, got int"),
    ({**PAIR, "rejected": None}, "rejected", "missing"),
    ({**PAIR, "category": 1}, "category", "must be a string"),
])
def test_wrong_json_types_name_the_row_and_field(tmp_path, row, field, expected):
    from xlrm.data.loaders import load_preferences

    path = jsonl(tmp_path / "t.jsonl", [pair(0), row])
    with pytest.raises(DataError, match=rf"row 2, field '{field}': {expected}"):
        load_preferences(path, format="pairs")


def test_a_json_line_that_is_not_an_object_is_refused(tmp_path):
    from xlrm.io import read_jsonl

    path = tmp_path / "l.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2: expected a JSON object, got list"):
        read_jsonl(path)


def test_duplicate_id_and_language_is_refused_in_every_pairs_reader(tmp_path):
    from xlrm.data.loaders import load_preferences
    from xlrm.data.pairs import read_pairs

    path = jsonl(tmp_path / "d.jsonl", [pair(0), pair(1), pair(0)])
    with pytest.raises(DataError, match=r"row 3, field 'id': duplicate \(id, language\)"):
        load_preferences(path)
    rows, _ = load_preferences(jsonl(tmp_path / "ok.jsonl", [pair(0), pair(1)]))
    prepared = jsonl(tmp_path / "en.jsonl", rows + rows[:1])
    with pytest.raises(DataError, match=r"en\.jsonl, row 3, field 'id': duplicate"):
        read_pairs(prepared)


def test_an_unknown_language_code_is_refused(tmp_path):
    from xlrm.data.loaders import load_preferences
    from xlrm.sections import load_declared

    path = jsonl(tmp_path / "l.jsonl", [pair(0, language="xx")])
    with pytest.raises(DataError, match=r"row 1, field 'language': unknown language code 'xx'"):
        load_preferences(path)
    params = write_params(tmp_path, {"prepare": {"language": "english"}})
    with pytest.raises(ConfigError, match=r"prepare: language: unknown language code"):
        load_declared(params, ["prepare"])


# --------------------------------------------------------------------------- params ranges

@pytest.mark.parametrize("section, values, expected", [
    ("train_rm", {"learning_rate": -1e-5}, r"train_rm\.learning_rate: must be >= 0"),
    ("train_rm", {"num_train_epochs": 0}, r"train_rm\.num_train_epochs: must be > 0"),
    ("train_rm", {"per_device_train_batch_size": 0}, r"per_device_train_batch_size: must be >= 1"),
    ("train_rm", {"learning_rate": "fast"}, r"train_rm\.learning_rate: expected a number"),
    ("train_rm", {"weight_decay": -0.1}, r"train_rm\.weight_decay: must be >= 0"),
    ("train_rm", {"max_length": 0}, r"train_rm\.max_length: must be >= 1"),
    ("train_dpo", {"beta": 0}, r"train_dpo\.beta: must be > 0"),
    ("train_dpo", {"learning_rate": -1}, r"train_dpo\.learning_rate: must be >= 0"),
    ("generate", {"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ("generate", {"num_samples": 0}, r"num_samples must be at least 1"),
    ("generate", {"temperature": -0.1}, r"temperature must be >= 0"),
    ("generate", {"num_samples": "4"}, r"generate\.num_samples: expected an integer"),
    ("prepare", {"test_fraction": 1.0}, r"test_fraction must be in \[0, 1\)"),
    ("prepare", {"seed": {"items_per_subset": 0}}, r"items_per_subset must be a positive"),
    ("prepare", {"on_bad_row": "ignore"}, r"on_bad_row: must be one of"),
    ("label", {"min_margin": -1}, r"min_margin must be at least 0"),
    ("eval_rm", {"token_budget": 0}, r"token_budget must be at least 1"),
    ("transfer", {"confidence": 1.0}, r"confidence: must be in \(0, 1\)"),
])
def test_a_params_value_of_the_wrong_type_or_out_of_range_is_refused(tmp_path, section, values,
                                                                     expected):
    from xlrm.sections import load_declared

    params = write_params(tmp_path, {section: values})
    with pytest.raises(ConfigError, match=expected) as e:
        load_declared(params, [section])
    assert str(params) in str(e.value)


def test_a_params_error_exits_2_through_the_runner(tmp_path, capsys):
    params = write_params(tmp_path, {"prepare": {"test_fraction": -0.5}})
    err = run_stage("prepare", ["--params", str(params), "--out-dir", str(tmp_path / "o"),
                                "--metrics", str(tmp_path / "m.json")], capsys)
    assert "test_fraction" in err and str(params) in err
    assert not (tmp_path / "o").exists()


def test_the_valid_trainer_sections_of_the_presets_still_load():
    from xlrm.sections import load_declared

    for preset in sorted((REPO / "presets").glob("*.yaml")):
        load_declared(preset, ["train_rm", "train_dpo", "generate", "prepare"])


# --------------------------------------------------------------------------- model folders

def half_written(tiny_base: Path, tmp_path: Path, drop: tuple[str, ...]) -> Path:
    out = tmp_path / "half"
    shutil.copytree(tiny_base, out)
    for name in drop:
        for p in out.glob(name):
            p.unlink()
    return out


def test_a_missing_model_folder_is_named_by_every_loader(tmp_path):
    from xlrm.generation.config import GenerateConfig
    from xlrm.generation.run import generate_to_file
    from xlrm.modeling import load_causal, load_reward_model, load_seqcls, load_tokenizer

    gone = tmp_path / "models" / "nothing"
    for call in (lambda: load_seqcls(gone), lambda: load_reward_model(gone, tmp_path),
                 lambda: load_causal(gone), lambda: load_tokenizer(gone),
                 lambda: generate_to_file(gone, [{"id": "a", "messages": [
                     {"role": "user", "content": "hi"}]}], tmp_path / "s.jsonl",
                     GenerateConfig(), language="en")):
        with pytest.raises(MissingResourceError, match=rf"{gone} does not exist"):
            call()
    assert not (tmp_path / "s.jsonl").exists()


def test_a_half_written_model_folder_is_refused(tiny_base, tmp_path):
    from xlrm.modeling import check_model_folder, load_causal, load_seqcls

    no_weights = half_written(tiny_base, tmp_path / "w", ("*.safetensors", "*.bin"))
    for call in (lambda: load_seqcls(no_weights), lambda: load_causal(no_weights)):
        with pytest.raises(MissingResourceError, match="half-written: no weights"):
            call()
    no_config = half_written(tiny_base, tmp_path / "c", ("config.json",))
    with pytest.raises(MissingResourceError, match="half-written: no config.json"):
        load_seqcls(no_config)
    no_tok = half_written(tiny_base, tmp_path / "t", ("tokenizer*", "special_tokens_map.json",
                                                      "*.model", "vocab*", "merges.txt"))
    with pytest.raises(MissingResourceError, match="half-written: no tokenizer"):
        check_model_folder(no_tok, tokenizer=True)


def test_train_rm_with_a_missing_base_exits_2(tmp_path, capsys):
    from xlrm.data.loaders import load_preferences

    rows, _ = load_preferences(jsonl(tmp_path / "src.jsonl", [pair(i) for i in range(3)]))
    (tmp_path / "train").mkdir()
    jsonl(tmp_path / "train" / "en.jsonl", rows)
    params = write_params(tmp_path, {"train_rm": {"num_train_epochs": 1}, "languages": ["en"]})
    err = run_stage("train_rm", ["--params", str(params), "--lang", "en", "--seed", "42",
                                 "--base", str(tmp_path / "models" / "base"), "--train-dir",
                                 str(tmp_path / "train"), "--out", str(tmp_path / "rm"),
                                 "--metrics", str(tmp_path / "m.json")], capsys)
    assert "does not exist" in err and str(tmp_path / "models" / "base") in err
    assert not (tmp_path / "rm").exists() and not (tmp_path / "m.json").exists()


def test_train_rm_with_a_seed_in_its_section_exits_2_naming_rm_seeds(tmp_path, capsys):
    params = write_params(tmp_path, {"train_rm": {"seed": 1}, "languages": ["en"]})
    err = run_stage("train_rm", ["--params", str(params), "--lang", "en", "--seed", "42",
                                 "--base", str(tmp_path / "base"), "--train-dir",
                                 str(tmp_path / "train"), "--out", str(tmp_path / "rm"),
                                 "--metrics", str(tmp_path / "m.json")], capsys)
    assert f"{params}: train_rm.seed is no longer read" in err and "rm_seeds" in err
    assert not (tmp_path / "rm").exists()


# --------------------------------------------------------------------------- eval sets

def mrb(i: int, subset: str = "chat", **extra) -> dict:
    return {"id": i, "prompt": f"q{i}", "chosen": "good", "rejected": "bad", "subset": subset,
            **extra}


def test_an_eval_row_without_a_category_is_refused(tmp_path):
    from xlrm.data.loaders import load_eval_set

    jsonl(tmp_path / "es.jsonl", [mrb(0, "alpacaeval-easy"), mrb(1, "my-own-subset")])
    with pytest.raises(DataError, match=r"es\.jsonl, row 2, field 'category': subset "
                                        r"'my-own-subset' is not an M-RewardBench subset"):
        load_eval_set(tmp_path, ["es"])


def test_an_empty_or_nan_eval_file_is_refused(tmp_path):
    from xlrm.data.loaders import load_eval_set

    (tmp_path / "es.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"es\.jsonl: no rows"):
        load_eval_set(tmp_path, ["es"])
    (tmp_path / "es.jsonl").write_text('{"id": 1, "prompt": "q", "chosen": "a", "rejected": '
                                       '"b", "subset": "chat", "score": Infinity}\n')
    with pytest.raises(DataError, match=r"row 1: non-finite number Infinity"):
        load_eval_set(tmp_path, ["es"])


def test_an_eval_set_missing_a_category_is_scored_on_the_others_and_says_so():
    from xlrm.evaluation.accuracy import accuracy_report

    scores = pd.DataFrame([{"rm": "en", "id": str(i), "language": "es",
                            "subset": "alpacaeval-easy", "chosen_score": 1.0,
                            "rejected_score": 0.0} for i in range(3)])
    rec = accuracy_report(scores)["en"]["es"]
    assert rec["categories_present"] == ["chat"]
    assert rec["categories_missing"] == ["chat-hard", "safety", "reasoning"]


def test_eval_data_from_a_prepared_split_without_a_language_exits_2(tmp_path, capsys):
    from xlrm.data.loaders import load_preferences

    rows, _ = load_preferences(jsonl(tmp_path / "src.jsonl", [pair(i, category="chat")
                                                               for i in range(2)]))
    (tmp_path / "prep").mkdir()
    jsonl(tmp_path / "prep" / "test.jsonl", rows)
    params = write_params(tmp_path, {"eval_data": {"source": "prepared"},
                                     "eval_languages": ["en", "ko"]})
    module = load_script("eval_data")
    argv = ["--params", str(params)]
    for action in module.STAGE.parser._actions:
        if action.required:
            value = tmp_path / ("prep/test.jsonl" if "prepared" in action.dest else
                                action.dest)
            argv += [action.option_strings[0], str(value)]
    err = run_stage("eval_data", argv, capsys)
    assert "no rows in language 'ko'" in err


# --------------------------------------------------------------------------- scores files

def score_row(i: int, **extra) -> dict:
    return {"rm": "en", "id": str(i), "language": "es", "subset": "alpacaeval-easy",
            "category": "chat", "chosen_score": 1.0, "rejected_score": 0.5, **extra}


@pytest.mark.parametrize("bad, expected", [
    ('{"rm": "en", "id": "1", "language": "es", "subset": "chat", "chosen_score": NaN, '
     '"rejected_score": 0.1}', r"row 2: non-finite number NaN"),
    (json.dumps(score_row(1, chosen_score="high")), r"row 2, field 'chosen_score': must be a "
                                                    r"number"),
    (json.dumps({k: v for k, v in score_row(1).items() if k != "subset"}),
     r"row 2, field 'subset': missing"),
    (json.dumps(score_row(0)), r"row 2, field 'id': duplicate \(rm, id, language, head\)"),
    ("", r"no rows"),
])
def test_bad_scores_files_are_refused(tmp_path, bad, expected):
    from xlrm.evaluation.transfer import read_scores

    path = tmp_path / "en.jsonl"
    path.write_text(json.dumps(score_row(0)) + "\n" + bad + "\n" if bad else "",
                    encoding="utf-8")
    with pytest.raises(DataError, match=rf"en\.jsonl, {expected}" if bad else expected):
        read_scores(tmp_path, ["en"], ["es"])


def test_a_scores_file_with_bom_and_crlf_reads_as_the_plain_one(tmp_path):
    from xlrm.evaluation.transfer import read_scores

    rows = [score_row(i, chosen_score=float(i)) for i in range(4)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    jsonl(tmp_path / "a" / "en.jsonl", rows)
    jsonl(tmp_path / "b" / "en.jsonl", rows, newline="\r\n", bom=True)
    pd.testing.assert_frame_equal(read_scores(tmp_path / "a", ["en"]),
                                  read_scores(tmp_path / "b", ["en"]))


def test_transfer_with_a_nan_score_exits_2_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "scores" / "seed42").mkdir(parents=True)
    jsonl(tmp_path / "scores" / "base.jsonl", [score_row(0, rm="base")])
    path = jsonl(tmp_path / "scores" / "seed42" / "en.jsonl", [score_row(0, rm="en")])
    with path.open("a", encoding="utf-8") as f:
        f.write('{"rm": "en", "id": "9", "language": "es", "subset": "chat", '
                '"chosen_score": -Infinity, "rejected_score": 0}\n')
    params = write_params(tmp_path, {"transfer": {}, "rm_languages": ["en"],
                                     "rm_seeds": [42], "eval_languages": ["es"]})
    out = tmp_path / "out"
    err = run_stage("transfer", ["--params", str(params), "--scores-dir",
                                 str(tmp_path / "scores"), "--matrix", str(out / "m.csv"),
                                 "--categories", str(out / "c.csv"), "--category-diff",
                                 str(out / "d.csv"), "--heatmap", str(out / "h.png"),
                                 "--metrics", str(out / "t.json")], capsys)
    assert f"file {path}, row 2: non-finite number -Infinity" in err
    assert not out.exists() or not any(out.iterdir())


# --------------------------------------------------------------------------- instructions, generate

def test_instruction_files_are_checked(tmp_path):
    from xlrm.data.instructions import read_prompts
    from xlrm.generation.prompts import read_prompt_file

    msgs = [{"role": "user", "content": "hi"}]
    cases = [("", r"no rows"),
             (json.dumps({"id": "a", "messages": msgs}) + "\n" +
              json.dumps({"id": "a", "messages": msgs}), r"row 2, field 'id': duplicate"),
             (json.dumps({"id": 3, "messages": msgs}), r"row 1, field 'id': must be a non-empty"),
             (json.dumps({"id": "a", "messages": "hi"}), r"row 1, field 'messages': must be a "
                                                         r"non-empty list"),
             (json.dumps({"id": "a"}), r"row 1: .*'id' and 'messages'")]
    path = tmp_path / "es.train.jsonl"
    for text, expected in cases:
        path.write_text(text + "\n" if text else "", encoding="utf-8")
        for reader in (read_prompts, read_prompt_file):
            with pytest.raises(DataError, match=rf"es\.train\.jsonl(, | |: ).*{expected}"
                               if "row" in expected else expected):
                reader(path)


def test_evaluation_instructions_need_a_reference_only_in_reference_mode(tmp_path):
    from xlrm.alignment.alpaca_eval import references
    from xlrm.data.instructions import read_eval_instructions

    msgs = [{"role": "user", "content": "hi"}]
    path = jsonl(tmp_path / "es.eval.jsonl", [{"id": "a", "messages": msgs, "reference": "r"},
                                              {"id": "b", "messages": msgs}])
    rows = read_eval_instructions(path)  # loads: head to head needs no reference
    with pytest.raises(DataError, match=r"es\.eval\.jsonl, row 2, field 'reference': "
                                        r"eval_alpaca.reference is true"):
        references(rows, str(path))
    jsonl(path, [{"id": "a", "messages": msgs, "reference": " "}])
    with pytest.raises(DataError, match=r"row 1, field 'reference': a reference answer must be"):
        read_eval_instructions(path)
    jsonl(path, [])
    with pytest.raises(DataError, match="no rows"):
        read_eval_instructions(path)


def test_external_instructions_with_a_duplicate_id_or_a_bad_message_are_refused(tmp_path):
    from xlrm.data.config import InstructionSource
    from xlrm.data.instructions import load_instructions

    path = jsonl(tmp_path / "es.jsonl", [{"id": "a", "instruction": "Hola"},
                                         {"id": "a", "instruction": "Adiós"}])
    src = InstructionSource(source=str(path))
    with pytest.raises(DataError, match=r"row 2, field 'id': duplicate id 'a'"):
        load_instructions(src, "es", split="train", prepared_dir=tmp_path)
    jsonl(path, [{"id": "a", "messages": [{"content": "Hola"}]}])
    with pytest.raises(DataError, match=r"row 1, field 'instruction': needs a non-empty"):
        load_instructions(src, "es", split="train", prepared_dir=tmp_path)


def test_instructions_with_a_bom_and_crlf_load_unchanged(tmp_path):
    from xlrm.data.config import InstructionSource
    from xlrm.data.instructions import load_instructions, read_prompts

    rows = [{"id": "a", "instruction": "¿Qué hora es?"}, {"id": "b", "instruction": "Hola"}]
    plain = load_instructions(InstructionSource(source=str(jsonl(tmp_path / "p.jsonl", rows))),
                              "es", split="train", prepared_dir=tmp_path)
    odd = jsonl(tmp_path / "o.jsonl", rows, newline="\r\n", bom=True)
    assert load_instructions(InstructionSource(source=str(odd)), "es", split="train",
                             prepared_dir=tmp_path) == plain
    out = jsonl(tmp_path / "es.train.jsonl", plain, newline="\r\n", bom=True)
    assert read_prompts(out) == {r["id"]: r["messages"] for r in plain}


# --------------------------------------------------------------------------- label, alignment

def test_samples_files_are_checked(tmp_path):
    from xlrm.alignment.label import read_samples

    ok = {"prompt_id": "a", "sample": 0, "text": "hi"}
    cases = [([], r"no rows"),
             ([ok, {**ok, "text": None}], r"row 2, field 'text': must be a string"),
             ([ok, {k: v for k, v in ok.items() if k != "prompt_id"}],
              r"row 2, field 'prompt_id': missing"),
             ([ok, {**ok, "sample": 1.5}], r"row 2, field 'sample': must be an integer"),
             ([ok, ok], r"row 2, field 'sample': duplicate \(prompt_id, sample\)")]
    for rows, expected in cases:
        path = jsonl(tmp_path / "s.jsonl", rows)
        with pytest.raises(DataError, match=expected):
            read_samples(path)
    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt_id": "a", "sample": 0, "text": "x", "logprob": NaN}\n')
    with pytest.raises(DataError, match=r"row 1: non-finite number NaN"):
        read_samples(path)


def test_a_non_finite_reward_builds_no_pair():
    from xlrm.alignment.label import pairs_from_scores

    groups = {"a": [{"sample": 0, "text": "one"}, {"sample": 1, "text": "two"}]}
    prompts = {"a": [{"role": "user", "content": "q"}]}
    for bad in (np.nan, np.inf):
        with pytest.raises(XlrmError, match=r"non-finite reward .* prompt 'a'"):
            pairs_from_scores(groups, prompts, {"a": np.array([0.5, bad])}, "es", "native", 0.0)


def test_alpaca_outputs_are_checked(tmp_path):
    from alpaca_runs import write_runs

    from xlrm.alignment.head_to_head import read_answers
    from xlrm.alignment.summary import read_runs

    alpaca, h2h = write_runs(tmp_path, n=1, reference=True)
    read_runs(alpaca, h2h, ["es"], [0])  # valid
    bad = alpaca / "es__native__0.jsonl"
    for text, expected in [('{"id": "i1", "preference": NaN}', r"row 1: non-finite number NaN"),
                           ('{"id": "q0", "preference": "x"}', r"row 1, field 'preference': "
                                                             r"must be null or a number"),
                           ('{"preference": 1}', r"row 1, field 'id': must be a non-empty"),
                           ("", "no rows")]:
        bad.write_text(text + "\n" if text else "")
        with pytest.raises(DataError, match=expected):
            read_runs(alpaca, h2h, ["es"], [0])
    jsonl(bad, [{"id": "q0", "passed": 1, "preference": None}])
    (h2h / "es__0.json").unlink()
    with pytest.raises(DataError, match=r"es__0\.json: no head_to_head es__0 result"):
        read_runs(alpaca, h2h, ["es"], [0])
    # head_to_head reads each policy's answers for exactly the evaluation instructions
    answers = alpaca / "es__policy.jsonl"
    assert read_answers(answers, ["q0"])[0] == ["answer 0 policy"]
    with pytest.raises(DataError, match=r"es__policy\.jsonl.*missing \['q1'\]"):
        read_answers(answers, ["q0", "q1"])
    jsonl(answers, [{"id": "q0", "output": 3}])
    with pytest.raises(DataError, match=r"row 1, field 'output': must be a string"):
        read_answers(answers, ["q0"])
    jsonl(answers, [{"id": "q0", "output": "x", "passed": 2}])
    with pytest.raises(DataError, match=r"row 1, field 'passed': must be 0, 1 or null"):
        read_answers(answers, ["q0"])


# --------------------------------------------------------------------------- report

def test_the_report_lists_an_unreadable_input_instead_of_failing(tmp_path):
    from xlrm.report.inputs import INPUT_KINDS, ReportPaths, load_report_inputs

    key = next(k for k, kind in INPUT_KINDS.items() if kind == "json")
    path = tmp_path / "bad.json"
    path.write_text('{"a": ', encoding="utf-8")
    import dataclasses

    paths = ReportPaths(**{f.name: str(tmp_path / "absent" / f.name)
                           for f in dataclasses.fields(ReportPaths)})
    paths = dataclasses.replace(paths, **{key: str(path)})
    inputs = load_report_inputs(paths, markdown_dir=tmp_path)
    assert "invalid JSON" in inputs.problems[key]
    path.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}\r\n')
    assert getattr(load_report_inputs(paths, markdown_dir=tmp_path), key) == {"a": 1}

import json

import pytest

from xlrm.errors import MissingResourceError
from xlrm.base_model import BaseModelConfig, prepare_base_model
from xlrm.tiny import build_tiny_tokenizer


def test_tiny_tokenizer_round_trips_every_script():
    tok = build_tiny_tokenizer(512)
    for text in ["Hello, world!", "¿Dónde está la biblioteca?", "도서관은 어디에 있나요?",
                 "图书馆在哪里？", "Привет", "مرحبا"]:
        assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text


def test_tiny_random_base_has_pad_token_and_chat_template(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    assert tok.pad_token is not None and tok.pad_token != tok.eos_token
    assert model.config.pad_token_id == tok.pad_token_id
    text = tok.apply_chat_template([{"role": "user", "content": "hola"},
                                    {"role": "assistant", "content": "¡hola!"}], tokenize=False)
    assert "<|user|>\nhola<|end|>" in text and "<|assistant|>\n¡hola!" in text
    info = json.loads((tiny_base / "xlrm_base.json").read_text())
    assert info["source"] == "tiny-random" and info["parameters"] > 0


def test_a_model_without_pad_token_or_template_gets_both(tmp_path, tiny_base):
    """A local model lacking both: the stage adds them and says so."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = tmp_path / "bare"
    tok = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    tok.pad_token = None
    tok.chat_template = None
    model.config.pad_token_id = None
    model.save_pretrained(src)
    tok.save_pretrained(src)
    (src / "chat_template.jinja").unlink(missing_ok=True)
    info = prepare_base_model(BaseModelConfig(source=str(src)), tmp_path / "out")
    assert any("pad token" in a for a in info["added"])
    assert any("chat template 'plain'" in a for a in info["added"])
    tok2 = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert tok2.pad_token == "<|pad|>"
    assert "### User:" in tok2.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)


def test_unknown_hub_model_offline_names_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingResourceError, match="no-such-org/no-such-model"):
        prepare_base_model(BaseModelConfig(source="no-such-org/no-such-model"), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_policy_model_stage_loads_the_section_named_by_its_argument(tmp_path, capsys):
    """`base_model.py --section policy_model` reads policy_model, not base_model."""
    import importlib.util
    from pathlib import Path

    from mlflow.tracking import MlflowClient

    from xlrm.tracking import tracking_uri

    script = Path(__file__).resolve().parents[1] / "stages" / "base_model.py"
    spec = importlib.util.spec_from_file_location("stage_base_model", script)
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({
        "base_model": {"source": "no-such-org/no-such-model"},
        "policy_model": {"source": "tiny-random", "tiny": {"architecture": "qwen2"}}}),
        encoding="utf-8")
    out = tmp_path / "policy"
    stage.STAGE.run(stage.main, ["--params", str(params), "--section", "policy_model",
                                 "--out", str(out)])
    assert "Qwen2ForCausalLM" in capsys.readouterr().out
    info = json.loads((out / "xlrm_base.json").read_text())
    assert info["source"] == "tiny-random" and info["architecture"] == "Qwen2ForCausalLM"
    client = MlflowClient(tracking_uri())
    [run] = client.search_runs([client.get_experiment_by_name("xlrm").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["policy_model.tiny.architecture"] == "qwen2"
    assert run.data.metrics["parameters"] == info["parameters"]
    assert run.data.tags["base.added"] == "nothing"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"xlrm_base.json"}

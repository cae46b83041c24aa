"""Off-the-shelf RMs: config, classifier scoring, the stage's outputs (generative judges:
test_offshelf_judges.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from xlrm.data.loaders import to_mrewardbench_rows
from xlrm.errors import ConfigError, MissingResourceError
from xlrm.evaluation.accuracy import accuracy_report
from xlrm.io import write_jsonl
from xlrm.offshelf.classifiers import (load_classifier, reward_from_output, score_classifier,
                                       uses_score_head)
from xlrm.offshelf.config import (OFFSHELF_PROMPT_TEMPLATE, OFFSHELF_SYSTEM_PROMPT,
                                  ClassifierSpec, EvalOffshelfConfig)
from xlrm.offshelf.run import run_offshelf
from xlrm.sections import load_config
from xlrm.tracking import EFFECTIVE

REPO = Path(__file__).resolve().parents[1]
STAGE_SCRIPT = REPO / "stages" / "eval_offshelf.py"


def _offshelf_cfg(data: dict) -> EvalOffshelfConfig:
    return load_config(EvalOffshelfConfig, data, "eval_offshelf")


@pytest.fixture(scope="module")
def eval_sets(seed_rows) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in seed_rows:
        out.setdefault(row["language"], []).append(row)
    return out


@pytest.fixture(scope="module")
def tiny_classifier(tiny_base, tmp_path_factory) -> Path:
    """The tiny base with a random one-output head, saved as a seq-cls folder."""
    from xlrm.modeling import load_seqcls, load_tokenizer

    out = tmp_path_factory.mktemp("offshelf") / "tiny-clf"
    load_seqcls(tiny_base, seed=0).save_pretrained(out)
    load_tokenizer(tiny_base).save_pretrained(out)
    return out


def _accuracy(rows: list[dict], name: str) -> dict[str, float]:
    return {lang: rec["score"] for lang, rec in accuracy_report(pd.DataFrame(rows))[name].items()}


# =========================================================================== config


def test_config_sections_parse_and_reject_bad_keys():
    cfg = _offshelf_cfg({
        "classifiers": [{"name": "skywork", "model": "Skywork/Skywork-Reward-Llama-3.1-8B-v0.2",
                         "dtype": "bfloat16"},
                        {"name": "armo", "model": "RLHFlow/ArmoRM-Llama3-8B-v0.1",
                         "trust_remote_code": True, "max_length": None}],
        "judges": [{"name": "gpt-4o", "kind": "openai", "model": "gpt-4o",
                    "base_url": "https://api.example.invalid/v1", "concurrency": 4}],
    })
    assert [c.name for c in cfg.classifiers] == ["skywork", "armo"]
    assert cfg.classifiers[1].trust_remote_code and cfg.classifiers[1].max_length is None
    judge = cfg.judges[0]
    assert judge.system_prompt == OFFSHELF_SYSTEM_PROMPT
    assert judge.prompt_template == OFFSHELF_PROMPT_TEMPLATE and not judge.mention_language
    assert _offshelf_cfg({}).classifiers == []
    assert _offshelf_cfg({"classifiers": [], "judges": []}).judges == []

    with pytest.raises(ConfigError, match="unknown key"):
        _offshelf_cfg({"classifiers": [{"name": "a", "model": "m", "lr": 1}]})
    with pytest.raises(ConfigError, match="repeated"):
        _offshelf_cfg({"classifiers": [{"name": "a", "model": "m"}],
                                      "judges": [{"name": "a", "kind": "hf", "model": "m"}]})
    with pytest.raises(ConfigError, match="kind"):
        _offshelf_cfg({"judges": [{"name": "r", "kind": "rm", "model": "m"}]})
    with pytest.raises(ConfigError, match="name"):
        _offshelf_cfg({"classifiers": [{"name": "a/b", "model": "m"}]})
    with pytest.raises(ConfigError, match="model is required"):
        _offshelf_cfg({"judges": [{"name": "j", "kind": "openai"}]})


# =========================================================================== classifiers


def test_tiny_classifier_scored_and_matrix_written(tiny_classifier, eval_sets, tmp_path):
    from xlrm.modeling import load_reward_model, load_tokenizer
    from xlrm.reward.score import score_pairs

    spec = ClassifierSpec(name="tiny-clf", model=str(tiny_classifier), dtype="float32",
                          device="cpu", max_length=512, token_budget=2048)
    model, tok = load_classifier(spec)
    assert uses_score_head(model, spec)
    rows, stats = score_classifier(model, tok, eval_sets, "tiny-clf", spec)
    assert stats["scoring"] == "score_head" and stats["pairs"] == 108 and len(rows) == 108
    effective = EFFECTIVE["judge.tiny-clf"]
    assert (effective["kind"], effective["scoring"]) == ("classifier", "score_head")
    assert (effective["device"], effective["dtype"]) == ("cpu", "float32")
    assert effective["chat_template"] == tok.chat_template
    assert set(rows[0]) == {"rm", "id", "language", "subset", "category", "chosen_score",
                            "rejected_score"}
    # the same numbers as the project's own scoring of that folder
    ref = load_reward_model(tiny_classifier, dtype="float32")
    c, r, _ = score_pairs(ref, load_tokenizer(tiny_classifier), eval_sets["es"])
    es = [x for x in rows if x["language"] == "es"]
    np.testing.assert_allclose([x["chosen_score"] for x in es], c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([x["rejected_score"] for x in es], r, rtol=1e-5, atol=1e-6)

    # the generic forward path (the model's own pooling and head) gives the same scores
    fwd = ClassifierSpec(name="tiny-fwd", model=str(tiny_classifier), dtype="float32",
                         device="cpu", max_length=512, token_budget=2048, scoring="forward")
    rows_fwd, st_fwd = score_classifier(model, tok, eval_sets, "tiny-fwd", fwd)
    assert st_fwd["scoring"] == "forward"
    np.testing.assert_allclose([x["chosen_score"] for x in rows_fwd],
                               [x["chosen_score"] for x in rows], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose([x["rejected_score"] for x in rows_fwd],
                               [x["rejected_score"] for x in rows], rtol=1e-4, atol=1e-5)

    # the stage core: one scores file per model, matrix rows = model, columns = language
    cfg = EvalOffshelfConfig(classifiers=[spec, fwd])
    metrics = run_offshelf(cfg, eval_sets, scores_dir=tmp_path / "scores",
                           matrix_csv=tmp_path / "matrix.csv", metrics_json=tmp_path / "m.json")
    assert sorted(p.name for p in (tmp_path / "scores").iterdir()) == ["tiny-clf.jsonl",
                                                                        "tiny-fwd.jsonl"]
    matrix = pd.read_csv(tmp_path / "matrix.csv", index_col="rm")
    assert list(matrix.index) == ["tiny-clf", "tiny-fwd"]
    assert list(matrix.columns) == ["en", "es", "ko"]
    expect = _accuracy(rows, "tiny-clf")
    for lang in ("en", "es", "ko"):
        assert matrix.loc["tiny-clf", lang] == pytest.approx(expect[lang], abs=1e-6)
        assert metrics["models"]["tiny-clf"]["accuracy"][lang] == pytest.approx(expect[lang],
                                                                                abs=1e-6)
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["languages"] == ["en", "es", "ko"]
    assert set(saved["models"]["tiny-clf"]["categories"]["ko"]) <= {"chat", "chat-hard",
                                                                      "safety", "reasoning"}
    assert "en_minus_mean_other" in saved["models"]["tiny-clf"]

    # max_per_language on a set sorted by subset: every subset is scored, not the first one
    by_subset = {lang: sorted(rows, key=lambda r: r["subset"]) for lang, rows in eval_sets.items()}
    n_subsets = len({r["subset"] for r in by_subset["ko"]})
    assert n_subsets >= 3
    capped = run_offshelf(EvalOffshelfConfig(classifiers=[spec], max_per_language=n_subsets),
                          by_subset, scores_dir=tmp_path / "capped",
                          matrix_csv=tmp_path / "capped.csv", metrics_json=tmp_path / "c.json")
    assert capped["models"]["tiny-clf"]["pairs"] == n_subsets * len(by_subset)
    kept = pd.read_json(tmp_path / "capped" / "tiny-clf.jsonl", lines=True)
    assert (kept.groupby("language")["subset"].nunique() == n_subsets).all()


def test_lora_adapter_folder_loads_over_its_base(tiny_base, eval_sets, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from xlrm.modeling import load_reward_model, load_seqcls, load_tokenizer
    from xlrm.reward.score import score_pairs

    model = get_peft_model(load_seqcls(tiny_base, seed=0),
                           LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8,
                                      target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    load_tokenizer(tiny_base).save_pretrained(adapter)
    with pytest.raises(ConfigError, match="set `base`"):
        load_classifier(ClassifierSpec(name="a", model=str(adapter), device="cpu"))
    spec = ClassifierSpec(name="a", model=str(adapter), base=str(tiny_base), dtype="float32",
                          device="cpu")
    clf, tok = load_classifier(spec)
    rows, _ = score_classifier(clf, tok, {"ko": eval_sets["ko"]}, "a", spec)
    ref = load_reward_model(adapter, tiny_base, dtype="float32")
    c, r, _ = score_pairs(ref, load_tokenizer(adapter), eval_sets["ko"])
    np.testing.assert_allclose([x["chosen_score"] for x in rows], c, rtol=1e-5, atol=1e-6)
    # the adapter changed the model: its scores differ from the bare base with the same head
    bare, _, _ = score_pairs(load_seqcls(tiny_base, seed=0), load_tokenizer(tiny_base),
                             eval_sets["ko"])
    assert not np.allclose(bare, c)
    assert isinstance(clf.score, torch.nn.Linear)


def test_unreachable_classifier_names_the_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ClassifierSpec(name="ghost", model="xlrm-test-nobody/no-such-reward-model",
                          device="cpu")
    with pytest.raises(MissingResourceError, match="xlrm-test-nobody/no-such-reward-model"):
        load_classifier(spec)


def test_reward_from_output_prefers_score_then_single_logit():
    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    class ArmoLike(dict):  # a remote-code output with both `score` and multi-objective logits
        def __init__(self):
            super().__init__()
            self.score = torch.tensor([[0.5], [-1.0]])
            self.logits = torch.zeros(2, 19)

    assert reward_from_output(ArmoLike()).tolist() == [0.5, -1.0]
    one = SequenceClassifierOutput(logits=torch.tensor([[2.0], [3.0]]))
    assert reward_from_output(one).tolist() == [2.0, 3.0]
    with pytest.raises(ConfigError, match="one label"):
        reward_from_output(SequenceClassifierOutput(logits=torch.zeros(2, 3)))


# =========================================================================== stage


def _write_eval_dir(eval_sets, path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for lang, rows in eval_sets.items():
        write_jsonl(path / f"{lang}.jsonl", to_mrewardbench_rows(rows))


def _run_stage(how: str, argv: list[str], cwd: Path, capsys) -> tuple[int, str, str]:
    """Run the eval_offshelf script with ``argv``: in this process (its ``STAGE``), or as
    DVC runs it (a subprocess); returns (exit code, stdout, stderr)."""
    if how == "subprocess":
        out = subprocess.run([sys.executable, str(STAGE_SCRIPT), *argv], cwd=cwd,
                             capture_output=True, text=True, timeout=300,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
        return out.returncode, out.stdout, out.stderr
    spec = importlib.util.spec_from_file_location("stage_eval_offshelf", STAGE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    try:
        module.STAGE.run(module.main, argv)
        code = 0
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("how", ["in-process", pytest.param("subprocess", marks=pytest.mark.slow)])
def test_stage_with_empty_lists_writes_empty_outputs(how, eval_sets, tmp_path, capsys):
    _write_eval_dir(eval_sets, tmp_path / "eval")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"eval_languages": ["en", "es", "ko"],
                                      "eval_offshelf": {"classifiers": [], "judges": []}}))
    code, out, err = _run_stage(how, [
        "--params", str(params), "--eval-dir", str(tmp_path / "eval"),
        "--scores-dir", str(tmp_path / "scores"), "--matrix", str(tmp_path / "matrix.csv"),
        "--metrics", str(tmp_path / "metrics.json")], tmp_path, capsys)
    assert code == 0, err
    assert "no off-the-shelf models configured" in out
    assert (tmp_path / "scores").is_dir() and not list((tmp_path / "scores").iterdir())
    assert (tmp_path / "matrix.csv").read_text().strip() == "rm,en,es,ko"
    assert json.loads((tmp_path / "metrics.json").read_text()) == \
        {"languages": ["en", "es", "ko"], "min_consistency": 0.6, "consistency_warning": False,
         "models": {}}

    # a model that cannot be found: a one-line error naming it, exit 2
    params.write_text(yaml.safe_dump({"eval_languages": ["en"], "eval_offshelf": {
        "classifiers": [{"name": "ghost", "model": "xlrm-test-nobody/no-such-rm"}]}}))
    code, out, err = _run_stage(how, [
        "--params", str(params), "--eval-dir", str(tmp_path / "eval"),
        "--scores-dir", str(tmp_path / "s2"), "--matrix", str(tmp_path / "m2.csv"),
        "--metrics", str(tmp_path / "m2.json")], tmp_path, capsys)
    assert code == 2 and "xlrm-test-nobody/no-such-rm" in err
    assert not (tmp_path / "m2.csv").exists()

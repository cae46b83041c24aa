"""The eval_rms stage's core (xlrm.reward.evaluate.evaluate_rms) and script on tiny random
4-layer models: RMs that differ from the base only in their top 2 layers score exactly as
with the per-model full forward pass while sharing the trunk; RMs that differ lower down
fall back (logged) and still get their full-forward scores; the stage writes one scores
file per model (seed<S>/<lang>.jsonl) and one metrics file."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from xlrm.data.loaders import to_mrewardbench_rows
from xlrm.errors import ConfigError
from xlrm.io import write_jsonl
from xlrm.modeling import load_seqcls, load_tokenizer
from xlrm.reward.config import EvalRMConfig, TrainRMConfig
from xlrm.reward.evaluate import BASE, choose_split, evaluate_rms, model_name
from xlrm.sections import load_config

REPO = Path(__file__).resolve().parents[1]
LAYERS, TRAINABLE = 4, 2
SPLIT = LAYERS - TRAINABLE
LANGS, SEEDS = ["en", "ko"], [42, 43]
# seed42: LoRA on the top 2 layers, and noise on the top 2 layers (a full folder);
# seed43: noise on layer 1 (shares 1 layer: fewer than the split), and on the embeddings.
KINDS = {(42, "en"): "lora", (42, "ko"): "top", (43, "en"): "layer1", (43, "ko"): "embed"}


def _rm(base_dir: Path, out: Path, seed: int, kind: str) -> None:
    model = load_seqcls(base_dir, seed=seed)
    if kind == "lora":
        from peft import get_peft_model

        from xlrm.reward.config import LoraSettings
        from xlrm.training import lora_config

        cfg = lora_config(model, LoraSettings(r=4, lora_alpha=8), TRAINABLE, "SEQ_CLS")
        cfg.init_lora_weights = False  # non-zero B: the adapter changes the top layers
        torch.manual_seed(seed)
        get_peft_model(model, cfg).save_pretrained(out)
        return
    g = torch.Generator().manual_seed(seed)
    bb = model.model
    with torch.no_grad():
        if kind == "top":
            params = [p for layer in bb.layers[SPLIT:] for p in layer.parameters()]
        elif kind == "layer1":
            params = [bb.layers[1].mlp.down_proj.weight, *bb.layers[3].parameters()]
        else:
            params = [bb.embed_tokens.weight]
        for p in params:
            p += 0.05 * torch.randn(p.shape, generator=g)
    model.save_pretrained(out)
    load_tokenizer(base_dir).save_pretrained(out)  # the base's own: checked and accepted


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, seed_rows):
    from xlrm.base_model import BaseModelConfig, TinyRandomConfig, prepare_base_model

    root = tmp_path_factory.mktemp("eval_rms")
    base = root / "base"
    prepare_base_model(BaseModelConfig(source="tiny-random",
                                       tiny=TinyRandomConfig(num_hidden_layers=LAYERS)), base)
    for (seed, lang), kind in KINDS.items():
        _rm(base, root / "rm" / f"seed{seed}" / lang, seed, kind)
    eval_sets: dict[str, list[dict]] = {}
    for r in seed_rows:
        if r["language"] in ("en", "ko") and len(eval_sets.setdefault(r["language"], [])) < 18:
            eval_sets[r["language"]].append(r)
    return root, base, eval_sets


def _inputs(root: Path):
    rms = {model_name(s, lang): root / "rm" / f"seed{s}" / lang for s in SEEDS for lang in LANGS}
    labels = {BASE: {"rm": BASE}, **{model_name(s, lang): {"rm": lang, "rm_seed": s}
                                     for s in SEEDS for lang in LANGS}}
    return rms, labels


def _cfg(shared: bool) -> EvalRMConfig:
    return EvalRMConfig(max_length=48, token_budget=512, device="cpu", base_heads=3,
                        shared_trunk=shared)


def _scores(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([r["chosen_score"] for r in rows]),
            np.array([r["rejected_score"] for r in rows]))


def test_shared_trunk_scores_equal_the_per_model_path_and_lower_differences_fall_back(
        workspace, caplog):
    root, base, eval_sets = workspace
    rms, labels = _inputs(root)
    with caplog.at_level(logging.INFO):
        shared, info = evaluate_rms(base, rms, labels, eval_sets, _cfg(True))
    alone, alone_info = evaluate_rms(base, rms, labels, eval_sets, _cfg(False))
    # the split comes from the weights: the top 2 layers differ, so the split is layer 2
    assert info["split_layer"] == SPLIT and info["layers"] == LAYERS
    assert info["shared_depth"] == {"seed42/en": SPLIT, "seed42/ko": SPLIT, "seed43/en": 1,
                                   "seed43/ko": 0}
    trunk = info["trunk"]
    assert trunk["base"] == "reference" and trunk["seed42/en"] == trunk["seed42/ko"] == "shared"
    assert trunk["seed43/en"].startswith("full:") and "layers.1." in trunk["seed43/en"]
    assert trunk["seed43/ko"].startswith("alone:") and "embed_tokens" in trunk["seed43/ko"]
    assert "seed43/en: scored with the full forward pass" in caplog.text
    assert "seed43/ko: scored on its own with the full forward pass" in caplog.text
    assert "trunk split at layer 2 of 4" in caplog.text
    assert alone_info["split_layer"] == 0
    assert all(v.startswith("alone:") for v in alone_info["trunk"].values())
    assert set(shared) == set(alone) == set(labels)
    for name in labels:
        keys = [(r["id"], r["language"], r.get("head")) for r in shared[name]]
        assert keys == [(r["id"], r["language"], r.get("head")) for r in alone[name]]
        (sc, sr), (ac, ar) = _scores(shared[name]), _scores(alone[name])
        np.testing.assert_allclose(sc, ac, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(sr, ar, rtol=1e-5, atol=1e-5)
        assert np.array_equal(sc > sr, ac > ar), name
        assert [{k: v for k, v in r.items() if not k.endswith("_score")} for r in shared[name]] \
            == [{k: v for k, v in r.items() if not k.endswith("_score")} for r in alone[name]]
    assert len(shared[BASE]) == 3 * sum(map(len, eval_sets.values()))  # one row per head
    assert "rm_seed" not in shared[BASE][0] and "head" in shared[BASE][0]
    assert shared["seed43/ko"][0]["rm"] == "ko" and shared["seed43/ko"][0]["rm_seed"] == 43
    # the models really differ (equal scores are not vacuous)
    assert not np.allclose(_scores(shared["seed42/en"])[0], _scores(shared["seed42/ko"])[0])


def test_the_split_costs_the_fewest_layer_passes():
    assert choose_split({"a": 14, "b": 14, "c": 1}, 18) == 14  # c falls back
    assert choose_split({"a": 14, "b": 10}, 18) == 10          # both share from layer 10
    assert choose_split({}, 18) == 0


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stage_writes_one_scores_file_per_model_and_one_metrics_file(workspace, tmp_path):
    root, base, eval_sets = workspace
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    for lang, rows in eval_sets.items():
        write_jsonl(eval_dir / f"{lang}.jsonl", to_mrewardbench_rows(rows))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "eval_languages": LANGS, "rm_languages": LANGS, "rm_seeds": SEEDS,
        "eval_rm": {"max_length": 48, "token_budget": 512, "device": "cpu", "base_heads": 3}}))
    scores, metrics_path = tmp_path / "results" / "scores", tmp_path / "metrics" / "eval_rm.json"
    stage = _load_script("eval_rms")
    stage.STAGE.run(stage.main, ["--params", str(params), "--base", str(base), "--rm-dir",
                                 str(root / "rm"), "--eval-dir", str(eval_dir), "--scores-dir",
                                 str(scores), "--metrics", str(metrics_path)])
    files = sorted(p.relative_to(scores).as_posix() for p in scores.rglob("*") if p.is_file())
    assert files == ["base.jsonl", "seed42/en.jsonl", "seed42/ko.jsonl", "seed43/en.jsonl",
                     "seed43/ko.jsonl"]
    assert not list(scores.parent.glob("*.partial*"))  # the journal is gone
    rows = [json.loads(x) for x in (scores / "seed43" / "en.jsonl").read_text().splitlines()]
    assert {(r["rm"], r["rm_seed"]) for r in rows} == {("en", 43)}
    assert {r["language"] for r in rows} == set(LANGS)
    m = json.loads(metrics_path.read_text())
    assert set(m["base"]) == {"accuracy", "mean_accuracy"}
    assert set(m["base"]["accuracy"]) == set(LANGS)
    assert set(m["seed42"]) == set(m["seed43"]) == set(LANGS)
    assert set(m["seed42"]["ko"]["accuracy"]) == set(LANGS)
    assert m["split_layer"] == SPLIT and m["trunk"]["seed42/ko"] == "shared"
    assert m["eval_pairs"] == {lang: len(eval_sets[lang]) for lang in LANGS}


def test_train_rm_refuses_a_seed_in_its_section():
    stage = _load_script("train_rm")
    cfg = load_config(TrainRMConfig, {"learning_rate": 1e-4}, "train_rm")
    assert stage.with_seed(cfg, 43, "p.yaml").reward_config == {"learning_rate": 1e-4, "seed": 43}
    with pytest.raises(ConfigError, match=r"p.yaml: train_rm.seed .*rm_seeds"):
        stage.with_seed(load_config(TrainRMConfig, {"seed": 1}, "train_rm"), 42, "p.yaml")

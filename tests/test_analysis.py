"""Figure 1 (representation homogeneity) and Figure 2 (embedding norms): units and stages."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from xlrm.analysis.config import AnalyzeEmbeddingsConfig, AnalyzeRepresentationsConfig
from xlrm.analysis.embeddings import (compare_norms, embedding_norms, ks_statistic,
                                      load_input_embeddings, norm_summary, seed_corpus,
                                      wasserstein_1d)
from xlrm.analysis.homogeneity import sigma1_share, sigma1_shares
from xlrm.analysis.plots import plot_homogeneity_bar, plot_homogeneity_layers
from xlrm.analysis.representations import (hidden_states_per_layer, homogeneity_metrics,
                                           load_analysis_model, parallel_contexts,
                                           representation_homogeneity)
from xlrm.analysis.tokens import assign_token_languages, token_languages, token_script
from xlrm.errors import ConfigError, MissingResourceError
from xlrm.sections import load_config

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- sigma-1 share


def test_sigma1_share_of_identical_rows_is_one():
    row = np.array([0.3, -1.2, 2.0, 0.5])
    assert sigma1_share(np.tile(row, (5, 1))) == pytest.approx(1.0)
    # scaled copies are collinear too (no centring)
    assert sigma1_share(np.outer([1.0, 2.0, -3.0], row)) == pytest.approx(1.0)


@pytest.mark.parametrize("L", [2, 3, 5])
def test_sigma1_share_of_orthogonal_equal_norm_rows_is_one_over_L(L):
    rng = np.random.default_rng(L)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    H = 2.5 * q[:L]  # L orthonormal rows, scaled alike
    assert sigma1_share(H) == pytest.approx(1.0 / L)


def test_sigma1_share_of_random_matrix_is_between_and_centring_option():
    rng = np.random.default_rng(0)
    H = rng.normal(size=(5, 32))
    s = sigma1_share(H)
    assert 1 / 5 < s < 1
    # a common offset makes rows alike unless the mean row is removed
    shifted = H + 100.0
    assert sigma1_share(shifted) > 0.95
    assert sigma1_share(shifted, center=True) == pytest.approx(sigma1_share(H, center=True))
    assert np.isnan(sigma1_share(np.zeros((3, 4))))
    batch = np.stack([H, np.tile(H[0], (5, 1))])
    np.testing.assert_allclose(sigma1_shares(batch), [s, 1.0])
    with pytest.raises(ValueError):
        sigma1_share(np.ones(3))


# ---------------------------------------------------------------------------- hidden states


@pytest.fixture(scope="module")
def tiny_model(tiny_base):
    from xlrm.modeling import load_seqcls, load_tokenizer

    return load_seqcls(tiny_base, seed=0).eval(), load_tokenizer(tiny_base)


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_hidden_states_shape_and_batching_does_not_change_them(tiny_model, seed_rows, pooling):
    from xlrm.schema import messages_for

    model, tok = tiny_model
    convs = [messages_for(r, r["chosen"]) for r in seed_rows[:9]]
    states = hidden_states_per_layer(model, tok, convs, pooling, token_budget=4096)
    cfg = model.config.get_text_config()
    assert states.shape == (cfg.num_hidden_layers + 1, 9, cfg.hidden_size)
    assert states.dtype == np.float32 and np.isfinite(states).all()
    one_by_one = np.concatenate([hidden_states_per_layer(model, tok, [c], pooling) for c in convs],
                                axis=1)
    np.testing.assert_allclose(states, one_by_one, atol=1e-5, rtol=1e-4)
    # a budget of one sequence per batch gives the same too
    tiny_budget = hidden_states_per_layer(model, tok, convs, pooling, token_budget=1)
    np.testing.assert_allclose(states, tiny_budget, atol=1e-5, rtol=1e-4)


def _eval_sets(rows):
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["language"], []).append(r)
    return out


def test_parallel_contexts_are_sorted_common_ids(seed_rows):
    sets = _eval_sets(seed_rows)
    sets["es"] = sets["es"][3:]  # es lacks three items: they are not common
    ids, contexts = parallel_contexts(sets, 5, "prompt")
    common = sorted(set(r["id"] for r in sets["es"]) & set(r["id"] for r in sets["en"]))
    assert ids == common[:5]
    assert list(contexts) == ["en", "es", "ko"] and all(len(c) == 5 for c in contexts.values())
    by_id = {r["id"]: r for r in sets["ko"]}
    assert contexts["ko"][0] == by_id[ids[0]]["prompt"]


def test_representation_homogeneity_one_row_per_layer_in_unit_interval(tiny_model, seed_rows):
    model, tok = tiny_model
    _, contexts = parallel_contexts(_eval_sets(seed_rows), 6)
    table, shares = representation_homogeneity(model, tok, contexts, "last",
                                               return_per_context=True)
    n_layers = model.config.get_text_config().num_hidden_layers + 1
    assert list(table.columns) == ["layer", "mean", "std", "n_contexts"]
    assert table["layer"].tolist() == list(range(n_layers))
    assert (table["n_contexts"] == 6).all()
    assert ((table["mean"] > 0) & (table["mean"] <= 1 + 1e-9)).all()
    assert shares.shape == (n_layers, 6)
    assert (shares >= 1 / 3 - 1e-9).all()  # never below 1 / n_languages
    np.testing.assert_allclose(table["mean"], shares.mean(axis=1))
    mean_pooled = representation_homogeneity(model, tok, contexts, "mean", center=True)
    assert ((mean_pooled["mean"] > 0) & (mean_pooled["mean"] <= 1 + 1e-9)).all()
    with pytest.raises(ConfigError):
        representation_homogeneity(model, tok, {"en": contexts["en"]})


def test_homogeneity_metrics_distance_from_base():
    table = pd.DataFrame({"model": ["base"] * 3 + ["en"] * 3 + ["ko"] * 3,
                          "layer": [0, 1, 2] * 3,
                          "mean": [0.5, 0.6, 0.7, 0.5, 0.6, 0.72, 0.5, 0.7, 0.9],
                          "std": 0.01, "n_contexts": 4})
    m = homogeneity_metrics(table)
    assert m["bar_layer"] == 2 and m["base"]["mean"] == 0.7
    assert m["rm"]["en"]["distance_from_base"] == pytest.approx(0.02)
    assert m["rm"]["ko"]["distance_from_base"] == pytest.approx(0.2)
    assert m["rm"]["ko"]["mean_layer_distance_from_base"] == pytest.approx(0.1)
    assert m["closest_to_base"] == "en" and m["most_homogeneous"] == "ko"
    assert homogeneity_metrics(table, bar_layer=-2)["bar_layer"] == 1
    with pytest.raises(ConfigError):
        homogeneity_metrics(table, bar_layer=3)


def test_config_sections_are_typed():
    cfg = load_config(AnalyzeRepresentationsConfig, {"pooling": "mean", "contexts": 8}, "t")
    assert cfg.pooling == "mean" and cfg.text == "prompt+chosen" and cfg.center is False
    with pytest.raises(ConfigError):
        load_config(AnalyzeRepresentationsConfig, {"pooling": "first"}, "t")
    with pytest.raises(ConfigError):
        load_config(AnalyzeRepresentationsConfig, {"languages": ["en"]}, "t")
    emb = load_config(AnalyzeEmbeddingsConfig, {}, "t")
    assert emb.models == ["models/base"] and emb.languages == ["en", "ko", "zh", "es", "it"]
    with pytest.raises(ConfigError):
        load_config(AnalyzeEmbeddingsConfig, {"reference_language": "fr"}, "t")
    with pytest.raises(ConfigError):
        load_config(AnalyzeEmbeddingsConfig, {"min_share": 1.5}, "t")



def test_analysis_model_merges_a_lora_adapter_and_uses_the_base_tokenizer(tiny_base, tmp_path):
    """An RM folder holding a LoRA adapter (no tokenizer files) is merged over the base
    (:func:`xlrm.modeling.load_reward_model`) and read with the base's tokenizer."""
    import torch
    from peft import LoraConfig, get_peft_model

    from xlrm.modeling import load_seqcls

    torch.manual_seed(0)
    peft = get_peft_model(load_seqcls(tiny_base, seed=0),
                          LoraConfig(r=2, target_modules=["q_proj", "v_proj"],
                                     task_type="SEQ_CLS", init_lora_weights=False))
    peft.save_pretrained(tmp_path / "rm")
    assert not any((tmp_path / "rm" / f).exists() for f in ("tokenizer.json", "config.json"))
    cfg = AnalyzeRepresentationsConfig(device="cpu")
    model, tok = load_analysis_model(tmp_path / "rm", tiny_base, cfg)
    base, base_tok = load_analysis_model(None, tiny_base, cfg)
    assert tok.get_vocab() == base_tok.get_vocab()
    assert not model.training and next(model.parameters()).dtype == torch.float32
    ids = torch.tensor([tok("hello there")["input_ids"]])

    def last_hidden(m):
        with torch.inference_mode():
            return getattr(m, m.base_model_prefix)(input_ids=ids).last_hidden_state

    torch.testing.assert_close(last_hidden(model), last_hidden(peft.eval().merge_and_unload()))
    assert not torch.allclose(last_hidden(model), last_hidden(base))


# ---------------------------------------------------------------------------- token languages


@pytest.fixture(scope="module")
def word_tokenizer():
    """A word-level tokenizer with a hand-picked vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<unk>", "hello", "hola", "ciao", "de", "rare", "안녕", "你好", "こんにちは",
             "東京", "!!", "42", "héllo", "a한"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>")


def test_token_script_uses_letters_only():
    assert token_script(" hello!") == "Latin"
    assert token_script("안녕하세요") == "Hangul"
    assert token_script("你好") == "Han"
    assert token_script("東京です") == "Kana" and token_script("カタカナ") == "Kana"
    assert token_script("Привет") == "Cyrillic" and token_script("مرحبا") == "Arabic"
    assert token_script("42 !!") is None and token_script("\ufffd") is None
    assert token_script("a한") == "Mixed"


def test_token_languages_by_script_and_by_corpus(word_tokenizer):
    corpus = {"en": ["hello hello hello de"] * 2, "es": ["hola hola rare de de"] * 2,
              "it": ["ciao ciao ciao de"] * 2}
    ids = word_tokenizer.convert_tokens_to_ids
    got = token_languages(word_tokenizer, corpus, languages=["en", "es", "it", "ko", "zh"],
                          min_count=3, min_share=0.6)
    assert got[ids("hello")] == "en" and got[ids("ciao")] == "it"
    assert got[ids("hola")] == "es"                      # Latin, only ever in Spanish text
    assert got[ids("안녕")] == "ko" and got[ids("你好")] == "zh" and got[ids("東京")] == "zh"
    for excluded in ("de", "rare", "こんにちは", "!!", "42", "héllo", "a한", "<pad>", "<unk>"):
        assert ids(excluded) not in got, excluded
    table = assign_token_languages(word_tokenizer, corpus, languages=["en", "es", "it", "ko", "zh"],
                                   min_count=3)
    rule = dict(zip(table["token"], table["rule"]))
    assert rule["de"] == "excluded:ambiguous" and rule["rare"] == "excluded:rare"
    assert rule["héllo"] == "excluded:rare" and rule["!!"] == "excluded:no-letters"
    assert rule["こんにちは"] == "excluded:script-not-requested" and rule["안녕"] == "script"
    # with Japanese requested, Kana decides ja, and Han is shared by zh and ja: the corpus decides
    both = token_languages(word_tokenizer, {**corpus, "zh": ["你好 你好 你好"], "ja": ["東京 東京 東京"]},
                           languages=["en", "zh", "ja"], min_count=3)
    assert both[ids("こんにちは")] == "ja" and both[ids("東京")] == "ja" and both[ids("你好")] == "zh"
    # relative frequency: 'de' is 1/5 of es text but 1/4 of en text
    loose = token_languages(word_tokenizer, corpus, languages=["en", "es"], min_count=1,
                            min_share=0.5)
    assert loose[ids("de")] == "es"  # es: 4/10, en: 2/8 -> share 0.4/0.65 = 0.615
    with pytest.raises(ConfigError):
        token_languages(word_tokenizer, {"en": ["hello"]}, languages=["en", "es"])
    # attested_only: a script-assigned token must occur min_count times in its language's text
    attested = token_languages(word_tokenizer, {**corpus, "ko": ["안녕 안녕 안녕"], "zh": ["你好"]},
                               languages=["en", "ko", "zh"], min_count=3, attested_only=True)
    assert attested[ids("안녕")] == "ko" and ids("你好") not in attested


def test_tiny_bpe_tokens_of_hangul_and_han_go_by_script(tiny_base):
    from xlrm.modeling import load_tokenizer

    tok = load_tokenizer(tiny_base)
    table = assign_token_languages(tok, seed_corpus(["en", "es", "ko", "zh"], 4),
                                   languages=["en", "es", "ko", "zh"], min_count=3)
    assigned = table[table["language"].notna()]
    for text, lang in zip(assigned["token"], assigned["language"]):
        script = token_script(text)
        assert script == {"ko": "Hangul", "zh": "Han", "en": "Latin", "es": "Latin"}[lang], text
    by_lang = assigned["language"].value_counts()
    assert all(by_lang.get(lang, 0) > 0 for lang in ("en", "es", "ko", "zh"))
    assert (assigned.loc[assigned["language"].isin(["ko", "zh"]), "rule"] == "script").all()
    assert (assigned.loc[assigned["language"].isin(["en", "es"]), "rule"] == "corpus").all()


# ---------------------------------------------------------------------------- distributions


def test_ks_and_wasserstein_against_hand_computed_values():
    a = np.array([1.0, 2.0, 3.0])
    assert ks_statistic(a, a + 10) == 1.0                 # disjoint samples
    assert ks_statistic(a, a) == 0.0 and wasserstein_1d(a, a) == 0.0
    assert wasserstein_1d(a, a + 0.75) == pytest.approx(0.75)  # a shift moves all mass by it
    assert ks_statistic([0.0, 1.0], [0.5]) == pytest.approx(0.5)
    assert wasserstein_1d([0.0, 1.0], [0.5]) == pytest.approx(0.5)
    assert wasserstein_1d([0.0, 0.0, 3.0], [0.0, 1.0, 2.0]) == pytest.approx(2 / 3)
    assert np.isnan(ks_statistic([], a))


def test_ks_and_wasserstein_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=57), rng.normal(0.4, 1.3, size=81)
    assert ks_statistic(x, y) == pytest.approx(stats.ks_2samp(x, y).statistic)
    assert wasserstein_1d(x, y) == pytest.approx(stats.wasserstein_distance(x, y))


def test_norm_summary_and_comparison():
    s = norm_summary(np.array([1.0, 2.0, 3.0, 4.0]))
    assert s == {"n": 4, "mean": 2.5, "std": pytest.approx(np.sqrt(1.25)), "median": 2.5,
                 "q25": 1.75, "q75": 3.25, "min": 1.0, "max": 4.0}
    assert norm_summary(np.array([]))["n"] == 0
    table = compare_norms({"en": np.array([2.0, 4.0]), "ko": np.array([3.0, 5.0]),
                           "es": np.array([10.0, 11.0])}).set_index("language")
    assert table.loc["en", "ks"] == 0 and table.loc["en", "wasserstein"] == 0
    assert table.loc["ko", "wasserstein"] == pytest.approx(1.0)
    assert table.loc["ko", "wasserstein_rel"] == pytest.approx(1.0 / 3.0)
    assert table.loc["es", "ks"] == 1.0


def test_embedding_norms_on_tiny_model(tiny_base):
    import torch
    from transformers import AutoModelForCausalLM

    tokens, summary = embedding_norms(tiny_base, seed_corpus(["en", "es", "ko"], 4),
                                      languages=["en", "es", "ko"], min_count=3,
                                      max_tokens_per_language=10)
    weight = AutoModelForCausalLM.from_pretrained(tiny_base).get_input_embeddings().weight
    expected = torch.linalg.vector_norm(weight.detach().double(), dim=1).numpy()
    np.testing.assert_allclose(tokens["norm"], expected[tokens["token_id"]], rtol=1e-6)
    summary = summary.set_index("language")
    assert (summary["n"] > 0).all() and (summary["n"] <= 10).all()
    assert summary.loc["en", "ks"] == 0 and 0 < summary.loc["ko", "ks"] <= 1
    # the seeded sample is deterministic
    again, _ = embedding_norms(tiny_base, seed_corpus(["en", "es", "ko"], 4),
                               languages=["en", "es", "ko"], min_count=3, max_tokens_per_language=10)
    assert again["token_id"].tolist() == tokens["token_id"].tolist()


def test_missing_hub_model_names_it():
    with pytest.raises(MissingResourceError, match="no-such-org/no-such-model-xlrm"):
        load_input_embeddings("no-such-org/no-such-model-xlrm")


# ---------------------------------------------------------------------------- stages


@pytest.fixture(scope="module")
def workspace(tiny_base, seed_rows, tmp_path_factory):
    """A tiny eval dir (M-RewardBench files), an 'RM' folder and a params file."""
    from xlrm import languages as langs
    from xlrm.data.loaders import to_mrewardbench_rows
    from xlrm.io import write_jsonl
    from xlrm.reward.config import TrainRMConfig
    from xlrm.reward.train import train_reward_model

    root = tmp_path_factory.mktemp("analysis")
    for lang, rows in _eval_sets(seed_rows).items():
        write_jsonl(root / "eval" / f"{langs.flores(lang)}.jsonl", to_mrewardbench_rows(rows))
    en = [r for r in seed_rows if r["language"] == "en"][:8]
    cfg = load_config(TrainRMConfig, {"learning_rate": 5e-3, "num_train_epochs": 1,
                                      "per_device_train_batch_size": 4, "max_length": 512,
                                      "report_to": "none"}, "train_rm")
    train_reward_model(tiny_base, en, root / "rm" / "en", cfg, scratch_dir=root / "scratch")
    params = {
        "eval_languages": ["en", "es", "ko"], "rm_languages": ["en"],
        "analyze_representations": {"contexts": 6, "pooling": "last", "max_length": 256,
                                    "token_budget": 2048},
        "analyze_embeddings": {"models": [str(tiny_base)], "languages": ["en", "es", "ko"],
                               "corpus": "eval", "min_count": 3, "bins": 20},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    from mlflow.tracking import MlflowClient

    MlflowClient(f"sqlite:///{root / 'mlflow.db'}").search_experiments()  # make the store's tables
    return root


def _run_stage(script: str, args: list[str], monkeypatch, root: Path) -> None:
    """Run a stage script in-process; MLflow runs and artifacts stay under ``root`` (not the
    repo), in one store shared by this module's stage tests (its tables are made once)."""
    monkeypatch.setenv("DVC_ROOT", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.setattr(sys, "argv", [script, *args])
    runpy.run_path(str(REPO / "stages" / script), run_name="__main__")


def _last_run(root: Path, stage: str):
    """The latest MLflow run of ``stage`` in the workspace's store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("xlrm")
    runs = client.search_runs([exp.experiment_id], f"tags.`xlrm.stage` = '{stage}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    assert runs, f"no MLflow run of {stage}"
    return runs[0]


def test_analyze_representations_stage(workspace, tiny_base, monkeypatch):
    out = workspace / "out_repr"
    args = ["--params", str(workspace / "params.yaml"), "--base", str(tiny_base),
            "--rm-dir", str(workspace / "rm"), "--eval-dir", str(workspace / "eval"),
            "--table", str(out / "results/repr.csv"), "--layers-plot", str(out / "plots/layers.png"),
            "--bar-plot", str(out / "plots/bar.png"), "--metrics", str(out / "metrics/repr.json")]
    _run_stage("analyze_representations.py", args, monkeypatch, workspace)
    table = pd.read_csv(out / "results/repr.csv")
    assert list(table.columns) == ["model", "layer", "mean", "std", "n_contexts"]
    assert table["model"].unique().tolist() == ["base", "en"] and len(table) == 2 * 3
    assert ((table["mean"] > 0) & (table["mean"] <= 1)).all()
    metrics = json.loads((out / "metrics/repr.json").read_text())
    assert metrics["bar_layer"] == 2 and metrics["n_contexts"] == 6
    rm = metrics["rm"]["en"]
    assert rm["distance_from_base"] == pytest.approx(abs(rm["mean"] - metrics["base"]["mean"]),
                                                     abs=1e-5)
    for png in ("layers.png", "bar.png"):
        assert (out / "plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the plots are deterministic: redrawing from the CSV gives the same bytes
    plot_homogeneity_layers(table, out / "again_layers.png")
    plot_homogeneity_bar(table, 2, out / "again_bar.png")
    assert (out / "again_layers.png").read_bytes() == (out / "plots/layers.png").read_bytes()
    assert (out / "again_bar.png").read_bytes() == (out / "plots/bar.png").read_bytes()
    assert not list(out.rglob("*.tmp"))
    run = _last_run(workspace, "analyze_representations")
    assert run.data.metrics["repr.bar_layer"] == 2
    assert run.data.metrics["repr.rm.en.distance_from_base"] == pytest.approx(
        rm["distance_from_base"])
    assert run.data.params["analyze_representations.contexts"] == "6"
    assert {"rm_languages", "eval_languages"} <= set(run.data.params)


def test_analyze_embeddings_stage(workspace, tiny_base, monkeypatch):
    out = workspace / "out_emb"
    args = ["--params", str(workspace / "params.yaml"), "--eval-dir", str(workspace / "eval"),
            "--stats", str(out / "results/emb.csv"), "--plot", str(out / "plots/emb.png"),
            "--metrics", str(out / "metrics/emb.json"), "--tokens", str(out / "results/tok.csv")]
    _run_stage("analyze_embeddings.py", args, monkeypatch, workspace)
    stats = pd.read_csv(out / "results/emb.csv")
    assert stats["language"].tolist() == ["en", "es", "ko"]
    assert {"model", "n", "mean", "std", "median", "q25", "q75", "ks", "wasserstein"} <= set(stats)
    metrics = json.loads((out / "metrics/emb.json").read_text())
    per_lang = metrics["models"][str(tiny_base)]
    assert per_lang["en"]["ks"] == 0 and 0 < per_lang["ko"]["ks"] <= 1
    tokens = pd.read_csv(out / "results/tok.csv")
    assert len(tokens) == stats["n"].sum()
    png = (out / "plots/emb.png").read_bytes()
    metric_names = _last_run(workspace, "analyze_embeddings").data.metrics
    assert metric_names[f"emb.{tiny_base}.ko.ks"] == pytest.approx(per_lang["ko"]["ks"])
    _run_stage("analyze_embeddings.py", args, monkeypatch, workspace)
    assert (out / "plots/emb.png").read_bytes() == png


def test_analyze_embeddings_stage_missing_model_exits_cleanly(workspace, monkeypatch, capsys):
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["analyze_embeddings"]["models"] = ["no-such-org/no-such-model-xlrm"]
    path = workspace / "params_missing.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    out = workspace / "out_missing"
    with pytest.raises(SystemExit) as exc:
        _run_stage("analyze_embeddings.py",
                   ["--params", str(path), "--eval-dir", str(workspace / "eval"),
                    "--stats", str(out / "s.csv"), "--plot", str(out / "p.png"),
                    "--metrics", str(out / "m.json")], monkeypatch, workspace)
    assert exc.value.code == 2
    assert "no-such-org/no-such-model-xlrm" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())

"""Translation backends and language identification (offline; tiny random models)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fake_openai import user_message

from xlrm import tracking
from xlrm.errors import ConfigError, DataError
from xlrm.langid import LanguageChecker, strip_unidentifiable
from xlrm.schema import validate_pair
from xlrm.sections import load_config
from xlrm.translation.backends import TranslationError, known_backends, make_backend
from xlrm.translation.config import DEFAULT_PROMPT_TEMPLATE, TranslateConfig
from xlrm.translation.hf import HFBackend, target_forcing
from xlrm.translation.openai import OpenAIBackend
from xlrm.translation.rows import translate_rows
from xlrm.translation.segments import split_segments

SENTENCES = {
    "en": "The weather is lovely today, so we are going to walk to the park with our friends.",
    "es": "Hoy hace muy buen tiempo, así que vamos a caminar hasta el parque con nuestros amigos.",
    "it": "Oggi il tempo è bellissimo, quindi andiamo a piedi al parco con i nostri amici.",
    "ko": "오늘은 날씨가 아주 좋아서 친구들과 함께 공원까지 걸어가려고 합니다.",
    "zh": "今天天气很好，所以我们打算和朋友们一起走路去公园散步。",
}

EN = {
    "prompt": "Could you explain briefly why the sky looks blue during the day?",
    "chosen": ("Sunlight is scattered by the molecules of the air, and blue light is "
               "scattered the most."),
    "rejected": "The sky is blue because it reflects the colour of the oceans below it.",
}
ES = {
    "prompt": "¿Podrías explicar brevemente por qué el cielo se ve azul durante el día?",
    "chosen": ("La luz del sol se dispersa en las moléculas del aire, y la luz azul es la "
               "que más se dispersa."),
    "rejected": "El cielo es azul porque refleja el color de los océanos que hay debajo de él.",
}


def pair(id_: str, lang: str, prompt: str, chosen: str, rejected: str, **extra) -> dict:
    return {"id": id_, "language": lang, "prompt": [{"role": "user", "content": prompt}],
            "chosen": chosen, "rejected": rejected, "source": "test", "subset": "unit", **extra}


def cfg_of(**kw) -> TranslateConfig:
    return load_config(TranslateConfig, kw, "translate")


# --------------------------------------------------------------------------- language id


def test_language_checker_detects_real_sentences():
    checker = LanguageChecker(["en", "es", "it", "ko", "zh"])
    for lang, text in SENTENCES.items():
        assert checker.detect(text) == lang, lang
        assert checker.is_language(text, lang)
    assert not checker.is_language(SENTENCES["en"], "es")
    assert not checker.is_language(SENTENCES["es"], "it")
    assert not checker.is_language(SENTENCES["ko"], "zh")
    assert checker.is_language(SENTENCES["zh"], "zh-Hant")  # lingua has one Chinese
    many = [SENTENCES["es"], SENTENCES["en"], "ok"]
    assert checker.are_language(many, "es") == [True, False, True]


def test_language_checker_short_and_code_texts_pass():
    checker = LanguageChecker(["es"], min_chars=20)
    assert checker.is_language("OK, thanks!", "es")  # too short to judge
    code = ("```python\nfor i in range(10):\n    print(i * 2)\n```\n"
            "`x = 42` 3.14159 https://example.com/a/b")
    assert strip_unidentifiable(code) == ""
    assert checker.is_language(code, "es")
    assert checker.detect(code) is None
    assert not checker.is_language(code + "\n" + SENTENCES["en"], "es")
    with pytest.raises(ConfigError):
        LanguageChecker(["xx"])


# --------------------------------------------------------------------------- config


def test_config_rejects_unknown_keys_and_types():
    cfg = cfg_of(backend="hf", hf={"model": "m", "kind": "causal", "batch_size": 4})
    assert cfg.hf.kind == "causal" and cfg.hf.prompt_template == DEFAULT_PROMPT_TEMPLATE
    assert cfg.openai.api_key_env == "OPENAI_API_KEY"
    assert set(known_backends()) == {"reference", "hf", "vllm", "openai"}
    with pytest.raises(ConfigError, match="unknown key"):
        cfg_of(backend="hf", beam=3)
    with pytest.raises(ConfigError, match="unknown key"):
        cfg_of(backend="hf", hf={"modle": "x"})
    with pytest.raises(ConfigError, match="must be one of"):
        cfg_of(backend="google")
    with pytest.raises(ConfigError, match="must be one of"):
        cfg_of(backend="hf", hf={"kind": "encoder"})
    with pytest.raises(ConfigError, match="missing required"):
        cfg_of()
    with pytest.raises(ConfigError):
        cfg_of(backend="hf", hf={"prompt_template": "no placeholder"})
    with pytest.raises(ConfigError, match="translate: source_language: unknown language"):
        cfg_of(backend="reference", source_language="klingon")
    with pytest.raises(ConfigError, match="translate.hf: batch_size must be at least 1"):
        cfg_of(backend="hf", hf={"batch_size": 0})
    assert cfg_of(backend="openai", max_rows=5).max_rows == 5



# --------------------------------------------------------------------------- segmentation


def test_split_segments_keeps_code_and_markers():
    text = ("# Title here\n\n- first item\n2. second item\n```py\nprint('hi')\n```\n"
            "  indented line  \n12345\n")
    pieces = split_segments(text, by_line=True)
    assert "".join(s for s, _ in pieces) == text
    assert [s for s, tr in pieces if tr] == ["Title here", "first item", "second item",
                                            "indented line"]
    long = " ".join(f"Sentence number {i} is here." for i in range(40))
    pieces = split_segments(long, by_line=True, max_chars=100)
    chunks = [s for s, tr in pieces if tr]
    assert len(chunks) > 1 and all(len(c) <= 100 for c in chunks)
    assert " ".join(chunks) == long
    assert split_segments("```\ncode only\n```", by_line=False) == [("```\ncode only\n```", False)]
    assert split_segments("a\nb c", by_line=False) == [("a\nb c", True)]


# --------------------------------------------------------------------------- reference


def test_reference_backend_aligns_by_id_and_counts_missing():
    en = [pair("a", "en", **EN), pair("b", "en", **EN), pair("c", "en", **EN)]
    es_a = pair("a", "es", **ES, category="chat")
    es_c = pair("c", "es", ES["prompt"], "Short.", "Tiny.")
    wrong = pair("b", "it", SENTENCES["it"], "x" * 3, "y" * 3)
    all_rows = [*en, es_c, wrong, es_a]
    out, stats = translate_rows(en, "es", cfg_of(backend="reference"), all_rows=all_rows)
    assert [r["id"] for r in out] == ["a", "c"]
    assert out[0] == validate_pair(es_a) and out[0]["category"] == "chat"
    assert all(r["language"] == "es" for r in out)
    assert stats["missing_reference"] == 1 and stats["rows_in"] == 3 and stats["rows_out"] == 2
    assert stats["backend"] == "reference" and stats["dropped_langid"] == 0
    effective = tracking.EFFECTIVE["translate"]
    assert effective["backend"] == "reference" and effective["target"] == "es"
    assert effective["reference"] == {"align_by": "id"} and not effective["passthrough"]
    assert effective["langid_fields"] == ["prompt", "chosen", "rejected"]
    assert {"en", "es"} <= set(effective["langid_candidates"])

    # a "reference" that is really English is caught by the language check
    bad = [pair("a", "es", **EN), es_c]
    out, stats = translate_rows(en, "es", cfg_of(backend="reference"), all_rows=bad)
    assert [r["id"] for r in out] == ["c"] and stats["dropped_langid"] == 1
    out, stats = translate_rows(en, "es", cfg_of(backend="reference", langid=False),
                                all_rows=bad)
    assert len(out) == 2

    with pytest.raises(ConfigError, match="all_rows"):
        translate_rows(en, "es", cfg_of(backend="reference"))
    with pytest.raises(DataError, match="source language"):
        translate_rows([es_a], "it", cfg_of(backend="reference"), all_rows=all_rows)
    out, stats = translate_rows(en, "es", cfg_of(backend="reference", max_rows=1),
                                all_rows=all_rows)
    assert stats["rows_in"] == 1 and [r["id"] for r in out] == ["a"]


def test_passthrough_for_source_language_filters_by_language():
    rows = [pair("a", "en", **EN), pair("b", "en", EN["prompt"], ES["chosen"], EN["rejected"])]
    out, stats = translate_rows(rows, "en", cfg_of(backend="openai"))  # no backend is built
    assert out == [rows[0]] and stats["passthrough"] and stats["dropped_langid"] == 1
    assert stats["langid_failed_chosen"] == 1
    assert tracking.EFFECTIVE["translate"]["passthrough"]
    assert "openai" not in tracking.EFFECTIVE["translate"]
    out, _ = translate_rows(rows, "en", cfg_of(backend="openai", langid=False))
    assert out == rows
    assert tracking.EFFECTIVE["translate"]["langid"] is False


def test_openai_effective_settings_hold_no_key(monkeypatch):
    key = "sk-settings-KEY-24680"
    monkeypatch.setenv("XLRM_TEST_KEY", key)
    cfg = cfg_of(backend="openai", openai={
        "base_url": f"https://user:pw@api.example.com/{key}/v1/", "model": "mt-large",
        "api_key_env": "XLRM_TEST_KEY", "concurrency": 2})
    settings = make_backend(cfg).settings("es")
    assert settings["url"] == "https://api.example.com/***/v1/chat/completions"
    assert settings["model"] == "mt-large" and settings["concurrency"] == 2
    assert settings["api_key_env"] == "XLRM_TEST_KEY" and settings["api_key_set"]
    assert "into Spanish" in settings["system_prompt"] and settings["by_line"] is False
    assert key not in json.dumps(settings) and "pw" not in settings["url"]
    monkeypatch.delenv("XLRM_TEST_KEY")
    assert make_backend(cfg).settings("es")["api_key_set"] is False


# --------------------------------------------------------------------------- tiny HF models


def _tokenizer(extra_specials: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [*SENTENCES.values(), *EN.values(), *ES.values()] * 3
    specials = ["<pad>", "<s>", "</s>", "<unk>", *extra_specials]
    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>",
                                   additional_special_tokens=extra_specials)


@pytest.fixture(scope="module")
def tiny_m2m(tmp_path_factory) -> Path:
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    path = tmp_path_factory.mktemp("m2m")
    tok = _tokenizer(["__en__", "__es__", "__ko__"])
    torch.manual_seed(0)
    cfg = M2M100Config(vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1,
                       encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                       decoder_ffn_dim=32, max_position_embeddings=256, init_std=1.0,
                       pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=2)
    model = M2M100ForConditionalGeneration(cfg)
    # never end early or emit specials: random weights then give non-empty text
    # (pad, bos, eos, unk, __en__, __ko__; __es__ is forced, so it must stay allowed)
    model.generation_config.suppress_tokens = [0, 1, 2, 3, 4, 6]
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("llama")
    tok = _tokenizer([])
    tok.chat_template = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                      max_position_embeddings=512, initializer_range=1.0, pad_token_id=0,
                      bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(cfg)
    # no specials and no newline: the random continuation is a non-empty first line
    vocab = tok.get_vocab()
    model.generation_config.suppress_tokens = sorted(
        {*range(len(tok.all_special_tokens)), *(i for t, i in vocab.items() if "Ċ" in t)})
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _rows_with_repeats() -> list[dict]:
    shared = "Please answer the following question carefully."
    return [
        pair("r1", "en", f"{shared}\nWhat is two plus two?", "It is four.", "It is five."),
        pair("r2", "en", f"{shared}\nWhat is two plus two?", "It is four.", "Four, obviously."),
        pair("r3", "en", "Name a colour.\n\n- one word\n- lower case", "blue", "It is five."),
    ]


def test_target_forcing_by_vocabulary():
    nllb = _tokenizer(["eng_Latn", "spa_Latn"])
    f = target_forcing(nllb, "en", "es")
    assert f.style == "nllb" and f.forced_bos_token_id == nllb.convert_tokens_to_ids("spa_Latn")
    assert f.src_lang == "eng_Latn"
    m2m = _tokenizer(["__en__", "__es__"])
    f = target_forcing(m2m, "en", "es")
    assert f.style == "m2m100" and f.forced_bos_token_id == m2m.convert_tokens_to_ids("__es__")
    f = target_forcing(_tokenizer(["<2es>", "<2ko>"]), "en", "es")
    assert f.style == "madlad" and f.prefix == "<2es> " and f.forced_bos_token_id is None
    f = target_forcing(_tokenizer([">>es<<", ">>it<<"]), "en", "es")
    assert f.style == "marian" and f.prefix == ">>es<< "
    assert target_forcing(_tokenizer([]), "en", "es").style == "none"
    with pytest.raises(ConfigError, match="no language token"):
        target_forcing(m2m, "en", "ko", model_type="m2m_100")


def test_hf_seq2seq_dedup_cache_and_batches(tiny_m2m, monkeypatch):
    cfg = cfg_of(backend="hf", langid=False,
                 hf={"model": str(tiny_m2m), "batch_size": 2, "max_new_tokens": 6,
                     "device": "cpu"})
    backend = make_backend(cfg)
    assert isinstance(backend, HFBackend)
    seen_batches: list[list[str]] = []
    forced: list[int | None] = []
    orig_seq2seq, orig_generate = HFBackend._seq2seq, HFBackend._generate

    def spy_seq2seq(self, model, tok, batch, source, target):
        seen_batches.append(list(batch))
        return orig_seq2seq(self, model, tok, batch, source, target)

    def spy_generate(self, model, enc, **extra):
        forced.append(extra.get("forced_bos_token_id"))
        out = orig_generate(self, model, enc, **extra)
        assert (out[:, 1] == extra["forced_bos_token_id"]).all()
        return out

    monkeypatch.setattr(HFBackend, "_seq2seq", spy_seq2seq)
    monkeypatch.setattr(HFBackend, "_generate", spy_generate)
    rows = _rows_with_repeats()
    out, stats = translate_rows(rows, "es", cfg, backend=backend)
    effective = tracking.EFFECTIVE["translate"]["hf"]
    assert effective["model"] == str(tiny_m2m) and effective["kind"] == "seq2seq"
    assert effective["device"] == "cpu" and effective["dtype"] == "float32"  # auto on CPU
    assert effective["batch_size"] == 2 and effective["max_new_tokens"] == 6
    assert "prompt_template" not in effective
    model, _ = backend.load(str(tiny_m2m))
    assert next(model.parameters()).dtype.is_floating_point and not model.training
    assert str(next(model.parameters()).dtype) == "torch.float32"

    segments = ["Please answer the following question carefully.", "What is two plus two?",
                "It is four.", "It is five.", "Four, obviously.", "Name a colour.", "one word",
                "lower case", "blue"]
    sent = [s for b in seen_batches for s in b]
    assert sorted(sent) == sorted(segments)  # each distinct line exactly once
    assert stats["segments_translated"] == len(segments) == stats["segments_unique"]
    assert stats["batches"] == len(seen_batches) == 5 and all(len(b) <= 2 for b in seen_batches)
    assert [len(s) for s in sent] == sorted((len(s) for s in sent), reverse=True)
    es_id = backend.load(str(tiny_m2m))[1].convert_tokens_to_ids("__es__")
    assert forced and set(forced) == {es_id}
    assert stats["texts"] == 9 and stats["texts_unique"] == 6
    assert stats["rows_in"] == 3 and stats["rows_out"] + stats["dropped_empty"] == 3
    assert stats["dropped_failed"] == 0 and stats["segments_hit_max_new_tokens"] == 9
    assert stats["rows_out"] >= 1  # random weights may map two answers to one string
    ids = [r["id"] for r in out]
    assert ids == [i for i in ("r1", "r2", "r3") if i in ids]
    for r in out:
        assert r["language"] == "es" and validate_pair(r) == r
        assert r["source"] == "test" and len(r["prompt"]) == 1
    r3 = next((r for r in out if r["id"] == "r3"), None)
    if r3 is not None:  # list markers and blank lines survive line-by-line translation
        lines = r3["prompt"][0]["content"].split("\n")
        assert lines[1] == "" and lines[2].startswith("- ") and lines[3].startswith("- ")

    # a second call is served from the cache: nothing more is generated
    n = len(seen_batches)
    out2, stats2 = translate_rows(rows, "es", cfg, backend=backend)
    assert len(seen_batches) == n and stats2["segments_translated"] == 0
    assert out2 == out and stats2["batches"] == 0


def test_hf_causal_prompt_and_first_line(tiny_llama, monkeypatch):
    import torch

    cfg = cfg_of(backend="hf", langid=False,
                 hf={"model": str(tiny_llama), "kind": "causal", "batch_size": 4,
                     "max_new_tokens": 5, "device": "cpu"})
    rows = _rows_with_repeats()
    # real generation with the random model: shapes and bookkeeping
    out, stats = translate_rows(rows, "ko", cfg)
    effective = tracking.EFFECTIVE["translate"]["hf"]
    assert effective["kind"] == "causal" and effective["prompt_template"] == DEFAULT_PROMPT_TEMPLATE
    assert effective["chat_template"] is True and effective["dtype"] == "float32"
    assert stats["rows_out"] + stats["dropped_empty"] == 3 and stats["batches"] == 3
    ids = [r["id"] for r in out]
    assert stats["rows_out"] >= 2 and ids == [i for i in ("r1", "r2", "r3") if i in ids]
    for r in out:
        assert r["language"] == "ko" and validate_pair(r) == r and "\n" not in r["chosen"]

    # the continuation is cut at the first newline; the prompt follows the template
    backend = make_backend(cfg)
    model, tok = backend.load(str(tiny_llama))
    assert tok.padding_side == "left"
    prompts: list[str] = []

    def fake_generate(self, model, enc, **extra):
        prompts.extend(tok.batch_decode(enc["input_ids"], skip_special_tokens=True))
        cont = tok([" 안녕하세요 세계\nEnglish: ignored"] * enc["input_ids"].shape[0],
                   return_tensors="pt", add_special_tokens=False)["input_ids"]
        return torch.cat([enc["input_ids"], cont], dim=1)

    monkeypatch.setattr(HFBackend, "_generate", fake_generate)
    res, counters = backend.translate_strings(["Hello there.", "Hello there.", "Bye now."],
                                              "en", "ko")
    assert res == ["안녕하세요 세계"] * 3
    assert counters["segments_translated"] == 2
    assert ("<|user|>Translate this from English to Korean:\nEnglish: Hello there.\nKorean:\n"
            "<|assistant|>") in prompts

    # without the chat template the bare prompt is sent
    prompts.clear()
    plain = make_backend(cfg_of(backend="hf", hf={"model": str(tiny_llama), "kind": "causal",
                                                  "chat_template": False, "device": "cpu"}))
    assert plain.translate_strings(["Bye now."], "en", "ko")[0] == ["안녕하세요 세계"]
    assert prompts == ["Translate this from English to Korean:\nEnglish: Bye now.\nKorean:"]


# --------------------------------------------------------------------------- openai

SECRET = "sk-test-SECRET-123456"


class _Translator:
    """A fake OpenAI-compatible translator (tests/fake_openai.py) returning canned Spanish
    'translations'."""

    def __init__(self):
        self.fail_once = {EN["chosen"]}  # first request for this text gets a 500
        self.english_reply = {EN["rejected"]}  # this one comes back untranslated ...
        self.english_reply_on = False  # ... once this is set

    def __call__(self, body: dict):
        text = user_message(body)
        system = body["messages"][0]
        assert system["role"] == "system" and "Spanish" in system["content"]
        if text in self.fail_once:
            self.fail_once.discard(text)
            return 500, {"error": "overloaded"}
        canned = {EN["prompt"]: ES["prompt"], EN["chosen"]: ES["chosen"],
                  EN["rejected"]: ES["rejected"]}
        if text in self.english_reply and self.english_reply_on:
            return text
        return canned.get(text, f"{ES['chosen']} {len(text)}")


def _openai_cfg(url: str, **kw) -> TranslateConfig:
    oa = {"base_url": url, "model": "tiny-mt", "api_key_env": "XLRM_TEST_KEY",
          "backoff_s": 0.01, "max_retries": 2, "concurrency": 3, "timeout_s": 10}
    return cfg_of(backend="openai", openai=oa, **kw)


def test_openai_backend_auth_retry_dedup_and_langid(monkeypatch, caplog, fake_openai):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("XLRM_TEST_KEY", SECRET)
    rows = [pair("a", "en", **EN), pair("b", "en", **EN),
            pair("c", "en", EN["prompt"], EN["chosen"], "A different answer that is wrong.")]
    translator = _Translator()
    srv = fake_openai(translator, require_key=SECRET)
    backend = make_backend(_openai_cfg(srv.url))
    assert isinstance(backend, OpenAIBackend)
    translator.english_reply_on = True
    out, stats = translate_rows(rows, "es", _openai_cfg(srv.url), backend=backend)
    assert set(srv.auth) == {f"Bearer {SECRET}"}
    texts = [r["messages"][-1]["content"] for r in srv.requests]
    # 4 distinct texts, one retried after a 500
    assert len(texts) == 5 and len(set(texts)) == 4 and texts.count(EN["chosen"]) == 2
    assert stats["retries"] == 1 and stats["requests_failed"] == 0
    assert stats["texts_unique"] == 4 and stats["segments_translated"] == 4
    # rows a and b got an English "rejected" back: caught by the language check
    assert stats["dropped_langid"] == 2 and stats["langid_failed_rejected"] == 2
    assert [r["id"] for r in out] == ["c"]
    assert out[0]["prompt"][0]["content"] == ES["prompt"] and out[0]["chosen"] == ES["chosen"]
    assert out[0]["language"] == "es"
    blob = json.dumps(stats) + caplog.text
    assert SECRET not in blob


def test_openai_backend_never_leaks_key(monkeypatch, caplog, fake_openai):
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-KEY-987654"
    monkeypatch.setenv("XLRM_TEST_KEY", wrong)
    rows = [pair("a", "en", **EN)]
    srv = fake_openai(_Translator(), require_key=SECRET)
    with pytest.raises(TranslationError) as info:
        translate_rows(rows, "es", _openai_cfg(srv.url))
    assert srv.auth[0] == f"Bearer {wrong}"  # the server did echo it back
    assert "401" in str(info.value)
    for text in (str(info.value), repr(info.value), caplog.text):
        assert wrong not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__

    # redirects are refused (urllib would forward the Authorization header)
    monkeypatch.setenv("XLRM_TEST_KEY", SECRET)
    srv = fake_openai(_Translator(), require_key=SECRET)
    with pytest.raises(TranslationError, match="302"):
        translate_rows(rows, "es", _openai_cfg(srv.url.replace("/v1", "/redirect/v1")))
    assert srv.paths and all(p.startswith("/redirect/") for p in srv.paths)
    assert SECRET not in caplog.text


def test_openai_backend_without_key_and_failing_server(monkeypatch, fake_openai):
    monkeypatch.delenv("XLRM_TEST_KEY", raising=False)
    rows = [pair("a", "en", **EN)]
    srv = fake_openai(_Translator())
    out, stats = translate_rows(rows, "es", _openai_cfg(srv.url, langid=False))
    assert srv.auth and all(a is None for a in srv.auth)
    assert len(out) == 1 and out[0]["chosen"] == ES["chosen"]

    # nothing listens: every request fails after its retries -> a clear error
    dead = fake_openai(_Translator())
    dead.close()
    with pytest.raises(TranslationError, match="failed"):
        translate_rows(rows, "es", _openai_cfg(dead.url, langid=False))

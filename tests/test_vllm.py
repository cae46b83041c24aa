"""The vLLM backends of `generate` and `translate`, against the stand-in of tests/fake_vllm.py
(vLLM needs CUDA): engine arguments from params reach ``vllm.LLM`` exactly, prompts go in
large calls, resume fingerprints, a crashed or killed run resumes, and the paper preset."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import fake_vllm
import pytest
from test_generation import load_stage, make_prompts
from test_resume import kill_after
from test_translation import _rows_with_repeats, tiny_llama  # noqa: F401 - a fixture

from xlrm import tracking
from xlrm.errors import ConfigError, DataError, XlrmError
from xlrm.generation.config import GenerateConfig
from xlrm.generation.prompts import render_prompt_ids
from xlrm.generation.resume import ROW_KEYS, run_fingerprint
from xlrm.generation.run import generate_to_file
from xlrm.generation.sampling import prompt_seed
from xlrm.io import read_jsonl
from xlrm.journal import side_paths
from xlrm.sections import load_config, load_section
from xlrm.translation.backends import make_backend
from xlrm.translation.config import TranslateConfig
from xlrm.translation.rows import translate_rows

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def vllm(monkeypatch):
    return fake_vllm.install(monkeypatch)


def gen_cfg(**kw) -> GenerateConfig:
    base = {"backend": "vllm", "num_samples": 3, "max_new_tokens": 8, "temperature": 0.9,
            "top_p": 0.95, "seed": 7, "dtype": "bfloat16", "flush_every": 4}
    base.update(kw)
    return load_config(GenerateConfig, base, "generate")


# ---------------------------------------------------------------------------- the section


def test_engine_section_uses_vllm_names_and_refuses_the_rest():
    cfg = gen_cfg(vllm={"tensor_parallel_size": 2, "gpu_memory_utilization": 0.85,
                        "max_model_len": 4096, "enable_prefix_caching": True,
                        "kv_cache_dtype": "fp8", "quantization": "fp8", "dtype": "half"})
    assert cfg.vllm.tensor_parallel_size == 2 and cfg.vllm.gpu_memory_utilization == 0.85
    assert cfg.vllm.trust_remote_code is False and cfg.chunk_samples == 8192
    bad = [({"tensor_parallel_sise": 2},
            r"generate\.vllm: unknown key\(s\) \['tensor_parallel_sise'\]"),
           ({"swap_space": 4}, r"swap_space.*removed from vLLM in 0\.18"),
           ({"gpu_memory_utilization": 0},
            r"generate\.vllm: gpu_memory_utilization must be in \(0, 1\]"),
           ({"gpu_memory_utilization": 1.2}, "gpu_memory_utilization"),
           ({"tensor_parallel_size": 0}, "tensor_parallel_size must be at least 1"),
           ({"pipeline_parallel_size": 0}, "pipeline_parallel_size"),
           ({"max_model_len": 0}, "max_model_len"),
           ({"max_num_seqs": 0}, "max_num_seqs"),
           ({"max_num_batched_tokens": -1}, "max_num_batched_tokens"),
           ({"dtype": "int8"}, r"generate\.vllm\.dtype"),
           ({"enforce_eager": "yes"}, r"generate\.vllm\.enforce_eager")]
    for section, message in bad:
        with pytest.raises(ConfigError, match=message):
            gen_cfg(vllm=section)
    with pytest.raises(ConfigError, match="chunk_samples"):
        gen_cfg(chunk_samples=0)
    tr = load_config(TranslateConfig, {"backend": "vllm", "vllm": {"max_num_seqs": 64}},
                     "translate")
    assert tr.vllm.max_num_seqs == 64 and tr.chunk_segments == 8192
    with pytest.raises(ConfigError, match=r"translate\.vllm: unknown key\(s\) \['gpu_mem'\]"):
        load_config(TranslateConfig, {"backend": "vllm", "vllm": {"gpu_mem": 0.5}}, "translate")


def test_fingerprint_covers_the_numerics_not_the_memory_and_scheduling(tiny_base):
    prompts = make_prompts(3)

    def fp(**kw):
        return run_fingerprint(tiny_base, prompts, gen_cfg(**kw), language="en", greedy=False)

    base = fp(vllm={"gpu_memory_utilization": 0.9})
    for same in ({"vllm": {"gpu_memory_utilization": 0.5}},
                 {"vllm": {"max_num_seqs": 16, "max_num_batched_tokens": 2048,
                           "enable_prefix_caching": False, "enforce_eager": True}},
                 {"chunk_samples": 12}):
        assert fp(**same) == base, same
    assert fp(vllm={"dtype": "bfloat16"}) == base  # = generate.dtype, the one it stands in for
    for changed in ({"vllm": {"dtype": "float16"}}, {"dtype": "float16"},
                    {"vllm": {"quantization": "fp8"}}, {"vllm": {"kv_cache_dtype": "fp8"}},
                    {"vllm": {"max_model_len": 2048}}, {"vllm": {"seed": 1}},
                    {"vllm": {"tensor_parallel_size": 2}},
                    {"vllm": {"pipeline_parallel_size": 2}},
                    {"vllm": {"trust_remote_code": True}}):
        assert fp(**changed) != base, changed
    assert fp(vllm={"dtype": "half"}) == fp(vllm={"dtype": "float16"})
    # the hf backend's fingerprint does not see the vllm section at all
    hf = {"backend": "hf"}
    assert fp(**hf, vllm={"dtype": "float16"}) == fp(**hf)


# ---------------------------------------------------------------------------- generate


def test_engine_args_reach_llm_exactly_and_prompts_go_in_large_calls(tiny_base, tmp_path, vllm):
    prompts = make_prompts(40)
    engine = {"tensor_parallel_size": 1, "gpu_memory_utilization": 0.85, "max_model_len": 512,
              "enable_prefix_caching": True, "max_num_seqs": 128,
              "max_num_batched_tokens": 4096, "kv_cache_dtype": "auto", "enforce_eager": True}
    stats = generate_to_file(tiny_base, prompts, tmp_path / "s.jsonl",
                             gen_cfg(vllm=engine, num_samples=4), language="ko")
    [llm] = vllm.ENGINES
    assert llm.kwargs == {"model": str(tiny_base), "tokenizer": str(tiny_base), **engine,
                          "pipeline_parallel_size": 1, "trust_remote_code": False,
                          "dtype": "bfloat16", "seed": 7}  # section dtype and seed stand in
    assert tracking.EFFECTIVE["generate"]["engine"] == llm.kwargs
    # the default chunk (8192 samples) holds all 40 prompts: one call
    [(requests, params)] = llm.calls
    tok = llm.tokenizer
    assert [r["prompt_token_ids"] for r in requests] == [
        render_prompt_ids(tok, p["messages"]) for p in prompts]
    assert [sp.seed for sp in params] == [prompt_seed(7, p["id"]) for p in prompts]
    assert {(sp.n, sp.temperature, sp.top_p, sp.max_tokens) for sp in params} == {
        (4, 0.9, 0.95, 8)}
    assert tok.eos_token_id in params[0].stop_token_ids
    rows = read_jsonl(tmp_path / "s.jsonl")
    assert stats["samples"] == len(rows) == 160 and stats["backend"] == "vllm"
    assert all(set(r) == set(ROW_KEYS) and r["backend"] == "vllm" for r in rows)
    assert {r["finish_reason"] for r in rows} == {"stop", "length"}
    for r in rows:  # num_tokens leaves out the stop token the engine kept
        assert (r["num_tokens"] == 8) == (r["finish_reason"] == "length")

    # chunk_samples sets the call size: 64 samples = 16 prompts of 4
    vllm.ENGINES.clear()
    generate_to_file(tiny_base, prompts, tmp_path / "c.jsonl",
                     gen_cfg(vllm=engine, num_samples=4, chunk_samples=64), language="ko")
    assert [len(c[0]) for c in vllm.ENGINES[0].calls] == [16, 16, 8]
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "s.jsonl").read_bytes()

    # greedy: one answer per prompt, temperature 0
    vllm.ENGINES.clear()
    generate_to_file(tiny_base, prompts[:5], tmp_path / "g.jsonl", gen_cfg(), language="ko",
                     greedy=True)
    [(_, params)] = vllm.ENGINES[0].calls
    assert {(sp.n, sp.temperature, sp.top_p) for sp in params} == {(1, 0.0, 1.0)}
    assert len(read_jsonl(tmp_path / "g.jsonl")) == 5


def test_an_engine_argument_the_installed_vllm_lacks_fails_before_any_file(
        tiny_base, tmp_path, vllm, monkeypatch):
    import dataclasses

    fields = [(f.name, f.type, f.default) for f in dataclasses.fields(vllm.EngineArgs)
              if f.name != "enable_prefix_caching"]
    monkeypatch.setattr(vllm, "EngineArgs", dataclasses.make_dataclass("EngineArgs", fields))
    with pytest.raises(ConfigError, match=r"generate\.vllm: \['enable_prefix_caching'\] not "
                                          r"engine argument.*vLLM 0\.33\.0\+fake"):
        generate_to_file(tiny_base, make_prompts(2), tmp_path / "s.jsonl",
                         gen_cfg(vllm={"enable_prefix_caching": True}), language="en")
    assert not vllm.ENGINES
    assert not any(p.exists() for p in [tmp_path / "s.jsonl", *side_paths(tmp_path / "s.jsonl")])


def test_a_prompt_longer_than_max_model_len_fails_before_the_engine_starts(tiny_base, tmp_path,
                                                                          vllm):
    from xlrm.modeling import load_tokenizer

    prompts = make_prompts(7)
    tok = load_tokenizer(tiny_base)
    lengths = {p["id"]: len(render_prompt_ids(tok, p["messages"])) for p in prompts}
    longest = max(lengths, key=lengths.get)
    limit = lengths[longest]  # the longest prompt leaves no room for a reply; the rest fit
    assert sorted(lengths.values())[-2] < limit
    with pytest.raises(DataError, match=rf"prompt '{longest}' has {limit} tokens.*"
                                        rf"generate\.vllm\.max_model_len = {limit}"):
        generate_to_file(tiny_base, prompts, tmp_path / "s.jsonl",
                         gen_cfg(vllm={"max_model_len": limit}), language="en")
    assert not vllm.ENGINES
    generate_to_file(tiny_base, prompts, tmp_path / "s.jsonl",
                     gen_cfg(vllm={"max_model_len": limit + 1}), language="en")


def test_missing_vllm_is_a_clear_error_for_both_backends(tiny_base, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(XlrmError, match=r"generate\.backend is 'vllm' but the vllm package is "
                                        r"not installed \(pip install -e '\.\[vllm\]'"):
        generate_to_file(tiny_base, make_prompts(2), tmp_path / "s.jsonl", gen_cfg(),
                         language="en")
    assert not any(p.exists() for p in [tmp_path / "s.jsonl", *side_paths(tmp_path / "s.jsonl")])
    cfg = load_config(TranslateConfig, {"backend": "vllm", "hf": {"model": "m", "kind": "causal"}},
                      "translate")
    with pytest.raises(XlrmError, match=r"translate\.backend is 'vllm' but the vllm package"):
        make_backend(cfg)


def test_a_crashed_run_resumes_and_only_a_numeric_change_starts_over(tiny_base, tmp_path,
                                                                     vllm, caplog):
    prompts = make_prompts(30)
    out, ref = tmp_path / "s.jsonl", tmp_path / "ref.jsonl"
    cfg = gen_cfg(num_samples=2, chunk_samples=10, vllm={"gpu_memory_utilization": 0.9})
    vllm.FAIL_ON_CALL = 3  # the engine dies in its third call (prompts 10-14)
    with pytest.raises(RuntimeError, match="engine died"):
        generate_to_file(tiny_base, prompts, out, cfg, language="es")
    partial = side_paths(out)[0]
    assert not out.exists() and len(read_jsonl(partial)) == 20
    vllm.FAIL_ON_CALL = None
    # memory and scheduling settings changed: the rows already made are kept
    resumed_cfg = gen_cfg(num_samples=2, chunk_samples=16,
                          vllm={"gpu_memory_utilization": 0.6, "max_num_seqs": 8})
    stats = generate_to_file(tiny_base, prompts, out, resumed_cfg, language="es")
    assert stats["resumed"] == 20 and stats["generated"] == 40
    sent = [r["prompt_token_ids"] for c in vllm.ENGINES[-1].calls for r in c[0]]
    tok = vllm.ENGINES[-1].tokenizer
    assert sent == [render_prompt_ids(tok, p["messages"]) for p in prompts[10:]]
    assert [len(c[0]) for c in vllm.ENGINES[-1].calls] == [8, 8, 4]
    assert not any(p.exists() for p in side_paths(out))
    generate_to_file(tiny_base, prompts, ref, cfg, language="es")
    assert out.read_bytes() == ref.read_bytes()  # = an uninterrupted run

    # a dtype change is another computation: the partial file is discarded
    vllm.ENGINES.clear()
    vllm.FAIL_ON_CALL = 2
    with pytest.raises(RuntimeError):
        generate_to_file(tiny_base, prompts, tmp_path / "d.jsonl", cfg, language="es")
    vllm.FAIL_ON_CALL = None
    assert "starting over" not in caplog.text
    stats = generate_to_file(tiny_base, prompts, tmp_path / "d.jsonl",
                             gen_cfg(num_samples=2, chunk_samples=10, vllm={"dtype": "float16"}),
                             language="es")
    assert "starting over" in caplog.text and stats["resumed"] == 0 and stats["generated"] == 60


KILL_SCRIPT = """
import json, sys
sys.path[:0] = sys.argv[5:7]  # the stand-in package `vllm`, and tests/ (fake_vllm itself)
from xlrm.generation.config import GenerateConfig
from xlrm.generation.run import generate_to_file
from xlrm.sections import load_config
model_dir, prompts_path, out_path, cfg_json = sys.argv[1:5]
prompts = json.load(open(prompts_path, encoding="utf-8"))
cfg = load_config(GenerateConfig, json.loads(cfg_json), "generate")
generate_to_file(model_dir, prompts, out_path, cfg, language="es")
"""


@pytest.mark.slow  # starts a subprocess
def test_sigkill_between_engine_calls_then_resume(tiny_base, tmp_path, vllm):
    prompts = make_prompts(24)
    section = {"backend": "vllm", "num_samples": 2, "max_new_tokens": 6, "seed": 3,
               "chunk_samples": 8, "vllm": {"max_model_len": 256}}
    (tmp_path / "prompts.json").write_text(json.dumps(prompts), encoding="utf-8")
    out = tmp_path / "samples.jsonl"
    cmd = [sys.executable, "-c", KILL_SCRIPT, str(tiny_base), str(tmp_path / "prompts.json"),
           str(out), json.dumps(section), str(fake_vllm.package_dir(tmp_path)),
           str(REPO / "tests")]
    written = kill_after(cmd, out, 8, tmp_path)  # SIGKILL once one engine call is saved
    assert 8 <= written < 48 and written % 8 == 0  # whole engine calls, nothing torn
    cfg = load_config(GenerateConfig, section, "generate")
    stats = generate_to_file(tiny_base, prompts, out, cfg, language="es")
    assert stats["resumed"] == written and stats["generated"] == 48 - written
    generate_to_file(tiny_base, prompts, tmp_path / "ref.jsonl", cfg, language="es")
    assert (tmp_path / "ref.jsonl").read_bytes() == out.read_bytes()


# ---------------------------------------------------------------------------- translate


def _fake_translator(prompt: str, params, index: int) -> str:
    """'Translates' the text of the X-ALMA-style prompt into a tagged copy, then rambles on
    a second line (which the backend must drop)."""
    match = re.search(r"English: (.*)\nKorean:", prompt, flags=re.DOTALL)
    assert match, prompt
    return f" [ko] {match.group(1)}\nEnglish: more text"


def test_translate_vllm_backend_rows_through_the_pipeline(tiny_llama, vllm):  # noqa: F811
    vllm.RESPONDER = _fake_translator
    engine = {"gpu_memory_utilization": 0.5, "max_model_len": 512, "max_num_seqs": 32,
              "enable_prefix_caching": True}
    cfg = load_config(TranslateConfig, {
        "backend": "vllm", "langid": False, "chunk_segments": 3, "vllm": engine,
        "hf": {"model": str(tiny_llama), "kind": "causal", "max_new_tokens": 64,
               "dtype": "bfloat16"}}, "translate")
    rows = _rows_with_repeats()
    out, stats = translate_rows(rows, "ko", cfg)
    [llm] = vllm.ENGINES
    assert llm.kwargs == {"model": str(tiny_llama), "tokenizer": str(tiny_llama), **engine,
                          "tensor_parallel_size": 1, "pipeline_parallel_size": 1,
                          "dtype": "bfloat16", "kv_cache_dtype": "auto",
                          "trust_remote_code": False, "enforce_eager": False}
    effective = tracking.EFFECTIVE["translate"]["vllm"]
    assert effective["engine"] == llm.kwargs and effective["chunk_segments"] == 3
    # every distinct line once, in calls of at most 3 segments, greedy, stopping at a newline
    sent = [llm.tokenizer.decode(r["prompt_token_ids"]) for c in llm.calls for r in c[0]]
    assert len(sent) == len(set(sent)) == stats["segments_translated"]
    assert [len(c[0]) for c in llm.calls] == [3] * (len(sent) // 3) + (
        [len(sent) % 3] if len(sent) % 3 else [])
    assert stats["batches"] == len(llm.calls)
    assert {(c[1].n, c[1].temperature, c[1].max_tokens, tuple(c[1].stop)) for c in llm.calls} \
        == {(1, 0.0, 64, ("\n",))}
    assert ("<|user|>Translate this from English to Korean:\nEnglish: It is four.\nKorean:\n"
            "<|assistant|>") in sent
    # rows: same ids, each line translated, list markers and blank lines kept
    assert [r["id"] for r in out] == ["r1", "r2", "r3"] and stats["rows_out"] == 3
    assert stats["segments_hit_max_new_tokens"] == 0
    r1, _, r3 = out
    assert r1["language"] == "ko" and r1["chosen"] == "[ko] It is four."
    assert r1["prompt"][0]["content"] == ("[ko] Please answer the following question carefully."
                                          "\n[ko] What is two plus two?")
    assert r3["prompt"][0]["content"] == "[ko] Name a colour.\n\n- [ko] one word\n- [ko] lower case"


def test_translate_vllm_refuses_what_it_cannot_run(vllm):
    with pytest.raises(ConfigError, match="runs causal translators"):
        make_backend(load_config(TranslateConfig, {"backend": "vllm", "hf": {"model": "m"}},
                                 "translate"))
    with pytest.raises(ConfigError, match="num_beams: 1"):
        make_backend(load_config(TranslateConfig, {"backend": "vllm", "hf": {
            "model": "m", "kind": "causal", "num_beams": 4}}, "translate"))


def test_translate_stage_resumes_across_throughput_changes(  # noqa: F811 - tiny_llama
        tiny_llama, seed_rows, tmp_path, vllm, caplog):
    vllm.RESPONDER = _fake_translator
    prepared = tmp_path / "train.jsonl"
    prepared.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in seed_rows
                                if r["language"] == "en"), encoding="utf-8")
    stage = load_stage("translate")
    out = tmp_path / "ko.jsonl"

    def run(chunk: int, engine: dict, **hf) -> None:
        section = {"backend": "vllm", "langid": False, "chunk_segments": chunk, "vllm": engine,
                   "hf": {"model": str(tiny_llama), "kind": "causal", "max_new_tokens": 200,
                          **hf}}
        params = tmp_path / "params.yaml"
        params.write_text(json.dumps({"translate": section}), encoding="utf-8")
        stage.STAGE.run(stage.main, ["--params", str(params), "--lang", "ko", "--prepared",
                                     str(prepared), "--out", str(out), "--metrics",
                                     str(tmp_path / "m.json")])

    def sent(engine) -> list[str]:
        return [engine.tokenizer.decode(r["prompt_token_ids"]) for c in engine.calls
                for r in c[0]]

    vllm.FAIL_ON_CALL = 3  # the engine dies in its third call
    with pytest.raises(RuntimeError, match="engine died"):
        run(5, {"gpu_memory_utilization": 0.9})
    assert len(read_jsonl(side_paths(out)[0])) == 10 and not out.exists()
    done_before = sent(vllm.ENGINES[0])[:10]
    vllm.FAIL_ON_CALL = None
    # memory/scheduling settings, the call size and HF's batch size changed: journal reused
    run(7, {"gpu_memory_utilization": 0.5, "max_num_seqs": 4, "enforce_eager": True},
        batch_size=64)
    assert "starting over" not in caplog.text and not any(p.exists() for p in side_paths(out))
    stats = json.loads((tmp_path / "m.json").read_text())
    resumed = sent(vllm.ENGINES[1])
    assert not set(resumed) & set(done_before) and stats["segments_translated"] == len(resumed)
    assert [len(c[0]) for c in vllm.ENGINES[1].calls][:-1] == [7] * (len(vllm.ENGINES[1].calls) - 1)
    rows = read_jsonl(out)
    assert stats["rows_out"] == len(rows) > 0
    assert all("[ko] " in r["chosen"] for r in rows)  # each line of it, after list markers

    # a numeric engine setting (the KV-cache dtype) changed: the journal is discarded
    vllm.ENGINES.clear()
    vllm.FAIL_ON_CALL = 2
    with pytest.raises(RuntimeError):
        run(5, {"kv_cache_dtype": "fp8"})
    vllm.FAIL_ON_CALL = None
    run(5, {"kv_cache_dtype": "auto"})
    assert "starting over" in caplog.text
    assert len(sent(vllm.ENGINES[1])) == len(done_before) + len(resumed)  # all of it again
    assert read_jsonl(out) == rows


# ---------------------------------------------------------------------------- presets


def test_paper_preset_runs_translate_and_generate_on_vllm(vllm):
    paper = REPO / "presets" / "paper.yaml"
    tr = load_section("translate", paper)
    assert tr.backend == "vllm" and tr.hf.kind == "causal" and tr.hf.num_beams == 1
    assert set(tr.hf.models.values()) == {"haoranxu/X-ALMA-13B-Group2",
                                          "haoranxu/X-ALMA-13B-Group6"}
    gen = load_section("generate", paper)
    assert gen.backend == "vllm" and gen.vllm.tensor_parallel_size == 1
    from xlrm.vllm_engine import check_engine_args, engine_kwargs

    for section, cfg, dtype in (("translate", tr.vllm, tr.hf.dtype),
                                ("generate", gen.vllm, gen.dtype)):
        kwargs = engine_kwargs(cfg, model="m", dtype=dtype, seed=0)
        check_engine_args(vllm, kwargs, section)  # names vLLM 0.33 has
        assert kwargs["dtype"] == "bfloat16" and 0 < kwargs["gpu_memory_utilization"] <= 1
    for name in ("params.yaml", "presets/default.yaml", "presets/tiny.yaml"):
        assert load_section("translate", REPO / name).backend != "vllm"
        assert load_section("generate", REPO / name).backend == "hf"

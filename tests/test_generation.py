"""Sampling and greedy generation: batching, determinism, output schema, resume after a kill."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xlrm.errors import ConfigError, XlrmError
from xlrm.generation.config import GenerateConfig
from xlrm.generation.hf import generate_greedy_texts, hf_generate_batches
from xlrm.generation.prompts import render_prompt_ids, stop_token_ids
from xlrm.generation.resume import ROW_KEYS, TEST_SLEEP_ENV, run_fingerprint
from xlrm.generation.run import generate_to_file
from xlrm.generation.sampling import keyed_gumbel, keyed_nucleus_choice, row_key
from xlrm.io import read_jsonl, write_json, write_jsonl
from xlrm.sections import load_config

REPO = Path(__file__).resolve().parents[1]

TEXTS = [
    "Hi",
    "Explain why the sky is blue in two sentences, please.",
    "¿Cuál es la capital de Francia?",
    "한국어로 간단히 자기소개를 해 주세요.",
    "Écris un court poème sur la mer et le vent du soir, avec des rimes.",
    "日本の首都はどこですか",
    "Write a long and detailed story about a dragon who learns to bake bread in a small village.",
]


def make_prompts(n: int) -> list[dict]:
    out = []
    for i in range(n):
        msgs = [{"role": "user", "content": TEXTS[i % len(TEXTS)] + (" more" * (i % 3))}]
        if i % 4 == 1:
            msgs = [{"role": "system", "content": "Be brief."}, *msgs]
        out.append({"id": f"p{i:03d}", "messages": msgs})
    return out


@pytest.fixture(scope="module")
def policy(tiny_base):
    from xlrm.modeling import load_causal, load_tokenizer

    return load_causal(tiny_base, dtype="float32", device="cpu"), load_tokenizer(tiny_base)


def small_cfg(**kw) -> GenerateConfig:
    base = dict(num_samples=3, max_new_tokens=10, temperature=0.9, top_p=0.95, seed=7,
                token_budget=256, max_batch=8, device="cpu", dtype="float32", flush_every=4)
    base.update(kw)
    return GenerateConfig(**base)


def keyed(rows: list[dict]) -> dict[tuple[str, int], dict]:
    return {(r["prompt_id"], r["sample"]): r for r in rows}


# ---------------------------------------------------------------------------- config


def test_config_section_is_typed():
    cfg = load_config(GenerateConfig, {"backend": "vllm", "num_samples": 8, "top_p": 1}, "generate")
    assert cfg.backend == "vllm" and cfg.num_samples == 8 and cfg.top_p == 1.0
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(GenerateConfig, {"n": 4}, "generate")
    with pytest.raises(ConfigError, match="backend"):
        load_config(GenerateConfig, {"backend": "tgi"}, "generate")
    with pytest.raises(ConfigError, match="top_p"):
        load_config(GenerateConfig, {"top_p": 0}, "generate")
    with pytest.raises(ConfigError, match="num_samples"):
        load_config(GenerateConfig, {"num_samples": 0}, "generate")


# ---------------------------------------------------------------------------- greedy


def test_batched_greedy_equals_unbatched_generate_loop(policy):
    import torch

    model, tok = policy
    prompts = make_prompts(9)
    msgs = [p["messages"] for p in prompts]
    stop = stop_token_ids(tok, model.generation_config)
    assert tok.convert_tokens_to_ids("<|end|>") in stop  # the template's end-of-turn marker
    # A small budget forces several left-padded batches of mixed lengths.
    texts = generate_greedy_texts(model, tok, msgs, max_new_tokens=16, token_budget=160)
    ids = [render_prompt_ids(tok, m) for m in msgs]
    assert len({len(x) for x in ids}) > 3
    batched = {}
    for batch in hf_generate_batches(model, tok, ids, max_new_tokens=16, token_budget=160):
        assert len(batch) >= 1
        batched.update(batch)
    assert any(len(b) > 1 for b in hf_generate_batches(model, tok, ids, max_new_tokens=16,
                                                          token_budget=160))
    for i, m in enumerate(msgs):
        inp = torch.tensor([ids[i]])
        with torch.inference_mode():
            out = model.generate(inp, attention_mask=torch.ones_like(inp), max_new_tokens=16,
                                 do_sample=False, eos_token_id=stop, pad_token_id=tok.pad_token_id)
        new = out[0, inp.shape[1]:].tolist()
        cut = next((j for j, t in enumerate(new) if t in stop), len(new))
        assert batched[i].token_ids == new[:cut]
        assert batched[i].finish_reason == ("stop" if cut < len(new) else "length")
        assert texts[i] == tok.decode(new[:cut], skip_special_tokens=True)


def test_greedy_file_has_one_answer_per_prompt(policy, tiny_base, tmp_path):
    model, tok = policy
    prompts = make_prompts(5)
    cfg = small_cfg(num_samples=4)
    stats = generate_to_file(tiny_base, prompts, tmp_path / "g.jsonl", cfg, language="en",
                             greedy=True)
    rows = read_jsonl(tmp_path / "g.jsonl")
    assert stats["greedy"] and stats["num_samples"] == 1 and len(rows) == 5
    assert {r["sample"] for r in rows} == {0}
    expect = generate_greedy_texts(model, tok, [p["messages"] for p in prompts], max_new_tokens=10)
    assert [r["text"] for r in rows] == expect


# ---------------------------------------------------------------------------- sampling


def test_keyed_gumbel_samples_the_softmax():
    import torch

    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, 0.5])
    keys = torch.tensor([row_key(3, f"p{i}", 0) for i in range(20000)], dtype=torch.int64)
    noise = keyed_gumbel(keys, step=5, vocab_size=5)
    assert torch.equal(noise, keyed_gumbel(keys, step=5, vocab_size=5))  # a pure function
    assert not torch.equal(noise, keyed_gumbel(keys, step=6, vocab_size=5))
    freq = torch.bincount((logits + noise).argmax(-1), minlength=5).float() / len(keys)
    assert torch.allclose(freq, logits.softmax(-1), atol=0.015)


@pytest.mark.parametrize("top_p", [0.5, 0.9, 1.0])
def test_nucleus_choice_equals_full_vocabulary_gumbel_max(top_p):
    """Noise drawn only for the top-k nucleus picks what transformers' TopPLogitsWarper plus
    noise over the whole vocabulary picks, also for rows whose nucleus exceeds k."""
    import torch
    from transformers import TopPLogitsWarper

    gen = torch.Generator().manual_seed(0)
    # peaked rows (nucleus of a few tokens) and flat rows (nucleus beyond the 16 candidates)
    scores = torch.cat([torch.randn(6, 500, generator=gen) * 6,
                        torch.randn(6, 500, generator=gen) * 0.1])
    keys = torch.tensor([row_key(1, f"p{i}", 0) for i in range(12)], dtype=torch.int64)
    for step in range(3):
        masked = TopPLogitsWarper(top_p)(None, scores.clone()) if top_p < 1 else scores
        want = (masked + keyed_gumbel(keys, step, vocab_size=500)).argmax(-1)
        got = keyed_nucleus_choice(scores, keys, step, top_p, candidates=16)
        assert torch.equal(got, want)
    ids = torch.tensor([[3, 7], [0, 499]] * 6)
    full = keyed_gumbel(keys, 4, vocab_size=500)
    assert torch.equal(keyed_gumbel(keys, 4, token_ids=ids), full.gather(1, ids))


def test_sample_file_schema_counts_and_reproducibility(policy, tiny_base, tmp_path):
    model, tok = policy
    prompts = make_prompts(6)
    cfg = small_cfg()
    stats = generate_to_file(tiny_base, prompts, tmp_path / "a.jsonl", cfg, language="ko")
    rows = read_jsonl(tmp_path / "a.jsonl")
    assert stats["samples"] == stats["generated"] == len(rows) == 6 * 3 and stats["resumed"] == 0
    assert [(r["prompt_id"], r["sample"]) for r in rows] == \
        sorted((p["id"], s) for p in prompts for s in range(3))
    for r in rows:
        assert tuple(r) == ROW_KEYS
        assert r["language"] == "ko" and r["backend"] == "hf" and r["seed"] == 7
        assert r["finish_reason"] in ("stop", "length")
        assert 0 <= r["num_tokens"] <= 10
        assert (r["finish_reason"] == "length") == (r["num_tokens"] == 10)
    assert len({r["text"] for r in rows}) > 1  # the samples of a prompt differ
    assert not list(tmp_path.glob("a.jsonl.partial*"))

    # Token counts and texts re-derived one sample at a time, from its own key.
    pos = {p["id"]: p for p in prompts}
    for r in rows[:7]:
        ids = render_prompt_ids(tok, pos[r["prompt_id"]]["messages"])
        [(_, c)] = next(hf_generate_batches(
            model, tok, [ids], max_new_tokens=10, token_budget=10_000, temperature=0.9,
            top_p=0.95, keys=[row_key(7, r["prompt_id"], r["sample"])]))
        assert (c.num_tokens, c.text, c.finish_reason) == \
            (r["num_tokens"], r["text"], r["finish_reason"])
        assert tok.decode(c.token_ids, skip_special_tokens=True) == r["text"]

    # Same seed and batch plan: the same file. Another batch plan: the same samples (CPU,
    # float32 -- the noise is keyed per sample, not per batch). Another seed: other samples.
    generate_to_file(tiny_base, prompts, tmp_path / "b.jsonl", cfg, language="ko")
    assert (tmp_path / "b.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()
    generate_to_file(tiny_base, prompts, tmp_path / "c.jsonl",
                     small_cfg(token_budget=64, max_batch=3), language="ko")
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()
    generate_to_file(tiny_base, prompts, tmp_path / "d.jsonl", small_cfg(seed=8), language="ko")
    assert [r["text"] for r in read_jsonl(tmp_path / "d.jsonl")] != [r["text"] for r in rows]


# ---------------------------------------------------------------------------- resume


def test_resume_keeps_matching_partial_and_cuts_torn_line(tiny_base, tmp_path):
    prompts = make_prompts(4)
    cfg = small_cfg(num_samples=2)
    out = tmp_path / "s.jsonl"
    fp = run_fingerprint(tiny_base, prompts, cfg, language="en", greedy=False)
    write_json(f"{out}.partial.meta.json", {"fingerprint": fp})
    done = [{"prompt_id": "p001", "language": "en", "sample": 1, "text": "KEPT", "num_tokens": 1,
             "backend": "hf", "seed": 7, "finish_reason": "stop"}]
    write_jsonl(f"{out}.partial", done)
    with open(f"{out}.partial", "a", encoding="utf-8") as f:
        f.write('{"prompt_id": "p002", "language": "en", "sam')  # torn write
    stats = generate_to_file(tiny_base, prompts, out, cfg, language="en")
    rows = read_jsonl(out)
    assert stats["resumed"] == 1 and stats["generated"] == 7 and len(rows) == 8
    assert keyed(rows)[("p001", 1)]["text"] == "KEPT"
    assert len(keyed(rows)) == 8
    assert not Path(f"{out}.partial").exists() and not Path(f"{out}.partial.meta.json").exists()


def test_config_change_between_runs_starts_over(tiny_base, tmp_path, caplog):
    prompts = make_prompts(4)
    out = tmp_path / "s.jsonl"
    old = small_cfg(num_samples=2, seed=1)
    fp = run_fingerprint(tiny_base, prompts, old, language="en", greedy=False)
    write_json(f"{out}.partial.meta.json", {"fingerprint": fp})
    write_jsonl(f"{out}.partial", [
        {"prompt_id": "p000", "language": "en", "sample": 0, "text": "STALE", "num_tokens": 1,
         "backend": "hf", "seed": 1, "finish_reason": "stop"}])
    new = small_cfg(num_samples=2, seed=2)
    with caplog.at_level(logging.WARNING, logger="xlrm.generation"):
        stats = generate_to_file(tiny_base, prompts, out, new, language="en")
    assert "starting over" in caplog.text
    rows = read_jsonl(out)
    assert stats["resumed"] == 0 and len(rows) == 8
    assert all(r["seed"] == 2 and r["text"] != "STALE" for r in rows)
    fresh = tmp_path / "fresh.jsonl"
    generate_to_file(tiny_base, prompts, fresh, new, language="en")
    assert out.read_bytes() == fresh.read_bytes()


KILL_SCRIPT = """
import json, sys
from xlrm.generation.config import GenerateConfig
from xlrm.generation.run import generate_to_file
model_dir, prompts_path, out_path, cfg_json = sys.argv[1:5]
prompts = json.load(open(prompts_path, encoding="utf-8"))
generate_to_file(model_dir, prompts, out_path, GenerateConfig(**json.loads(cfg_json)),
                 language="es")
"""


@pytest.mark.slow  # starts a subprocess
def test_sigkill_then_resume_loses_and_duplicates_nothing(tiny_base, tmp_path):
    prompts = make_prompts(24)
    cfg_kw = dict(num_samples=2, max_new_tokens=6, temperature=0.9, top_p=0.95, seed=3,
                  token_budget=10_000, max_batch=2, device="cpu", dtype="float32", flush_every=3)
    expected = {(p["id"], s) for p in prompts for s in range(2)}
    (tmp_path / "prompts.json").write_text(json.dumps(prompts), encoding="utf-8")
    out = tmp_path / "samples.jsonl"
    partial = Path(f"{out}.partial")
    env = {**os.environ, TEST_SLEEP_ENV: "0.15", "PYTHONPATH": str(REPO)}
    log_path = tmp_path / "child.log"
    with open(log_path, "wb") as child_log:
        proc = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, str(tiny_base), str(tmp_path / "prompts.json"),
             str(out), json.dumps(cfg_kw)], cwd=REPO, env=env,
            stdout=child_log, stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    lines = 0
    try:
        while time.time() < deadline and proc.poll() is None:
            if partial.exists():
                lines = partial.read_bytes().count(b"\n")
                if lines >= 6:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before the kill: {log_path.read_text()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    written = partial.read_bytes().count(b"\n")
    assert 6 <= written < len(expected)
    with open(partial, "ab") as f:  # a torn write on top of the kill
        f.write('{"prompt_id": "p009", "language": "es", "sample": 1, "text": "hal'.encode())

    cfg = GenerateConfig(**cfg_kw)
    stats = generate_to_file(tiny_base, prompts, out, cfg, language="es")
    rows = read_jsonl(out)
    keys = [(r["prompt_id"], r["sample"]) for r in rows]
    assert len(keys) == len(set(keys)) == len(expected) and set(keys) == expected
    assert stats["resumed"] == written and stats["generated"] == len(expected) - written
    assert not partial.exists() and not Path(f"{out}.partial.meta.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".samples")]
    # The resumed run equals an uninterrupted one (per-sample keyed noise; CPU float32).
    generate_to_file(tiny_base, prompts, tmp_path / "ref.jsonl", cfg, language="es")
    assert (tmp_path / "ref.jsonl").read_bytes() == out.read_bytes()


# ---------------------------------------------------------------------------- the stage


def load_stage(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generate_stage_writes_samples_and_logs_the_effective_settings(tiny_base, tmp_path,
                                                                       capsys):
    from mlflow.tracking import MlflowClient

    from xlrm.tracking import EFFECTIVE, tracking_uri

    section = dict(num_samples=2, max_new_tokens=6, temperature=0.9, top_p=0.95, seed=5,
                   token_budget=256, max_batch=4, device="auto", dtype="auto", flush_every=4)
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"generate": section}), encoding="utf-8")
    prompts = make_prompts(3)
    write_jsonl(tmp_path / "es.train.jsonl", [{**p, "language": "es"} for p in prompts])
    out = tmp_path / "samples" / "es.jsonl"
    stage = load_stage("generate")
    stage.STAGE.run(stage.main, ["--params", str(params), "--lang", "es", "--policy",
                                 str(tiny_base), "--instructions",
                                 str(tmp_path / "es.train.jsonl"), "--out", str(out)])
    assert capsys.readouterr().out.strip().startswith("generate es: 6 samples for 3 prompts")
    rows = read_jsonl(out)
    assert len(rows) == 6 and {r["language"] for r in rows} == {"es"}
    # the same samples as the core called directly with the same section
    generate_to_file(tiny_base, prompts, tmp_path / "ref.jsonl",
                     load_config(GenerateConfig, section, "generate"), language="es")
    assert (tmp_path / "ref.jsonl").read_bytes() == out.read_bytes()

    effective = EFFECTIVE["generate"]
    assert effective["backend"] == "hf" and effective["sampler"] == "keyed-gumbel"
    assert effective["device"] == "cpu" and effective["dtype"] == "float32"  # "auto" on CPU
    assert effective["token_budget"] == 256 and effective["max_batch"] == 4
    assert effective["stop_token_ids"]
    client = MlflowClient(tracking_uri())
    [run] = client.search_runs([client.get_experiment_by_name("xlrm").experiment_id])
    assert run.info.run_name == "generate@es" and run.info.status == "FINISHED"
    assert run.data.params["generate.dtype"] == "auto"
    assert run.data.params["effective.generate.dtype"] == "float32"
    assert run.data.params["effective.generate.device"] == "cpu"
    assert run.data.metrics["generate.samples"] == 6


# ---------------------------------------------------------------------------- vllm


def test_vllm_backend_missing_is_a_clear_error(tiny_base, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(XlrmError, match="vllm package is not installed"):
        generate_to_file(tiny_base, make_prompts(2), tmp_path / "v.jsonl",
                         small_cfg(backend="vllm"), language="en")
    assert not (tmp_path / "v.jsonl").exists()

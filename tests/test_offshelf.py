"""Off-the-shelf RMs: classifier scoring, both-orders generative judges, the stage's outputs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from xlrm.errors import ConfigError, MissingResourceError
from xlrm.evaluation import accuracy_report
from xlrm.offshelf import (OFFSHELF_PROMPT_TEMPLATE, OFFSHELF_SYSTEM_PROMPT, ClassifierSpec,
                           EvalOffshelfConfig, HFPairJudge, JudgeSpec, OpenAIPairJudge,
                           PairJudge, both_orders_scores, conversation_text, judge_eval_sets,
                           load_classifier, make_pair_judge, order_verdict, pair_outcome,
                           reward_from_output, run_offshelf, score_classifier, uses_score_head)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def eval_sets(seed_rows) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in seed_rows:
        out.setdefault(row["language"], []).append(row)
    return out


@pytest.fixture(scope="module")
def small_sets(eval_sets) -> dict[str, list[dict]]:
    """Four pairs of each of two subsets per language (keeps the judge tests quick)."""
    out = {}
    for lang, rows in eval_sets.items():
        keep = [r for r in rows if r["subset"] == "seed-math"][:4] + \
            [r for r in rows if r["subset"] == "seed-safety-refuse"][:4]
        out[lang] = keep
    return out


@pytest.fixture(scope="module")
def tiny_classifier(tiny_base, tmp_path_factory) -> Path:
    """The tiny base with a random one-output head, saved as a seq-cls folder."""
    from xlrm.reward import load_seqcls, load_tokenizer

    out = tmp_path_factory.mktemp("offshelf") / "tiny-clf"
    load_seqcls(tiny_base, seed=0).save_pretrained(out)
    load_tokenizer(tiny_base).save_pretrained(out)
    return out


def _accuracy(rows: list[dict], name: str) -> dict[str, float]:
    return {lang: rec["score"] for lang, rec in accuracy_report(pd.DataFrame(rows))[name].items()}


# =========================================================================== config


def test_config_sections_parse_and_reject_bad_keys():
    cfg = EvalOffshelfConfig.from_dict({
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
    assert EvalOffshelfConfig.from_dict({}).classifiers == []
    assert EvalOffshelfConfig.from_dict({"classifiers": [], "judges": []}).judges == []

    with pytest.raises(ConfigError, match="unknown key"):
        EvalOffshelfConfig.from_dict({"classifiers": [{"name": "a", "model": "m", "lr": 1}]})
    with pytest.raises(ConfigError, match="repeated"):
        EvalOffshelfConfig.from_dict({"classifiers": [{"name": "a", "model": "m"}],
                                      "judges": [{"name": "a", "kind": "hf", "model": "m"}]})
    with pytest.raises(ConfigError, match="kind"):
        EvalOffshelfConfig.from_dict({"judges": [{"name": "r", "kind": "rm", "model": "m"}]})
    with pytest.raises(ConfigError, match="name"):
        EvalOffshelfConfig.from_dict({"classifiers": [{"name": "a/b", "model": "m"}]})
    with pytest.raises(ConfigError, match="model is required"):
        EvalOffshelfConfig.from_dict({"judges": [{"name": "j", "kind": "openai"}]})


# =========================================================================== classifiers


def test_tiny_classifier_scored_and_matrix_written(tiny_classifier, eval_sets, tmp_path):
    from xlrm.reward import load_reward_model, load_tokenizer, score_pairs

    spec = ClassifierSpec(name="tiny-clf", model=str(tiny_classifier), dtype="float32",
                          device="cpu", max_length=512, token_budget=2048)
    model, tok = load_classifier(spec)
    assert uses_score_head(model, spec)
    rows, stats = score_classifier(model, tok, eval_sets, "tiny-clf", spec)
    assert stats["scoring"] == "score_head" and stats["pairs"] == 108 and len(rows) == 108
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


def test_lora_adapter_folder_loads_over_its_base(tiny_base, eval_sets, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from xlrm.reward import load_reward_model, load_seqcls, load_tokenizer, score_pairs

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


# =========================================================================== encoding


class FakeJudge(PairJudge):
    """Answers from a rule on (instruction, A, B); records every query."""

    def __init__(self, rule):
        super().__init__(None)
        self.rule = rule
        self.queries: list[tuple[str, str, str]] = []

    def ask(self, instructions, outputs_a, outputs_b, language):
        self.queries.extend(zip(instructions, outputs_a, outputs_b))
        return np.array([self.rule(i, a, b) for i, a, b in
                         zip(instructions, outputs_a, outputs_b)], dtype=float), {}


def test_both_orders_encoding_is_strict():
    # the strict > scorer on the encoding == "chosen won both orders"
    for v1 in ("chosen", "rejected", "tie", None):
        for v2 in ("chosen", "rejected", "tie", None):
            c, r = both_orders_scores([v1, v2])
            assert (c > r) == (v1 == v2 == "chosen")
    assert order_verdict(0.9, chosen_is_a=True) == "chosen"
    assert order_verdict(0.9, chosen_is_a=False) == "rejected"
    assert order_verdict(0.5, chosen_is_a=True) == "tie"
    assert order_verdict(math.nan, chosen_is_a=True) is None
    assert pair_outcome(["chosen", "rejected"]) == "inconsistent"
    assert pair_outcome(["tie", "chosen"]) == "tie"
    assert pair_outcome(["chosen", None]) == "unparseable"
    assert conversation_text([{"role": "user", "content": "hi"}]) == "hi"
    assert conversation_text([{"role": "user", "content": "a"},
                              {"role": "assistant", "content": "b"},
                              {"role": "user", "content": "c"}]) == \
        "User: a\n\nAssistant: b\n\nUser: c"


def test_fake_judges_always_a_perfect_tie_and_silent(small_sets):
    chosen = {r["chosen"] for rows in small_sets.values() for r in rows}
    n = sum(len(v) for v in small_sets.values())

    always_a = FakeJudge(lambda i, a, b: 1.0)
    rows, st = judge_eval_sets(always_a, small_sets, "always-a")
    assert len(always_a.queries) == 2 * n  # every pair asked in both orders
    first = {(i, a, b) for i, a, b in always_a.queries}
    assert all((i, b, a) in first for i, a, b in always_a.queries)
    assert st["n_inconsistent"] == n and st["n_correct"] == 0
    assert all(v == 0.0 for v in _accuracy(rows, "always-a").values())
    assert all(r["chosen_score"] == 1 and r["rejected_score"] == 1 for r in rows)

    perfect = FakeJudge(lambda i, a, b: 1.0 if a in chosen else 0.0)
    rows, st = judge_eval_sets(perfect, small_sets, "perfect")
    assert st["n_correct"] == n and st["n_inconsistent"] == 0
    assert all(v == 1.0 for v in _accuracy(rows, "perfect").values())
    assert all(r["p_chosen"] == [1.0, 1.0] for r in rows)

    inverted = FakeJudge(lambda i, a, b: 0.0 if a in chosen else 1.0)
    _, st = judge_eval_sets(inverted, small_sets, "inverted")
    assert st["n_wrong"] == n

    # soft: right with 0.6 when chosen is A, a tie when it is B -> tie, wrong
    soft = FakeJudge(lambda i, a, b: 0.6 if a in chosen else 0.5)
    rows, st = judge_eval_sets(soft, small_sets, "soft")
    assert st["n_tie"] == n and st["n_queries_tie"] == n
    assert all(v == 0.0 for v in _accuracy(rows, "soft").values())

    # no verdict in one order: counted as unparseable, and wrong
    half = FakeJudge(lambda i, a, b: 1.0 if a in chosen else math.nan)
    rows, st = judge_eval_sets(half, small_sets, "half")
    assert st["n_unparseable"] == n and st["n_queries_unparseable"] == n
    assert all(r["p_chosen"][1] is None for r in rows)
    assert all(v == 0.0 for v in _accuracy(rows, "half").values())


# =========================================================================== hf judge


def test_hf_judge_on_tiny_model_both_orders(tiny_base, small_sets, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from xlrm.alpaca import judge_messages
    from xlrm.reward import load_tokenizer

    spec = JudgeSpec(name="tiny-judge", kind="hf", model=str(tiny_base), batch_size=4,
                     device="cpu", dtype="float32")
    judge = make_pair_judge(spec)
    assert isinstance(judge, HFPairJudge)
    rows, st = judge_eval_sets(judge, small_sets, "tiny-judge")
    n = sum(len(v) for v in small_sets.values())
    assert st["n_pairs"] == n and st["n_queries"] == 2 * n and st["n_unparseable"] == 0
    assert sum(st[f"n_{o}"] for o in ("correct", "wrong", "inconsistent", "tie",
                                      "unparseable")) == n
    for r in rows:
        assert r["verdicts"] == [order_verdict(r["p_chosen"][0], True),
                                 order_verdict(1 - r["p_chosen"][1], False)]
        assert (r["chosen_score"] > r["rejected_score"]) == (r["verdicts"] == ["chosen"] * 2)
    again, _ = judge_eval_sets(judge, small_sets, "tiny-judge")
    assert [r["p_chosen"] for r in again] == [r["p_chosen"] for r in rows]  # deterministic

    # a direct computation of the first pair, rejected shown first (order 2)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    tok = load_tokenizer(tiny_base)
    pair = small_sets["en"][0]
    text = tok.apply_chat_template(
        judge_messages(pair["prompt"][0]["content"], pair["rejected"], pair["chosen"], spec),
        tokenize=False, add_generation_prompt=True)
    assert "[Reply A]" in text and OFFSHELF_SYSTEM_PROMPT[:40] in text
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1].float(), dim=-1)
    label_ids = judge._label_ids
    p_a, p_b = (sum(float(probs[t]) for t in ids_) for ids_ in label_ids)
    first = next(r for r in rows if r["language"] == "en" and r["id"] == pair["id"])
    assert first["p_chosen"][1] == pytest.approx(p_b / (p_a + p_b), abs=1e-5)

    # the same model passed in: the stage core accepts it through judge_kwargs
    cfg = EvalOffshelfConfig(judges=[spec])
    metrics = run_offshelf(cfg, small_sets, scores_dir=tmp_path / "s",
                           matrix_csv=tmp_path / "m.csv", metrics_json=tmp_path / "m.json",
                           judge_kwargs={"tiny-judge": {"model": model, "tokenizer": tok}})
    m = metrics["models"]["tiny-judge"]
    assert m["n_pairs"] == n and "n_inconsistent" in m and "n_unparseable" in m
    assert set(m["per_language"]) == {"en", "es", "ko"}
    saved = [json.loads(x) for x in (tmp_path / "s" / "tiny-judge.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([r["p_chosen"] for r in saved], [r["p_chosen"] for r in rows],
                               atol=1e-5)


# =========================================================================== openai judge


class PairServer:
    """A real HTTP server on 127.0.0.1 speaking /v1/chat/completions.

    ``mode``: ``perfect`` names the reply holding a chosen text, ``always-a`` says A,
    ``noise`` answers no label, ``logprobs`` is perfect with 0.8/0.2 label log-probabilities.
    """

    def __init__(self, chosen: set[str], mode: str = "perfect"):
        self.chosen, self.mode = chosen, mode
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                user = body["messages"][-1]["content"]
                reply_a = user.split("[Reply A]\n", 1)[1].split("\n\n[Reply B]\n", 1)[0]
                good = "A" if reply_a in outer.chosen else "B"
                other = "B" if good == "A" else "A"
                choice = {"index": 0, "message": {"role": "assistant", "content": good}}
                if outer.mode == "always-a":
                    choice["message"]["content"] = "A"
                elif outer.mode == "noise":
                    choice["message"]["content"] = "Both replies have merit."
                elif outer.mode == "logprobs":
                    top = [{"token": good, "logprob": math.log(0.8)},
                           {"token": other, "logprob": math.log(0.2)}]
                    choice["logprobs"] = {"content": [{"token": good, "logprob": math.log(0.8),
                                                       "top_logprobs": top}]}
                return self._send(200, {"choices": [choice]})

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("mode", ["perfect", "logprobs", "always-a", "noise"])
def test_openai_judge_against_a_local_server(small_sets, mode):
    chosen = {r["chosen"] for rows in small_sets.values() for r in rows}
    n = sum(len(v) for v in small_sets.values())
    with PairServer(chosen, mode) as server:
        spec = JudgeSpec.from_dict({"name": "local", "kind": "openai", "model": "pair-judge",
                                    "base_url": server.url, "concurrency": 4,
                                    "backoff_s": 0.01, "max_retries": 1, "timeout_s": 10,
                                    "logprobs": mode == "logprobs"})
        judge = make_pair_judge(spec)
        assert isinstance(judge, OpenAIPairJudge)
        rows, st = judge_eval_sets(judge, small_sets, "local")
    assert len(server.requests) == 2 * n
    req = server.requests[0]
    assert req["model"] == "pair-judge" and req["messages"][0]["content"] == OFFSHELF_SYSTEM_PROMPT
    assert ("logprobs" in req) == (mode == "logprobs")
    # each pair is asked in both orders: every prompt's swapped twin was asked too
    shown = {b["messages"][1]["content"] for b in server.requests}
    for text in shown:
        head, rest = text.split("[Reply A]\n", 1)
        a, rest = rest.split("\n\n[Reply B]\n", 1)
        b, tail = rest.split("\n\nWhich reply", 1)
        assert f"{head}[Reply A]\n{b}\n\n[Reply B]\n{a}\n\nWhich reply{tail}" in shown
    acc = _accuracy(rows, "local")
    if mode in ("perfect", "logprobs"):
        assert st["n_correct"] == n and all(v == 1.0 for v in acc.values())
        if mode == "logprobs":
            assert st["from_logprobs"] == 2 * n
            assert all(r["p_chosen"] == pytest.approx([0.8, 0.8]) for r in rows)
        else:
            assert st["from_text"] == 2 * n
    elif mode == "always-a":
        assert st["n_inconsistent"] == n and all(v == 0.0 for v in acc.values())
    else:
        assert st["n_unparseable"] == n and st["unparseable"] == 2 * n
        assert st["n_queries_unparseable"] == 2 * n and all(v == 0.0 for v in acc.values())


# =========================================================================== stage


def _write_eval_dir(eval_sets, path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for lang, rows in eval_sets.items():
        with open(path / f"{lang}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"id": r["id"], "language": lang,
                                    "prompt": r["prompt"][0]["content"], "chosen": r["chosen"],
                                    "rejected": r["rejected"], "subset": r["subset"],
                                    "category": r["category"]}, ensure_ascii=False) + "\n")


def test_stage_with_empty_lists_writes_empty_outputs(small_sets, tmp_path):
    _write_eval_dir(small_sets, tmp_path / "eval")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"eval_languages": ["en", "es", "ko"],
                                      "eval_offshelf": {"classifiers": [], "judges": []}}))
    out = subprocess.run([sys.executable, str(REPO / "stages" / "eval_offshelf.py"),
                          "--params", str(params), "--eval-dir", str(tmp_path / "eval"),
                          "--scores-dir", str(tmp_path / "scores"),
                          "--matrix", str(tmp_path / "matrix.csv"),
                          "--metrics", str(tmp_path / "metrics.json")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "scores").is_dir() and not list((tmp_path / "scores").iterdir())
    assert (tmp_path / "matrix.csv").read_text().strip() == "rm,en,es,ko"
    assert json.loads((tmp_path / "metrics.json").read_text()) == \
        {"languages": ["en", "es", "ko"], "models": {}}

    # a model that cannot be found: a one-line error naming it, exit 2
    params.write_text(yaml.safe_dump({"eval_languages": ["en"], "eval_offshelf": {
        "classifiers": [{"name": "ghost", "model": "xlrm-test-nobody/no-such-rm"}]}}))
    out = subprocess.run([sys.executable, str(REPO / "stages" / "eval_offshelf.py"),
                          "--params", str(params), "--eval-dir", str(tmp_path / "eval"),
                          "--scores-dir", str(tmp_path / "s2"), "--matrix",
                          str(tmp_path / "m2.csv"), "--metrics", str(tmp_path / "m2.json")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2 and "xlrm-test-nobody/no-such-rm" in out.stderr
    assert not (tmp_path / "m2.csv").exists()

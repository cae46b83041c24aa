"""The ``paper-dry`` preset: ``presets/paper.yaml`` with tiny models and hub-shaped local data.

A fast check keeps the two presets equal outside an explicit list of keys (so a change to
``paper`` that the dry run does not follow fails here); the slow test builds the models and
data sets (``python -m xlrm.dryrun``), runs real ``dvc repro`` on the preset in a copy of
the repository with the OpenAI judges answered by a loopback server, and reads the outputs.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from fake_openai import FakeOpenAI, chat_reply, token_logprobs, user_message

REPO = Path(__file__).resolve().parents[1]
DRY_LANGS = ["en", "ko"]
TARGETS = ["ko"]
SEEDS = [0, 1]
RM_SEEDS = [42, 43]

# Keys (dotted; "*" = any list index) where paper-dry may differ from paper, and why.
ALLOWED = {
    # models and data sets: tiny random / small local copies in the hub layouts
    "base_model.source", "policy_model.source", "prepare.source", "translate.hf.models",
    "eval_data.mrewardbench", "eval_data.rewardbench", "analyze_embeddings.models",
    "eval_offshelf.classifiers", "instructions.eval.source",
    # list lengths (languages, seeds)
    "languages", "rm_languages", "eval_languages", "alignment_languages", "dpo_seeds", "rm_seeds",
    "analyze_embeddings.languages",
    # sizes that only set how long a CPU takes
    "translate.hf.max_new_tokens", "generate.max_new_tokens", "eval_alpaca.max_new_tokens",
    "instructions.train.max_per_language", "analyze_representations.contexts",
    # hardware: gloo CPU processes instead of 8 GPUs; vLLM needs a GPU
    "launch.train_rm", "launch.train_dpo", "launch.eval_rm", "launch.label",
    "launch.eval_offshelf", "translate.backend", "generate.backend",
    # random weights write no language; at 5e-7 one or two DPO steps change no greedy answer
    "translate.langid", "train_dpo.learning_rate",
    # judge endpoints (the test's loopback server)
    "eval_alpaca.judge.base_url", "eval_offshelf.judges.*.base_url",
    "report.title",
}


def _read(name: str) -> dict:
    return yaml.safe_load((REPO / "presets" / f"{name}.yaml").read_text(encoding="utf-8"))


def _diff(a, b, key: str = "") -> list[str]:
    """Dotted keys where ``a`` and ``b`` differ (lists of equal length compared per index)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            sub = f"{key}.{k}" if key else k
            out += _diff(a.get(k), b.get(k), sub) if k in a and k in b else [sub]
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(
            isinstance(x, dict) for x in a + b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{key}.{i}")]
    return [] if a == b else [key]


def _allowed(key: str) -> bool:
    """``key`` is an allowed key or lies below one."""
    return any(re.fullmatch(re.escape(p).replace(r"\*", r"\d+") + r"(\..+)?", key)
               for p in ALLOWED)


def test_dry_preset_differs_from_paper_only_where_allowed():
    paper, dry = _read("paper"), _read("paper-dry")
    extra = [k for k in _diff(paper, dry) if not _allowed(k)]
    assert not extra, f"paper-dry differs from paper outside the allow-list: {extra}"
    # the code paths the paper takes stay taken
    for section in ("train_rm", "train_dpo"):
        assert dry[section]["lora"] is None and dry[section]["max_length"] == 2048
        assert dry[section]["lr_scheduler_type"] == "cosine" and dry[section]["bf16"] is True
    assert dry["train_rm"]["truncation"] == "left"
    assert dry["eval_data"]["source"] == "hub"
    assert {j["kind"] for j in dry["eval_offshelf"]["judges"]} == {"openai"}
    assert dry["eval_alpaca"]["judge"]["kind"] == "openai"
    assert all(v == {"config_file": "accelerate/cpu2.yaml", "num_processes": 2}
               for v in dry["launch"].values())
    assert len(dry["alignment_languages"]) >= 1 and "en" not in dry["alignment_languages"]
    # every model and data folder the preset names is one the builder writes
    from xlrm.dryrun.data import build_datasets  # noqa: F401 (importable without torch)
    from xlrm.dryrun.models import MODELS

    names = {m.repo for m in MODELS} | {
        "iqwiki-kor/MP-86k", "CohereLabsCommunity/multilingual-reward-bench",
        "allenai/reward-bench", "zhihz0535/X-AlpacaEval"}
    text = (REPO / "presets" / "paper-dry.yaml").read_text(encoding="utf-8")
    named = set(re.findall(r"\.dry/hub/([\w.-]+/[\w.-]+)", text))
    assert named and named <= names, named - names


def test_hub_shaped_folders_load_as_the_hub_would(tmp_path):
    """The built data sets read through the hub code path: config and split select rows."""
    from xlrm.data.loaders import load_eval_set, load_preferences
    from xlrm.dryrun.data import build_datasets
    from xlrm.evaluation.weights import MREWARDBENCH_WEIGHTS

    build_datasets(tmp_path)
    rows, stats = load_preferences(str(tmp_path / "iqwiki-kor" / "MP-86k"), hub_split="train")
    assert len(rows) == 150 and rows[0]["source"] == "iqwiki-kor/MP-86k"
    assert list(stats["formats"].values()) == ["pairs"]
    sets = load_eval_set("hub", ["en", "ko", "zh"],
                         mrewardbench=str(tmp_path / "CohereLabsCommunity" /
                                          "multilingual-reward-bench"),
                         rewardbench=str(tmp_path / "allenai" / "reward-bench"))
    for lang, part in sets.items():
        assert len(part) == 24 and {r["language"] for r in part} == {lang}
        assert {r["subset"] for r in part} == set(MREWARDBENCH_WEIGHTS)
    assert sets["ko"][0]["source"] == "CohereLabsCommunity/multilingual-reward-bench"
    assert sets["ko"][0]["prompt"] != sets["zh"][0]["prompt"]


# ------------------------------------------------------------------ the dry run end to end

_SHOWN = re.compile(r"(?:Response A:|\[Reply A\])\n(?P<a>.*)\n\n(?:Response B:|\[Reply B\])\n"
                    r"(?P<b>.*)\n\n", re.S)


def verdict(body: dict) -> dict:
    """A deterministic judge that reads the answers: it prefers the output whose text hashes
    lower, whichever position it is shown in, and says so with 0.8 of its probability."""
    m = _SHOWN.search(user_message(body))
    if m is None:
        return chat_reply("A")
    ha, hb = (hashlib.sha256(m.group(x).strip().encode()).hexdigest() for x in "ab")
    label = "A" if ha <= hb else "B"
    other = "B" if label == "A" else "A"
    return chat_reply(label, logprobs=token_logprobs([(label, 0.8), (other, 0.2)]))


def copy_repo(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if not src.is_file() or rel.startswith(("data/", "models/", "results/", "metrics/",
                                                "plots/", "report/")) or rel == "dvc.lock":
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / rel)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    from test_pipeline import sh

    work = tmp_path_factory.mktemp("paper-dry") / "work"
    work.mkdir()
    copy_repo(work)
    sh("python -m xlrm.preset use paper-dry && python -m xlrm.dryrun .dry/hub", work)
    server = FakeOpenAI(verdict).start()
    try:
        from dvc.utils.serialize import modify_yaml

        with modify_yaml(work / "params.yaml") as params:
            params["eval_alpaca"]["judge"]["base_url"] = server.url
            for judge in params["eval_offshelf"]["judges"]:
                judge["base_url"] = server.url
        sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init",
           work)
        start = time.monotonic()
        out = sh("dvc repro", work, timeout=1800)
        wall = time.monotonic() - start
    finally:
        server.close()
    print(f"\npaper-dry dvc repro: {wall:.0f} s, {server.count} judge requests")
    return {"work": work, "out": out, "wall": wall, "requests": server.count}


@pytest.mark.slow
def test_paper_dry_runs_end_to_end(dry_run):
    work = dry_run["work"]
    ran = set(re.findall(r"Running stage '([^']+)'", dry_run["out"]))
    runs = [f"{t}-{lab}-{s}" for t in TARGETS for lab in ("english", "native") for s in SEEDS]
    expected = {"base_model", "policy_model", "prepare", "eval_data", "eval_rms", "transfer",
                "instructions", "alignment", "analyze_representations", "analyze_embeddings",
                "eval_offshelf", "report", *(f"translate@{x}" for x in TARGETS),
                *(f"train_rm@{x}-{s}" for x in DRY_LANGS for s in RM_SEEDS),
                *(f"generate@{x}" for x in TARGETS), *(f"label@{x}" for x in TARGETS),
                *(f"eval_alpaca_policy@{x}" for x in TARGETS),
                *(f"train_dpo@{r}" for r in runs), *(f"eval_alpaca@{r}" for r in runs),
                *(f"head_to_head@{t}-{s}" for t in TARGETS for s in SEEDS)}
    assert expected <= ran, sorted(expected - ran)
    base = json.loads((work / "models" / "base" / "config.json").read_text())
    assert base["model_type"] == "qwen2" and base["tie_word_embeddings"] is True
    for lang in DRY_LANGS:  # full fine-tuning: whole models, no adapters
        for s in RM_SEEDS:
            rm = work / "models" / "rm" / f"seed{s}" / lang
            assert (rm / "model.safetensors").exists()
            assert not (rm / "adapter_config.json").exists()
    assert dry_run["requests"] > 0  # the OpenAI judges were asked


@pytest.mark.slow
def test_paper_dry_outputs_make_sense(dry_run):
    work = dry_run["work"]
    transfer = json.loads((work / "metrics" / "transfer.json").read_text())
    assert transfer["headline"]["targets"] == TARGETS
    assert set(transfer["own_language"]) == set(DRY_LANGS) == set(transfer["base"])
    assert 0 <= transfer["own_language"]["ko"] <= 1
    summary = json.loads((work / "metrics" / "alignment.json").read_text())
    head = summary["headline"]  # head to head, no reference anywhere (X-AlpacaEval's rows)
    assert head["metric"] == "head_to_head" and "reference" not in summary
    ko = head["per_language"]["ko"]
    assert ko["seeds"] == len(SEEDS) and ko["instructions"] == 8
    assert 0 <= ko["english"] <= 100 and ko["ci_low"] <= ko["diff"] <= ko["ci_high"]
    asked = 0
    for s in SEEDS:  # the openai judge was asked both orders of every differing pair
        h2h = json.loads((work / "results" / "head_to_head" / f"ko__{s}.json").read_text())
        for m in h2h["pairings"].values():
            q, differing = m["judge"]["order_quality"], m["judge"]["n"] - m["judge"]["identical"]
            assert q["n_queries"] == 2 * differing
            asked += q["n_queries"]
            if q["n_compared"]:  # the test's judge reads the answers, not their places
                assert q["position_consistency"] == 1.0 and not m["consistency_warning"]
    assert asked > 0  # DPO moved the policies: head to head asked the judge
    offshelf = json.loads((work / "metrics" / "offshelf.json").read_text())["models"]
    assert set(offshelf) == {"offsetbias-rm-8b", "gpt-4o", "self-taught-evaluator-70b"}
    for name in ("gpt-4o", "self-taught-evaluator-70b"):  # verdicts read from logprobs
        assert offshelf[name]["n_queries"] == 2 * offshelf[name]["n_pairs"] > 0
        assert offshelf[name]["from_logprobs"] == offshelf[name]["n_queries"]
    body = (work / "report" / "report.md").read_text(encoding="utf-8")
    assert body.startswith("# Cross-lingual transfer of reward models: paper preset, dry run")
    assert "offsetbias-rm-8b" in body and "ko" in body

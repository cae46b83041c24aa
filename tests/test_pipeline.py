"""End to end: the tiny preset through real `dvc repro` in a copy of the repository.

One module-scoped run is shared by the checks below (it takes a few minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_determinism import assert_same_files, folder_bytes

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def sh(cmd: list[str] | str, cwd: Path, check: bool = True, timeout: int = 900) -> str:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "DVC_", "PYTEST_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HF_HUB_OFFLINE"] = "1"
    env["XLRM_LOG_LEVEL"] = "WARNING"
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                         shell=isinstance(cmd, str))
    out = res.stdout + res.stderr
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}):\n{out[-6000:]}")
    return out


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


MULTI_PROCESS = ("train_rm", "train_dpo")


def copy_repo(dst: Path, multi_process: bool = False, lora: bool = False) -> None:
    """The repository's files (no DVC outputs) with the tiny preset as params.yaml; with
    ``multi_process`` the training stages run on two gloo CPU processes (accelerate launch)
    at the preset's global batch, the rest plain; with ``lora`` both train LoRA adapters
    (whose saved configs once changed with the hash seed)."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        # skip DVC-tracked outputs that are present in the workspace
        if not src.is_file() or rel.startswith(("data/", "models/", "results/", "metrics/", "plots/")):
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / rel)
    shutil.copyfile(REPO / "presets" / "tiny.yaml", dst / "params.yaml")
    if multi_process or lora:
        from dvc.utils.serialize import modify_yaml

        with modify_yaml(dst / "params.yaml") as params:
            if lora:
                for section in ("train_rm", "train_dpo"):
                    params[section]["lora"] = {"r": 4, "lora_alpha": 8}
                # the RM adapter's readers outside the RM stages need the base it was trained on
                params["eval_alpaca"]["judge"]["rm_base_model"] = "models/base"
                for spec in params["eval_offshelf"]["classifiers"]:
                    if spec["model"].startswith("models/rm/"):
                        spec["base"] = "models/base"
            for stage in MULTI_PROCESS if multi_process else ():
                params["launch"][stage] = {"config_file": "accelerate/cpu2.yaml"}
                section = params[stage]  # the preset's global batch, half of it per process
                section["global_batch_size"] = (section["per_device_train_batch_size"]
                                                * section.pop("gradient_accumulation_steps", 1))
                section["per_device_train_batch_size"] //= 2
    for path in ("dvc.lock",):
        (dst / path).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("xlrm")
    work = root / "work"
    work.mkdir()
    copy_repo(work, multi_process=True, lora=True)
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", work)
    first = sh("PYTHONHASHSEED=1 dvc repro", work)
    tracked = {d: folder_bytes(work / d) for d in TRACKED}
    return {"root": root, "work": work, "first": first, "tracked": tracked,
            "lock": (work / "dvc.lock").read_text()}


TRACKED = ("metrics", "results", "models/rm", "models/dpo")



LANGS = ["en", "es", "it", "ko", "zh"]
TARGETS = ["ko"]  # the tiny preset's alignment languages
DPO_RUNS = [f"{lang}-{lab}-0" for lang in TARGETS for lab in ("english", "native")]


def test_repro_writes_every_output(pipeline):
    work = pipeline["work"]
    ran = ran_stages(pipeline["first"])
    langs = LANGS
    expected = {"base_model", "prepare", "eval_data", "eval_rms", "transfer",
                *(f"translate@{x}" for x in langs), *(f"train_rm@{x}-42" for x in langs),
                "policy_model", "instructions", "alignment",
                "analyze_representations", "analyze_embeddings", "eval_offshelf", "report",
                *(f"generate@{x}" for x in TARGETS), *(f"label@{x}" for x in TARGETS),
                *(f"eval_alpaca_policy@{x}" for x in TARGETS),
                *(f"train_dpo@{r}" for r in DPO_RUNS), *(f"eval_alpaca@{r}" for r in DPO_RUNS),
                *(f"head_to_head@{x}-0" for x in TARGETS)}
    assert ran == expected
    scored = json.loads((work / "metrics" / "eval_rm.json").read_text())
    for lang in langs:
        rm = work / "models" / "rm" / "seed42" / lang
        assert (rm / "adapter_config.json").exists()  # LoRA (fixture)
        acc = scored["seed42"][lang]["accuracy"]
        assert set(acc) == set(langs) and all(0.0 <= v <= 1.0 for v in acc.values())
    matrix = (work / "results" / "transfer_matrix.csv").read_text().splitlines()
    assert matrix[0].split(",") == ["rm", *langs]
    assert [line.split(",")[0] for line in matrix[1:]] == ["base", *langs]
    png = (work / "plots" / "transfer_heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    headline = json.loads((work / "metrics" / "transfer.json").read_text())["headline"]
    assert headline["targets"] == ["es", "it", "ko", "zh"]
    assert headline["mean"]["ci_low"] <= headline["mean"]["diff"] <= headline["mean"]["ci_high"]
    # the alignment half
    for lang in TARGETS:
        samples = [json.loads(x) for x in (work / "data" / "samples" / f"{lang}.jsonl").read_text().splitlines()]
        assert len({(s["prompt_id"], s["sample"]) for s in samples}) == len(samples) > 0
        label = json.loads((work / "results" / "label" / f"{lang}.json").read_text())
        assert 0.0 <= label["agreement"] <= 1.0
    for run in DPO_RUNS:
        assert any((work / "models" / "dpo" / run.replace("-", "__")).iterdir())
        alpaca = json.loads((work / "results" / "alpaca" / f"{run.replace('-', '__')}.json").read_text())
        assert 0.0 <= alpaca["win_rate"] <= 100.0 and "standard_error" in alpaca  # reference mode
        assert 0.0 <= alpaca["verifiable"]["accuracy"] <= 100.0  # the seed rows' rule checks
    for lang in TARGETS:
        h2h = json.loads((work / "results" / "head_to_head" / f"{lang}__0.json").read_text())
        assert set(h2h["pairings"]) == {"english_vs_native", "english_vs_policy",
                                        "native_vs_policy"}
        for m in h2h["pairings"].values():  # the rm judge: one query stands for both orders
            q = m["judge"]["order_quality"]
            assert m["n_total"] > 0 and q["n_queries"] == m["judge"]["n"] - m["judge"]["identical"]
    summary = json.loads((work / "metrics" / "alignment.json").read_text())
    align = summary["headline"]
    assert align["metric"] == "verifiable_accuracy"
    assert set(align["per_language"]) == set(TARGETS)
    assert align["mean"]["ci_low"] <= align["mean"]["diff"] <= align["mean"]["ci_high"]
    assert {"verifiable_accuracy", "head_to_head", "reference"} <= set(summary)
    assert (work / "plots" / "alignment_winrate.png").read_bytes()[:4] == b"\x89PNG"


def test_analyses_offshelf_and_report(pipeline):
    work = pipeline["work"]
    repr_metrics = json.loads((work / "metrics" / "representations.json").read_text())
    assert set(repr_metrics["rm"]) == set(LANGS) and 0 < repr_metrics["base"]["mean"] <= 1
    layers = (work / "results" / "representations.csv").read_text().splitlines()
    assert layers[0].startswith("model,layer,mean,std")
    emb = json.loads((work / "metrics" / "embeddings.json").read_text())
    assert "models/base" in emb["models"] and emb["reading"]
    off = json.loads((work / "metrics" / "offshelf.json").read_text())["models"]
    assert set(off) == {"xlrm-en-rm", "base-judge"}
    for m in off.values():
        assert set(m["accuracy"]) == set(LANGS)
    md = (work / "report" / "report.md").read_text()
    html = (work / "report" / "report.html").read_text()
    assert "missing:" not in md and "unreadable:" not in md
    for section in ("transfer", "representation", "embedding", "win rate", "off-the-shelf"):
        assert section in md.lower(), section
    assert html.count("data:image/png;base64,") >= 5 and "http://" not in html
    for png in ("representations_layers", "representations_bar", "embedding_norms"):
        assert (work / "plots" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"


def test_dvc_plots_show_renders_every_plot(pipeline):
    work = pipeline["work"]
    out_dir = pipeline["root"] / "plots-show"
    sh(["dvc", "plots", "show", "-o", str(out_dir)], work)
    page = (out_dir / "index.html").read_text()
    for name in ("transfer_heatmap", "alignment_winrate", "representations_layers",
                 "representations_bar", "embedding_norms"):
        assert name in page, name


def test_every_stage_run_is_in_mlflow_with_its_tags(pipeline):
    db = pipeline["work"] / "mlflow.db"
    con = sqlite3.connect(db)
    rows = con.execute("""
        select r.name, r.status,
               (select value from tags t where t.run_uuid = r.run_uuid and t.key = 'xlrm.stage'),
               (select value from tags t where t.run_uuid = r.run_uuid and t.key = 'xlrm.item'),
               (select value from tags t where t.run_uuid = r.run_uuid
                  and t.key = 'mlflow.source.git.commit'),
               (select count(*) from params p where p.run_uuid = r.run_uuid)
        from runs r""").fetchall()
    by_name = {r[0]: r for r in rows}
    assert len(by_name) == len(rows), "a stage run logged more than one MLflow run"
    for lang in LANGS:  # trained on two processes, at the preset's batch
        trained = json.loads((pipeline["work"] / "results" / "train_rm" / "seed42"
                              / f"{lang}.json").read_text())
        assert trained["world_size"] == 2, lang
    assert {"base_model", "prepare", "eval_data", "translate@ko", "train_rm@ko-42", "eval_rms",
            "transfer"} <= set(by_name)
    for name, status, stage, item, commit, n_params in rows:
        assert status == "FINISHED", name
        assert stage == name.split("@")[0]
        assert (item is None) == ("@" not in name)
        assert commit and len(commit) == 40
        assert n_params > 0, name
    metrics = dict(con.execute("""select m.key, m.value from metrics m join runs r
                                  on m.run_uuid = r.run_uuid where r.name = 'train_rm@en-42'
                                  and m.key = 'loss'""").fetchall())
    assert "loss" in metrics  # the trainer's loss curve, streamed by report_to=mlflow


def test_second_repro_runs_nothing(pipeline):
    out = sh(["dvc", "repro"], pipeline["work"])
    assert ran_stages(out) == set()
    assert "Data and pipelines are up to date" in out


def test_forced_rerun_under_another_hash_seed_writes_the_same_bytes(pipeline):
    """``dvc repro -f`` under another hash seed (training on two processes, LoRA adapters):
    the same metrics, results and RM/DPO folders, so the same dvc.lock, DVC's cache holds
    and ``dvc push`` stores no copies."""
    work = pipeline["work"]
    sh("PYTHONHASHSEED=2 dvc repro -f", work, timeout=1800)
    assert any(name.endswith("adapter_config.json") for name in pipeline["tracked"]["models/rm"])
    for d in TRACKED:
        assert_same_files(pipeline["tracked"][d], folder_bytes(work / d))
    assert (work / "dvc.lock").read_text() == pipeline["lock"]


def test_changing_a_train_rm_value_reruns_only_what_follows(pipeline):
    work = pipeline["work"]
    out = sh(["dvc", "exp", "run", "-n", "lr-up", "-S", "train_rm.learning_rate=0.003"], work)
    langs = LANGS
    ran = ran_stages(out)
    assert {*(f"train_rm@{x}-42" for x in langs), "eval_rms", "transfer"} <= ran
    upstream = {"base_model", "prepare", "eval_data", "policy_model", "instructions",
                *(f"translate@{x}" for x in langs), *(f"generate@{x}" for x in TARGETS)}
    assert not ran & upstream  # data preparation, translation and sampling stay cached
    show = json.loads(sh(["dvc", "exp", "show", "--json"], work))
    text = json.dumps(show)
    assert "lr-up" in text
    # one metric per eval language for each RM
    for lang in langs:
        assert f'"{lang}"' in text
    metrics = sh(["dvc", "metrics", "show"], work)
    assert "metrics/eval_rm.json" in metrics and "accuracy.ko" in metrics
    # the experiment's MLflow runs carry its name
    con = sqlite3.connect(work / "mlflow.db")
    tagged = con.execute("select count(*) from tags where key = 'dvc.exp_name' and value = 'lr-up'"
                         ).fetchone()[0]
    assert tagged == len(ran)  # one MLflow run per stage that ran, tagged with the experiment
    sh(["dvc", "exp", "apply", "lr-up"], work)
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm lr-up", work)


def test_changing_dpo_beta_reruns_only_dpo_and_what_follows(pipeline):
    work = pipeline["work"]
    out = sh(["dvc", "exp", "run", "-n", "beta-up", "-S", "train_dpo.beta=0.2"], work)
    dpo = {*(f"train_dpo@{r}" for r in DPO_RUNS), *(f"eval_alpaca@{r}" for r in DPO_RUNS)}
    # head to head, alignment and report rerun only if the answers changed (a tiny LoRA
    # policy's 16 greedy tokens may not); nothing upstream of DPO reruns
    later = {*(f"head_to_head@{x}-0" for x in TARGETS), "alignment", "report"}
    assert dpo <= ran_stages(out) <= dpo | later
    show = sh(["dvc", "exp", "show", "--md"], work)
    assert "beta-up" in show and "metrics/alignment.json" in sh(["dvc", "metrics", "show"], work)
    sh(["dvc", "exp", "apply", "beta-up"], work)
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm beta-up", work)


def test_push_then_pull_into_a_fresh_clone(pipeline):
    root, work = pipeline["root"], pipeline["work"]
    remote = root / "remote"
    sh(["dvc", "remote", "add", "-d", "shared", str(remote)], work)
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm remote", work, check=False)
    sh(["dvc", "push"], work)
    clone = root / "clone"
    sh(["git", "clone", "-q", str(work), str(clone)], root)
    assert not (clone / "models" / "rm" / "seed42" / "ko").exists()
    sh(["dvc", "pull"], clone)
    assert (clone / "models" / "rm" / "seed42" / "ko" / "adapter_config.json").exists()
    assert (clone / "results" / "scores" / "seed42" / "ko.jsonl").exists()
    status = sh(["dvc", "status"], clone)
    assert "Data and pipelines are up to date" in status
    assert json.loads((clone / "metrics" / "eval_rm.json").read_text()) == \
        json.loads((work / "metrics" / "eval_rm.json").read_text())


def test_dropping_an_rm_language_drops_it_from_the_results(pipeline):
    """Outputs an earlier run left behind (models/rm/seed42/zh) stay on disk, but the
    scores and summaries hold exactly what the params list; prune-lock tidies dvc.lock."""
    work = pipeline["work"]
    from dvc.utils.serialize import modify_yaml  # DVC's own round trip (earlier -S runs rewrote it)

    with modify_yaml(work / "params.yaml") as params:
        params["rm_languages"] = ["en", "es", "it", "ko"]
    out = sh(["dvc", "repro"], work)
    ran = ran_stages(out)
    assert {"eval_rms", "transfer"} <= ran
    assert not any(s.startswith(("train_rm@", "translate@", "train_dpo@")) for s in ran)
    assert (work / "models" / "rm" / "seed42" / "zh").exists()
    assert not (work / "results" / "scores" / "seed42" / "zh.jsonl").exists()
    matrix = (work / "results" / "transfer_matrix.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in matrix[1:]] == ["base", "en", "es", "it", "ko"]
    headline = json.loads((work / "metrics" / "transfer.json").read_text())["headline"]
    assert headline["targets"] == ["es", "it", "ko"]
    assert "zh" in matrix[0]  # still evaluated on zh
    lock = (work / "dvc.lock").read_text()
    assert "train_rm@zh-42" in lock
    pruned = sh([sys.executable, "-m", "xlrm.preset", "prune-lock"], work)
    assert "train_rm@zh-42" in pruned
    lock = (work / "dvc.lock").read_text()
    assert "train_rm@zh-42" not in lock and "train_rm@ko-42" in lock
    assert "Data and pipelines are up to date" in sh(["dvc", "status"], work)

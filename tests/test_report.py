"""The report: sections, readings, missing inputs, a self-contained HTML page in a real browser."""

from __future__ import annotations

import base64
import dataclasses
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from xlrm.report.config import ReportConfig
from xlrm.report.inputs import INPUT_KINDS, ReportInputs, ReportPaths, load_report_inputs
from xlrm.report.readings import metrics_reading
from xlrm.report.render import build_report

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ["# Synthetic report", "## Summary", "## Transfer matrix",
            "## English vs target-language RMs",
            "## English vs target-language RMs per category", "## Per-category scores", "## Representations",
            "## Embedding norms", "## Multilingual alignment (DPO)",
            "## Off-the-shelf reward models", "## Inputs"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _png(path: Path, kind: str = "line") -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if kind == "bar":
        ax.bar(["base", "en", "ko"], [0.5, 0.52, 0.7], color="tab:orange")
    else:
        ax.plot(np.arange(8), np.linspace(0.4, 0.7, 8), marker="o")
    ax.set_title(kind)
    fig.savefig(path, format="png", dpi=60)


def input_paths(root: Path) -> ReportPaths:
    """A layout of the report's inputs under ``root`` (any layout: the pipeline's own is
    written once, in dvc.yaml): ``results/<key>.csv``, ``metrics/<key>.json``,
    ``plots/<key>.png``."""
    where = {"matrix": ("results", "csv"), "csv": ("results", "csv"), "json": ("metrics", "json"),
             "png": ("plots", "png")}
    return ReportPaths(**{key: str(root / where[kind][0] / f"{key}.{where[kind][1]}")
                          for key, kind in INPUT_KINDS.items()})


def write_inputs(root: Path) -> ReportPaths:
    """Small synthetic versions of every report input under ``root``; their paths."""
    from xlrm.evaluation.heatmap import heatmap

    for d in ("results", "metrics", "plots"):
        (root / d).mkdir(parents=True, exist_ok=True)
    p = input_paths(root)
    langs = ["en", "es", "ko"]
    matrix = pd.DataFrame([[0.50, 0.50, 0.49], [0.80, 0.75, 0.70], [0.74, 0.72, 0.66],
                           [0.70, 0.69, 0.68]], index=pd.Index(["base", "en", "es", "ko"],
                                                               name="rm"),
                          columns=pd.Index(langs, name="language"))
    matrix.to_csv(p.transfer_matrix, index_label="rm")
    ci = [(rm, lang, matrix.loc[rm, lang], matrix.loc[rm, lang] - 0.05,
           matrix.loc[rm, lang] + 0.05) for rm in matrix.index for lang in langs]
    pd.DataFrame(ci, columns=["rm", "language", "score", "ci_low", "ci_high"]) \
        .to_csv(p.transfer_ci, index=False)
    rows = []
    for rm in matrix.index:
        for lang in langs:
            for j, cat in enumerate(["chat", "chat-hard", "safety", "reasoning"]):
                acc = matrix.loc[rm, lang] + (j - 1.5) * 0.04
                rows.append((rm, lang, "category", cat, cat, acc, 10, np.nan))
            rows.append((rm, lang, "language", None, lang, matrix.loc[rm, lang], 40, np.nan))
    pd.DataFrame(rows, columns=["rm", "language", "level", "category", "name", "accuracy", "n",
                                "weight"]).to_csv(p.category_scores, index=False)
    diff = [(t, c, d, d - 0.02, d + 0.03, 0.7, 0.7 - d, 10, 1)
            for t, ds in (("es", (0.05, -0.01, 0.02, 0.0)), ("ko", (0.03, 0.01, -0.04, 0.02)))
            for c, d in zip(["chat", "chat-hard", "safety", "reasoning"], ds)]
    diff += [("mean", c, d, lo, hi, 0.7, 0.7 - d, 20, 2) for c, d, lo, hi in
             (("chat", 0.04, 0.01, 0.07), ("chat-hard", 0.0, -0.02, 0.02),
              ("safety", -0.01, -0.03, 0.01), ("reasoning", 0.01, -0.01, 0.03))]
    pd.DataFrame(diff, columns=["target", "category", "diff", "ci_low", "ci_high", "source_rm",
                                "target_rm", "n_pairs", "n_targets"]) \
        .to_csv(p.category_diff, index=False)
    Path(p.transfer_metrics).write_text(json.dumps({"headline": {
        "source": "en", "targets": ["es", "ko"], "confidence": 0.95,
        "mean": {"diff": 0.031, "ci_low": 0.01, "ci_high": 0.05, "en_rm": 0.725,
                 "target_rm": 0.694},
        "per_language": {"es": {"diff": 0.03, "ci_low": 0.0, "ci_high": 0.06, "en_rm": 0.75,
                                "target_rm": 0.72},
                         "ko": {"diff": 0.032, "ci_low": 0.01, "ci_high": 0.055, "en_rm": 0.70,
                                "target_rm": 0.668}}}}))
    heatmap(matrix, p.transfer_heatmap)
    Path(p.representations_metrics).write_text(json.dumps({
        "layer": 12, "sigma1_share": {"base": 0.50, "en": 0.52, "es": 0.60, "ko": 0.70},
        "per_layer": {"base": [0.4, 0.45, 0.5], "en": [0.41, 0.47, 0.52],
                      "ko": [0.45, 0.6, 0.7]}}))
    _png(Path(p.representations_layers))
    _png(Path(p.representations_bar), "bar")
    Path(p.embeddings_metrics).write_text(json.dumps({
        "mean_norm": {"en": 1.20, "es": 1.10, "ko": 0.80}, "models": ["tiny"]}))
    _png(Path(p.embedding_norms))
    from alpaca_runs import write_runs

    from xlrm.alignment.config import AlignmentConfig
    from xlrm.alignment.summary import alignment_plot, alignment_summary, read_runs, rounded

    alpaca, h2h = write_runs(root / "runs", n=8, reference=True)
    runs = read_runs(alpaca, h2h, ["es"], [0])
    summary = rounded(alignment_summary(runs, ["es"], [0], AlignmentConfig(bootstrap_resamples=50)))
    pd.DataFrame(runs["records"]).to_csv(p.alignment_table, index=False)
    Path(p.alignment_metrics).write_text(json.dumps(summary))
    alignment_plot(summary, p.alignment_plot)
    pd.DataFrame([[0.82, 0.70, 0.61], [0.78, 0.77, 0.75]],
                 index=pd.Index(["skywork", "gpt-judge"], name="rm"), columns=langs) \
        .to_csv(p.offshelf_matrix, index_label="rm")
    Path(p.offshelf_metrics).write_text(json.dumps({"languages": langs, "models": {
        "skywork": {"kind": "classifier", "accuracy": {"en": 0.82, "es": 0.70, "ko": 0.61}},
        "gpt-judge": {"kind": "judge", "n_pairs": 120, "n_inconsistent": 7,
                      "n_unparseable": 2, "accuracy": {"en": 0.78, "es": 0.77, "ko": 0.75}}}}))
    return p


@pytest.fixture
def inputs_dir(tmp_path) -> tuple[Path, ReportPaths]:
    return tmp_path, write_inputs(tmp_path)


def _load(root: Path, paths: ReportPaths) -> ReportInputs:
    return load_report_inputs(paths, cfg=ReportConfig(title="Synthetic report"),
                              markdown_dir=root / "report")


def _refs(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page, flags=re.I)


def test_markdown_has_every_section_and_computed_readings(inputs_dir):
    root, paths = inputs_dir
    inputs = _load(root, paths)
    assert inputs.missing() == [] and inputs.problems == {}
    md, page = build_report(inputs)
    positions = [md.index(s + "\n") for s in SECTIONS]
    assert positions == sorted(positions)  # all present, in order
    assert "missing:" not in md
    # headline: from the transfer metrics, in points, with the CI
    assert ("The English RM scores 3.1 points above the target-language RMs on their own "
            "languages on average (+3.1, 95% CI +1.0 to +5.0") in md
    assert "| **mean** | 72.5 | 69.4 | +3.1 | +1.0 to +5.0 |" in md
    assert "| difference (points) | 95% CI |" in md and "%%" not in md
    # the matrix with its intervals, and readings computed from it
    assert "| en | 80.0 [75.0, 85.0] | 75.0 [70.0, 80.0] | 70.0 [65.0, 75.0] |" in md
    assert "trained RMs average 73.3 on their own language" in md  # (80 + 72 + 68) / 3
    assert "Best RM per eval language: en → en (80.0); es → en (75.0); ko → en (70.0)." in md
    assert "Chat is the hardest category" in md and "Reasoning the easiest" in md
    # alignment: computed by xlrm.alignment.summary from runs of known values (alpaca_runs)
    assert ("Over es, labelling DPO pairs with the English RM instead of the target-language RM "
            "changes the verifiable accuracy (rule checks) by +12.5 points (62.5% vs 50.0%)") in md
    assert "| es | 25.0 [" in md  # the initial policy's accuracy with its interval
    assert "| es | DPO, English-RM labels over DPO, target-RM labels | 56.2 [" in md
    # the per-category differences with their intervals, in points
    assert "| target | Chat | Chat Hard | Safety | Reasoning | pairs |" in md
    assert "| es | +5.0 [+3.0, +8.0] | -1.0 [-3.0, +2.0] | +2.0 [+0.0, +5.0] |" in md
    assert "| **mean** | +4.0 [+1.0, +7.0] | +0.0 [-2.0, +2.0] |" in md
    assert ("the English RM's difference is largest on Chat (+4.0 [+1.0, +7.0] points) and "
            "smallest on Safety (-1.0 [-3.0, +1.0]); the 95% interval lies above zero on "
            "Chat.") in md
    # a missing length-controlled rate is a dash, with the reason beside the table
    assert "| es | policy | – | 25.0 | 40.0 | 1.0 | – | 100.0 | 12 | 8 |" in md
    assert ("No length-controlled win rate (–) for 1 of 3 runs" in md
            and "es__policy: answers are longer than the reference on every instruction "
            "(3.8x on average): equal length is outside the data." in md)
    assert "Best off-the-shelf model on average: gpt-judge (76.7)" in md
    assert "judges were inconsistent across the two orders on 7 of 120 pairs" in md
    assert "highest ko (0.700), lowest base (0.500)" in md  # representations bar
    assert "At the last point of each curve" in md
    assert "highest en (1.200), lowest ko (0.800)" in md  # embeddings
    # figures linked relative to the Markdown file's folder
    for rel in ("../plots/transfer_heatmap.png", "../plots/representations_layers.png",
                "../plots/representations_bar.png", "../plots/embedding_norms.png",
                "../plots/alignment_plot.png"):
        assert f"]({rel})" in md
    assert build_report(inputs) == (md, page)  # deterministic


def test_html_is_self_contained(inputs_dir):
    root, paths = inputs_dir
    _, page = build_report(_load(root, paths))
    assert "http://" not in page and "https://" not in page
    assert "url(" not in page and "@import" not in page and "<link" not in page
    refs = _refs(page)
    assert refs, "no src/href found"
    for ref in refs:
        assert ref.startswith("data:image/png;base64,") or ref.startswith("#"), ref[:60]
        assert "//" not in ref.split(",", 1)[0]
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == sum(1 for kind in INPUT_KINDS.values() if kind == "png") == 5
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script>" in page and "data-loaded" in page
    for title in ("Transfer matrix", "Per-category scores", "Off-the-shelf reward models"):
        assert f">{title}</h2>" in page


def test_missing_and_unreadable_inputs_are_reported(inputs_dir):
    root, paths = inputs_dir
    Path(paths.representations_metrics).unlink()
    Path(paths.embedding_norms).unlink()
    Path(paths.offshelf_metrics).write_text("{not json")
    inputs = _load(root, paths)
    assert inputs.missing() == ["representations_metrics", "embedding_norms",
                                "offshelf_metrics"]
    md, page = build_report(inputs)
    for text in (f"missing: {paths.representations_metrics}",
                 f"missing: {paths.embedding_norms}", f"unreadable: {paths.offshelf_metrics}"):
        assert text in md
        assert text in page
    assert '<p class="missing">' in page
    assert f"| {paths.embedding_norms} | missing |" in md
    # the rest is still there
    assert "## Transfer matrix" in md and "3.1 points above" in md
    assert len(re.findall(r"<img ", page)) == 4
    # a fully empty input set still gives a report with every section and notes
    empty = ReportInputs(paths=paths, markdown_dir=str(root / "report"),
                         title="Synthetic report")
    md, page = build_report(empty)
    assert all(s + "\n" in md for s in SECTIONS)
    assert md.count("missing: ") >= len(INPUT_KINDS)
    assert "<img" not in page


def test_metrics_reading_handles_unknown_layouts():
    assert metrics_reading({"reading": "Given."}, "x") == "Given."
    assert "highest b (2.000), lowest a (1.000)" in metrics_reading(
        {"nested": {"v": {"a": 1, "b": 2}}}, "x")
    assert "No summary numbers" in metrics_reading({"a": "text"}, "x")
    assert "highest b (0.900)" in metrics_reading({"c": {"a": [0.1, 0.2], "b": [0.5, 0.9]}},
                                                  "x", "series")


# =========================================================================== the stage

OPTIONS = {"transfer_matrix": "--transfer-matrix", "transfer_ci": "--transfer-ci",
           "category_scores": "--categories", "category_diff": "--category-diff",
           "transfer_metrics": "--transfer-metrics",
           "transfer_heatmap": "--heatmap", "representations_metrics": "--representations-metrics",
           "representations_layers": "--representations-layers",
           "representations_bar": "--representations-bar",
           "embeddings_metrics": "--embeddings-metrics", "embedding_norms": "--embedding-norms",
           "alignment_table": "--alignment-table", "alignment_metrics": "--alignment-metrics",
           "alignment_plot": "--alignment-plot", "offshelf_matrix": "--offshelf-matrix",
           "offshelf_metrics": "--offshelf-metrics"}  # the stage's command line (dvc.yaml's cmd)


def _stage_module():
    spec = importlib.util.spec_from_file_location("stage_report", REPO / "stages" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stage_argv(root: Path, paths: ReportPaths) -> list[str]:
    (root / "params.yaml").write_text(yaml.safe_dump({"report": {"title": "Synthetic report"}}))
    argv = ["--params", str(root / "params.yaml"), "--markdown", str(root / "report" / "report.md"),
            "--html", str(root / "report" / "report.html")]
    for key, opt in OPTIONS.items():
        argv += [opt, getattr(paths, key)]
    return argv


def test_every_input_path_comes_from_the_command_line(inputs_dir, capsys):
    """No input path has a default in Python: ReportPaths has none, the stage requires every
    option (dvc.yaml's cmd passes them)."""
    assert set(OPTIONS) == set(INPUT_KINDS) == {f.name for f in dataclasses.fields(ReportPaths)}
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(ReportPaths))
    root, paths = inputs_dir
    stage = _stage_module().STAGE
    argv = _stage_argv(root, paths)
    assert vars(stage.parser.parse_args(argv))["embedding_norms"] == paths.embedding_norms
    for opt in OPTIONS.values():
        i = argv.index(opt)
        with pytest.raises(SystemExit) as exc:
            stage.parser.parse_args(argv[:i] + argv[i + 2:])
        assert exc.value.code == 2 and opt in capsys.readouterr().err


def test_stage_requires_declared_inputs_unless_allowed(inputs_dir, capsys):
    root, paths = inputs_dir
    module = _stage_module()
    argv = _stage_argv(root, paths)
    module.STAGE.run(module.main, argv)
    md = (root / "report" / "report.md").read_text()
    assert md.startswith("# Synthetic report") and "missing:" not in md
    assert (root / "report" / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "report: 5 figures ->" in capsys.readouterr().out

    Path(paths.embeddings_metrics).unlink()
    (root / "report" / "report.md").unlink()
    with pytest.raises(SystemExit) as exc:
        module.STAGE.run(module.main, argv)
    assert exc.value.code == 2
    assert f"missing: {paths.embeddings_metrics}" in capsys.readouterr().err
    assert not (root / "report" / "report.md").exists()
    module.STAGE.run(module.main, argv + ["--allow-missing"])
    assert f"missing: {paths.embeddings_metrics}" in (root / "report" / "report.md").read_text()
    assert "(1 inputs missing)" in capsys.readouterr().out


@pytest.mark.slow
def test_stage_script_runs(inputs_dir):
    root, paths = inputs_dir
    args = [sys.executable, str(REPO / "stages" / "report.py"), *_stage_argv(root, paths)]
    ok = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert (root / "report" / "report.md").read_text().startswith("# Synthetic report")


def test_dvc_yaml_passes_every_input_once_as_cmd_and_dep():
    """dvc.yaml is the one place of the report's paths: its cmd passes every input (parsed by
    the stage's own parser), each is a dep of the stage and an output of another stage."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        stages = list(repo.index.stages)
    (report,) = [s for s in stages if s.name == "report"]
    args = _stage_module().STAGE.parser.parse_args(shlex.split(report.cmd)[2:])
    deps = {str(Path(d.def_path)) for d in report.deps}
    outs = {str(Path(o.def_path)) for s in stages if s is not report for o in s.outs}
    for key in INPUT_KINDS:
        path = str(Path(getattr(args, key)))
        assert path in deps, f"{path} ({key}) is passed but not a dep of the report stage"
        assert path in outs, f"{path} ({key}) is no stage's output"
    assert {str(Path(o.def_path)) for o in report.outs} == {args.markdown, args.html}


# =========================================================================== headless browser


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("XLRM_REQUIRE_CHROMIUM") == "1":  # CI installs it: never skip there
            pytest.fail("XLRM_REQUIRE_CHROMIUM=1 but no chromium binary on PATH")
        pytest.skip("no chromium binary found (install Debian's `chromium` package to run the "
                    "headless-browser check of the HTML report)")
    return exe


def _run_chromium(exe: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    profile.mkdir()
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def _body_counts(dom: str) -> tuple[int, int]:
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    images = re.search(r'data-images="(\d+)"', body.group(0))
    loaded = re.search(r'data-loaded="(\d+)"', body.group(0))
    assert images and loaded, f"the page's image check did not run: {body.group(0)}"
    return int(images.group(1)), int(loaded.group(1))


@pytest.mark.slow
def test_html_renders_in_headless_chromium(inputs_dir):
    from PIL import Image

    exe = _chromium()
    root, paths = inputs_dir
    md, page = build_report(_load(root, paths))
    html_path = root / "report" / "report.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(page, encoding="utf-8")
    url = html_path.resolve().as_uri()

    shot = root / "shot.png"
    res = _run_chromium(exe, root, f"--screenshot={shot}", "--window-size=1200,4000", url)
    assert shot.exists() and shot.stat().st_size > 0, res.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (4000, 1200)
    assert img.std() > 5 and (img < 128).mean() > 0.01  # not blank: text and figures drawn

    res = _run_chromium(exe, root, "--dump-dom", url)
    n_images, n_loaded = _body_counts(res.stdout)
    assert n_images == len(re.findall(r"<img ", page)) == 5
    assert n_loaded == n_images

    # the check itself catches a broken image: a truncated PNG (valid signature) fails to decode
    data = Path(paths.embedding_norms).read_bytes()
    Path(paths.embedding_norms).write_bytes(data[:64])
    _, broken = build_report(_load(root, paths))
    broken_path = root / "report" / "broken.html"
    broken_path.write_text(broken, encoding="utf-8")
    res = _run_chromium(exe, root, "--dump-dom", broken_path.resolve().as_uri())
    n_images, n_loaded = _body_counts(res.stdout)
    assert n_images == 5 and n_loaded == 4

"""The DAG cannot go stale: code deps, params and the params files stages read."""

from __future__ import annotations

import importlib.util
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from xlrm import dag

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stages():
    return dag.resolved_stages(REPO)


def load_script(script: Path):
    spec = importlib.util.spec_from_file_location(f"stage_{script.stem}", REPO / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_stage_lists_exactly_the_xlrm_modules_its_script_runs():
    assert dag.problems(REPO) == []


def test_the_check_names_the_stage_and_module_when_a_dep_is_removed(tmp_path):
    from dulwich.repo import Repo

    Repo.init(str(tmp_path))  # DVC wants a git repository
    for name in ("stages", "xlrm"):
        (tmp_path / name).symlink_to(REPO / name)
    shutil.copytree(REPO / ".dvc", tmp_path / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    text = (REPO / "dvc.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)["stages"]["eval_rms"]
    victim = next(d for d in spec["deps"] if d.startswith("xlrm/") and d != "xlrm/stage.py")
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  eval_rms:"))
    idx = next(i for i in range(start, len(lines)) if lines[i].strip() == f"- {victim}")
    del lines[idx]
    (tmp_path / "dvc.yaml").write_text("".join(lines), encoding="utf-8")
    assert dag.problems(tmp_path) == [
        f"stage eval_rms: deps miss {victim} (stages/eval_rms.py runs it through its imports)"]


def test_a_params_named_model_must_be_a_dep(tmp_path, stages):
    """eval_offshelf's judge and classifier (`models/base`, `models/rm/seed42/en` in the default)
    are read, so they are deps."""
    judged = [s for s in stages if s.name == "eval_offshelf"]
    assert judged and all({"models/base", "models/rm/seed42/en"} <= s.named_outputs for s in judged)
    assert all(s.covers("models/base") and s.covers("models/rm/seed42/en") for s in judged)


def test_each_script_declares_exactly_its_dvc_yaml_params(stages):
    for s in stages:
        module = load_script(s.script)
        argv = shlex.split(s.cmd)[2:]
        args = module.STAGE.parser.parse_args(argv)
        assert module.STAGE.params_for(args) == s.params, s.name


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "stages").glob("*.py")))
def test_every_stage_fails_naming_a_missing_params_entry(script, stages, tmp_path, capsys):
    runs = [s for s in stages if s.script.name == script]
    assert runs, f"stages/{script} is run by no stage of dvc.yaml"
    s = runs[0]
    module = load_script(s.script)
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for name in s.params:
        if name in module.STAGE.optional:  # its defaults apply (test_stage checks that)
            continue
        key = name.partition(".")[0]
        broken = {k: v for k, v in params.items() if k != key}
        path = tmp_path / f"without-{key}.yaml"
        path.write_text(yaml.safe_dump(broken), encoding="utf-8")
        argv = [*shlex.split(s.cmd)[2:], "--params", str(path)]
        with pytest.raises(SystemExit) as exc:
            module.STAGE.run(lambda ctx: pytest.fail("main ran without its params"), argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert f"{path}: no " in err and f"'{key}'" in err, (s.name, name, err)

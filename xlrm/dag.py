"""Deps that cannot drift: each DVC stage's code deps derived from what its script imports.

For every stage of ``dvc.yaml`` the script its ``cmd`` runs (``python stages/X.py``) is read
as text and every ``xlrm`` module it imports, directly or through other xlrm modules (imports
inside functions included), is collected, together with the config modules of the params
sections it declares (:mod:`xlrm.sections` imports those by name). The stage's ``deps`` must
list exactly those files: a missing one means a cached result that an edit would not rerun;
an extra one, reruns for nothing.

    python -m xlrm.dag            # check; exit 1 naming each stage and module
    python -m xlrm.dag --fix      # rewrite the code deps of dvc.yaml (comments kept)

``tests/test_dag.py`` runs the check.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from xlrm.errors import ConfigError

PACKAGE = "xlrm"
_SCRIPT = re.compile(r"\bpython\s+(stages/[\w/]+\.py)")


def module_file(root: Path, module: str) -> Path | None:
    """The file of dotted ``module`` under ``root`` (a module file or a package __init__)."""
    base = root.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imported_modules(root: Path, path: Path) -> set[str]:
    """Dotted names of the xlrm modules ``path`` imports (anywhere in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from xlrm.pkg import name`: name may be a submodule or an attribute
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                found.add(name)
    return found


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _substantive(path: Path) -> bool:
    """False for a package ``__init__.py`` that holds only a docstring (and ``__version__``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def inert(n: ast.stmt) -> bool:
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant):
            return True
        return (isinstance(n, ast.Assign) and len(n.targets) == 1
                and isinstance(n.targets[0], ast.Name) and n.targets[0].id == "__version__")

    return not all(inert(n) for n in tree.body)


def script_modules(root: Path, script: Path, sections: list[str] = ()) -> set[Path]:
    """Every xlrm source file (relative to ``root``) that running ``script`` can execute."""
    from xlrm.sections import SECTIONS

    todo = list(_imported_modules(root, root / script))
    for name in sections:
        entry = SECTIONS.get(name.partition(".")[0])
        if entry:
            todo.append(entry.split(":")[0])
    seen: set[str] = set()
    files: set[Path] = set()
    while todo:
        mod = todo.pop()
        for name in _with_parents(mod):
            if name in seen:
                continue
            seen.add(name)
            path = module_file(root, name)
            if path is None:
                continue  # an attribute (`from xlrm.x import func`), not a module
            if path.name != "__init__.py" or _substantive(path):
                files.add(path.relative_to(root))
            todo.extend(_imported_modules(root, path))
    return files


@dataclass
class StageDeps:
    name: str
    script: Path
    params: list[str]
    deps: list[str]
    cmd: str = ""
    expected: set[Path] = field(default_factory=set)
    named_outputs: set[str] = field(default_factory=set)  # pipeline outputs its params name

    def covers(self, path: str) -> bool:
        return any(path == d or path.startswith(d.rstrip("/") + "/") for d in self.deps)

    @property
    def code_deps(self) -> set[Path]:
        return {Path(d) for d in self.deps if d.startswith(PACKAGE + "/")}

    @property
    def missing(self) -> list[str]:
        return sorted(str(p) for p in self.expected - self.code_deps)

    @property
    def extra(self) -> list[str]:
        return sorted(str(p) for p in self.code_deps - self.expected)


def resolved_stages(root: Path) -> list[StageDeps]:
    """Every stage of ``root/dvc.yaml`` (foreach/matrix expanded by DVC itself)."""
    from dvc.repo import Repo

    out = []
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            if not getattr(stage, "cmd", None):
                continue
            cmd = stage.cmd if isinstance(stage.cmd, str) else " ".join(stage.cmd)
            m = _SCRIPT.search(cmd)
            if not m:
                raise ConfigError(f"dvc.yaml: stage {stage.name} runs no stages/*.py script")
            params = [k for dep in stage.params for k in (dep.params or [])]
            deps = [str(Path(d.def_path)) for d in stage.deps if d not in stage.params]
            out.append(StageDeps(stage.name, Path(m.group(1)), params, deps, cmd))
        outputs = {str(Path(o.def_path)) for stage in repo.index.stages for o in stage.outs}
    params_file = root / "params.yaml"
    for s in out:
        s.expected = script_modules(root, s.script, s.params) | {s.script}
        s.expected = {p for p in s.expected if str(p).startswith(PACKAGE + "/")}
        s.named_outputs = _named_outputs(params_file, s.params, outputs)
    return out


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _named_outputs(params_file: Path, names: list[str], outputs: set[str]) -> set[str]:
    """The pipeline outputs (or paths inside them) that the declared params name, e.g. a
    judge model ``models/base``: the stage reads them, so they must be deps."""
    from xlrm.config import read_params
    from xlrm.sections import dump, load_value

    params = read_params(params_file)
    found = set()
    for name in names:
        try:
            value = dump(load_value(params, name, params_file))
        except ConfigError:
            continue  # a missing section is the stage's own error, not a deps problem
        for text in _strings(value):
            norm = str(Path(text)) if text and not text.startswith(("http:", "https:")) else ""
            if any(norm == o or norm.startswith(o + "/") for o in outputs):
                found.add(norm)
    return found


def problems(root: Path) -> list[str]:
    lines = []
    for s in resolved_stages(root):
        for mod in s.missing:
            lines.append(f"stage {s.name}: deps miss {mod} ({s.script} runs it through its imports)")
        for mod in s.extra:
            lines.append(f"stage {s.name}: deps list {mod}, which {s.script} does not import")
        for path in sorted(s.named_outputs):
            if not s.covers(path):
                lines.append(f"stage {s.name}: its params name {path}, a pipeline output it "
                             "reads, but its deps do not list it")
        if str(s.script) not in s.deps:
            lines.append(f"stage {s.name}: deps miss its own script {s.script}")
    return lines


def fix(root: Path) -> int:
    """Rewrite each stage's xlrm deps in dvc.yaml to exactly what its script imports
    (a YAML round trip: comments, folded commands and layout are kept)."""
    from ruamel.yaml import YAML

    by_script: dict[str, list[str]] = {}
    for s in resolved_stages(root):
        by_script.setdefault(str(s.script), sorted(str(p) for p in s.expected))
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    path = root / "dvc.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"))
    changed = 0
    for body in data["stages"].values():
        spec = body.get("do", body)
        m = _SCRIPT.search(str(spec.get("cmd", "")))
        if not m or m.group(1) not in by_script:
            continue
        deps = spec.setdefault("deps", [])
        want = by_script[m.group(1)]
        have = [d for d in deps if isinstance(d, str) and d.startswith(PACKAGE + "/")]
        if have == want:
            continue
        changed += 1
        for d in have:
            deps.remove(d)
        at = deps.index(m.group(1)) + 1 if m.group(1) in deps else 0
        for i, d in enumerate(want):
            deps.insert(at + i, d)
    if changed:
        tmp = path.with_suffix(".yaml.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            yaml.dump(data, f)
        tmp.replace(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=".", help="project root (default: .)")
    p.add_argument("--fix", action="store_true", help="rewrite dvc.yaml's code deps")
    args = p.parse_args(argv)
    root = Path(args.root).resolve()
    if args.fix:
        print(f"dvc.yaml: code deps rewritten in {fix(root)} stage(s)")
    found = problems(root)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

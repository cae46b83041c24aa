"""Presets are whole params files in ``presets/``; this switches between them.

    python -m xlrm.preset list
    python -m xlrm.preset use tiny       # copy presets/tiny.yaml over params.yaml
    python -m xlrm.preset exp paper      # run presets/paper.yaml as a DVC experiment
                                         # (params.yaml is left as it was)
    python -m xlrm.preset prune-lock     # drop dvc.lock entries of stages the params no
                                         # longer define (e.g. a language removed)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from xlrm.config import read_params
from xlrm.errors import ConfigError


def presets_dir(root: Path) -> Path:
    return root / "presets"


def available(root: Path) -> list[str]:
    return sorted(p.stem for p in presets_dir(root).glob("*.yaml"))


def preset_path(root: Path, name: str) -> Path:
    path = presets_dir(root) / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"unknown preset {name!r}; available: {available(root)}")
    validate(path)  # fail early on a broken file
    return path


def validate(path: Path) -> dict:
    """Load every section and top-level list of a params file through the registry, so a
    preset with an unknown key or a wrong type fails before any stage runs."""
    from xlrm.sections import SECTIONS, TOP_LEVEL, load_value

    params = read_params(path)
    unknown = sorted(set(params) - set(SECTIONS) - set(TOP_LEVEL))
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {unknown}")
    for name in params:
        load_value(params, name, path)
    return params


def use(root: Path, name: str) -> Path:
    src = preset_path(root, name)
    dst = root / "params.yaml"
    shutil.copyfile(src, dst)
    return dst


def run_as_experiment(root: Path, name: str, extra: list[str]) -> int:
    """``dvc exp run --temp`` with the preset as params.yaml; the workspace file is restored."""
    src = preset_path(root, name)
    params = root / "params.yaml"
    backup = params.read_bytes()
    try:
        shutil.copyfile(src, params)
        # --temp snapshots the workspace (with the preset's params) into a temporary
        # copy and runs there, so the workspace's own outputs stay as they are.
        return subprocess.call(["dvc", "exp", "run", "--temp", "-n", f"preset-{name}", *extra],
                               cwd=root)
    finally:
        params.write_bytes(backup)


def prune_lock(root: Path) -> list[str]:
    """Remove from ``dvc.lock`` the entries of stages that ``dvc.yaml`` with the current
    params no longer defines (a foreach item whose language or seed was removed). DVC keeps
    such entries; they are harmless to ``dvc repro`` but clutter the lock file in git.
    Returns the removed stage names."""
    lock = root / "dvc.lock"
    if not lock.exists():
        return []
    out = subprocess.run(["dvc", "stage", "list", "--name-only"], cwd=root, check=True,
                         capture_output=True, text=True).stdout
    defined = set(out.split())
    # DVC's own YAML reader and writer, so values and layout stay as DVC wrote them
    from dvc.utils.serialize import dump_yaml, load_yaml

    data = load_yaml(lock) or {}
    stages = data.get("stages", {})
    stale = [name for name in stages if name not in defined]
    for name in stale:
        del stages[name]
    if stale:
        tmp = lock.with_suffix(".lock.tmp")
        dump_yaml(tmp, data)
        tmp.replace(lock)
    return stale


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xlrm.preset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    u = sub.add_parser("use")
    u.add_argument("name")
    e = sub.add_parser("exp")
    e.add_argument("name")
    e.add_argument("dvc_args", nargs=argparse.REMAINDER, help="extra arguments for dvc exp run")
    sub.add_parser("prune-lock", help="drop dvc.lock entries of stages no longer defined")
    args = p.parse_args(argv)
    root = Path.cwd()
    try:
        if args.cmd == "list":
            print("\n".join(available(root)))
        elif args.cmd == "use":
            print(f"params.yaml <- {use(root, args.name)} (preset {args.name}); now run: dvc repro")
        elif args.cmd == "prune-lock":
            stale = prune_lock(root)
            print(f"dvc.lock: removed {len(stale)} stale stage(s)"
                  + (": " + ", ".join(stale) if stale else ""))
        else:
            return run_as_experiment(root, args.name, args.dvc_args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

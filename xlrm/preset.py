"""Presets are whole params files in ``presets/``; this switches between them.

    python -m xlrm.preset list
    python -m xlrm.preset use tiny       # copy presets/tiny.yaml over params.yaml
    python -m xlrm.preset exp paper      # run presets/paper.yaml as a DVC experiment
                                         # (params.yaml is left as it was)
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
    read_params(path)  # fail early on a broken file
    return path


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
    args = p.parse_args(argv)
    root = Path.cwd()
    try:
        if args.cmd == "list":
            print("\n".join(available(root)))
        elif args.cmd == "use":
            print(f"params.yaml <- {use(root, args.name)} (preset {args.name}); now run: dvc repro")
        else:
            return run_as_experiment(root, args.name, args.dvc_args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

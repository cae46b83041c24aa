"""``python -m xlrm.dryrun DIR``: write the paper-dry preset's model and data folders."""

from __future__ import annotations

import argparse
import sys

from xlrm.dryrun import build


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xlrm.dryrun", description=__doc__)
    p.add_argument("dir", help="root of the hub-shaped folders (presets/paper-dry.yaml: .dry/hub)")
    args = p.parse_args(argv)
    made = build(args.dir)
    for kind, names in made.items():
        print(f"{kind}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

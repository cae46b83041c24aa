"""Shared plumbing of the stage scripts in ``stages/``: logging, arguments, clean failure."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable

from xlrm.errors import XlrmError


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return p


def main(fn: Callable[[], None]) -> None:
    """Run a stage's ``main``: user errors print one clear line and exit 2."""
    logging.basicConfig(level=os.environ.get("XLRM_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "alembic", "mlflow.store", "filelock", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        fn()
    except XlrmError as e:
        print(f"error: {e}", file=sys.stderr)
        if os.environ.get("XLRM_DEBUG"):
            traceback.print_exc()
        sys.exit(2)

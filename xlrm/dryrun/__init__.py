"""Files for the ``paper-dry`` preset: the paper's hub models and data sets, small and local.

``python -m xlrm.dryrun DIR`` writes, under ``DIR``, one folder per hub repository the
``paper`` preset names, laid out as that repository is (``DIR/<owner>/<name>``):

* models (:mod:`xlrm.dryrun.models`): tiny random weights in the paper's architectures
  (Qwen2.5 and Llama-3.2 configurations shrunk to a few thousand parameters, with their
  grouped-query attention ratios, tied embeddings and Llama 3's ``llama3`` RoPE scaling),
  safetensors, ``config.json``, ``generation_config.json`` and a byte-level BPE tokenizer
  with the model family's special tokens and a chat template of the family's shape (our own
  Jinja text);
* data sets (:mod:`xlrm.dryrun.data`): a dataset card ``README.md`` whose ``configs:`` YAML
  names each config's split files, and those files (parquet or JSON lines), so
  ``datasets.load_dataset(DIR/<owner>/<name>, config, split=...)`` reads them as it reads
  the hub id. The rows come from the project's own seed set (:mod:`xlrm.data.seed`).

Nothing here is committed: the slow test ``tests/test_paper_dry.py`` builds it into the
repository copy it runs (``.dry/hub``, the folder ``presets/paper-dry.yaml`` points at).
"""

from __future__ import annotations

from pathlib import Path


def build(root: str | Path) -> dict[str, list[str]]:
    """Write every model and data set folder under ``root``; returns their relative names."""
    from xlrm.dryrun.data import build_datasets
    from xlrm.dryrun.models import build_models

    root = Path(root)
    return {"models": build_models(root), "datasets": build_datasets(root)}


def main(argv: list[str] | None = None) -> int:
    """``python -m xlrm.dryrun DIR`` (:mod:`xlrm.dryrun.__main__`)."""
    from xlrm.dryrun.__main__ import main as run

    return run(argv)

"""Shared fixtures: tiny random models built on the spot, nothing from a hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when that folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared third-party test data sits beside the repo "
                    "only in the project's workplace)")
    return path


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A tiny random Llama base model folder made by the base_model stage's core."""
    from xlrm.base_model import BaseModelConfig, prepare_base_model

    out = tmp_path_factory.mktemp("base") / "model"
    prepare_base_model(BaseModelConfig(source="tiny-random"), out)
    return out


@pytest.fixture(scope="session")
def seed_rows() -> list[dict]:
    from xlrm.data import seed

    return seed.generate(seed=0, items_per_subset=6, languages=["en", "es", "ko"])


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path, monkeypatch):
    """Every test logs to its own throwaway MLflow store."""
    if "MLFLOW_TRACKING_URI" not in os.environ:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


# ---- the one fake OpenAI-compatible server (tests/fake_openai.py; owner: judges, H2)
from fake_openai import fake_openai_factory  # noqa: E402


@pytest.fixture
def fake_openai():
    """A factory of local OpenAI-compatible servers, stopped after the test (see
    tests/fake_openai.py): ``srv = fake_openai(handler | replies=..., require_key=...)``."""
    yield from fake_openai_factory()


@pytest.fixture(autouse=True)
def _isolated_judge_cache(tmp_path, monkeypatch):
    """Every test gets its own verdict cache (xlrm/judges/cache.py), so a verdict cached by
    an earlier run never answers a test's query."""
    monkeypatch.setenv("XLRM_JUDGE_CACHE", str(tmp_path / "judgements"))

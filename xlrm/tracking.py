"""MLflow tracking: one run per stage execution.

Where runs go: ``MLFLOW_TRACKING_URI`` when set (a tracking server such as
``http://127.0.0.1:5000``), else ``sqlite:///<project root>/mlflow.db``. The
project root is ``DVC_ROOT`` when DVC sets it (``dvc exp run`` in a temporary
workspace or from the queue), so queued experiments log into the same database
as the workspace. Artifacts of the local store go to ``<project root>/mlruns``.

Each run is tagged with the stage name (``xlrm.stage``), its foreach item
(``xlrm.item``), the git commit (``mlflow.source.git.commit``) and the DVC
experiment name (``dvc.exp_name``) when there is one, and ``xlrm.trust_remote_code``:
``off``, or the models the run loaded with their own code (a param turned it on for them;
:func:`xlrm.modeling.remote_code`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xlrm.config import flatten

log = logging.getLogger(__name__)

EXPERIMENT = os.environ.get("MLFLOW_EXPERIMENT_NAME", "xlrm")


def project_root() -> Path:
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"])
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / ".dvc").is_dir() or (p / "dvc.yaml").exists():
            return p
    return here


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{project_root() / 'mlflow.db'}"


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=cwd, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_tags(stage: str, item: str | None) -> dict[str, str]:
    tags = {"xlrm.stage": stage}
    if item is not None:
        tags["xlrm.item"] = str(item)
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    if os.environ.get("DVC_EXP_BASELINE_REV"):
        tags["dvc.exp_baseline_rev"] = os.environ["DVC_EXP_BASELINE_REV"]
    return tags


def _loggable(value: Any) -> str:
    s = "null" if value is None else str(value)
    return s if len(s) <= 6000 else s[:5997] + "..."


@contextlib.contextmanager
def stage_run(stage: str, item: str | None = None, params: dict | None = None) -> Iterator[Any]:
    """Open one MLflow run for a stage execution; yields the ``mlflow`` module.

    Params are logged flattened with the section name as prefix
    (``train_rm.learning_rate``); the run ends FAILED when the stage raises.
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    root = project_root()
    if tracking_uri().startswith("sqlite:") and mlflow.get_experiment_by_name(EXPERIMENT) is None:
        # Keep the local store's artifacts beside the database, not in the cwd of a temp workspace.
        mlflow.create_experiment(EXPERIMENT, artifact_location=(root / "mlruns").as_uri())
    mlflow.set_experiment(EXPERIMENT)
    name = f"{stage}@{item}" if item is not None else stage
    REMOTE_CODE.clear()
    tags = {**run_tags(stage, item), REMOTE_CODE_TAG: "off"}
    with mlflow.start_run(run_name=name, tags=tags) as run:
        if params:
            flat = {k: _loggable(v) for k, v in flatten(params).items()}
            keys = sorted(flat)
            for i in range(0, len(keys), 100):  # log_params takes at most 100 per call
                mlflow.log_params({k: flat[k] for k in keys[i:i + 100]})
        log.info("MLflow run %s (%s) at %s", run.info.run_id, name, tracking_uri())
        yield mlflow


REMOTE_CODE_TAG = "xlrm.trust_remote_code"
REMOTE_CODE: set[str] = set()  # models of the current stage run loaded with their own code


def record_remote_code(model: str) -> None:
    """Note that ``model`` was loaded with ``trust_remote_code`` on: the run's
    :data:`REMOTE_CODE_TAG` tag (``off`` in a run without any) lists every such model."""
    REMOTE_CODE.add(model)
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.set_tag(REMOTE_CODE_TAG, ",".join(sorted(REMOTE_CODE)))
    log.warning("%s loaded with trust_remote_code: its own code runs", model)


def log_metrics(metrics: dict[str, Any], prefix: str = "") -> None:
    """Log the numeric leaves of a nested dict as metrics with dotted names."""
    import mlflow

    flat = flatten(metrics, prefix)
    numeric = {k.replace("@", "_"): float(v) for k, v in flat.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if numeric:
        mlflow.log_metrics(numeric)


EFFECTIVE: dict[str, dict[str, Any]] = {}  # the last effective configurations, by name


def log_effective_config(name: str, config: dict[str, Any]) -> None:
    """Record the configuration a library actually received (TRL's ``RewardConfig`` after
    xlrm's defaults and CPU overrides, a backend's settings, ...).

    Logged to the active MLflow run as params ``effective.<name>.<key>`` and as the artifact
    ``effective/<name>.json``; kept in :data:`EFFECTIVE` either way (tests read it). With no
    active run (a test, a notebook) only :data:`EFFECTIVE` is set.
    """
    import json

    EFFECTIVE[name] = config
    import mlflow

    if mlflow.active_run() is None:
        return
    flat = {k: _loggable(v) for k, v in flatten(config, f"effective.{name}").items()}
    keys = sorted(flat)
    for i in range(0, len(keys), 100):
        mlflow.log_params({k: flat[k] for k in keys[i:i + 100]})
    mlflow.log_text(json.dumps(config, indent=2, sort_keys=True, default=str),
                    f"effective/{name}.json")

"""MLflow tracking: one run per stage execution.

Where runs go: ``MLFLOW_TRACKING_URI`` when set (a tracking server such as
``http://127.0.0.1:5000``), else ``sqlite:///<project root>/mlflow.db``. The
project root is ``DVC_ROOT`` when DVC sets it (``dvc exp run`` in a temporary
workspace or from the queue), so queued experiments log into the same database
as the workspace. Artifacts of the local store go to ``<project root>/mlruns``.

Each run is tagged with the stage name (``xlrm.stage``), its foreach item
(``xlrm.item``), the git commit (``mlflow.source.git.commit``) and the DVC
experiment name (``dvc.exp_name``) when there is one, the device set the stage claimed
(``xlrm.devices``, under ``XLRM_DEVICE_SETS``: :mod:`xlrm.devices`), and
``xlrm.trust_remote_code``: ``off``, or the models the run loaded with their own code (a
param turned it on for them; :func:`xlrm.modeling.remote_code`).

Several stages at once (``dvc queue start -j 2``, ``dvc exp run --jobs``) share the sqlite
store: its creation (MLflow's schema migrations) and the experiment's creation are
serialised by a lock file beside the database (``mlflow.db.lock``), and calls that still
meet "database is locked" are retried with backoff. A tracking server is probed
(``<uri>/health``) before the run starts, so an unreachable one fails the stage at once
with its URI named instead of MLflow retrying for minutes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from xlrm.config import flatten
from xlrm.errors import XlrmError

log = logging.getLogger(__name__)

EXPERIMENT = os.environ.get("MLFLOW_EXPERIMENT_NAME", "xlrm")
PROBE_TIMEOUT_S = float(os.environ.get("XLRM_MLFLOW_PROBE_TIMEOUT_S", "5"))
LOCKED_RETRIES = 8  # backoff 0.5 s doubling, at most 8 s a wait: about 40 s in all


class TrackingUnavailable(XlrmError):
    """The MLflow tracking server does not answer."""


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
    from xlrm.devices import CLAIMED_ENV, TAG

    if os.environ.get(CLAIMED_ENV):  # the device set this stage claimed (XLRM_DEVICE_SETS)
        tags[TAG] = os.environ[CLAIMED_ENV]
    return tags


def probe_server(uri: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise :class:`TrackingUnavailable` naming ``uri`` when an HTTP tracking server does not
    answer within ``timeout_s``. Any HTTP reply counts as an answer (a server behind a
    proxy or with auth may not serve ``/health`` itself); other schemes are not probed."""
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s):
            pass
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as e:
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} (MLFLOW_TRACKING_URI) is unreachable: "
            f"{getattr(e, 'reason', e)}. Start it, or unset MLFLOW_TRACKING_URI to log into "
            f"the local {project_root() / 'mlflow.db'}") from None


def _is_locked(exc: BaseException) -> bool:
    while exc is not None:
        if "database is locked" in str(exc) or "database table is locked" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def retry_locked(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, retried with backoff while sqlite says "database is locked"
    (another stage writing the same store past MLflow's own busy timeout)."""
    for attempt in range(LOCKED_RETRIES):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            if not _is_locked(e) or attempt == LOCKED_RETRIES - 1:
                raise
            wait = min(8.0, 0.5 * 2 ** attempt)
            log.warning("MLflow store locked (%s); retrying in %.1f s", fn.__name__, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """For a sqlite store: an exclusive lock on ``<database>.lock`` (other URIs: nothing)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on the retries
        yield
        return
    db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _set_experiment(mlflow, uri: str, root: Path) -> None:
    with store_lock(uri):  # one process at a time creates the store's tables and the experiment
        if uri.startswith("sqlite:") and mlflow.get_experiment_by_name(EXPERIMENT) is None:
            # Keep the local store's artifacts beside the database, not in the cwd of a temp
            # workspace.
            mlflow.create_experiment(EXPERIMENT, artifact_location=(root / "mlruns").as_uri())
        mlflow.set_experiment(EXPERIMENT)


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

    uri = tracking_uri()
    probe_server(uri)
    mlflow.set_tracking_uri(uri)
    retry_locked(_set_experiment, mlflow, uri, project_root())
    name = f"{stage}@{item}" if item is not None else stage
    REMOTE_CODE.clear()
    tags = {**run_tags(stage, item), REMOTE_CODE_TAG: "off"}
    run = retry_locked(mlflow.start_run, run_name=name, tags=tags)
    with run:
        if params:
            flat = {k: _loggable(v) for k, v in flatten(params).items()}
            keys = sorted(flat)
            for i in range(0, len(keys), 100):  # log_params takes at most 100 per call
                retry_locked(mlflow.log_params, {k: flat[k] for k in keys[i:i + 100]})
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
        retry_locked(mlflow.log_metrics, numeric)


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

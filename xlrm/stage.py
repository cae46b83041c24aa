"""The one stage runner: every script in ``stages/`` is a :class:`Stage`.

A stage script declares its name, the params it reads (sections and top-level lists, exactly
those of its ``dvc.yaml`` entry) and its own arguments; its ``main(ctx)`` does only what is
its own and returns a one-line summary. The runner does the rest, the same way for every
stage:

- common arguments (``--params``) and logging set-up;
- strict loading of exactly the declared params (:mod:`xlrm.sections`): a missing section is
  an error naming the params file and the section, unless the stage marks it optional (then
  the config class's defaults apply, and the stage's docstring says so);
- one MLflow run per stage run (:mod:`xlrm.tracking`), with the declared params, the
  *effective* configurations that trainers and backends actually received
  (:func:`xlrm.tracking.log_effective_config`), metrics and artifacts;
- atomic outputs (:meth:`StageContext.out_dir`, :meth:`StageContext.write_json`, ...);
- user errors (:class:`xlrm.errors.XlrmError`) print one clear line and exit 2.

Launch: a stage that declares its ``launch.<stage>`` entry (:mod:`xlrm.launch`) and is
asked for several processes re-runs itself under ``accelerate launch``.

Rank-aware: under a multi-process launch (``RANK`` set by ``accelerate launch`` /
``torchrun``) only rank 0 opens the MLflow run, writes the stage's outputs and prints the
summary; the others run the same ``main`` with tracking off, and their ``out_dir`` /
``out_file`` are throwaway folders (a trainer's ``save_model`` must be called on every rank
to gather sharded weights, but only rank 0 writes).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from xlrm.distributed import is_main
from xlrm.errors import XlrmError

NOISY_LOGGERS = ("httpx", "urllib3", "alembic", "mlflow.store", "filelock", "datasets")


class StageContext:
    """What a stage's ``main`` receives: its arguments, its loaded params, and the writers."""

    def __init__(self, stage: Stage, args: argparse.Namespace, params: dict[str, Any]):
        self.stage, self.args, self.params = stage, args, params
        self.params_path = Path(args.params)
        self.is_main = is_main()

    def __getitem__(self, name: str) -> Any:
        """A declared section's typed config, or a declared top-level value."""
        if name not in self.params:
            raise KeyError(f"stage {self.stage.name} did not declare params {name!r}; "
                           f"it declares {sorted(self.params)}")
        return self.params[name]

    # ---- writing (atomic; only the main process writes the stage's own files)
    @contextlib.contextmanager
    def out_dir(self, path: str | os.PathLike) -> Iterator[Path]:
        """A temporary folder that becomes ``path`` when the block ends without error."""
        from xlrm.io import atomic_path

        if not self.is_main:
            with self._throwaway() as tmp:
                yield tmp
            return
        with atomic_path(path, is_dir=True) as tmp:
            yield tmp

    @contextlib.contextmanager
    def out_file(self, path: str | os.PathLike) -> Iterator[Path]:
        """A temporary file path that becomes ``path`` when the block ends without error."""
        from xlrm.io import atomic_path

        if not self.is_main:
            with self._throwaway() as tmp:
                yield tmp / Path(path).name
            return
        with atomic_path(path) as tmp:
            yield tmp

    @staticmethod
    @contextlib.contextmanager
    def _throwaway() -> Iterator[Path]:
        """A non-main rank's output folder: removed at the end, never renamed into place."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="xlrm-rank-") as tmp:
            yield Path(tmp)

    def write_json(self, path: str | os.PathLike, obj: Any, *, metrics: str | None = None,
                   artifact: bool = True) -> None:
        """Write ``obj`` as JSON; log its numeric leaves as metrics prefixed ``metrics``
        (when given) and the file as an artifact."""
        from xlrm.io import write_json

        if not self.is_main:
            return
        write_json(path, obj)
        if metrics is not None:
            self.log_metrics(obj, metrics)
        if artifact:
            self.artifact(path)

    def write_jsonl(self, path: str | os.PathLike, rows: Any) -> int:
        from xlrm.io import write_jsonl

        return write_jsonl(path, rows) if self.is_main else 0

    # ---- resuming after a kill (xlrm.journal)
    @contextlib.contextmanager
    def journal(self, out: str | os.PathLike, *, inputs: Any = None,
                models: Sequence[str | os.PathLike | None] = (),
                params: dict[str, Any] | None = None) -> Iterator[Any]:
        """The current :class:`xlrm.journal.Journal` of ``out`` for the block: its
        fingerprint covers the stage, its arguments, its params but its ``launch.<stage>``
        entry (a run killed on N processes resumes on another number; or ``params``, when the
        stage leaves out further settings that cannot change a unit's result), ``inputs``
        (what the stage read) and the ``models`` folders' files. The block writes the final output; on
        success the journal is removed, on an error (or a kill) it stays for the rerun."""
        from xlrm.journal import Journal, digest, fingerprint
        from xlrm.sections import dump

        if params is None:  # how the stage was launched cannot change a unit's result
            params = {k: dump(v) for k, v in self.params.items() if not k.startswith("launch.")}
        fp = fingerprint({"stage": self.stage.name, "args": vars(self.args), "params": params,
                          "inputs": digest(inputs)}, models)
        with Journal(out, fp).activate() as j:
            yield j

    # ---- tracking (no-ops on other ranks)
    def log_metrics(self, metrics: dict[str, Any], prefix: str = "") -> None:
        from xlrm.tracking import log_metrics

        if self.is_main:
            log_metrics(metrics, prefix)

    def artifact(self, *paths: str | os.PathLike) -> None:
        if not self.is_main:
            return
        import mlflow

        for path in paths:
            mlflow.log_artifact(str(path))

    def tags(self, tags: dict[str, str]) -> None:
        if self.is_main:
            import mlflow

            mlflow.set_tags(tags)


class Stage:
    """One DVC stage's script: its name, declared params and arguments.

    Args:
        name: the stage's name (MLflow run name, ``xlrm.stage`` tag).
        doc: the script's docstring (``--help``).
        params: what the stage reads from the params file, exactly its ``dvc.yaml``
            ``params:`` entries: section names (``train_rm``), top-level lists
            (``languages``) or one key of a section (``translate.source_language``).
        optional: declared sections that may be absent (their config defaults apply).
        item: the argument whose value names this run's foreach item (``lang``), or a
            function of the parsed arguments.
        section_arg: the argument that names the section to load instead of ``params[0]``
            (``base_model.py --section policy_model``); it also names the MLflow run.
    """

    def __init__(self, name: str, doc: str | None, *, params: Sequence[str] = (),
                 optional: Sequence[str] = (), item: str | Callable[[argparse.Namespace], Any]
                 | None = None, section_arg: str | None = None):
        self.name, self.declared, self.optional = name, list(params), set(optional)
        self.item, self.section_arg = item, section_arg
        self.parser = argparse.ArgumentParser(description=doc,
                                              formatter_class=argparse.RawDescriptionHelpFormatter)
        self.parser.add_argument("--params", default="params.yaml",
                                 help="params file (default: params.yaml)")

    def add(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """Add one of the stage's own command-line arguments (argparse's signature)."""
        return self.parser.add_argument(*args, **kwargs)

    def params_for(self, args: argparse.Namespace) -> list[str]:
        if self.section_arg is None:
            return list(self.declared)
        return [getattr(args, self.section_arg), *self.declared[1:]]

    def load(self, args: argparse.Namespace) -> dict[str, Any]:
        """The declared params, typed, from ``args.params`` (strict: see the module doc)."""
        from xlrm.sections import load_declared

        return load_declared(args.params, self.params_for(args), optional=self.optional)

    def launch_settings(self, params: dict[str, Any]) -> Any:
        """The stage's declared ``launch.<stage>`` entry (:mod:`xlrm.launch`), if any."""
        for name, value in params.items():
            if name.startswith("launch."):
                return value
        return None

    def _item(self, args: argparse.Namespace) -> str | None:
        if self.item is None:
            return None
        value = self.item(args) if callable(self.item) else getattr(args, self.item)
        return None if value is None else str(value)

    def run(self, main: Callable[[StageContext], str | None],
            argv: Sequence[str] | None = None) -> None:
        """Parse ``argv``, load params, run ``main`` inside the stage's MLflow run, print its
        summary. A user error exits 2 with one line on stderr."""
        setup_logging()
        argv = list(sys.argv[1:] if argv is None else argv)
        args = self.parser.parse_args(argv)
        try:
            from xlrm.devices import claim_devices
            claim_devices()  # XLRM_DEVICE_SETS: this stage's own GPUs, before CUDA starts
            params = self.load(args)
            launch = self.launch_settings(params)
            if launch is not None and not launch.plain:
                from xlrm.launch import relaunch, under_launcher

                if not under_launcher():
                    script = sys.modules[main.__module__].__file__
                    sys.exit(relaunch(launch, script, argv))
            ctx = StageContext(self, args, params)
            summary = self._tracked(main, ctx)
        except XlrmError as e:
            print(f"error: {e}", file=sys.stderr)
            if os.environ.get("XLRM_DEBUG"):
                traceback.print_exc()
            sys.exit(2)
        if summary and ctx.is_main:
            print(summary)

    def _tracked(self, main: Callable[[StageContext], str | None], ctx: StageContext):
        if not ctx.is_main:
            return main(ctx)
        from xlrm.sections import dump
        from xlrm.tracking import stage_run

        logged = {name: dump(value) for name, value in ctx.params.items()}
        name = getattr(ctx.args, self.section_arg) if self.section_arg else self.name
        with stage_run(name, self._item(ctx.args), params=logged):
            return main(ctx)


def setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("XLRM_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

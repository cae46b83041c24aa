"""The backend registry and the ``reference`` backend (no translation: aligned rows)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from xlrm.errors import ConfigError, XlrmError
from xlrm.translation.config import TranslateConfig

RowResult = tuple[list["dict | None"], dict[str, Any]]


class TranslationError(XlrmError):
    """A translation backend failed in a way retrying will not fix (bad URL, key, model)."""


class Backend:
    """A translation backend: maps source rows to target rows (None = dropped)."""

    name: str = ""

    def translate_rows(self, rows: list[dict], source: str, target: str, *,
                       all_rows: list[dict] | None = None) -> RowResult:
        """Return one output row (or None) per input row, and backend-specific stats."""
        raise NotImplementedError

    def settings(self, target: str) -> dict[str, Any]:
        """The resolved settings this backend translates into ``target`` with (model,
        device, dtype, batch sizes, prompts, endpoint; never a key), for
        :func:`xlrm.tracking.log_effective_config`."""
        return {}


BACKENDS: dict[str, Callable[[TranslateConfig], Backend]] = {}

# The modules defining the built-in backends, imported when one is first asked for.
BUILTIN: dict[str, str] = {"hf": "xlrm.translation.hf", "vllm": "xlrm.translation.vllm",
                           "openai": "xlrm.translation.openai"}


def register_backend(name: str) -> Callable[[type], type]:
    """Class decorator adding a backend (constructed from a TranslateConfig) to BACKENDS."""

    def deco(cls: type) -> type:
        cls.name = name
        BACKENDS[name] = cls
        return cls

    return deco


def known_backends() -> dict[str, Callable[[TranslateConfig], Backend]]:
    """The registry with every built-in backend loaded."""
    for module in BUILTIN.values():
        importlib.import_module(module)
    return BACKENDS


def make_backend(cfg: TranslateConfig) -> Backend:
    """Construct the backend ``cfg.backend`` names (reuse it across target languages)."""
    if cfg.backend not in BACKENDS and cfg.backend in BUILTIN:
        importlib.import_module(BUILTIN[cfg.backend])
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"translate.backend: unknown backend {cfg.backend!r}; "
                          f"known: {sorted(known_backends())}")
    return BACKENDS[cfg.backend](cfg)


@register_backend("reference")
class ReferenceBackend(Backend):
    """Aligns source rows with existing target-language rows by ``id``."""

    def __init__(self, cfg: TranslateConfig):
        self.cfg = cfg

    def translate_rows(self, rows: list[dict], source: str, target: str, *,
                       all_rows: list[dict] | None = None) -> RowResult:
        if all_rows is None:
            raise ConfigError("translate.backend 'reference' needs the prepared rows of all "
                              "languages (all_rows)")
        index = {row["id"]: row for row in all_rows if row.get("language") == target}
        out: list[dict | None] = []
        for row in rows:
            ref = index.get(row["id"])
            out.append(None if ref is None else dict(ref))
        missing = sum(r is None for r in out)
        return out, {"missing_reference": missing}

    def settings(self, target: str) -> dict[str, Any]:
        return {"align_by": "id"}

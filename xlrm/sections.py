"""The one registry of ``params.yaml``: which config class each section loads into, and the
top-level lists. Stages (through :mod:`xlrm.stage`), the preset tool and the tests all load
params here, one way (:func:`load_value`), and serialise them one way (:func:`dump`).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xlrm.config import coerce, from_dict, read_params
from xlrm.errors import ConfigError

# section -> "module:ConfigClass". The classes live in light modules (no torch at import),
# so a stage checks its params before it pays for heavy imports.
SECTIONS: dict[str, str] = {
    "base_model": "xlrm.base_model:BaseModelConfig",
    "policy_model": "xlrm.base_model:BaseModelConfig",
    "prepare": "xlrm.data.config:PrepareConfig",
    "eval_data": "xlrm.data.config:EvalDataConfig",
    "translate": "xlrm.translation.config:TranslateConfig",
    "train_rm": "xlrm.reward.config:TrainRMConfig",
    "eval_rm": "xlrm.reward.config:EvalRMConfig",
    "transfer": "xlrm.evaluation.config:TransferConfig",
    "instructions": "xlrm.data.config:InstructionsConfig",
    "generate": "xlrm.generation.config:GenerateConfig",
    "label": "xlrm.alignment.config:LabelConfig",
    "train_dpo": "xlrm.alignment.config:TrainDPOConfig",
    "eval_alpaca": "xlrm.alignment.config:EvalAlpacaConfig",
    "alignment": "xlrm.alignment.config:AlignmentConfig",
    "analyze_representations": "xlrm.analysis.config:AnalyzeRepresentationsConfig",
    "analyze_embeddings": "xlrm.analysis.config:AnalyzeEmbeddingsConfig",
    "eval_offshelf": "xlrm.offshelf.config:EvalOffshelfConfig",
    "report": "xlrm.report.config:ReportConfig",
    "launch": "xlrm.launch:LaunchConfig",
}

# top-level keys -> their type (checked like a section's fields)
TOP_LEVEL: dict[str, Any] = {
    "languages": list[str],
    "rm_languages": list[str],
    "eval_languages": list[str],
    "alignment_languages": list[str],
    "dpo_seeds": list[int],
    "rm_seeds": list[int],
}


def config_class(section: str) -> type:
    """The config class of ``section``."""
    try:
        module, cls = SECTIONS[section].split(":")
    except KeyError:
        raise ConfigError(f"unknown params section {section!r}; known: {sorted(SECTIONS)}") \
            from None
    return getattr(importlib.import_module(module), cls)


def load_config(cls: type, data: Any, where: str) -> Any:
    """Build config ``cls`` from a params mapping: the class's own ``from_params`` hook (for
    sections that mirror a TRL config) or :func:`xlrm.config.from_dict`."""
    hook = getattr(cls, "from_params", None)
    return hook(data, where) if hook is not None else from_dict(cls, data, where)


def load_value(params: dict, name: str, path: str | Path = "params.yaml", *,
               optional: bool = False) -> Any:
    """One declared params entry: a section (typed config), a top-level list, or one key of a
    section (``translate.source_language``, taken from the section's typed config)."""
    section, _, key = name.partition(".")
    if section in TOP_LEVEL and not key:
        if section not in params:
            raise ConfigError(f"{path}: no top-level key '{section}'")
        return coerce(TOP_LEVEL[section], params[section], f"{path}: {section}")
    if section not in params and not optional:
        raise ConfigError(f"{path}: no section '{section}'")
    cfg = load_config(config_class(section), params.get(section), f"{path}: {section}")
    if not key:
        return cfg
    for part in key.split("."):
        if not hasattr(cfg, part):
            raise ConfigError(f"{path}: {section} has no key '{part}'")
        cfg = getattr(cfg, part)
    return cfg


def load_declared(path: str | Path, names: Iterable[str], *,
                  optional: Iterable[str] = ()) -> dict[str, Any]:
    """Every declared entry of the params file at ``path`` (read once)."""
    params = read_params(path)
    optional = set(optional)
    return {name: load_value(params, name, path, optional=name in optional) for name in names}


def load_section(section: str, path: str | Path = "params.yaml") -> Any:
    """``section`` of the params file at ``path`` as its typed config."""
    return load_value(read_params(path), section, path)


def dump(value: Any) -> Any:
    """The one serialisation of a loaded params value (for MLflow and fingerprints): the
    config's own ``to_params`` hook, else its fields as a dict; plain values pass through."""
    hook = getattr(value, "to_params", None)
    if hook is not None:
        return hook()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value

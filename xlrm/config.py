"""Typed params sections.

``params.yaml`` is the single home of every setting, one section per stage.
Each stage loads only the sections it declares under ``params:`` in ``dvc.yaml``
(through :mod:`xlrm.sections`, the registry) into dataclasses that reject unknown keys
and values of the wrong type, naming the file and the key. This module holds the
checking itself: :func:`from_dict` and :func:`coerce`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml

from xlrm.errors import ConfigError

T = TypeVar("T")


def read_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"params file {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def from_dict(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types recursively."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        removed = getattr(cls, "REMOVED_KEYS", {})  # keys a library dropped: say so
        notes = "".join(f"; {k}: {removed[k]}" for k in unknown if k in removed)
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}{notes}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = coerce(hints[name], value, f"{where}.{name}")
    missing = [n for n, f in fields.items() if n not in kwargs
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(arg, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{where}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return [coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return {k: coerce(args[1], v, f"{where}.{k}") for k, v in value.items()} if args else value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)  # YAML reads 1e-5 as a string
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return value
    if tp is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return value
    return value


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys (for MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def split_trainer_section(section: dict | None, config_cls: type, extras_cls: type[T],
                          where: str, forbidden: tuple[str, ...] = ("output_dir",)
                          ) -> tuple[T, dict[str, Any]]:
    """Split a params section into xlrm's own keys and a TRL/transformers config's fields.

    Sections that mirror ``RewardConfig`` / ``DPOConfig`` use those configs' field names,
    so they pass straight through; xlrm's extra keys load into ``extras_cls``. Unknown
    keys (in neither) raise ConfigError naming them; values are type-checked against the
    config's annotations (YAML's ``1e-5`` string becomes a float).
    """
    section = dict(section or {})
    extra_names = {f.name for f in dataclasses.fields(extras_cls)}
    cfg_fields = {f.name for f in dataclasses.fields(config_cls) if f.init}
    unknown = sorted(set(section) - extra_names - cfg_fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: xlrm keys "
                          f"{sorted(extra_names)} and {config_cls.__name__} fields")
    for key in forbidden:
        if key in section:
            raise ConfigError(f"{where}.{key}: set by the stage (checkpoints go to a scratch "
                              "folder that DVC ignores)")
    extras = from_dict(extras_cls, {k: section.pop(k) for k in list(section) if k in extra_names},
                       where)
    hints = typing.get_type_hints(config_cls)
    passthrough = {k: coerce(hints.get(k, Any), v, f"{where}.{k}") for k, v in section.items()}
    check_trainer_ranges(passthrough, where)
    return extras, passthrough


# Well-known TRL/transformers fields of a trainer section: (low, low allowed?, high, high allowed?)
# (None = unbounded). Other fields are only type-checked; TRL checks them in turn.
TRAINER_RANGES: dict[str, tuple[float | None, bool, float | None, bool]] = {
    "learning_rate": (0, True, None, False),
    "num_train_epochs": (0, False, None, False),
    "per_device_train_batch_size": (1, True, None, False),
    "per_device_eval_batch_size": (1, True, None, False),
    "gradient_accumulation_steps": (1, True, None, False),
    "weight_decay": (0, True, None, False),
    "warmup_ratio": (0, True, 1, True),
    "warmup_steps": (0, True, None, False),
    "max_grad_norm": (0, True, None, False),
    "max_length": (1, True, None, False),
    "max_prompt_length": (1, True, None, False),
    "beta": (0, False, None, False),
    "label_smoothing": (0, True, 0.5, True),
    "seed": (0, True, None, False),
}


def check_trainer_ranges(values: dict[str, Any], where: str) -> None:
    """Refuse a well-known trainer field (:data:`TRAINER_RANGES`) outside its range."""
    for key, (low, low_ok, high, high_ok) in TRAINER_RANGES.items():
        value = values.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        bad_low = low is not None and (value < low if low_ok else value <= low)
        bad_high = high is not None and (value > high if high_ok else value >= high)
        if bad_low or bad_high:
            parts = []
            if low is not None:
                parts.append(f"{'>=' if low_ok else '>'} {low}")
            if high is not None:
                parts.append(f"{'<=' if high_ok else '<'} {high}")
            raise ConfigError(f"{where}.{key}: must be {' and '.join(parts)}, got {value!r}")


class TrainerSection:
    """Base of a dataclass section that mirrors a TRL config (``train_rm``: RewardConfig,
    ``train_dpo``: DPOConfig): xlrm's own keys load into ``extras`` (class ``EXTRAS``), the
    rest pass through to TRL's config class ``TRL_CONFIG``, checked against its fields, in
    the dict field named ``PASSTHROUGH``. Subclasses are dataclasses ``(extras, passthrough)``.
    """

    TRL_CONFIG: ClassVar[str]
    EXTRAS: ClassVar[type]
    PASSTHROUGH: ClassVar[str]

    @classmethod
    def from_params(cls, section: dict | None, where: str) -> Any:
        import trl

        extras, passthrough = split_trainer_section(section, getattr(trl, cls.TRL_CONFIG),
                                                    cls.EXTRAS, where)
        return cls(extras, passthrough)

    def to_params(self) -> dict:
        return {**getattr(self, self.PASSTHROUGH), **dataclasses.asdict(self.extras)}

"""The judge interface, the registry of judge kinds, and the judge error."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from xlrm import languages
from xlrm.errors import ConfigError, XlrmError
from xlrm.judges.config import JudgeConfig
from xlrm.winrate import as_preferences


class JudgeError(XlrmError):
    """A judge failed in a way retrying will not fix (bad URL, key, model)."""


JudgeResult = tuple[np.ndarray, dict[str, Any]]


def prompt_settings(cfg: JudgeConfig) -> dict[str, Any]:
    """The prompt a judge of ``cfg`` is shown (for its effective configuration)."""
    return {"system_prompt": cfg.system_prompt, "prompt_template": cfg.prompt_template,
            "mention_language": cfg.mention_language}


class Judge:
    """Compares answers with references; subclasses implement :meth:`compare` and
    :meth:`settings`.

    ``name`` names the judge's effective configuration (``judge.<name>``): the config's
    ``name`` when it has one (an off-the-shelf judge), else its kind.
    """

    kind: str = ""

    def __init__(self, cfg: JudgeConfig):
        self.cfg = cfg
        self.name = getattr(cfg, "name", "") or cfg.kind

    def settings(self) -> dict[str, Any]:
        """The settings the judge runs with (model, resolved dtype and device, prompt...)."""
        raise NotImplementedError

    def log_settings(self) -> None:
        """Log :meth:`settings` to the active MLflow run as ``judge.<name>``."""
        from xlrm.tracking import log_effective_config

        log_effective_config(f"judge.{self.name}", {"kind": self.kind, **self.settings()})

    def compare(self, instructions: list[str], outputs: list[str], references: list[str],
                language: str | None) -> JudgeResult:
        """Preferences (NaN = no verdict) for non-identical pairs, and counters."""
        raise NotImplementedError

    def judge(self, instructions: Sequence[str], outputs: Sequence[str],
              references: Sequence[str], *, language: str | None = None) -> JudgeResult:
        """One preference in [1, 2] (or NaN) per instruction, and counters.

        Args:
            instructions: the instructions (in the evaluation language).
            outputs: the evaluated model's answers.
            references: the reference answers, in the same language.
            language: xlrm code of that language (named in the prompt, see
                :attr:`JudgeConfig.mention_language`).

        Returns:
            ``(preferences, stats)``; stats has ``n``, ``identical`` (set to 1.5 without
            a judge call), ``judged``, ``missing`` (NaN) and the judge's own counters.
        """
        n = len(instructions)
        if not (len(outputs) == len(references) == n):
            raise ValueError(f"got {n} instructions, {len(outputs)} outputs and "
                             f"{len(references)} references")
        if language is not None:
            languages.check(language)
        prefs = np.full(n, np.nan)
        same = [i for i in range(n) if outputs[i].strip() == references[i].strip()]
        prefs[same] = 1.5
        todo = [i for i in range(n) if outputs[i].strip() != references[i].strip()]
        stats: dict[str, Any] = {"kind": self.kind, "n": n, "identical": len(same),
                                 "judged": len(todo)}
        if todo:
            sub, extra = self.compare([instructions[i] for i in todo],
                                      [outputs[i] for i in todo],
                                      [references[i] for i in todo], language)
            sub = np.asarray(sub, dtype=float)
            if sub.shape != (len(todo),):
                raise JudgeError(f"judge {self.kind} returned {sub.shape} preferences for "
                                 f"{len(todo)} comparisons")
            prefs[todo] = sub
            stats.update(extra)
        stats["missing"] = int(np.isnan(prefs).sum())
        as_preferences(prefs)  # a judge bug (value outside [1, 2]) fails here
        return prefs, stats


class LocalJudge(Judge):
    """A judge that runs a local model (``hf``, ``rm``).

    Args:
        cfg: the judge config (``model`` names the model unless one is passed).
        model, tokenizer: an already loaded model and its tokenizer (tests, reuse).
    """

    def __init__(self, cfg: JudgeConfig, model: Any = None, tokenizer: Any = None):
        super().__init__(cfg)
        if (model is None) != (tokenizer is None):
            raise ValueError("pass both model and tokenizer, or neither")
        if model is None and not cfg.model:
            raise ConfigError("eval_alpaca.judge.model is empty")
        self.model, self.tokenizer = model, tokenizer

    def model_settings(self) -> dict[str, Any]:
        """The loaded model's name, device and dtype (as resolved by :mod:`xlrm.modeling`)."""
        from xlrm.modeling import dtype_name

        param = next(self.model.parameters())
        return {"model": self.cfg.model or type(self.model).__name__,
                "device": str(param.device), "dtype": dtype_name(param.dtype)}


JUDGES: dict[str, type[Judge]] = {}


def register_judge(kind: str) -> Callable[[type[Judge]], type[Judge]]:
    """Class decorator adding a judge (constructed from a JudgeConfig) to :data:`JUDGES`."""

    def deco(cls: type[Judge]) -> type[Judge]:
        cls.kind = kind
        JUDGES[kind] = cls
        return cls

    return deco


def make_judge(cfg: JudgeConfig, **kwargs: Any) -> Judge:
    """Construct the judge ``cfg.kind`` names (``kwargs`` go to its constructor, e.g. an
    already loaded ``model``/``tokenizer``)."""
    from xlrm.judges import hf, openai, rm  # noqa: F401 - each registers its judge kind

    if cfg.kind not in JUDGES:
        raise ConfigError(f"eval_alpaca.judge.kind: unknown judge {cfg.kind!r}; "
                          f"known: {sorted(JUDGES)}")
    return JUDGES[cfg.kind](cfg, **kwargs)

"""The judge interface, the registry of judge kinds, and the judge error."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from xlrm import languages
from xlrm.errors import ConfigError, XlrmError
from xlrm.judges.config import DEFAULT_LANGUAGE_NOTE, LABELS, JudgeConfig
from xlrm.winrate import as_preferences


class JudgeError(XlrmError):
    """A judge failed in a way retrying will not fix (bad URL, key, model)."""


JudgeResult = tuple[np.ndarray, dict[str, Any]]


def prompt_settings(cfg: JudgeConfig) -> dict[str, Any]:
    """The prompt a judge of ``cfg`` is shown (for its effective configuration)."""
    return {"system_prompt": cfg.system_prompt, "prompt_template": cfg.prompt_template,
            "mention_language": cfg.mention_language}


def prompt_texts(cfg: JudgeConfig) -> dict[str, Any]:
    """Every prompt text a judge of ``cfg`` may be shown (for its verdict fingerprint)."""
    return {**prompt_settings(cfg), "language_note": DEFAULT_LANGUAGE_NOTE, "labels": LABELS}


class Judge:
    """A pairwise judge. Subclasses implement :meth:`query` (and :meth:`record_stats`,
    :meth:`verdict_settings` for the cache) and :meth:`settings`.

    The order-level primitive is :meth:`ask` (``P(A is better)`` per query, through the
    verdict cache of :mod:`xlrm.judges.cache`); :meth:`head_to_head` and :meth:`judge`
    ask every item in both orders (:mod:`xlrm.judges.orders`).

    ``name`` names the judge's effective configuration (``judge.<name>``): the config's
    ``name`` when it has one (an off-the-shelf judge), else its kind.

    Class attributes: ``main_only`` (an endpoint paid per request: under a multi-process
    launch rank 0 alone asks and hands the answers to the others), ``position_free`` (the
    verdict cannot depend on the order shown: asked once per item).
    """

    kind: str = ""
    main_only: bool = False
    position_free: bool = False

    def __init__(self, cfg: JudgeConfig):
        self.cfg = cfg
        self.name = getattr(cfg, "name", "") or cfg.kind
        self.cache_hits = 0  # over the judge's life (callers may log them)
        self.asked = 0

    def settings(self) -> dict[str, Any]:
        """The settings the judge runs with (model, resolved dtype and device, prompt...)."""
        raise NotImplementedError

    def log_settings(self) -> None:
        """Log :meth:`settings` to the active MLflow run as ``judge.<name>``."""
        from xlrm.tracking import log_effective_config

        log_effective_config(f"judge.{self.name}", {"kind": self.kind, **self.settings()})

    def verdict_settings(self) -> dict[str, Any] | None:
        """Every setting that decides a verdict (the cache fingerprint,
        :mod:`xlrm.judges.cache`); None: the judge's verdicts are not cached."""
        return None

    def query(self, instructions: list[str], outputs_a: list[str], outputs_b: list[str],
              language: str | None, emit: Callable[[int, dict], None]
              ) -> tuple[list[dict | None], dict[str, Any]]:
        """Ask the judge (no cache). Returns one *record* per query, a JSON-able dict with
        ``p`` (``P(A is better)``, None = no verdict) and the judge's own fields, or None
        for a failed request (not cached); and counters that only a live run has (e.g.
        ``retries``). A judge whose answers arrive one by one calls ``emit(i, record)`` for
        each as it arrives, so the cache keeps it even if the run is killed."""
        raise NotImplementedError

    def record_stats(self, records: list[dict | None]) -> dict[str, Any]:
        """Counters computed from records (cached or new alike, so a rerun that hits the
        cache reports the same)."""
        return {}

    def ask(self, instructions: Sequence[str], outputs_a: Sequence[str],
            outputs_b: Sequence[str], language: str | None = None) -> JudgeResult:
        """``P(the output shown as A is better)`` per query in [0, 1] (NaN = no verdict),
        and counters (:meth:`record_stats`, the live ones, ``cache_hits`` and ``asked``).

        Cached verdicts (:mod:`xlrm.judges.cache`) are not asked again; new ones are stored
        as they arrive. Under a multi-process launch rank 0 decides what is cached (so every
        rank asks the same), and a ``main_only`` judge is asked by rank 0 alone.
        """
        from xlrm.distributed import on_main
        from xlrm.judges.cache import open_cache

        n = len(instructions)
        if not (len(outputs_a) == len(outputs_b) == n):
            raise ValueError(f"got {n} instructions, {len(outputs_a)} outputs A and "
                             f"{len(outputs_b)} outputs B")
        if language is not None:
            languages.check(language)
        ins, xa, xb = list(instructions), list(outputs_a), list(outputs_b)

        def work(lookup: Callable[[Callable[[], Any]], Any]) -> JudgeResult:
            cache = open_cache(self.verdict_settings()) if n else None
            keys = [cache.key(language, i, a, b) for i, a, b in zip(ins, xa, xb)] \
                if cache is not None else []
            records: list[dict | None] = lookup(
                lambda: [cache.get(k) for k in keys] if cache is not None else [None] * n)
            todo = [i for i in range(n) if records[i] is None]
            stored: set[int] = set()
            lock = threading.Lock()

            def emit(j: int, rec: dict | None) -> None:
                if cache is None or rec is None:
                    return
                with lock:
                    if j in stored:
                        return
                    stored.add(j)
                cache.add(keys[todo[j]], rec)

            live: dict[str, Any] = {}
            if todo:
                got, live = self.query([ins[i] for i in todo], [xa[i] for i in todo],
                                       [xb[i] for i in todo], language, emit)
                if len(got) != len(todo):
                    raise JudgeError(f"judge {self.kind} returned {len(got)} answers for "
                                     f"{len(todo)} queries")
                if cache is not None:
                    cache.add_many([(keys[todo[j]], rec) for j, rec in enumerate(got)
                                    if rec is not None and j not in stored])
                for j, rec in zip(todo, got):
                    records[j] = rec
            p = np.array([math.nan if r is None or r.get("p") is None else float(r["p"])
                          for r in records], dtype=float)
            if np.any((p < 0) | (p > 1)):
                raise JudgeError(f"judge {self.kind} answered P(A) outside [0, 1]")
            self.cache_hits += n - len(todo)
            self.asked += len(todo)
            return p, {**self.record_stats(records), **live, "cache_hits": n - len(todo),
                       "asked": len(todo)}

        if self.main_only:
            return on_main(lambda: work(lambda fn: fn()))
        return work(on_main)

    def head_to_head(self, instructions: Sequence[str], x: Sequence[str], y: Sequence[str],
                     language: str | None = None) -> JudgeResult:
        """AlpacaEval's preference of ``x`` over ``y`` per instruction, in [1, 2]
        (1 = ``y`` better, 2 = ``x`` better, 1.5 = a draw, NaN = no verdict in either
        order), from both orders (:func:`xlrm.judges.orders.ask_both_orders`).

        Args:
            instructions: the instructions (in the evaluation language).
            x, y: the two systems' answers.
            language: xlrm code of that language (named in the prompt, see
                :attr:`JudgeConfig.mention_language`).

        Returns:
            ``(preferences, stats)``; stats has ``n``, ``identical`` (1.5 without a query),
            ``judged``, ``missing`` (NaN), ``order_quality``
            (:func:`xlrm.judges.orders.order_quality`), the judge's counters
            (``cache_hits``, ``asked``, ...) and ``model``.
        """
        from xlrm.judges.orders import ask_both_orders, order_quality, preference

        if language is not None:
            languages.check(language)
        both = ask_both_orders(self, instructions, x, y, language)
        prefs = preference(both)
        n = len(prefs)
        stats: dict[str, Any] = {"kind": self.kind, "n": n,
                                 "identical": int(both.identical.sum()),
                                 "judged": int(n - both.identical.sum()), **both.stats,
                                 "model": self.model_name(),
                                 "missing": int(np.isnan(prefs).sum()),
                                 "order_quality": order_quality(both)}
        as_preferences(prefs)  # a judge bug (value outside [1, 2]) fails here
        return prefs, stats

    def judge(self, instructions: Sequence[str], outputs: Sequence[str],
              references: Sequence[str], *, language: str | None = None) -> JudgeResult:
        """Reference mode: the preference of each answer over its reference (1 = the
        reference is better, 2 = the answer is), asked in both orders; see
        :meth:`head_to_head` for the stats. (Asking both orders makes the config's ``seed``,
        which used to draw one order per instruction, moot.)"""
        n = len(instructions)
        if not (len(outputs) == len(references) == n):
            raise ValueError(f"got {n} instructions, {len(outputs)} outputs and "
                             f"{len(references)} references")
        return self.head_to_head(instructions, outputs, references, language)

    def model_name(self) -> str:
        """The model the judge runs (for stats)."""
        model = getattr(self, "model", None)
        return self.cfg.model or (type(model).__name__ if model is not None else "")


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

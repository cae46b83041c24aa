"""The ``openai`` judge: AlpacaEval's pairwise form over an OpenAI-compatible endpoint
(requests, retries and concurrency: :class:`xlrm.openai_client.ChatClient`)."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from xlrm.errors import ConfigError
from xlrm.judges.base import Judge, JudgeError, JudgeResult, prompt_settings, register_judge
from xlrm.judges.config import LABELS, JudgeConfig
from xlrm.judges.prompts import (judge_messages, model_shown_first, parse_label,
                                 preference_from_probs)
from xlrm.openai_client import ChatClient


def reply_label_probs(choice: dict) -> tuple[float, float] | None:
    """Probabilities of labels A and B at the first reply token, from ``logprobs``.

    Tokens are matched after stripping whitespace (``" A"`` counts as ``A``); a label that
    is not among the alternatives has probability 0. None when there are no logprobs or
    neither label is among them.
    """
    lp = choice.get("logprobs")
    content = lp.get("content") if isinstance(lp, dict) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], dict):
        return None
    first = content[0]
    top = first.get("top_logprobs")
    entries = {}
    for alt in [*(top if isinstance(top, list) else []), first]:
        if not isinstance(alt, dict):
            continue
        tok, val = alt.get("token"), alt.get("logprob")
        if isinstance(tok, str) and isinstance(val, (int, float)) and math.isfinite(val):
            entries.setdefault(tok, float(val))
    probs = [0.0, 0.0]
    found = False
    for tok, val in entries.items():
        if tok.strip() in LABELS:
            probs[LABELS.index(tok.strip())] += math.exp(val)
            found = True
    return (probs[0], probs[1]) if found else None


@register_judge("openai")
class OpenAIJudge(Judge):
    """AlpacaEval's pairwise judge over an OpenAI-compatible chat-completions endpoint."""

    def __init__(self, cfg: JudgeConfig):
        super().__init__(cfg)
        if not cfg.model:
            raise ConfigError("eval_alpaca.judge.model is empty")
        self.client = ChatClient(cfg.base_url, api_key_env=cfg.api_key_env,
                                 timeout_s=cfg.timeout_s, max_retries=cfg.max_retries,
                                 backoff_s=cfg.backoff_s, concurrency=cfg.concurrency,
                                 fatal=JudgeError, what="judge request")
        self.url = self.client.url
        self._lock = threading.Lock()
        self.counts = {"from_logprobs": 0, "from_text": 0, "unparseable": 0}
        self.log_settings()

    def settings(self) -> dict[str, Any]:
        cfg = self.cfg
        return {"model": cfg.model, **self.client.settings(), "temperature": cfg.temperature,
                "max_tokens": cfg.max_tokens, "logprobs": cfg.logprobs,
                "top_logprobs": cfg.top_logprobs if cfg.logprobs else None, "seed": cfg.seed,
                **prompt_settings(cfg)}

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def ask_choice(self, instruction: str, output_a: str, output_b: str,
                   language: str | None, key: str | None) -> dict | None:
        """One request showing ``output_a`` as A and ``output_b`` as B; the reply's first
        choice, or None (counted as a failed request)."""
        cfg = self.cfg
        payload: dict[str, Any] = {
            "model": cfg.model,
            "messages": judge_messages(instruction, output_a, output_b, cfg, language),
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
        }
        if cfg.logprobs:
            payload["logprobs"] = True
            if cfg.top_logprobs:
                payload["top_logprobs"] = cfg.top_logprobs
        return self.client.first_choice(payload, key)

    def choice_probs(self, choice: dict) -> tuple[float, float] | None:
        """Label probabilities of a reply (None when not asked for or absent)."""
        return reply_label_probs(choice) if self.cfg.logprobs else None

    def choice_label(self, choice: dict) -> int | None:
        """The label a reply's text starts with (counted ``from_text``), or None (counted
        ``unparseable``)."""
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        label = parse_label(content if isinstance(content, str) else None)
        self._count("unparseable" if label is None else "from_text")
        return label

    def snapshot(self) -> tuple[dict[str, int], int, int]:
        return dict(self.counts), self.client.retries, self.client.failures

    def stats_since(self, snap: tuple[dict[str, int], int, int]) -> dict[str, Any]:
        """The counters since :meth:`snapshot`: ``from_logprobs``, ``from_text``,
        ``unparseable``, ``requests_failed``, ``retries``."""
        counts, retries, failures = snap
        return {**{k: self.counts[k] - counts[k] for k in self.counts},
                "requests_failed": self.client.failures - failures,
                "retries": self.client.retries - retries}

    def _one(self, item: tuple[str, str, str, str | None], key: str | None) -> float:
        instruction, output, reference, language = item
        first = model_shown_first(instruction, self.cfg.seed)
        a, b = (output, reference) if first else (reference, output)
        choice = self.ask_choice(instruction, a, b, language, key)
        if choice is None:
            return math.nan
        model_idx = 0 if first else 1
        probs = self.choice_probs(choice)
        if probs is not None:
            self._count("from_logprobs")
            return preference_from_probs(probs[model_idx], probs[1 - model_idx])
        label = self.choice_label(choice)
        if label is None:
            return math.nan
        return 2.0 if label == model_idx else 1.0

    def compare(self, instructions: list[str], outputs: list[str], references: list[str],
                language: str | None) -> JudgeResult:
        snap = self.snapshot()
        items = [(i, o, r, language) for i, o, r in zip(instructions, outputs, references)]
        prefs = self.client.map(self._one, items, progress="judged %d/%d comparisons")
        stats = self.stats_since(snap)
        stats["model"] = self.cfg.model
        return np.array(prefs, dtype=float), stats

"""The ``openai`` judge: AlpacaEval's pairwise form over an OpenAI-compatible endpoint
(requests, retries and concurrency: :class:`xlrm.openai_client.ChatClient`)."""

from __future__ import annotations

import math
from typing import Any


from xlrm.errors import ConfigError
from xlrm.judges.base import Judge, JudgeError, prompt_settings, prompt_texts, register_judge
from xlrm.judges.config import LABELS, JudgeConfig
from xlrm.judges.prompts import judge_messages, parse_label
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
    """AlpacaEval's pairwise judge over an OpenAI-compatible chat-completions endpoint
    (retries, key redaction, refused redirects: :class:`xlrm.openai_client.ChatClient`).
    Paid per request, so under a multi-process launch rank 0 alone asks."""

    main_only = True

    def __init__(self, cfg: JudgeConfig):
        super().__init__(cfg)
        if not cfg.model:
            raise ConfigError("eval_alpaca.judge.model is empty")
        self.client = ChatClient(cfg.base_url, api_key_env=cfg.api_key_env,
                                 timeout_s=cfg.timeout_s, max_retries=cfg.max_retries,
                                 backoff_s=cfg.backoff_s, concurrency=cfg.concurrency,
                                 fatal=JudgeError, what="judge request")
        self.url = self.client.url
        self.log_settings()

    def settings(self) -> dict[str, Any]:
        cfg = self.cfg
        return {"model": cfg.model, **self.client.settings(), "temperature": cfg.temperature,
                "max_tokens": cfg.max_tokens, "logprobs": cfg.logprobs,
                "top_logprobs": cfg.top_logprobs if cfg.logprobs else None,
                **prompt_settings(cfg)}

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
        """The label a reply's text starts with, or None."""
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        return parse_label(content if isinstance(content, str) else None)

    def _ask_one(self, item: tuple[str, str, str, str | None], key: str | None
                 ) -> dict | None:
        """One query's record: ``{"p": P(A) / (P(A) + P(B)), "how": "logprobs"}`` from the
        first reply token's label probabilities, else ``{"p": 1.0 or 0.0, "how": "text"}``
        from the reply text, ``{"p": None, "how": "unparseable"}`` when neither gives a
        label; None for a failed request."""
        instruction, a, b, language = item
        choice = self.ask_choice(instruction, a, b, language, key)
        if choice is None:
            return None
        probs = self.choice_probs(choice)
        if probs is not None and sum(probs) > 0:
            return {"p": probs[0] / (probs[0] + probs[1]), "how": "logprobs"}
        label = self.choice_label(choice)
        if label is None:
            return {"p": None, "how": "unparseable"}
        return {"p": 1.0 if LABELS[label] == "A" else 0.0, "how": "text"}

    def query(self, instructions, outputs_a, outputs_b, language, emit):
        retries = self.client.retries
        items = list(enumerate(zip(instructions, outputs_a, outputs_b)))

        def one(item: tuple[int, tuple[str, str, str]], key: str | None) -> dict | None:
            j, (ins, a, b) = item
            rec = self._ask_one((ins, a, b, language), key)
            emit(j, rec)  # into the cache as soon as it arrives
            return rec

        records = self.client.map(one, items, progress="judged %d/%d queries")
        return records, {"retries": self.client.retries - retries}

    def record_stats(self, records):
        """``from_logprobs``, ``from_text``, ``unparseable`` (replies without a label),
        ``requests_failed`` (no usable reply) and ``retries`` (0 here; a live run's count
        replaces it)."""
        hows = [r.get("how") for r in records if r is not None]
        return {"from_logprobs": hows.count("logprobs"), "from_text": hows.count("text"),
                "unparseable": hows.count("unparseable"),
                "requests_failed": sum(r is None for r in records), "retries": 0}

    def verdict_settings(self) -> dict[str, Any]:
        """The endpoint (URL without credentials), the model name, the sampling and
        log-probability settings and the prompt texts."""
        cfg = self.cfg
        return {"kind": self.kind, "url": self.client.where(), "model": cfg.model,
                "temperature": cfg.temperature, "max_tokens": cfg.max_tokens,
                "logprobs": cfg.logprobs,
                "top_logprobs": cfg.top_logprobs if cfg.logprobs else None,
                **prompt_texts(cfg)}

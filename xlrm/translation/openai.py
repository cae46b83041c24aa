"""The ``openai`` backend: whole texts through an OpenAI-compatible chat-completions
endpoint (:class:`xlrm.openai_client.ChatClient`: concurrency, retries, redirect refusal,
key redaction)."""

from __future__ import annotations

from typing import Any

from xlrm import languages
from xlrm.errors import ConfigError
from xlrm.openai_client import ChatClient, redact
from xlrm.translation.backends import RowResult, TranslationError, register_backend
from xlrm.translation.config import TranslateConfig
from xlrm.translation.text import Sink, TextBackend


@register_backend("openai")
class OpenAIBackend(TextBackend):
    """Translates whole texts through an OpenAI-compatible chat-completions endpoint."""

    by_line = False
    journal_segments = False  # the ChatClient journals every reply

    def __init__(self, cfg: TranslateConfig):
        super().__init__(cfg)
        self.oa = cfg.openai
        if not self.oa.model:
            raise ConfigError("translate.openai.model is empty")
        self.client = ChatClient(self.oa.base_url, api_key_env=self.oa.api_key_env,
                                 timeout_s=self.oa.timeout_s, max_retries=self.oa.max_retries,
                                 backoff_s=self.oa.backoff_s, concurrency=self.oa.concurrency,
                                 fatal=TranslationError, what="translation request")
        self.url = self.client.url

    def settings(self, target: str) -> dict[str, Any]:
        return {**self.client.settings(), "model": self.oa.model,
                "temperature": self.oa.temperature, "max_tokens": self.oa.max_tokens,
                "system_prompt": self._system(self.cfg.source_language, target),
                "by_line": self.by_line}

    def _system(self, source: str, target: str) -> str:
        return self.oa.system_prompt.format(src_name=languages.name(source),
                                            tgt_name=languages.name(target),
                                            src=source, tgt=target)

    def translate_texts(self, texts: list[str], source: str, target: str, *,
                        sink: Sink | None = None) -> list[str | None]:
        system = self._system(source, target)
        return self.client.map(lambda text, key: self._one(text, system, key), texts,
                               progress=f"translated %d/%d texts into {target}", every=500)

    def _one(self, text: str, system: str, key: str | None) -> str | None:
        """One request with retries; None if it failed for this text only."""
        payload = {
            "model": self.oa.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}],
            "temperature": self.oa.temperature,
            "max_tokens": self.oa.max_tokens,
        }
        choice = self.client.first_choice(payload, key)
        if choice is None:
            return None
        try:
            content = choice["message"]["content"]
        except (KeyError, TypeError) as e:
            self.client.fail(redact(f"malformed reply from {self.client.where()}: "
                                    f"{type(e).__name__}: {e}", key))
            return None
        if choice.get("finish_reason") == "length":
            self.client.fail(f"reply cut off at max_tokens={self.oa.max_tokens}")
            return None
        if not isinstance(content, str):
            self.client.fail("reply has no text content")
            return None
        return content

    def translate_rows(self, rows: list[dict], source: str, target: str, *,
                       all_rows: list[dict] | None = None) -> RowResult:
        r0, f0 = self.client.retries, self.client.failures
        out, stats = super().translate_rows(rows, source, target, all_rows=all_rows)
        stats.update(model=self.oa.model, retries=self.client.retries - r0,
                     requests_failed=self.client.failures - f0)
        return out, stats

"""The one client for OpenAI-compatible ``/v1/chat/completions`` endpoints (stdlib only).

Every HTTP request of the project to such an endpoint goes through here: the ``openai``
translation backend, the ``openai`` AlpacaEval judge and the off-the-shelf generative
judges. :func:`post_chat_completion` sends one request with the retry policy;
:class:`ChatClient` holds an endpoint's settings and counters and runs the one concurrent
request loop (:meth:`ChatClient.map`). The API key is read from the environment variable
the caller names, is sent only as a Bearer header, and is redacted from every message;
redirects are refused so the header never travels to another host.
"""

from __future__ import annotations

import datetime
import email.utils
import http.client
import json
import logging
import math
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from xlrm.errors import XlrmError

log = logging.getLogger(__name__)

T = TypeVar("T")


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def public_url(url: str, key: str | None) -> str:
    """``url`` without credentials: no user-info, query or fragment, and the key redacted."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return redact(urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")), key)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would resend the Authorization header to the new host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


OPENER = urllib.request.build_opener(NoRedirect)


class RequestFailed(Exception):
    """One request failed for good (only this item fails); the message is redacted."""


RETRY_AFTER_CAP_S = 300.0  # the longest a ``Retry-After`` answer makes a request wait
BACKOFF_CAP_S = 60.0  # the longest exponential backoff between two attempts
EXCERPT_CHARS = 200  # how much of a bad answer's body an error message quotes
NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, OSError,
                  http.client.HTTPException)  # refused, reset, remote closed, cut short


def backoff_sleep(seconds: float) -> None:
    """Wait between two attempts (tests replace this to run in milliseconds)."""
    time.sleep(seconds)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (never negative): a number
    of seconds or an HTTP-date; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_delay(attempt: int, backoff_s: float, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (0-based): ``Retry-After`` when the
    server sent one (capped at :data:`RETRY_AFTER_CAP_S`), else exponential backoff
    ``backoff_s * 2**attempt`` (capped at :data:`BACKOFF_CAP_S`) with up to 25% jitter."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP_S)
    return min(backoff_s * 2**attempt, BACKOFF_CAP_S) * (1 + 0.25 * random.random())


def excerpt(raw: bytes | str, key: str | None) -> str:
    """A short one-line excerpt of an answer's body, the key redacted."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS] + "..."
    return redact(text, key) if text else "(empty body)"


def post_chat_completion(url: str, payload: dict, key: str | None, *, timeout_s: float,
                         max_retries: int, backoff_s: float,
                         abort: threading.Event | None = None,
                         on_retry: Callable[[str], None] | None = None,
                         fatal: type[Exception] = XlrmError,
                         sleep: Callable[[float], None] | None = None) -> dict:
    """POST one chat-completions request and return the parsed JSON reply.

    408, 429, 5xx, timeouts, network errors (refused, reset, closed without an answer, cut
    short) and malformed JSON are retried up to ``max_retries`` times, waiting
    :func:`backoff_delay` (``Retry-After`` wins) through ``sleep`` (default
    :func:`backoff_sleep`); 401/403/404 and redirects raise ``fatal`` at once (retrying
    will not fix them); other 4xx fail this request only (:class:`RequestFailed`), as does
    the last failure once the retries are spent. Every message names the endpoint without
    credentials (:func:`public_url`), says what it answered (status and a short excerpt of
    the body) and has the key redacted.
    """
    where = public_url(url, key)
    body = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    error = ""
    for attempt in range(max_retries + 1):
        if abort is not None and abort.is_set():
            raise RequestFailed("aborted")
        retry_after = None
        try:
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with OPENER.open(req, timeout=timeout_s) as resp:
                raw = resp.read()
            try:
                data = json.loads(raw.decode("utf-8"))
            except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
                raise ValueError(f"not JSON ({type(e).__name__}): {excerpt(raw, key)}") from None
            if not isinstance(data, dict):
                raise ValueError(f"not a JSON object: {excerpt(raw, key)}")
            return data
        except urllib.error.HTTPError as e:
            try:
                detail = e.read(EXCERPT_CHARS + 100)
            except Exception:  # noqa: BLE001 - the body is only for the message
                detail = b""
            finally:
                e.close()
            error = f"{where} answered HTTP {e.code}: {excerpt(detail, key)}"
            if e.code in (401, 403, 404) or 300 <= e.code < 400:
                raise fatal(error) from None
            if e.code not in (408, 429) and e.code < 500:
                raise RequestFailed(error) from None
            retry_after = retry_after_seconds(e.headers.get("Retry-After") if e.headers
                                              else None)
        except NETWORK_ERRORS as e:
            reason = getattr(e, "reason", None) or e
            error = redact(f"cannot reach {where}: {type(e).__name__}: {reason}", key)
        except ValueError as e:
            error = f"malformed reply from {where}: {e}"
        if attempt < max_retries:
            delay = backoff_delay(attempt, backoff_s, retry_after)
            if on_retry is not None:
                on_retry(f"{error} (attempt {attempt + 1} of {max_retries + 1}; "
                         f"waiting {delay:.2f} s)")
            (sleep or backoff_sleep)(delay)
    raise RequestFailed(f"{error} (gave up after {max_retries + 1} attempts)")


def chat_completions_url(base_url: str) -> str:
    """``base_url`` (an API root such as ``http://127.0.0.1:8000/v1``) with
    ``/chat/completions`` appended unless it is already there."""
    url = base_url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


class ChatClient:
    """One OpenAI-compatible endpoint: its URL, API key variable, retry policy and
    counters, and the concurrent request loop every caller uses (:meth:`map`).

    Args:
        base_url: the API root (see :func:`chat_completions_url`).
        api_key_env: environment variable holding the API key (unset: no header).
        timeout_s, max_retries, backoff_s: the retry policy of :func:`post_chat_completion`.
        concurrency: requests in flight at once in :meth:`map`.
        fatal: the error raised for a failure retrying will not fix (bad URL, key, model),
            and when every item of a :meth:`map` call failed.
        what: what one request is, for log lines (``judge request``).
        sleep: the wait between attempts (default :func:`backoff_sleep`; tests pass a fake).

    Counters (over the client's life; callers take differences): ``retries`` and
    ``failures`` (items without a usable reply, :meth:`fail`); ``last_error`` is the last
    failure's (redacted) message.
    """

    def __init__(self, base_url: str, *, api_key_env: str, timeout_s: float, max_retries: int,
                 backoff_s: float, concurrency: int, fatal: type[Exception] = XlrmError,
                 what: str = "request", sleep: Callable[[float], None] | None = None):
        self.url = chat_completions_url(base_url)
        self.api_key_env = api_key_env
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.concurrency, self.fatal, self.what = concurrency, fatal, what
        self.sleep = sleep
        self.retries = 0
        self.failures = 0
        self.last_error = ""
        self._lock = threading.Lock()
        self._abort = threading.Event()

    def settings(self) -> dict[str, Any]:
        """The request settings in effect, for :func:`xlrm.tracking.log_effective_config`:
        the URL without credentials (:func:`public_url`), the key's variable name and
        whether it is set, never the key."""
        key = self.key()
        return {"url": public_url(self.url, key), "api_key_env": self.api_key_env,
                "api_key_set": key is not None, "timeout_s": self.timeout_s,
                "max_retries": self.max_retries, "backoff_s": self.backoff_s,
                "concurrency": self.concurrency}

    def key(self) -> str | None:
        """The API key from the environment, or None (no ``Authorization`` header)."""
        return os.environ.get(self.api_key_env) or None

    def _retried(self, error: str) -> None:
        with self._lock:
            self.retries += 1
        log.info("retrying %s: %s", self.what, error)

    def fail(self, message: str) -> None:
        """Count one item without a usable reply (failed request, malformed reply, ...)."""
        with self._lock:
            self.failures += 1
            self.last_error = message
        log.warning("%s failed: %s", self.what, message)

    def post(self, payload: dict, key: str | None) -> dict:
        """One request with the retry policy; the parsed JSON reply. With a current
        :mod:`xlrm.journal`, a reply journaled by a killed run of the same stage is returned
        without a request, and every new reply is journaled.

        Raises:
            RequestFailed: this request failed for good (the caller counts it, :meth:`fail`).
            fatal: a failure retrying will not fix.
        """
        from xlrm import journal

        j = journal.current()
        unit = ("chat", journal.digest(payload))
        if j is not None and unit in j:  # answered before a kill: not paid for again
            return j.get(unit)
        data = post_chat_completion(self.url, payload, key, timeout_s=self.timeout_s,
                                    max_retries=self.max_retries, backoff_s=self.backoff_s,
                                    abort=self._abort, on_retry=self._retried, fatal=self.fatal,
                                    sleep=self.sleep)
        if j is not None:
            j.add(unit, data)
        return data

    def first_choice(self, payload: dict, key: str | None) -> dict | None:
        """The reply's first choice, or None (counted as a failure) when the request failed
        for good or the reply has no choices."""
        try:
            data = self.post(payload, key)
        except RequestFailed as e:
            self.fail(str(e))
            return None
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            self.fail(f"malformed reply from {self.where()}: no choices in "
                      f"{excerpt(json.dumps(data), key)}")
            return None
        return choice

    def where(self) -> str:
        """The endpoint's URL without credentials, for messages."""
        return public_url(self.url, self.key())

    def map(self, fn: Callable[[Any, str | None], T], items: Sequence[Any], *,
            progress: str = "%d/%d requests done", every: int = 200) -> list[T]:
        """``fn(item, key)`` for every item, :attr:`concurrency` at a time; results in order.

        ``progress`` is logged (with the count done and the total) every ``every`` items
        and at the end. A ``fatal`` error stops the call: requests in flight give up, those
        not started are cancelled, and the error is raised. When every item of the call
        failed (:meth:`fail`), raises ``fatal`` naming the URL and the last error.
        """
        key = self.key()
        failures_before = self.failures
        self._abort.clear()
        results: list[T] = []
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(fn, item, key) for item in items]
            try:
                for done, f in enumerate(futures, start=1):
                    results.append(f.result())
                    if done % every == 0 or done == len(futures):
                        log.info(progress, done, len(futures))
            except self.fatal:
                self._abort.set()
                for f in futures:
                    f.cancel()
                raise
        if results and self.failures - failures_before == len(results):
            raise self.fatal(f"all {len(results)} requests to {self.where()} failed; last error: "
                             f"{self.last_error}")
        return results

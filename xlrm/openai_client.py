"""A small client for OpenAI-compatible ``/v1/chat/completions`` endpoints (stdlib only).

Shared by the ``openai`` translation backend, the ``openai`` AlpacaEval judge and the
off-the-shelf generative RMs. The API key comes from the caller (read from an
environment variable there), is sent only as a Bearer header, and is redacted from
every message; redirects are refused so the header never travels to another host.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from xlrm.errors import XlrmError


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would resend the Authorization header to the new host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


OPENER = urllib.request.build_opener(NoRedirect)


class RequestFailed(Exception):
    """One request failed for good (only this item fails); the message is redacted."""


def post_chat_completion(url: str, payload: dict, key: str | None, *, timeout_s: float,
                         max_retries: int, backoff_s: float,
                         abort: threading.Event | None = None,
                         on_retry: Callable[[str], None] | None = None,
                         fatal: type[Exception] = XlrmError) -> dict:
    """POST one chat-completions request and return the parsed JSON reply.

    The same policy as :class:`xlrm.translation.OpenAIBackend` (its redirect-refusing
    opener and key redaction are reused): 429, 5xx, network errors and malformed JSON are
    retried with exponential backoff (``Retry-After`` wins); 401/403/404 and redirects
    raise :class:`JudgeError`; other 4xx fail this request only (:class:`RequestFailed`).
    Every message has the key redacted.
    """
    body = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    error = ""
    for attempt in range(max_retries + 1):
        if abort is not None and abort.is_set():
            raise RequestFailed("aborted")
        delay = backoff_s * 2**attempt * (1 + 0.25 * random.random())
        try:
            req = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with OPENER.open(req, timeout=timeout_s) as resp:
                data = json.loads(resp.read().decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("reply is not a JSON object")
            return data
        except urllib.error.HTTPError as e:
            try:
                detail = e.read(300).decode("utf-8", "replace")
            except Exception:  # noqa: BLE001 - the body is only for the message
                detail = ""
            finally:
                e.close()
            error = redact(f"HTTP {e.code} from {url}: {detail.strip()}", key)
            if e.code in (401, 403, 404) or 300 <= e.code < 400:
                raise fatal(error) from None
            if e.code != 429 and e.code < 500:
                raise RequestFailed(error) from None
            retry_after = e.headers.get("Retry-After") if e.headers else None
            if retry_after and retry_after.strip().replace(".", "", 1).isdigit():
                delay = min(float(retry_after), 300.0)
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            reason = getattr(e, "reason", e)
            error = redact(f"cannot reach {url}: {type(e).__name__}: {reason}", key)
        except ValueError as e:
            error = redact(f"malformed reply from {url}: {e}", key)
        if attempt < max_retries:
            if on_retry is not None:
                on_retry(error)
            time.sleep(delay)
    raise RequestFailed(error)

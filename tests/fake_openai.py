"""The one fake OpenAI-compatible server of the tests (judges, off-the-shelf judges and the
``openai`` translation backend all talk to it through :mod:`xlrm.openai_client`).

A real HTTP server on 127.0.0.1 (a free port) in a thread. ``tests/conftest.py`` exposes it
as the ``fake_openai`` fixture, a factory::

    def test_x(fake_openai):
        srv = fake_openai(lambda body: "A")                 # a handler of the request body
        srv = fake_openai(replies={"Hello": "Hola"})        # canned answers by user message
        srv = fake_openai(replies=["A", "B"])               # canned answers in turn (cycled)
        srv = fake_openai(handler, require_key="sk-...", fail_first=1)
        srv = fake_openai(handler, fail_first=2, fail_status=429,
                          fail_headers={"Retry-After": "7"})   # endpoints that fail
        srv = fake_openai(handler, drop_first=1)   # close the first connection unanswered
        ... srv.url ...  (the API root, ``http://127.0.0.1:PORT/v1``)
        srv.requests, srv.auth, srv.paths, srv.count

Every server the factory started is stopped when the test ends; ``srv.close()`` stops one
earlier (its URL then makes a dead endpoint).

What the server does with a request, in order:

- every request is recorded: ``paths`` (GET too), and for a POST its JSON body in
  ``requests`` and its ``Authorization`` header (or None) in ``auth``;
- ``POST /redirect/<path>`` answers ``302`` to ``/<path>`` (a client must not follow it);
  a GET (only a followed redirect sends one) and any path other than
  ``/v1/chat/completions`` answer ``404``;
- with ``require_key``, a request without ``Authorization: Bearer <key>`` answers ``401``
  and echoes the credential it got (as a careless server does: the client must redact);
- the first ``drop_first`` requests get no answer: the connection is closed (a dropped
  connection, as a crashing proxy does);
- the next ``fail_first`` requests answer ``fail_status`` (``503`` unless told) with the
  headers ``fail_headers`` (``Retry-After``, say);
- otherwise the handler's (or the canned) reply: a string is the assistant's text
  (:func:`chat_reply`), a dict the whole JSON reply (status 200), a ``(status, dict)``
  tuple an answer with that status, bytes a raw body (status 200, not JSON-encoded:
  malformed replies). A handler that sleeps makes a slow endpoint (client timeouts).
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | dict | tuple[int, dict] | bytes


def chat_reply(content: str, *, logprobs: dict | None = None,
               finish_reason: str = "stop") -> dict:
    """A chat-completions reply whose one choice says ``content``."""
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason,
                              "message": {"role": "assistant", "content": content}}
    if logprobs is not None:
        choice["logprobs"] = logprobs
    return {"choices": [choice]}


def token_logprobs(alternatives: Sequence[tuple[str, float]]) -> dict:
    """The ``logprobs`` of a reply's first token: the first of ``(token, probability)``
    ``alternatives`` is the token sent, all of them are its ``top_logprobs``."""
    token, p = alternatives[0]
    top = [{"token": t, "logprob": math.log(q)} for t, q in alternatives]
    return {"content": [{"token": token, "logprob": math.log(p), "top_logprobs": top}]}


def user_message(body: dict) -> str:
    """The last message's text of a request body."""
    return body["messages"][-1]["content"]


class FakeOpenAI:
    """See the module docstring. Args: ``handler`` (``body -> reply``), or ``replies``
    (a mapping from the last message's text to a reply, or a sequence served in turn),
    ``require_key``, ``fail_first``, ``fail_status``, ``fail_headers``, ``drop_first``."""

    def __init__(self, handler: Callable[[dict], Reply] | None = None, *,
                 replies: Mapping[str, Reply] | Sequence[Reply] | None = None,
                 require_key: str | None = None, fail_first: int = 0, fail_status: int = 503,
                 fail_headers: Mapping[str, str] | None = None, drop_first: int = 0):
        if (handler is None) == (replies is None):
            raise ValueError("pass a handler or canned replies")
        if replies is not None:
            handler = self._canned(replies)
        self.handler = handler
        self.require_key = require_key
        self.fail_first = fail_first
        self.fail_status, self.fail_headers = fail_status, dict(fail_headers or {})
        self.drop_first = drop_first
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._open = False

    @staticmethod
    def _canned(replies: Mapping[str, Reply] | Sequence[Reply]) -> Callable[[dict], Reply]:
        if isinstance(replies, Mapping):
            return lambda body: replies[user_message(body)]
        cycle = itertools.cycle(list(replies))
        lock = threading.Lock()

        def next_reply(body: dict) -> Reply:
            with lock:
                return next(cycle)

        return next_reply

    @property
    def count(self) -> int:
        """Requests received (POSTs, answered or refused)."""
        return len(self.requests)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        self._open = True
        return self

    def close(self) -> None:
        if self._open:
            self._open = False
            self.httpd.shutdown()
            self.httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _answer(self, path: str, body: dict, auth: str | None
                ) -> tuple[int, dict | bytes | None, dict[str, str]] | None:
        """(status, body: a dict sent as JSON, raw bytes or None; extra headers) for one POST;
        None: drop
        the connection unanswered."""
        if path.startswith("/redirect/"):
            return 302, None, {"Location": path[len("/redirect"):]}
        if path != "/v1/chat/completions":
            return 404, {"error": "not found"}, {}
        if self.require_key and auth != f"Bearer {self.require_key}":
            return 401, {"error": f"invalid credential {auth}"}, {}
        with self._lock:
            drop = self.drop_first > 0
            self.drop_first -= drop
            busy = not drop and self.fail_first > 0
            self.fail_first -= busy
        if drop:
            return None
        if busy:
            return self.fail_status, {"error": "busy"}, dict(self.fail_headers)
        reply = self.handler(body)
        if isinstance(reply, tuple):
            return reply[0], reply[1], {}
        if isinstance(reply, bytes):
            return 200, reply, {}
        return 200, chat_reply(reply) if isinstance(reply, str) else reply, {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # only a followed redirect sends one
                server.paths.append(self.path)
                self._send(404, {"error": "GET"}, {})

            def do_POST(self) -> None:
                server.paths.append(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization")
                server.requests.append(body)
                server.auth.append(auth)
                answer = server._answer(self.path, body, auth)
                if answer is None:
                    self.close_connection = True
                    return
                self._send(*answer)

            def _send(self, code: int, obj: dict | bytes | None, headers: dict[str, str]
                      ) -> None:
                data = (b"" if obj is None else obj if isinstance(obj, bytes)
                        else json.dumps(obj).encode())
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                if obj is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def fake_openai_factory():
    """The body of the ``fake_openai`` fixture: yields a factory of started servers and
    stops them all afterwards."""
    servers: list[FakeOpenAI] = []

    def start(handler: Callable[[dict], Reply] | None = None, **kwargs: Any) -> FakeOpenAI:
        srv = FakeOpenAI(handler, **kwargs).start()
        servers.append(srv)
        return srv

    try:
        yield start
    finally:
        for srv in servers:
            srv.close()

"""Endpoints that fail: the one HTTP path (:mod:`xlrm.openai_client`) against loopback
servers that fail on purpose (tests/fake_openai.py, plus a raw-socket server below for
answers http.server cannot give). Waits between attempts go through a fake sleep that
records them, so nothing here waits for real and no assertion reads the clock."""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from fake_openai import chat_reply, user_message
from xlrm import openai_client
from xlrm.errors import XlrmError
from xlrm.openai_client import (RETRY_AFTER_CAP_S, ChatClient, RequestFailed, backoff_delay,
                                post_chat_completion, retry_after_seconds)

PAYLOAD = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


class FakeSleep:
    """Records the waits instead of waiting."""

    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def naps(monkeypatch) -> FakeSleep:
    """Every wait between attempts, in this test, recorded instead of slept."""
    fake = FakeSleep()
    monkeypatch.setattr(openai_client, "backoff_sleep", fake)
    return fake


def post(url: str, *, key: str | None = None, retries: int = 3, timeout_s: float = 5.0,
         backoff_s: float = 1.0, sleep=None) -> dict:
    return post_chat_completion(url + "/chat/completions", PAYLOAD, key, timeout_s=timeout_s,
                                max_retries=retries, backoff_s=backoff_s, sleep=sleep)


# ---------------------------------------------------------------- the policy's pieces
def test_retry_after_seconds_and_http_date():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(" 2.5 ") == 2.5
    assert retry_after_seconds("-3") == 0.0
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds(date, now=now) == pytest.approx(30.0)
    assert retry_after_seconds(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    for junk in (None, "", "soon", "nan", "Fri, 99 Foo 2024"):
        assert retry_after_seconds(junk) is None


def test_backoff_is_exponential_with_jitter_and_capped():
    for attempt in range(4):
        waits = {backoff_delay(attempt, 0.5) for _ in range(50)}
        base = 0.5 * 2**attempt
        assert all(base <= w <= base * 1.25 for w in waits)
        assert len(waits) > 1  # jitter: not all the same
    assert backoff_delay(30, 1.0) <= openai_client.BACKOFF_CAP_S * 1.25
    assert backoff_delay(0, 1.0, retry_after=7.0) == 7.0
    assert backoff_delay(0, 1.0, retry_after=1e9) == RETRY_AFTER_CAP_S


# ---------------------------------------------------------------- one request
def test_429_with_retry_after_then_success(fake_openai):
    srv = fake_openai(lambda body: "ok", fail_first=2, fail_status=429,
                      fail_headers={"Retry-After": "7"})
    sleep = FakeSleep()
    data = post(srv.url, sleep=sleep)
    assert data["choices"][0]["message"]["content"] == "ok"
    assert srv.count == 3 and sleep.waits == [7.0, 7.0]


def test_429_with_an_http_date_retry_after_is_capped(fake_openai):
    far = email.utils.formatdate(time.time() + 10 * RETRY_AFTER_CAP_S, usegmt=True)
    srv = fake_openai(lambda body: "ok", fail_first=1, fail_status=429,
                      fail_headers={"Retry-After": far})
    sleep = FakeSleep()
    post(srv.url, sleep=sleep)
    assert sleep.waits == [RETRY_AFTER_CAP_S]


def test_503_several_times_then_success_backs_off(fake_openai):
    srv = fake_openai(lambda body: "ok", fail_first=3)
    sleep = FakeSleep()
    post(srv.url, retries=3, backoff_s=0.5, sleep=sleep)
    assert srv.count == 4 and len(sleep.waits) == 3
    for attempt, wait in enumerate(sleep.waits):
        assert 0.5 * 2**attempt <= wait <= 0.5 * 2**attempt * 1.25


def test_persistent_500_gives_a_clear_error_naming_url_and_status(fake_openai):
    srv = fake_openai(lambda body: (500, {"error": "the database is on fire"}))
    sleep = FakeSleep()
    with pytest.raises(RequestFailed) as info:
        post(srv.url, retries=2, sleep=sleep)
    msg = str(info.value)
    assert msg.startswith(f"{srv.url}/chat/completions answered HTTP 500: ")
    assert "the database is on fire" in msg and "gave up after 3 attempts" in msg
    assert srv.count == 3 and len(sleep.waits) == 2


def test_401_is_fatal_at_once(fake_openai):
    srv = fake_openai(lambda body: "ok", require_key="sk-right")
    sleep = FakeSleep()
    with pytest.raises(XlrmError) as info:
        post(srv.url, key="sk-wrong-1234", sleep=sleep)
    assert "HTTP 401" in str(info.value) and srv.url in str(info.value)
    assert "sk-wrong-1234" not in str(info.value)  # the server echoed it; redacted
    assert srv.count == 1 and sleep.waits == []


def test_other_4xx_fails_this_request_without_retrying(fake_openai):
    srv = fake_openai(lambda body: (400, {"error": "context too long"}))
    sleep = FakeSleep()
    with pytest.raises(RequestFailed, match="HTTP 400.*context too long"):
        post(srv.url, sleep=sleep)
    assert srv.count == 1 and sleep.waits == []


def test_timeout_is_retried(fake_openai):
    calls = []

    def slow_first(body):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.5)  # past the client's timeout
        return "ok"

    srv = fake_openai(slow_first)
    sleep = FakeSleep()
    data = post(srv.url, timeout_s=0.3, sleep=sleep)
    assert data["choices"][0]["message"]["content"] == "ok"
    assert srv.count == 2 and len(sleep.waits) == 1


def test_dropped_connection_is_retried(fake_openai):
    srv = fake_openai(lambda body: "ok", drop_first=2)
    sleep = FakeSleep()
    assert post(srv.url, sleep=sleep)["choices"][0]["message"]["content"] == "ok"
    assert srv.count == 3 and len(sleep.waits) == 2


def test_malformed_json_is_retried_then_a_clear_error(fake_openai):
    replies = iter([b"<html>502 Bad Gateway</html>", b'{"choices": [', b"[1, 2]"])
    srv = fake_openai(lambda body: next(replies, "ok"))
    sleep = FakeSleep()
    assert post(srv.url, sleep=sleep)["choices"][0]["message"]["content"] == "ok"
    assert srv.count == 4 and len(sleep.waits) == 3

    srv = fake_openai(lambda body: b"<html>502 Bad Gateway</html>")
    with pytest.raises(RequestFailed) as info:
        post(srv.url, retries=1, sleep=FakeSleep())
    msg = str(info.value)
    assert msg.startswith(f"malformed reply from {srv.url}/chat/completions: not JSON")
    assert "502 Bad Gateway" in msg


# ---------------------------------------------------------------- a raw-socket server
class RawServer:
    """A loopback TCP server answering each connection with ``script[i]`` (bytes sent
    after the request was read, then the socket is closed): answers http.server will not
    give, such as a body cut short of its Content-Length."""

    def __init__(self, script: list[bytes]):
        self.script = list(script)
        self.hits = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._read_request(conn)
                answer = self.script[min(self.hits, len(self.script) - 1)]
                self.hits += 1
                conn.sendall(answer)

    @staticmethod
    def _read_request(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += conn.recv(4096)

    def close(self) -> None:
        self.sock.close()


def http_answer(body: bytes, *, length: int | None = None, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n"
            "Connection: close\r\n\r\n").encode() + body


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def start(script: list[bytes]) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_cut_short_and_garbage_answers_are_retried(raw_server):
    good = json.dumps(chat_reply("ok")).encode()
    srv = raw_server([http_answer(good[:10], length=len(good)),  # closed mid-body
                      b"",  # closed without an answer
                      b"SPDY/9 what\r\n\r\n",  # not HTTP
                      http_answer(good)])
    sleep = FakeSleep()
    assert post(srv.url, sleep=sleep)["choices"][0]["message"]["content"] == "ok"
    assert srv.hits == 4 and len(sleep.waits) == 3


def test_a_dead_endpoint_names_the_url(raw_server):
    srv = raw_server([b""])
    with pytest.raises(RequestFailed) as info:
        post(srv.url, retries=1, sleep=FakeSleep())
    assert f"cannot reach {srv.url}/chat/completions" in str(info.value)


# ---------------------------------------------------------------- ChatClient
def client(url: str, **kw) -> ChatClient:
    opts = dict(api_key_env="XLRM_TEST_HTTP_KEY", timeout_s=5, max_retries=2, backoff_s=0.5,
                concurrency=2, fatal=XlrmError)
    return ChatClient(url, **{**opts, **kw})


def test_empty_choices_and_odd_replies_are_failures_not_crashes(fake_openai, naps):
    odd = [{"choices": []}, {"choices": None}, {"choices": ["text"]}, {"id": "x"}, "fine"]
    srv = fake_openai(replies={str(i): r for i, r in enumerate(odd)})
    c = client(srv.url)
    got = c.map(lambda i, key: c.first_choice(
        {**PAYLOAD, "messages": [{"role": "user", "content": str(i)}]}, key), range(5))
    assert got[:4] == [None] * 4 and got[4]["message"]["content"] == "fine"
    assert c.failures == 4 and "no choices" in c.last_error and srv.url in c.last_error
    assert naps.waits == []  # a well-formed answer without choices is not retried

    srv = fake_openai(lambda body: {"choices": []})
    c = client(srv.url)
    with pytest.raises(XlrmError, match=rf"all 2 requests to {srv.url}.* failed.*no choices"):
        c.map(lambda i, key: c.first_choice(PAYLOAD, key), range(2))


def test_client_sleep_is_injectable(fake_openai):
    srv = fake_openai(lambda body: "ok", fail_first=1, fail_status=429,
                      fail_headers={"Retry-After": "3"})
    sleep = FakeSleep()
    c = client(srv.url, sleep=sleep)
    assert c.first_choice(PAYLOAD, None)["message"]["content"] == "ok"
    assert sleep.waits == [3.0] and c.retries == 1


# ---------------------------------------------------------------- each client, end to end
def test_translation_backend_against_failing_endpoints(fake_openai, naps, monkeypatch):
    from xlrm.sections import load_config
    from xlrm.translation.backends import TranslationError
    from xlrm.translation.config import TranslateConfig
    from xlrm.translation.rows import translate_rows

    monkeypatch.delenv("XLRM_TEST_KEY", raising=False)
    row = {"id": "a", "language": "en", "subset": "chat", "source": "test",
           "prompt": [{"role": "user", "content": "Hello there."}],
           "chosen": "Good answer.", "rejected": "Bad answer."}

    def cfg(url):
        return load_config(TranslateConfig, {
            "backend": "openai", "langid": False, "source_language": "en",
            "openai": {"base_url": url, "model": "mt", "api_key_env": "XLRM_TEST_KEY",
                       "backoff_s": 0.5, "max_retries": 3, "concurrency": 1,
                       "timeout_s": 5}}, "translate")

    srv = fake_openai(lambda body: "ES " + user_message(body), fail_first=2, fail_status=429,
                      fail_headers={"Retry-After": "4"}, drop_first=1)
    out, stats = translate_rows([row], "es", cfg(srv.url))
    assert out[0]["chosen"] == "ES Good answer." and stats["retries"] == 3
    assert naps.waits[1:3] == [4.0, 4.0]

    srv = fake_openai(lambda body: (502, {"error": "upstream gone"}))
    with pytest.raises(TranslationError) as info:
        translate_rows([row], "es", cfg(srv.url))
    assert srv.url in str(info.value) and "HTTP 502" in str(info.value)
    assert "upstream gone" in str(info.value)


def test_alpaca_judge_against_failing_endpoints(fake_openai, naps, monkeypatch):
    from xlrm.judges.base import JudgeError, make_judge
    from xlrm.judges.config import JudgeConfig
    from xlrm.sections import load_config

    monkeypatch.delenv("XLRM_TEST_KEY", raising=False)

    def cfg(url):
        return load_config(JudgeConfig, {"kind": "openai", "base_url": url, "model": "j",
                                         "api_key_env": "XLRM_TEST_KEY", "logprobs": False,
                                         "backoff_s": 0.5, "max_retries": 2,
                                         "concurrency": 1}, "eval_alpaca.judge")

    replies = iter([b"not json", {"choices": [{"message": "A"}]}])
    srv = fake_openai(lambda body: next(replies, "A"), fail_first=1)
    prefs, stats = make_judge(cfg(srv.url)).judge(["q1", "q2"], ["o1", "o2"], ["r1", "r2"])
    # concurrency 1, both orders: q1 (o1 as A) gets the 503, then not JSON, then a reply;
    # q2 (o2 as A) a malformed choice (counted unparseable); the other orders a reply
    assert srv.count == 2 + 4
    assert stats["retries"] == 2 and stats["unparseable"] == 1 and stats["from_text"] == 3

    srv = fake_openai(lambda body: "A", require_key="sk-other")
    with pytest.raises(JudgeError, match=rf"{srv.url}/chat/completions answered HTTP 401"):
        make_judge(cfg(srv.url)).judge(["q"], ["o"], ["r"])
    # a 401 is not retried; the other order's request may have started before it came back
    assert srv.count <= 2 and len(naps.waits) == 2


def test_offshelf_pair_judge_against_failing_endpoints(fake_openai, naps, monkeypatch):
    from xlrm.judges.base import JudgeError
    from xlrm.offshelf.config import JudgeSpec
    from xlrm.offshelf.pair_judges import judge_pairs, make_pair_judge
    from xlrm.sections import load_config

    monkeypatch.delenv("XLRM_TEST_KEY", raising=False)
    rows = [{"id": "p", "subset": "chat", "prompt": [{"role": "user", "content": "Q?"}],
             "chosen": "good", "rejected": "bad"}]

    def spec(url):
        return load_config(JudgeSpec, {"name": "oa", "kind": "openai", "base_url": url,
                                       "model": "j", "api_key_env": "XLRM_TEST_KEY",
                                       "logprobs": False, "backoff_s": 0.5, "max_retries": 2,
                                       "concurrency": 1}, "eval_offshelf.judges[oa]")

    srv = fake_openai(lambda body: "A", drop_first=1, fail_first=1)
    out, counts = judge_pairs(make_pair_judge(spec(srv.url)), rows, "en", "oa")
    assert counts["retries"] == 2 and counts["n_queries"] == 2
    assert out[0]["verdicts"] == ["chosen", "rejected"]

    srv = fake_openai(lambda body: (500, {"error": "boom"}))
    with pytest.raises(JudgeError) as info:
        judge_pairs(make_pair_judge(spec(srv.url)), rows, "en", "oa")
    assert f"all 2 requests to {srv.url}/chat/completions failed" in str(info.value)
    assert "HTTP 500" in str(info.value) and "boom" in str(info.value)


def test_every_http_client_goes_through_the_one_path():
    """No module but xlrm/openai_client.py opens HTTP connections itself (besides the MLflow
    server's health probe in xlrm/tracking.py, which talks to no model endpoint)."""
    root = Path(__file__).resolve().parents[1]
    allowed = {"openai_client.py", "tracking.py"}
    words = ("urllib.request", "http.client", "import requests", "import httpx",
             "import aiohttp", "from openai", "import openai\n", "socket.")
    offenders = [f"{p.relative_to(root)}: {w}" for p in sorted((root / "xlrm").rglob("*.py"))
                 if p.name not in allowed
                 for w in words if w in p.read_text(encoding="utf-8")]
    assert offenders == []

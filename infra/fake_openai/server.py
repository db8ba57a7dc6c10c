"""The fake's HTTP server: ``POST /v1/responses`` on a loopback port, answered as JSON or as Server-Sent Events."""

from __future__ import annotations

import json
import logging
import select
import socket
import sys
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from infra.fake_openai.faults import Faults
from infra.fake_openai.payloads import Answer, Event, error_body
from infra.fake_openai.replies import FakeReply, RecordedRequest, demo_reply, is_structured

log = logging.getLogger("infra.fake_openai")

HOLD_LIMIT_SECONDS = 30.0
# How often an answer that waits (a slow start, a paced or held token) looks whether its caller is still there.
WATCH_INTERVAL_SECONDS = 0.01
# stop() returns once the serving loop next looks at its flag; the stdlib's 0.5 s made every test that stops a
# fake wait about a quarter of a second for nothing.
STOP_POLL_SECONDS = 0.01


class CallerLeft(ConnectionError):
    """The caller closed or reset its connection while the fake waited to write."""


class FakeOpenAI:
    """A threaded HTTP server on 127.0.0.1 imitating ``POST /v1/responses``.

    required_key: when set, requests with another bearer token get 401, like a revoked key.
    pace_words_per_second: the demo answer streams a word at a time at this pace (a person watching the page
    sees it being written); None streams it as fast as the socket allows, as tests want.
    faults: draw faults at random for requests that have no scripted reply.
    """

    def __init__(
        self,
        port: int = 0,
        required_key: str | None = None,
        host: str = "127.0.0.1",
        *,
        pace_words_per_second: float | None = None,
        faults: Faults | None = None,
    ) -> None:
        if pace_words_per_second is not None and pace_words_per_second <= 0:
            raise ValueError(f"pace_words_per_second must be positive, not {pace_words_per_second}")
        # host: `sam local` containers reach the fake on the docker bridge gateway (172.17.0.1), not loopback.
        self.host = host
        self.required_key = required_key
        self.pace_words_per_second = pace_words_per_second
        self.faults = faults
        self.requests: list[RecordedRequest] = []
        self._replies: deque[FakeReply] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": STOP_POLL_SECONDS},
            name="fake-openai",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def enqueue(self, *replies: FakeReply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        """Forget scripted replies not yet used and the requests received, between tests."""
        with self._lock:
            self._replies.clear()
            self.requests.clear()

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a serving loop, forever if none ever ran
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_reply(self, body: dict[str, Any]) -> tuple[FakeReply, str | None]:
        """The scripted reply first in line, else the demo's answer, with the fault drawn for it if any."""
        with self._lock:
            if self._replies:
                return self._replies.popleft(), None
        reply = demo_reply(body, self.pace_words_per_second)
        faults = self.faults
        fault = faults.draw(is_structured(body)) if faults is not None else None
        if faults is None or fault is None:
            return reply, None
        return faults.inflict(fault, reply), fault

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Whether ``count`` requests in all have arrived within ``timeout`` seconds (a held one included)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    def _record(self, request: RecordedRequest) -> None:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeOpenAI) -> None:
        super().__init__(address, _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a caller that hangs up is a normal event
            log.debug("caller %s left", client_address)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle each answer would stall ~40 ms on loopback.
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeOpenAI:
        return cast(_Server, self.server).fake

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Quiet: tests read ``fake.requests``; the command line logs each request with its fault."""

    def do_POST(self) -> None:
        body = self._read_json_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        recorded = RecordedRequest(self.path, headers, body, client_port=self.client_address[1])
        self.fake._record(recorded)
        try:
            self._answer(body, recorded)
        except ConnectionError:  # closed or reset, while waiting or while writing: the caller left
            recorded.client_gone = True
            self.close_connection = True
        finally:
            recorded.finished.set()

    def _read_json_body(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return body if isinstance(body, dict) else {}

    def _answer(self, body: dict[str, Any], recorded: RecordedRequest) -> None:
        if self.path.rstrip("/") != "/v1/responses":
            message = f"the fake serves only POST /v1/responses, not {self.path}"
            self._send_json(404, error_body(404, message, "not_found"))
            return
        required_key = self.fake.required_key
        if required_key is not None and self.headers.get("authorization") != f"Bearer {required_key}":
            self._send_json(401, error_body(401, "Incorrect API key provided.", "invalid_api_key"))
            return
        reply, recorded.fault = self.fake._next_reply(body)
        streaming = bool(body.get("stream"))
        log.info(
            "%s %s: %s",
            "stream" if streaming else "json",
            self.path,
            f"fault {recorded.fault}" if recorded.fault else "answered",
        )
        if reply.delay_seconds:
            self._pause(reply.delay_seconds)  # the fault being simulated is a slow upstream
        if reply.hold is not None:
            self._pause(HOLD_LIMIT_SECONDS, until=reply.hold)
        if reply.status != 200:
            self._send_json(
                reply.status, error_body(reply.status, reply.error_message, reply.error_code), reply.headers
            )
            return
        answer = Answer(body, reply)
        if streaming:
            self._stream(answer, recorded)
        else:
            self._send_json(200, answer.final_response(), reply.headers, drop=reply.drop_after_tokens is not None)

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None, *, drop: bool = False
    ) -> None:
        """Send ``payload``; with ``drop``, close the connection halfway through it."""
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if drop:
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self.wfile.write(data)

    def _stream(self, answer: Answer, recorded: RecordedRequest) -> None:
        reply = answer.reply
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for event in answer.opening_events():
            self._send_event(event)
        last = len(answer.deltas) - 1
        for index, delta in enumerate(answer.deltas):
            if reply.drop_after_tokens is not None and index >= reply.drop_after_tokens:
                self.wfile.write(b"40\r\nevent: response.output_text.delta\n")  # a chunk cut short
                self.close_connection = True
                return
            if reply.hold_last_token is not None and index == last:
                self._pause(HOLD_LIMIT_SECONDS, until=reply.hold_last_token)
            elif reply.token_delay_seconds and index:
                self._pause(reply.token_delay_seconds)  # the pace of a simulated model
            self._send_event(answer.delta_event(delta))
            if recorded.first_delta_at is None:
                recorded.first_delta_at = time.perf_counter()
        for event in answer.closing_events():
            self._send_event(event)
        if reply.hold_body_end is not None:
            self._pause(HOLD_LIMIT_SECONDS, until=reply.hold_body_end)
        self._chunk(b"")

    def _pause(self, seconds: float, until: threading.Event | None = None) -> None:
        """Wait ``seconds``, or until ``until`` is set; raise CallerLeft as soon as the caller hangs up."""
        release = until or threading.Event()
        deadline = time.monotonic() + seconds
        while not release.wait(max(0.0, min(WATCH_INTERVAL_SECONDS, deadline - time.monotonic()))):
            if self._caller_left():
                raise CallerLeft
            if time.monotonic() >= deadline:
                return

    def _caller_left(self) -> bool:
        """The caller has closed its connection (end of file) or reset it; a reset is leaving too."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except ConnectionError:
            return True

    def _send_event(self, event: Event) -> None:
        self._chunk(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

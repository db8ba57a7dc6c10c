"""A fake OpenAI Responses API on a loopback port, shared by the tests, the local emulator and the benchmark.

It speaks ``POST /v1/responses`` both as JSON and as Server-Sent Events with the event names the real API
uses, so the official SDK talks to it unchanged over a real socket.

Usage::

    with FakeOpenAI() as fake:
        client = OpenAI(base_url=fake.base_url, api_key="sk-test")
        fake.enqueue(FakeReply(status=429, headers={"retry-after": "1"}))   # next request only
        ...
        fake.requests[-1].body   # what the SDK sent

Requests take scripted replies from the queue in order; when the queue is empty the fake answers like an
offline demo model: structured outputs get schema-valid data derived from the input, free text gets a
short canned answer that quotes the last user message.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEMO_MODEL = "fake-demo-model"
HOLD_LIMIT_SECONDS = 30.0


@dataclass
class FakeReply:
    """One scripted answer. Every field is optional; the defaults give a normal, successful answer.

    status / headers / error_message: a non-200 answer with OpenAI's error body.
    text: the answer text (free text); tokens: the exact deltas to stream instead of splitting ``text``.
    output: an object serialised as the structured output; raw_output_text: literal output text
    (for output that breaks the schema).
    refusal: the model refuses with this message.
    delay_seconds: wait before sending the response headers (a slow upstream).
    hold_last_token: streaming only: send every delta but the last, then wait for this event.
    drop_after_tokens: streaming only: close the connection after this many deltas, mid-chunk.
    token_delay_seconds: streaming only: pause between deltas.
    incomplete: the answer stops with status "incomplete", reason "max_output_tokens".
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "scripted failure"
    text: str | None = None
    tokens: list[str] | None = None
    output: dict[str, Any] | None = None
    raw_output_text: str | None = None
    refusal: str | None = None
    delay_seconds: float = 0.0
    hold_last_token: threading.Event | None = None
    drop_after_tokens: int | None = None
    token_delay_seconds: float = 0.0
    incomplete: bool = False


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    first_delta_at: float | None = None
    """``time.perf_counter()`` when the first text delta was written (streaming only)."""
    client_gone: bool = False
    """The caller closed the connection while the fake held the last token back."""
    finished: threading.Event = field(default_factory=threading.Event)
    """Set when the fake has written its whole answer, or given up on a caller that left."""


class FakeOpenAI:
    """A threaded HTTP server on 127.0.0.1 imitating ``POST /v1/responses``."""

    def __init__(self, port: int = 0, required_key: str | None = None, host: str = "127.0.0.1") -> None:
        # host: `sam local` containers reach the fake on the docker bridge gateway (172.17.0.1), not loopback.
        self.host = host
        self.required_key = required_key
        """When set, requests with another bearer token get 401, like a revoked key."""
        self.requests: list[RecordedRequest] = []
        self._replies: deque[FakeReply] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

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
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_reply(self, body: dict[str, Any]) -> FakeReply:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        return demo_reply(body)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def demo_reply(body: dict[str, Any]) -> FakeReply:
    """What the offline demo model answers: plausible, schema-valid, and clearly fake."""
    user_text = _last_user_text(body)
    text_format = (body.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        return FakeReply(output=_demo_structured_output(text_format.get("schema") or {}, user_text))
    quoted = user_text if len(user_text) <= 200 else user_text[:200] + "…"
    return FakeReply(
        text=(
            "This is the offline demo model, so this answer is canned. "
            f'You said: "{quoted}". Set OPENAI_API_KEY in .env to talk to a real model.'
        )
    )


def _last_user_text(body: dict[str, Any]) -> str:
    items = body.get("input")
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return " ".join(part.get("text", "") for part in content or [])
    return ""


def _demo_structured_output(schema: dict[str, Any], user_text: str) -> dict[str, Any]:
    properties = schema.get("properties", {})
    if "bullets" in properties:
        limit = properties["bullets"].get("maxItems", 3)
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", user_text) if s.strip()]
        return {"bullets": sentences[:limit] or ["(empty)"]}
    if "priority" in properties:
        title = user_text.strip().splitlines()[0][:80] if user_text.strip() else "Untitled"
        return {"title": title, "due_date": date.today().isoformat() if "today" in user_text else None, "priority": 3}
    return {name: None for name in properties}


def _split_tokens(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text) or [text]


def _usage(body: dict[str, Any], output_text: str) -> dict[str, Any]:
    input_tokens = max(1, len(json.dumps(body.get("input", ""))) // 4)
    output_tokens = max(1, len(output_text) // 4)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


class _Answer:
    """The pieces of one Responses API answer, rendered either as JSON or as an SSE event sequence."""

    def __init__(self, body: dict[str, Any], reply: FakeReply) -> None:
        self.body = body
        self.reply = reply
        self.response_id = f"resp_{uuid.uuid4().hex}"
        self.item_id = f"msg_{uuid.uuid4().hex}"
        self.model = body.get("model") or DEMO_MODEL
        if reply.refusal is not None:
            self.part_type, self.full_text = "refusal", reply.refusal
        elif reply.raw_output_text is not None:
            self.part_type, self.full_text = "output_text", reply.raw_output_text
        elif reply.output is not None:
            self.part_type, self.full_text = "output_text", json.dumps(reply.output)
        else:
            self.part_type = "output_text"
            self.full_text = "".join(reply.tokens) if reply.tokens is not None else (reply.text or "")
        self.tokens = reply.tokens if reply.tokens is not None else _split_tokens(self.full_text)

    def content_part(self, text: str) -> dict[str, Any]:
        if self.part_type == "refusal":
            return {"type": "refusal", "refusal": text}
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def message(self, text: str, status: str) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [self.content_part(text)],
        }

    def response(self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
        incomplete = status == "incomplete"
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "model": self.model,
            "output": output,
            "usage": usage,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "instructions": self.body.get("instructions"),
            "max_output_tokens": self.body.get("max_output_tokens"),
            "parallel_tool_calls": True,
            "temperature": 1.0,
            "top_p": 1.0,
            "tool_choice": "auto",
            "tools": [],
            "truncation": self.body.get("truncation", "disabled"),
            "store": self.body.get("store", True),
            "text": self.body.get("text") or {"format": {"type": "text"}},
            "metadata": {},
        }

    @property
    def final_status(self) -> str:
        return "incomplete" if self.reply.incomplete else "completed"

    def final_response(self) -> dict[str, Any]:
        return self.response(
            self.final_status,
            [self.message(self.full_text, self.final_status)],
            _usage(self.body, self.full_text),
        )


def _make_handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle each answer would stall ~40 ms on loopback.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            """Quiet: the tests read ``fake.requests`` instead."""

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {}
            recorded = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            fake._record(recorded)
            try:
                self._answer(body, recorded)
            finally:
                recorded.finished.set()

        def _answer(self, body: dict[str, Any], recorded: RecordedRequest) -> None:
            if self.path.rstrip("/") != "/v1/responses":
                self._send_error(404, "not_found", f"the fake serves only POST /v1/responses, not {self.path}")
                return
            if fake.required_key is not None and self.headers.get("authorization") != f"Bearer {fake.required_key}":
                self._send_error(401, "invalid_api_key", "Incorrect API key provided.")
                return
            reply = fake._next_reply(body)
            if reply.delay_seconds:
                time.sleep(reply.delay_seconds)  # the fault being simulated is a slow upstream
            if reply.status != 200:
                self._send_error(reply.status, "scripted", reply.error_message, reply.headers)
                return
            answer = _Answer(body, reply)
            if body.get("stream"):
                self._stream(answer, recorded)
            else:
                self._send_json(200, answer.final_response(), reply.headers)

        def _send_error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
            error_type = "invalid_request_error" if status < 500 else "server_error"
            payload = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
            self._send_json(status, payload, headers or {})

        def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, answer: _Answer, recorded: RecordedRequest) -> None:
            reply = answer.reply
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            sequence = iter(range(1_000_000))

            def event(kind: str, **data: Any) -> None:
                payload = json.dumps({"type": kind, "sequence_number": next(sequence), **data})
                self._chunk(f"event: {kind}\ndata: {payload}\n\n".encode())

            delta_kind = "response.refusal.delta" if answer.part_type == "refusal" else "response.output_text.delta"
            event("response.created", response=answer.response("in_progress", [], None))
            event("response.in_progress", response=answer.response("in_progress", [], None))
            event(
                "response.output_item.added", output_index=0, item=answer.message("", "in_progress") | {"content": []}
            )
            event(
                "response.content_part.added",
                item_id=answer.item_id,
                output_index=0,
                content_index=0,
                part=answer.content_part(""),
            )
            for index, token in enumerate(answer.tokens):
                if reply.drop_after_tokens is not None and index >= reply.drop_after_tokens:
                    self.wfile.write(b"40\r\nevent: response.output_text.delta\n")  # a chunk cut short
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if reply.hold_last_token is not None and index == len(answer.tokens) - 1:
                    if not self._hold_while_caller_stays(reply.hold_last_token):
                        recorded.client_gone = True
                        self.close_connection = True
                        return
                elif reply.token_delay_seconds and index:
                    time.sleep(reply.token_delay_seconds)  # the pace of a simulated model
                extra = {} if answer.part_type == "refusal" else {"logprobs": []}
                event(delta_kind, item_id=answer.item_id, output_index=0, content_index=0, delta=token, **extra)
                if recorded.first_delta_at is None:
                    recorded.first_delta_at = time.perf_counter()
            if answer.part_type == "refusal":
                event(
                    "response.refusal.done",
                    item_id=answer.item_id,
                    output_index=0,
                    content_index=0,
                    refusal=answer.full_text,
                )
            else:
                event(
                    "response.output_text.done",
                    item_id=answer.item_id,
                    output_index=0,
                    content_index=0,
                    text=answer.full_text,
                    logprobs=[],
                )
            event(
                "response.content_part.done",
                item_id=answer.item_id,
                output_index=0,
                content_index=0,
                part=answer.content_part(answer.full_text),
            )
            event(
                "response.output_item.done", output_index=0, item=answer.message(answer.full_text, answer.final_status)
            )
            final_event = "response.incomplete" if reply.incomplete else "response.completed"
            event(final_event, response=answer.final_response())
            self._chunk(b"")

        def _hold_while_caller_stays(self, release: threading.Event) -> bool:
            """Wait for ``release``; False as soon as the caller closes its connection instead."""
            give_up_at = time.monotonic() + HOLD_LIMIT_SECONDS
            while not release.wait(0.01):
                readable, _, _ = select.select([self.connection], [], [], 0)
                if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                    return False
                if time.monotonic() > give_up_at:
                    return True
            return True

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler

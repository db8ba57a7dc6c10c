"""Helpers shared by the test suites: sample events and the canary key."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from llm_core.settings import Settings

EVENTS = Path(__file__).parent / "events"
SECRET_ID = "llm-endpoints/openai"
# A recognisable value that must never leave the function: every test checks logs and bodies for it.
CANARY_KEY = "sk-canary-7f3e9b2c41d84a6e9d0c5b1a2f3e4d5c"

# Every variable the functions' settings read: fixtures clear them all, whatever the developer's shell set.
SETTINGS_VARIABLES = [name.upper() for name in Settings.model_fields]

BASE_ENVIRONMENT = {
    "OPENAI_SECRET_ID": SECRET_ID,
    "OPENAI_MODEL": "gpt-5.4-mini",
    "MAX_INPUT_CHARS": "2000",
    "MAX_OUTPUT_TOKENS": "512",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "tests",
    "POWERTOOLS_METRICS_NAMESPACE": "LlmEndpointsTests",
    "POWERTOOLS_LOG_LEVEL": "DEBUG",
}


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def event_with_body(name: str, body: dict | str) -> dict:
    """A sample event with another JSON body."""
    event = load_event(name)
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def closed_port_url() -> str:
    """A loopback address nobody listens on: a connection there is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def call_stream_app(body: bytes, content_type: str, method: str) -> tuple[int, dict[str, str], bytes]:
    """One request to the stream's ASGI app, called directly (no server): its status, headers and body."""
    from handlers.stream import app

    headers = [(b"x-amzn-lambda-context", json.dumps({"request_id": "fuzz"}).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the caller stays until the answer is complete
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    from llm_core import model_client

    try:
        await app(scope, receive, send)
    finally:
        await model_client.get_async_client().close()  # its connections end with this loop, as a process's would
    start = next(message for message in sent if message["type"] == "http.response.start")
    response_headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    content = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], response_headers, content

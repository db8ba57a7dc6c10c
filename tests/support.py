"""Helpers shared by the test suites: sample events and the canary key."""

from __future__ import annotations

import json
import socket
from pathlib import Path

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
    "POWERTOOLS_TRACE_DISABLED": "true",
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

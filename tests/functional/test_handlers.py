"""The buffered handlers' module-level wiring, seen from outside their process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.emulator.server import BUFFERED_FUNCTIONS
from tests.support import BASE_ENVIRONMENT, event_with_body

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "eyJhbGciOiJSUzI1NiJ9.canary-token-3c9e1f.signature"
TEXT_MARKER = "private-text-8d41b7"
INVOKE = """
import json, sys
from types import SimpleNamespace
from handlers import {function}
context = SimpleNamespace(
    function_name="Function", function_version="$LATEST", memory_limit_in_mb=512, aws_request_id="request-1",
    invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:Function",
)
{function}.lambda_handler(json.load(open(sys.argv[1])), context)
"""


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_no_event_is_logged_even_when_powertools_is_told_to_log_events(function: str, tmp_path: Path) -> None:
    # The event holds the caller's sign-in token and their text; Powertools' switch would log it whole.
    event = event_with_body(f"function_url_{function}", {"text": TEXT_MARKER})
    event["headers"]["x-auth-token"] = TOKEN
    written = tmp_path / "event.json"
    written.write_text(json.dumps(event))
    environment = {
        **{name: value for name, value in os.environ.items() if name in {"PATH", "HOME", "SYSTEMROOT"}},
        **BASE_ENVIRONMENT,
        "POWERTOOLS_LOGGER_LOG_EVENT": "true",
        "PYTHONPATH": f"{ROOT / 'functions'}{os.pathsep}{ROOT}",
    }
    invoked = subprocess.run(
        [sys.executable, "-c", INVOKE.format(function=function), str(written)],
        capture_output=True, text=True, env=environment, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    output = invoked.stdout + invoked.stderr
    assert '"function_request_id":"request-1"' in output  # the handler ran and logged
    assert TOKEN not in output
    assert TEXT_MARKER not in output

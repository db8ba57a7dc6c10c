"""Cold starts (llm_core.cold_start): the garbage collector, off from a handler's first import, is on again once
the environment has made what lives as long as it does."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.emulator.server import BUFFERED_FUNCTIONS
from llm_core import cold_start

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
SETTINGS = {
    "OPENAI_SECRET_ID": "s",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "t",
    "AWS_SECRET_ACCESS_KEY": "t",
}


@pytest.fixture
def collector_restored():
    yield
    gc.unfreeze()
    gc.enable()


def test_resuming_turns_the_collector_back_on_with_what_was_made_frozen(collector_restored):
    gc.disable()
    cold_start.resume_garbage_collection()
    assert gc.isenabled() and gc.get_freeze_count() > 0


def test_resuming_does_nothing_once_the_collector_is_on(collector_restored):
    # A handler imported by an earlier test of this process may have frozen objects already.
    gc.enable()
    frozen = gc.get_freeze_count()
    cold_start.resume_garbage_collection()
    assert gc.get_freeze_count() == frozen


def run_fresh(code: str, pycache: Path) -> dict[str, object]:
    """``code`` in a fresh interpreter with the functions on the path, as Lambda runs a handler; its last
    printed line, as JSON. Bytecode goes to ``pycache``."""
    environment = {
        **{name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"},
        **SETTINGS,
        "PYTHONPATH": str(FUNCTIONS),
        "PYTHONPYCACHEPREFIX": str(pycache),
        "POWERTOOLS_METRICS_NAMESPACE": "Test",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


# What Lambda's runtime hands a handler, enough for a first invocation (a GET: refused, but served).
FIRST_INVOCATION = """
class Context:
    function_name, function_version, memory_limit_in_mb = "Function", "$LATEST", "512"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:Function"
    aws_request_id = "first"
    def get_remaining_time_in_millis(self):
        return 30_000
answer = handler.lambda_handler({"requestContext": {"http": {"method": "GET"}}}, Context())
"""


@pytest.mark.parametrize("handler", BUFFERED_FUNCTIONS)
def test_a_buffered_handler_collects_nothing_until_its_first_invocation_has_ended(handler, tmp_path):
    state = run_fresh(
        "import gc, importlib, importlib.util, json, py_compile\n"
        # The handler's own source is compiled before its first line can turn the collector off.
        f"py_compile.compile(importlib.util.find_spec('handlers.{handler}').origin)\n"
        "def collections(): return sum(generation['collections'] for generation in gc.get_stats())\n"
        "before = collections()\n"
        f"handler = importlib.import_module('handlers.{handler}')\n"
        "imported = gc.isenabled()\n"
        f"{FIRST_INVOCATION}"
        "state = {'collections': collections() - before, 'imported': imported, 'answered': answer['statusCode']}\n"
        "print(json.dumps({**state, 'after': gc.isenabled(), 'frozen': gc.get_freeze_count()}))",
        tmp_path,
    )
    assert state["answered"] == 405
    assert state["collections"] == 0 and state["imported"] is False
    assert state["after"] is True and state["frozen"] > 10_000


def test_the_stream_app_turns_the_collector_on_once_warmed_up_before_it_serves(tmp_path):
    state = run_fresh(
        "import gc, json\n"
        "from starlette.testclient import TestClient\n"
        "from handlers.stream import app\n"
        "imported = gc.isenabled()\n"
        "with TestClient(app) as client:\n"
        "    ready = client.get('/healthz').status_code\n"
        "    print(json.dumps({'imported': imported, 'serving': gc.isenabled(), 'ready': ready}))",
        tmp_path,
    )
    assert state == {"imported": False, "serving": True, "ready": 200}


def test_the_stream_app_turns_the_collector_on_even_when_its_rehearsal_fails(tmp_path):
    state = run_fresh(
        "import gc, json\n"
        "from starlette.testclient import TestClient\n"
        "import handlers.stream\n"
        "from llm_core import warm_up\n"
        "async def failing(): raise RuntimeError('rehearsal failed')\n"
        "warm_up.warm_up_streaming = failing\n"
        "try:\n"
        "    with TestClient(handlers.stream.app):\n"
        "        pass\n"
        "except RuntimeError as exc:\n"
        "    failure = str(exc)\n"
        "print(json.dumps({'failure': failure, 'on': gc.isenabled()}))",
        tmp_path,
    )
    assert state == {"failure": "rehearsal failed", "on": True}

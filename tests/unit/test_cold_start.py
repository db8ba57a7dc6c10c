"""Initialisation (llm_core.cold_start): the garbage collector, off during the imports, is on again after them."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_lambda_powertools import Logger

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


def test_initialise_turns_the_collector_back_on_with_what_was_loaded_frozen(environment, collector_restored):
    gc.disable()
    cold_start.initialise(Logger(service="test"))
    assert gc.isenabled() and gc.get_freeze_count() > 0


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


@pytest.mark.parametrize("handler", ["summarize", "todo"])
def test_a_buffered_handler_imports_without_collecting_and_leaves_the_collector_on(handler, tmp_path):
    state = run_fresh(
        "import gc, importlib, importlib.util, json, py_compile\n"
        # The handler's own source is compiled before its first line can turn the collector off.
        f"py_compile.compile(importlib.util.find_spec('handlers.{handler}').origin)\n"
        "def collections(): return sum(generation['collections'] for generation in gc.get_stats())\n"
        "before = collections()\n"
        f"importlib.import_module('handlers.{handler}')\n"
        "during = collections() - before\n"
        "print(json.dumps({'collections': during, 'on': gc.isenabled(), 'frozen': gc.get_freeze_count()}))",
        tmp_path,
    )
    assert state["collections"] == 0 and state["on"] is True and state["frozen"] > 10_000


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

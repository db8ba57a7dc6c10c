"""Work after the response: an invocation's deferred work runs on the registered extension's thread once the
invocation's work is over, and at once where no extension is registered."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aws_lambda_powertools import Logger

import llm_core
from infra.emulator.extensions_api import ExtensionsApi
from llm_core import after_response, cold_start

DEADLINE_SECONDS = 30


def begin(api: ExtensionsApi, request_id: str = "r-1") -> None:
    api.begin_invocation(request_id, int((time.time() + DEADLINE_SECONDS) * 1000))


def test_deferred_work_runs_at_once_without_an_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(after_response, "_extension", None)
    assert deferred_work_ran_at_once()


def test_deferred_work_waits_for_the_end_of_the_invocation(extensions: ExtensionsApi) -> None:
    ran: list[str] = []
    begin(extensions)
    with after_response.invocation():
        after_response.defer(lambda: ran.append("work"))
        ran.append("response")
    assert extensions.wait_until_done(timeout=DEADLINE_SECONDS)
    assert ran == ["response", "work"]


def test_deferred_work_runs_on_the_extensions_thread(extensions: ExtensionsApi) -> None:
    threads: list[str] = []
    begin(extensions)
    with after_response.invocation():
        after_response.defer(lambda: threads.append(threading.current_thread().name))
    assert extensions.wait_until_done(timeout=DEADLINE_SECONDS)
    assert threads == ["after-response"]


def test_work_that_fails_is_logged_and_the_next_invocations_work_still_runs(
    extensions: ExtensionsApi, caplog: pytest.LogCaptureFixture
) -> None:
    def fail() -> None:
        raise RuntimeError("the table went away")

    ran: list[str] = []
    for request_id, work in (("r-1", fail), ("r-2", lambda: ran.append("second"))):
        begin(extensions, request_id)
        with after_response.invocation():
            after_response.defer(work)
        assert extensions.wait_until_done(timeout=DEADLINE_SECONDS)
    assert ran == ["second"]
    assert "work after the response failed" in caplog.text


def deferred_work_ran_at_once() -> bool:
    ran: list[str] = []
    with after_response.invocation():
        after_response.defer(lambda: ran.append("work"))
        return ran == ["work"]


def test_an_extensions_api_that_refuses_the_registration_leaves_work_to_run_at_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    api = ExtensionsApi("function")
    api.end_init()  # Init is over: Lambda takes no registration now
    monkeypatch.setattr(after_response, "_extension", None)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
    after_response.start_extension()
    assert deferred_work_ran_at_once()
    api.close()
    assert "refused the registration" in caplog.text


def test_a_snapstart_init_registers_no_extension_and_work_runs_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    api = ExtensionsApi("function")
    monkeypatch.setattr(after_response, "_extension", None)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    after_response.start_extension()
    api.end_init()
    assert deferred_work_ran_at_once()
    api.close()
    assert not api.registered


class RefusingExtensionsApi:
    """A Lambda Extensions API that registers the extension, then fails its next call: what it is told comes
    next is recorded."""

    def __init__(self) -> None:
        self.reported = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.endswith("/exit/error"):
                    api.reported.set()
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200 if self.path.endswith("/register") else 202)
                self.send_header("Lambda-Extension-Identifier", "extension-1")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_failed_next_call_is_reported_so_lambda_resets_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    api = RefusingExtensionsApi()
    monkeypatch.setattr(after_response, "_extension", None)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", f"127.0.0.1:{api.server.server_address[1]}")
    after_response.start_extension()
    try:
        assert api.reported.wait(timeout=DEADLINE_SECONDS)
    finally:
        api.server.shutdown()
        api.server.server_close()


@pytest.mark.parametrize(("per_user", "registered"), [("0", False), ("1000", True)])
def test_a_buffered_cold_start_registers_the_extension_only_when_a_cap_is_set(
    environment, monkeypatch: pytest.MonkeyPatch, per_user: str, registered: bool
) -> None:
    api = ExtensionsApi("function")
    monkeypatch.setattr(after_response, "_extension", None)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
    monkeypatch.setenv("DAILY_TOKENS_PER_USER", per_user)
    monkeypatch.setenv("DAILY_TOKENS_TOTAL", "0")
    monkeypatch.setenv("BUDGET_TABLE_NAME", "budgets")
    llm_core.reset_caches()
    cold_start.initialise(Logger())
    api.end_init()
    api.close()
    assert api.registered == registered

"""Work after the response: an invocation's deferred work runs on the registered extension's thread once the
invocation's work is over, and at once where no extension is registered."""

from __future__ import annotations

import threading
import time

import pytest

from infra.emulator.extensions_api import ExtensionsApi
from llm_core import after_response

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

"""Work a buffered function does after its response has gone: the budget's settlement.

Lambda hands a buffered function's response to the caller as soon as the runtime posts it, but keeps the
execution environment running, and sends it no other invocation, until every extension registered with the
Extensions API has asked for its next event. At cold start, when the function has a daily cap to settle
(cold_start.py), this module registers an internal extension (a thread of the function's own process,
docs/architecture.md); work deferred during an invocation runs on that thread once the handler has returned,
so the caller does not wait for it, and is done before the environment takes its next invocation or is frozen.

    start_extension()                  # at import, during Lambda's Init phase
    @after_the_response                # outermost, around the handler and its logging and metrics
    def lambda_handler(event, context):
        ...
        defer(settle)                  # runs after the response; at once where no extension is registered

Where no extension is registered (no daily cap, a test calling the handler, the stream function's app, a
failed registration, SnapStart) deferred work runs at once, where it is deferred. Should the Extensions API fail
later, the extension reports it (exit/error) and Lambda resets the environment; the next one registers anew.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from http.client import HTTPConnection, HTTPException, HTTPMessage
from typing import Any, ParamSpec, TypeVar

from llm_core.observability import logger
from llm_core.snapstart import initialising_a_snapshot
from llm_core.timeouts import EXTENSIONS_API_TIMEOUT_SECONDS

EXTENSIONS_API_VERSION = "2020-01-01"
EXTENSION_NAME = "llm-endpoints-after-response"
Work = Callable[[], None]
P = ParamSpec("P")
R = TypeVar("R")

_pending: ContextVar[list[Work] | None] = ContextVar("after_response_pending", default=None)
_extension: _Extension | None = None


class _Extension:
    """The registered extension: one thread, one invocation's work at a time."""

    def __init__(self, address: str, identifier: str) -> None:
        self._address = address
        self._identifier = identifier
        self._handoffs: queue.SimpleQueue[list[Work]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="after-response", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def hand_over(self, work: list[Work]) -> None:
        self._handoffs.put(work)

    def _serve(self) -> None:
        while True:
            # Asking for the next event tells Lambda this extension is done with the last one (or, the first
            # time, with its Init), and blocks until the next invocation starts.
            event = self._next_event()
            if event is None:
                # Lambda waits for a registered extension's next call until the function's timeout: say it
                # failed instead, so the environment is reset at once.
                self._report_exit_error()
                return
            deadline = float(event.get("deadlineMs", 0)) / 1000
            try:
                # The handler hands over exactly once per invocation, when it returns. One that never gets
                # that far (it timed out) hands over nothing: the wait ends with the invocation's time.
                work = self._handoffs.get(timeout=max(deadline - time.time(), 0.0))
            except queue.Empty:
                logger.warning("an invocation ended without handing over its after-response work")
                continue
            for item in work:
                _run(item)

    def _next_event(self) -> dict[str, Any] | None:
        try:
            # No timeout: the environment may be frozen for hours between two invocations, inside this call.
            status, _, body = _call(self._address, "GET", "event/next", self._identifier, timeout=None)
            if status != 200:
                logger.error("the Extensions API refused the next event", extra={"status": status})
                return None
            event: dict[str, Any] = json.loads(body)
            return event
        except (OSError, HTTPException, ValueError) as exc:
            logger.error("the Extensions API failed", extra={"error": type(exc).__name__})
            return None

    def _report_exit_error(self) -> None:
        try:
            _call(self._address, "POST", "exit/error", self._identifier)
        except (OSError, HTTPException) as exc:
            logger.error("the extension's failure could not be reported", extra={"error": type(exc).__name__})


def start_extension() -> None:
    """Register the extension with Lambda's Extensions API, if this process has one (AWS_LAMBDA_RUNTIME_API).
    Call once, during the Init phase: Lambda takes registrations only then. A failed registration is logged,
    and deferred work runs at once instead."""
    global _extension
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if _extension is not None or not address:
        return
    if initialising_a_snapshot():
        # Its next call would wait inside the snapshot, on a connection no restore is documented to keep (the
        # SnapStart hooks drop every other connection): untried on AWS, so SnapStart settles before answering.
        return
    try:
        status, headers, _ = _call(address, "POST", "register", body={"events": ["INVOKE"]})
    except (OSError, HTTPException) as exc:
        logger.warning("no Extensions API; work after the response runs before it", extra={"error": type(exc).__name__})
        return
    identifier = headers.get("Lambda-Extension-Identifier")
    if status != 200 or not identifier:
        logger.warning("the Extensions API refused the registration; work after the response runs before it",
                       extra={"status": status})  # fmt: skip
        return
    _extension = _Extension(address, identifier)
    _extension.start()


def _call(
    address: str,
    method: str,
    path: str,
    identifier: str | None = None,
    *,
    body: dict[str, Any] | None = None,
    timeout: float | None = EXTENSIONS_API_TIMEOUT_SECONDS,
) -> tuple[int, HTTPMessage, bytes]:
    """One call to the Extensions API: its status, headers and body."""
    headers = {"Content-Type": "application/json"}
    if identifier is not None:
        headers["Lambda-Extension-Identifier"] = identifier
    else:
        headers["Lambda-Extension-Name"] = EXTENSION_NAME
    connection = HTTPConnection(address, timeout=timeout)
    try:
        sent = json.dumps(body) if body is not None else None
        connection.request(method, f"/{EXTENSIONS_API_VERSION}/extension/{path}", body=sent, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def after_the_response(handler: Callable[P, R]) -> Callable[P, R]:
    """``handler``, with what it defers handed to the extension when it returns. Put it outside every other
    decorator: the extension's thread, once handed its work, contends for the interpreter with whatever this
    thread still does (Powertools writing the metrics, the runtime posting the response)."""

    @functools.wraps(handler)
    def handled(*args: P.args, **kwargs: P.kwargs) -> R:
        with invocation():
            return handler(*args, **kwargs)

    return handled


@contextmanager
def invocation() -> Iterator[None]:
    """Around one invocation's work: what is deferred inside runs after it, on the extension's thread."""
    extension = _extension
    if extension is None:
        yield
        return
    pending: list[Work] = []
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
        extension.hand_over(pending)


def defer(work: Work) -> None:
    """Run ``work`` after the response, or now when there is no invocation with an extension to run it."""
    pending = _pending.get()
    if pending is None:
        _run(work)
    else:
        pending.append(work)


def _run(work: Work) -> None:
    try:
        work()
    except Exception:  # the caller has its answer; what failed here must not take down the environment
        logger.exception("work after the response failed")

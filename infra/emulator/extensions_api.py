"""Lambda's Extensions API for the internal extensions of one execution environment, on a loopback port.

Lambda gives an extension register (during Init only), then next, which blocks until the next event and
tells Lambda the extension is done with the last one, and exit/error, after which Lambda resets the
environment. An invocation's response goes to the caller
as soon as the handler returns it; the environment takes no other invocation until every extension has asked
for its next event. The worker (worker.py) and the bench's warm runner run their handler between
``begin_invocation`` and ``wait_until_done``, and set AWS_LAMBDA_RUNTIME_API to ``address`` before the
handler's import so its extension registers here. Only INVOKE events: Lambda sends internal extensions no
SHUTDOWN.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2020-01-01/extension"


class _Registered:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.waiting = False
        self.failed = False


class ExtensionsApi:
    def __init__(self, function_name: str) -> None:
        self._function_name = function_name
        self._registered: dict[str, _Registered] = {}
        self._changed = threading.Condition()
        self._initialised = False
        self._closed = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                api._post(self)

            def do_GET(self) -> None:
                api._next(self)

            def log_message(self, *args: Any) -> None:
                """One access line per event would drown the function's own log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="extensions-api", daemon=True).start()

    @property
    def address(self) -> str:
        """AWS_LAMBDA_RUNTIME_API's value: host and port, no scheme."""
        port = self._server.server_address[1]
        return f"127.0.0.1:{port}"

    @property
    def registered(self) -> bool:
        return bool(self._registered)

    @property
    def failed(self) -> bool:
        """An extension reported an error (exit/error): Lambda resets such an environment."""
        return any(extension.failed for extension in self._registered.values())

    def end_init(self) -> None:
        """The handler's import is over: wait for each registered extension to ask for its first event, as
        Lambda ends Init only then; later registrations are refused."""
        with self._changed:
            self._initialised = True
            self._changed.wait_for(self._all_waiting)

    def begin_invocation(self, request_id: str, deadline_ms: int) -> None:
        event = {"eventType": "INVOKE", "requestId": request_id, "deadlineMs": deadline_ms}
        with self._changed:
            for extension in self._registered.values():
                extension.events.append(event)
            self._changed.notify_all()

    def wait_until_done(self, timeout: float | None = None) -> bool:
        """Wait until every extension has asked for its next event, or one has failed: the invocation is over.
        False when ``timeout`` seconds pass first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._all_waiting() or self.failed, timeout)

    def close(self) -> None:
        """Stop serving; a pending next call is answered 500, which tells its extension to exit."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def _all_waiting(self) -> bool:
        return all(extension.waiting and not extension.events for extension in self._registered.values())

    def _post(self, request: BaseHTTPRequestHandler) -> None:
        if request.path == f"{PREFIX}/exit/error":
            self._exit_error(request)
        else:
            self._register(request)

    def _exit_error(self, request: BaseHTTPRequestHandler) -> None:
        with self._changed:
            extension = self._registered.get(request.headers.get("Lambda-Extension-Identifier", ""))
            if extension is None:
                _reply(request, 403, _error("Extension.UnknownExtensionIdentifier", "register first"))
                return
            extension.failed = True
            self._changed.notify_all()
        _reply(request, 202, {"status": "OK"})

    def _register(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        try:
            events = json.loads(request.rfile.read(length)).get("events", [])
        except (ValueError, AttributeError):
            events = None
        name = request.headers.get("Lambda-Extension-Name")
        if request.path != f"{PREFIX}/register" or not name or not isinstance(events, list):
            _reply(request, 403, _error("Extension.InvalidExtensionName", "a name and a list of events, please"))
            return
        if any(event != "INVOKE" for event in events):
            _reply(request, 403, _error("Extension.InvalidEventType", "internal extensions get INVOKE events only"))
            return
        with self._changed:
            if self._initialised:
                _reply(request, 403, _error("Extension.RegistrationClosed", "extensions register during Init"))
                return
            identifier = str(uuid.uuid4())
            self._registered[identifier] = _Registered()
        body = {"functionName": self._function_name, "functionVersion": "$LATEST", "handler": ""}
        _reply(request, 200, body, {"Lambda-Extension-Identifier": identifier})

    def _next(self, request: BaseHTTPRequestHandler) -> None:
        identifier = request.headers.get("Lambda-Extension-Identifier", "")
        with self._changed:
            extension = self._registered.get(identifier)
            if request.path != f"{PREFIX}/event/next" or extension is None:
                _reply(request, 403, _error("Extension.UnknownExtensionIdentifier", "register first"))
                return
            extension.waiting = True
            self._changed.notify_all()
            self._changed.wait_for(lambda: bool(extension.events) or self._closed)
            if self._closed:
                _reply(request, 500, _error("Extension.Exit", "the environment is shutting down"))
                return
            event = extension.events.pop(0)
            extension.waiting = False
        _reply(request, 200, event, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})


def _error(error_type: str, message: str) -> dict[str, str]:
    return {"errorType": error_type, "errorMessage": message}


def _reply(
    request: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    request.send_response(status)
    for name, value in {
        "Content-Type": "application/json",
        "Content-Length": str(len(data)),
        **(headers or {}),
    }.items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(data)

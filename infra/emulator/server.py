"""The emulator's HTTP server: the page, ``/config.json`` and the three functions on one local origin, as
CloudFront serves them in production.

- ``/``: the files of ``static/``, with the security headers CloudFront adds.
- ``/config.json``: the page's limits and sign-in mode, from the values the functions run with.
- ``/oauth2/*``, ``/logout``, ``/<pool id>/.well-known/jwks.json`` (with sign-in only): the stand-in for
  Cognito's managed login and the key it signs tokens with (signin.py), so the page's login domain is this
  very origin.
- ``/api/summarize``, ``/api/todo``: each request becomes a Function URL event, invoked in an execution
  environment of the function (environments.py); the handler's result becomes the HTTP response.
- ``/api/stream``: passed to the web app in an environment of the streaming function, as the Lambda Web
  Adapter does, and streamed back chunk by chunk (web_adapter.py).
- any other ``/api/...`` path: 404 in the API's error envelope, naming the three endpoints.
- every ``/api/...`` path: 403 ``forbidden`` in the envelope for a request through another host name or from a
  page on another site (guard.py).

Two answers are Lambda's own rather than the functions': an event of 6 MB or more gets the function URL's 413
``{"Message": ...}`` (the one response without the API's envelope), and a function that crashes, times out or
fails its cold start gets 502 ``{"Message": "Internal Server Error"}``. One is the emulator's: Ctrl-C ends every
invocation under way with 503 ``unavailable`` in the envelope (an ``error`` event in a stream that has begun).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import re
import socket
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from infra.emulator.aws import BUDGET_TABLE, CREDENTIALS, SECRET_ID, MotoServer, create_local_budget_table, seed_secret
from infra.emulator.environments import (
    ENVIRONMENTS_PER_FUNCTION,
    EnvironmentFailed,
    EnvironmentPool,
    FunctionConfig,
    FunctionError,
    LogLine,
    LogSink,
    print_log_line,
)
from infra.emulator.errors import ConfigError
from infra.emulator.guard import ApiGuard
from infra.emulator.model import DEMO, ModelConfig, demo_model, resolve_model_config
from infra.emulator.runtime import (
    FUNCTION_ERROR_BODY,
    FUNCTION_ERROR_STATUS,
    MAX_REQUEST_BYTES,
    REGION,
    TOO_LARGE_BODY,
    LambdaContext,
    build_event,
    response_from_result,
    split_entry_point,
    too_large_for_lambda,
    web_adapter_headers,
)
from infra.emulator.signin import LocalSignIn, SignInStandIn, create_local_sign_in
from infra.emulator.template import FunctionSettings, read_template
from infra.emulator.web_adapter import AppUnreachable, Exchange, forwarded_headers
from infra.emulator.worker import INVOCATION_TOKEN_HEADER
from infra.fake_openai import FakeOpenAI
from llm_core.contract import json_text
from llm_core.errors import ApiError, ErrorResponse, Forbidden, NotConfigured, NotFound, Unavailable, error_response
from llm_core.page_config import page_config
from llm_core.settings import Settings, settings_from
from llm_core.streaming import StreamFormat

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_HEADER = ("x-llm-demo", "fake-model")
# The history of events kept for tests and for a person debugging: the latest ones, bodies cut short.
EVENT_HISTORY = 50
RECORDED_BODY_CHARS = 64 * 1024
STOPPING_MESSAGE = (
    "The local emulator is stopping (Ctrl-C), so this request was not finished: start it again and resend."
)


@dataclass(frozen=True)
class Function:
    """One function of the template, and where the emulator serves it."""

    route: str
    logical_id: str
    entry_point: str
    web_adapter: bool = False

    @property
    def path(self) -> str:
        return f"/api/{self.route}"

    @property
    def module(self) -> str:
        """The handler's module, which a function's process imports first."""
        return split_entry_point(self.entry_point)[0]


FUNCTIONS = (
    Function("summarize", "SummarizeFunction", "handlers.summarize.lambda_handler"),
    Function("todo", "TodoFunction", "handlers.todo.lambda_handler"),
    Function("stream", "StreamFunction", "handlers.stream:app", web_adapter=True),
)
# The functions Lambda runs buffered (a handler per invocation), as opposed to the stream's app behind the Web Adapter.
BUFFERED_FUNCTIONS = tuple(function.route for function in FUNCTIONS if not function.web_adapter)
ENDPOINTS = [f"POST {function.path}" for function in FUNCTIONS]
# The template's 404 for a path under /api/ says the same (tests/template/test_template_access.py).
NOT_FOUND_MESSAGE = (
    f"There is no endpoint at this path. The endpoints are {', '.join(ENDPOINTS[:-1])} and {ENDPOINTS[-1]}."
)

# Never passed on from the emulator's own environment: no function may reach a real AWS account or get the
# key any other way than from its secret.
WITHHELD_FROM_FUNCTIONS = frozenset(
    {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "OPENAI_API_KEY", "PYTHONPATH"}
)
# A function's identity: always the template's value, whatever the shell says.
FUNCTION_IDENTITY = frozenset({"POWERTOOLS_SERVICE_NAME"})
# One person on their own machine. Set whatever the shell says, so the functions never ask for a token that
# the page, told there is no sign-in, cannot send.
NO_SIGN_IN = {"ACCESS_MODE": "none"}


def function_environment(
    settings: FunctionSettings, shell: Mapping[str, str], wiring: Mapping[str, str]
) -> dict[str, str]:
    """A function's process environment: the shell's (a developer may tune a template variable there, say
    POWERTOOLS_LOG_LEVEL=DEBUG), the template's variables for this function, and the emulator's wiring."""
    environment = {name: value for name, value in shell.items() if name not in WITHHELD_FROM_FUNCTIONS}
    for name, value in settings.environment.items():
        if name in FUNCTION_IDENTITY or name not in shell:
            environment[name] = value
    environment.update(wiring)
    return environment


def max_input_chars(environments: Iterable[Mapping[str, str]]) -> int:
    """The longest input every function accepts, read as each function reads its settings. A function whose
    settings are invalid answers 503 to any input (the console warns about it), so its limit does not count."""
    limits = []
    for environment in environments:
        try:
            limits.append(settings_from(environment).max_input_chars)
        except NotConfigured:
            continue
    return min(limits, default=int(Settings.model_fields["max_input_chars"].default))


# RFC 3986's unreserved characters, which a URI may percent-encode or not and mean the same.
UNRESERVED = (string.ascii_letters + string.digits + "-._~").encode()


def without_query_string(record: logging.LogRecord) -> bool:
    """An access line without the query string, which may hold a sign-in code (``/?code=...``) or a token
    someone put in a URL; the line is kept."""
    if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
        record.args = (*record.args[:2], record.args[2].split("?", 1)[0], *record.args[3:])
    return True


def cloudfront_route(raw_path: bytes) -> str:
    """The path CloudFront matches against its behaviours: normalized as RFC 3986 (6.2.2) says, with the
    percent-encoded unreserved characters decoded and the dot segments removed. Anything else stays encoded, so
    "/api%2Fsummarize" is one segment, not the summarize endpoint."""

    def decoded(match: re.Match[bytes]) -> bytes:
        character = bytes.fromhex(match[1].decode())
        return character if character in UNRESERVED else match[0].upper()

    segments: list[bytes] = []
    parts = re.sub(rb"%([0-9A-Fa-f]{2})", decoded, raw_path).split(b"/")[1:]
    for index, segment in enumerate(parts):
        last = index == len(parts) - 1
        if segment in {b".", b".."}:
            if segment == b".." and segments:
                segments.pop()
            if last:
                segments.append(b"")  # "/api/." is "/api/", as a directory
        else:
            segments.append(segment)
    return "/" + b"/".join(segments).decode("latin-1")


def as_cloudfront_routes_it(scope: Scope) -> Scope:
    """The request as CloudFront matches it to a behaviour. A request line in absolute form (http://host/path, as a
    proxy sends it) is one every server must take (RFC 9112, 3.2.2) and uvicorn passes on whole: its authority,
    without any user name, stands for Host, which the guard then judges. An /api path is the one cloudfront_route
    gives, not uvicorn's decoded path, in which "%2F" is a slash."""
    if not scope["path"].startswith("/"):
        target = urlsplit((scope.get("raw_path") or scope["path"].encode()).decode("latin-1"))
        raw_path = target.path or "/"
        headers = [(name, value) for name, value in scope["headers"] if name.lower() != b"host"]
        headers.append((b"host", target.netloc.rpartition("@")[2].encode("latin-1")))
        scope = {**scope, "path": unquote(raw_path), "raw_path": raw_path.encode("latin-1"), "headers": headers}
    route = cloudfront_route(scope.get("raw_path") or scope["path"].encode())
    if is_api_path(route):
        scope = {**scope, "path": route, "raw_path": route.encode("latin-1")}
    return scope


def is_api_path(path: str) -> bool:
    """As CloudFront's /api* behaviours take it (template.yaml): the endpoints and the 404 for any other."""
    return re.sub("/+", "/", path).startswith("/api")


@dataclass(frozen=True)
class FunctionCall:
    """A request as one function invocation: the Function URL event, Lambda's request id, the raw body."""

    event: dict[str, Any]
    request_id: str
    body: bytes


class CallerLeft(Exception):
    """The caller hung up before its request was whole: a normal event, nothing to answer."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it exceeds ``limit``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise CallerLeft
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


# A whole response: status, headers, body.
WholeResponse = tuple[int, list[tuple[str, str]], bytes]


def _function_error(request_id: str) -> WholeResponse:
    """Lambda's answer when the function failed: its own body, no x-request-id (no function answered)."""
    return (
        FUNCTION_ERROR_STATUS,
        [("content-type", "application/json"), ("x-amzn-requestid", request_id)],
        FUNCTION_ERROR_BODY,
    )


def _stopping_error(request_id: str) -> ErrorResponse:
    return error_response(Unavailable(STOPPING_MESSAGE), request_id)


def _json_answer(error: ErrorResponse) -> WholeResponse:
    """An error of the API's table as the emulator itself answers it, in the envelope."""
    return error.status, [("content-type", "application/json"), *error.headers.items()], json_text(error.body).encode()


async def send_whole(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def with_headers(send: Send, headers: list[tuple[str, str]]) -> Send:
    """``send`` with ``headers`` on the response, in place of any the app set under the same names (as
    CloudFront's response headers policy overrides them)."""
    if not headers:
        return send
    encoded = [(name.encode(), value.encode()) for name, value in headers]
    replaced = {name.lower() for name, _ in encoded}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in replaced]
            message["headers"] = kept + encoded
        await send(message)

    return wrapped


class EmulatorApp:
    """The one ASGI app: static files, the page's config, the functions' environments."""

    def __init__(
        self,
        functions: Mapping[Function, EnvironmentPool],
        static_dir: Path,
        *,
        site_url: str,
        response_headers: list[tuple[str, str]],
        demo: bool,
        page: dict[str, Any],
        events: deque[dict[str, Any]],
        log_sink: LogSink,
        wait_until_warm: bool,
        login: SignInStandIn | None = None,
    ) -> None:
        self.wait_until_warm = wait_until_warm
        self.login = login
        self.guard = ApiGuard(site_url)
        self.functions = {function.path: (function, pool) for function, pool in functions.items()}
        self.response_headers = response_headers
        self.demo_headers = [DEMO_HEADER] if demo else []
        self.page = json.dumps(page).encode()
        self.events = events
        self.log_sink = log_sink
        # Inside a Starlette app, so a missing file is a plain 404 rather than an exception.
        self.static = Starlette(routes=[Mount("/", app=StaticFiles(directory=static_dir, html=True, check_dir=False))])
        # One Function URL id per function for the life of the server, like a deployed stack.
        self.url_ids = {function.route: uuid.uuid4().hex for function in functions}
        # The invocations under way, each cancelled when the emulator stops (stop_invocations).
        self._under_way: set[anyio.CancelScope] = set()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        scope = as_cloudfront_routes_it(scope)
        path = scope["path"]
        # Cognito's pages, not the site's: they carry their own headers, not CloudFront's.
        login_page = self.login if self.login is not None and path in self.login.paths else None
        # The page asks HEAD / on load, so it can show the demo banner before the first call.
        send = with_headers(send, self.demo_headers)
        if login_page is None:
            # CloudFront's response headers policy is on every behaviour, the /api* ones too (template.yaml).
            send = with_headers(send, self.response_headers)
        try:
            if is_api_path(path) and (refusal := self.guard.refusal(scope["headers"], self._local_address(scope))):
                await self._answer_error(send, Forbidden(refusal))
            elif path in self.functions:
                function, pool = self.functions[path]
                if function.web_adapter:
                    await self._invoke_web_app(function, pool, scope, receive, send)
                else:
                    await self._invoke(function, pool, scope, receive, send)
            elif is_api_path(path):
                await self._answer_error(send, NotFound(NOT_FOUND_MESSAGE))
            elif path == "/config.json" and scope["method"] in {"GET", "HEAD"}:
                headers = [("content-type", "application/json"), ("cache-control", "no-store")]
                await send_whole(send, 200, headers, self.page)
            elif login_page is not None:
                await login_page(scope, receive, send)
            elif (address := self._signed_in_address(scope)) is not None:
                await send_whole(send, 307, [("location", address), ("cache-control", "no-store")], b"")
            else:
                await self.static(scope, receive, send)
        except CallerLeft:
            pass

    @staticmethod
    def _local_address(scope: Scope) -> str | None:
        server = scope.get("server")
        return str(server[0]) if server else None

    def _signed_in_address(self, scope: Scope) -> str | None:
        """The page at the one address sign-in returns to, for a page opened at ``localhost`` instead: the pool
        knows only that callback, as Cognito would, and the browser keeps the sign-in per address."""
        if self.login is None or scope["method"] not in {"GET", "HEAD"}:
            return None
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        site = urlsplit(self.login.pool.redirect_uris[0])
        if urlsplit(f"//{host}").hostname != "localhost" or site.hostname == "localhost":
            return None
        query = scope["query_string"].decode("latin-1")
        # The path as it was sent, still percent-encoded: decoded, "%0D%0A" would end the header and "%E2%82%AC"
        # would not fit in it.
        path = scope.get("raw_path", scope["path"].encode("utf-8")).decode("latin-1")
        return f"{site.scheme}://{site.netloc}{path}" + (f"?{query}" if query else "")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loop = asyncio.get_running_loop()
                # One warm environment per function, so the first requests are as quick as the next ones.
                warming = [pool.start_warming() for _, pool in self.functions.values()]
                if self.wait_until_warm:
                    await asyncio.wait(warming)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def close(self) -> None:
        for _, pool in self.functions.values():
            await pool.close()

    def stop_invocations(self) -> None:
        """From any thread: end every invocation under way with a 503 (or, for a stream that has begun, an
        error in the stream), so stopping neither waits for slow model calls nor leaves uvicorn to cut them off
        with a bare 500 and a traceback."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._cancel_under_way)

    def _cancel_under_way(self) -> None:
        self._stopping = True
        for scope in self._under_way:
            scope.cancel()

    @contextmanager
    def _stoppable(self) -> Iterator[anyio.CancelScope]:
        """A scope around one invocation that stop_invocations cancels (at once, once the emulator is stopping)."""
        scope = anyio.CancelScope()
        if self._stopping:
            scope.cancel()
        self._under_way.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._under_way.discard(scope)

    def kill_environments(self) -> None:
        for _, pool in self.functions.values():
            pool.kill_all()

    async def _answer_error(self, send: Send, exc: ApiError) -> None:
        await send_whole(send, *_json_answer(error_response(exc, str(uuid.uuid4()))))

    async def _receive_call(
        self, function: Function, scope: Scope, receive: Receive, send: Send
    ) -> FunctionCall | None:
        """The invocation a request makes; None when Lambda refused it (413, already answered)."""
        body = await read_body(receive, MAX_REQUEST_BYTES)
        request_id = str(uuid.uuid4())
        if body is not None:
            event = build_event(scope, body, request_id=request_id, url_id=self.url_ids[function.route])
            if not too_large_for_lambda(event):
                self._record(event)
                return FunctionCall(event, request_id, body)
        # Lambda's own answer names its request id, though no function ran to add x-request-id.
        headers = [("content-type", "application/json"), ("x-amzn-requestid", request_id)]
        await send_whole(send, 413, headers, TOO_LARGE_BODY)
        return None

    def _record(self, event: dict[str, Any]) -> None:
        body = event.get("body")
        if isinstance(body, str) and len(body) > RECORDED_BODY_CHARS:
            event = {**event, "body": f"{body[:RECORDED_BODY_CHARS]}... [{len(body)} characters in all]"}
        self.events.append(event)

    def _log(self, function: Function, text: str) -> None:
        self.log_sink(LogLine(function.logical_id, text, stderr=True))

    async def _fail(self, send: Send, request_id: str) -> None:
        await send_whole(send, *_function_error(request_id))

    async def _invoke(
        self, function: Function, pool: EnvironmentPool, scope: Scope, receive: Receive, send: Send
    ) -> None:
        call = await self._receive_call(function, scope, receive, send)
        if call is None:
            return
        with self._stoppable() as stopped:
            answer = await self._run(function, pool, call)
        if stopped.cancelled_caught:
            answer = _json_answer(_stopping_error(call.request_id))
        await send_whole(send, *answer)

    async def _run(self, function: Function, pool: EnvironmentPool, call: FunctionCall) -> WholeResponse:
        """The answer to one invocation of a buffered function, as Lambda gives it."""
        event, request_id = call.event, call.request_id
        timeout = pool.function.timeout_seconds
        try:
            async with pool.environment() as environment:
                deadline_ms = int(time.time() * 1000 + timeout * 1000)
                with anyio.move_on_after(timeout) as timer:
                    result = await environment.invoke(event, request_id, deadline_ms)
                if timer.cancelled_caught:
                    environment.kill()  # Lambda ends a timed-out environment; the next one starts cold
                    self._log(function, f"{request_id} Task timed out after {timeout:.2f} seconds")
                    return _function_error(request_id)
        except FunctionError:
            return _function_error(request_id)  # the environment has logged the error
        except EnvironmentFailed as exc:
            self._log(function, f"{request_id} {exc}")
            return _function_error(request_id)
        try:
            status, headers, data = response_from_result(result)
        except (TypeError, ValueError, KeyError) as exc:
            self._log(function, f"{request_id} the handler's result is not a function URL response: {exc!r}")
            return _function_error(request_id)
        return status, [*headers, ("x-amzn-requestid", request_id)], data

    async def _invoke_web_app(
        self, function: Function, pool: EnvironmentPool, scope: Scope, receive: Receive, send: Send
    ) -> None:
        call = await self._receive_call(function, scope, receive, send)
        if call is None:
            return
        event, request_id = call.event, call.request_id
        settings = pool.function
        exchange = Exchange(send, [(b"x-amzn-requestid", request_id.encode())])
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        with self._stoppable() as stopped:
            try:
                async with pool.environment() as environment:
                    assert environment.port is not None and environment.token is not None
                    context = LambdaContext(
                        function.logical_id,
                        request_id,
                        timeout_seconds=settings.timeout_seconds,
                        memory_mb=settings.memory_mb,
                        log_stream=environment.log_stream,
                    )
                    # The token last: forwarded_headers drops a caller's header of the same name.
                    invocation_token = (INVOCATION_TOKEN_HEADER.encode(), environment.token.encode())
                    headers = forwarded_headers(event, [*web_adapter_headers(event, context), invocation_token])
                    with anyio.move_on_after(settings.timeout_seconds) as timer:
                        await exchange.forward(environment.port, scope["method"], target, headers, call.body, receive)
                    if timer.cancelled_caught:
                        environment.kill()
                        self._log(function, f"{request_id} Task timed out after {settings.timeout_seconds:.2f} seconds")
                        if exchange.started:
                            await exchange.end()
                        else:
                            await self._fail(send, request_id)
            except (EnvironmentFailed, AppUnreachable) as exc:
                self._log(function, f"{request_id} {exc}")
                if not exchange.started:
                    await self._fail(send, request_id)
        if stopped.cancelled_caught and not exchange.started:
            await send_whole(send, *_json_answer(_stopping_error(request_id)))
        elif stopped.cancelled_caught and not exchange.finished:
            # The stream ends as the function ends a failed one: with an error in the format the caller chose.
            # The Accept the app read: the event's, repeated headers joined.
            output = StreamFormat(str(event["headers"].get("accept", "")))
            await exchange.end(output.error(_stopping_error(request_id).body).encode())


class ThreadServer(uvicorn.Server):
    """uvicorn in a thread of its own, telling a waiting thread when it is listening (or has given up); the
    emulator and the tests that need a real socket serve with it."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()

    def install_signal_handlers(self) -> None:
        """The thread's owner handles signals (uvicorn would only warn off the main thread)."""


class Emulator:
    """The local server in a background thread; ready when ``start()`` (or ``__enter__``) returns.

    ``fake``: the fake model to answer (demo mode, whatever key the machine has); without one, the key comes
    from ``env_file`` or the environment, and with no key the emulator starts its own fake model.
    ``events``: the latest Function URL events the functions received (at most EVENT_HISTORY).
    ``log_sink``: where the functions' log lines go (the console by default).
    ``functions``: what to serve under ``/api/`` (tests serve handlers of their own).
    ``wait_until_warm``: whether ``start()`` also waits for one environment per function to finish its cold
    start (a test's first request is then as quick as the next; the command line shows its URL at once).
    ``sign_in``: the page and the functions sign people in as a deployed stack does, with a user pool in
    moto's Cognito and the stand-in for its login page on this server; ``self.sign_in`` then names the pool
    and the local user. Without it nobody signs in: every request is the caller ``local``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        fake: FakeOpenAI | None = None,
        static_dir: Path = REPO_ROOT / "static",
        *,
        env_file: Path | None = Path(".env"),
        template: Path = REPO_ROOT / "template.yaml",
        log_level: str = "warning",
        log_sink: LogSink = print_log_line,
        environments_per_function: int = ENVIRONMENTS_PER_FUNCTION,
        functions: Iterable[Function] = FUNCTIONS,
        wait_until_warm: bool = True,
        sign_in: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.fake = fake
        self.static_dir = Path(static_dir)
        self.env_file = env_file
        self.template = template
        self.log_level = log_level
        self.log_sink = log_sink
        self.environments_per_function = environments_per_function
        self._served = tuple(functions)
        self.wait_until_warm = wait_until_warm
        self._wants_sign_in = sign_in
        self.sign_in: LocalSignIn | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENT_HISTORY)
        self.model: ModelConfig | None = None
        self.moto: MotoServer | None = None
        self._configs: dict[str, FunctionConfig] = {}
        # What the emulator sets for every function, whatever the shell says (_wiring).
        self.wired: frozenset[str] = frozenset()
        self._owns_fake = False
        self._app: EmulatorApp | None = None
        self._server: ThreadServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        assert self._socket is not None, "start the emulator first"
        host, port = self._socket.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def demo(self) -> bool:
        return self.model is not None and self.model.demo

    def function_environment(self, route: str) -> dict[str, str]:
        """The process environment the function at ``/api/<route>`` runs with."""
        return dict(self._configs[route].environment)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Emulator:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        facts = read_template(self.template)
        # An explicit fake means demo mode, whatever key the machine has.
        self.model = DEMO if self.fake is not None else resolve_model_config(self.env_file)
        self._socket = self._bind()
        self.moto = MotoServer("127.0.0.1", 0).start()
        if self.model.demo and self.fake is None:
            self.fake = demo_model().start()
            self._owns_fake = True
        seed_secret(self.moto.url, SECRET_ID, self.model.api_key or "sk-local-demo-not-a-real-key")
        create_local_budget_table(self.moto.url)
        if self._wants_sign_in:
            # The pool comes back to this server's page, whose address is known now that it is bound.
            self.sign_in = create_local_sign_in(self.moto.url, self.url + "/", REGION)

        wiring = self._wiring()
        self.wired = frozenset(wiring)
        for function in self._served:
            settings = facts.function(function.logical_id)
            self._configs[function.route] = FunctionConfig(
                name=function.logical_id,
                entry_point=function.entry_point,
                web_adapter=function.web_adapter,
                timeout_seconds=settings.timeout_seconds,
                memory_mb=settings.memory_mb,
                environment=function_environment(settings, os.environ, wiring),
            )
        page = page_config(
            max_input_chars(config.environment for config in self._configs.values()),
            self.sign_in.page_auth() if self.sign_in else None,
        )
        pools = {
            function: EnvironmentPool(self._configs[function.route], self.log_sink, self.environments_per_function)
            for function in self._served
        }
        self._app = EmulatorApp(
            pools,
            self.static_dir,
            site_url=self.url,
            response_headers=facts.response_headers,
            demo=self.model.demo,
            page=page,
            events=self.events,
            log_sink=self.log_sink,
            wait_until_warm=self.wait_until_warm,
            login=self.sign_in.stand_in if self.sign_in else None,
        )
        config = uvicorn.Config(
            self._app,
            log_level=self.log_level,
            lifespan="on",
            proxy_headers=False,  # the event's sourceIp is the real peer
            timeout_graceful_shutdown=2,  # an open stream must not hold up Ctrl-C or a test's teardown
            ws="none",
        )
        # After the Config, which sets up uvicorn's loggers: the console's access lines keep no query string.
        logging.getLogger("uvicorn.access").addFilter(without_query_string)
        self._server = ThreadServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="emulator", daemon=True
        )
        self._thread.start()
        self._server.ready.wait()
        if not self._server.started:
            raise ConfigError("the server did not start (see the messages above)")

    def _wiring(self) -> dict[str, str]:
        """What Lambda and the stack would set, pointed at this machine: no request can reach a real AWS
        account or a stale endpoint."""
        assert self.model is not None and self.moto is not None
        wiring = {
            **CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.moto.url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.moto.url,
            "BUDGET_TABLE_NAME": BUDGET_TABLE,
            "OPENAI_SECRET_ID": SECRET_ID,
            **(self.sign_in.functions_environment() if self.sign_in else NO_SIGN_IN),
        }
        if self.model.demo:
            assert self.fake is not None
            wiring["OPENAI_BASE_URL"] = self.fake.base_url
        elif self.model.base_url:
            wiring["OPENAI_BASE_URL"] = self.model.base_url
        if self.model.model:
            wiring["OPENAI_MODEL"] = self.model.model
        if self.model.reasoning_effort is not None:
            wiring["OPENAI_REASONING_EFFORT"] = self.model.reasoning_effort
        return wiring

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE or "in use" in str(exc).lower():
                raise ConfigError(
                    f"port {self.port} on {self.host} is taken; choose another: make dev PORT=3001 "
                    "(or --port when running python -m infra.emulator)"
                ) from None
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        sock.listen(2048)
        return sock

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            if self._app is not None:
                self._app.stop_invocations()
            self._server.should_exit = True
            self._thread.join(timeout=10)
            if self._thread.is_alive() and self._app is not None:
                self._app.kill_environments()
        self._server = self._thread = self._app = None
        if self._socket is not None:
            self._socket.close()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        self.sign_in = None  # its pool was in moto
        if self._owns_fake and self.fake is not None:
            self.fake.stop()
            self._owns_fake = False

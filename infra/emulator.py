"""The page and the three endpoints on one local server, with no Docker and no AWS account.

    python -m infra.emulator [--port 3000] [--host 127.0.0.1] [--env-file .env]     (what `make dev` runs)

Lambda Function URLs cannot be served by `sam local` (aws-sam-cli #4299), which also buffers streamed
responses (#6501). This server runs the real function code the way Lambda would:

- ``/``: the files of ``static/``, with the security headers CloudFront adds in production.
- ``/api/summarize``, ``/api/todo``: each request becomes a Lambda Function URL payload v2.0 event, passed
  with a Lambda context (its remaining time counts down from the template's Timeout) to the real
  ``lambda_handler`` in a worker thread; the handler's result becomes the HTTP response.
- ``/api/stream``: the ASGI app that the Lambda Web Adapter runs in Lambda, called directly, so each
  Server-Sent Event reaches the client when the app produces it (no buffering, no compression).

The functions read their OpenAI key from Secrets Manager as in Lambda: here from moto's server, running
in-process on a free loopback port and seeded with OPENAI_API_KEY from ``.env`` or the environment. With
no key, the fake model (infra/fake_openai.py) answers and every response says so in ``x-llm-demo``.

Tests and the browser suite use it as a context manager::

    with Emulator(fake=FakeOpenAI()) as emulator:
        urllib.request.urlopen(emulator.url + "/api/summarize", data=...)
        emulator.events[-1]          # the Function URL event the handler received
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
import boto3
import uvicorn
import yaml
from dotenv import dotenv_values
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from infra.fake_openai import FakeOpenAI

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"

DEMO_HEADER = ("x-llm-demo", "fake-model")
SECRET_ID = "local/openai-api-key"  # noqa: S105 - a name, not a secret
BUDGET_TABLE = "local-budgets"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DEFAULT_TIMEOUT_SECONDS = 30
DEFAULT_MEMORY_MB = 128
# Lambda refuses larger synchronous request payloads with 413 before the function runs.
MAX_REQUEST_BYTES = 6 * 1024 * 1024
TOO_LARGE_BODY = json.dumps(
    {"Message": f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation"}
).encode()
KEY_SOURCE_NONE = "none: offline demo with the fake model"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Function:
    """One function of the template, as the emulator runs it."""

    route: str
    logical_id: str
    entry_point: str
    """``module.attr`` of the Lambda handler, or ``module:attr`` of the ASGI app behind the Web Adapter."""


FUNCTIONS = (
    Function("summarize", "SummarizeFunction", "handlers.summarize.lambda_handler"),
    Function("todo", "TodoFunction", "handlers.todo.lambda_handler"),
    Function("stream", "StreamFunction", "handlers.stream:app"),
)

# Environment variables the emulator wires itself, or that only make sense inside Lambda.
NOT_FROM_TEMPLATE = {
    "OPENAI_SECRET_ID",
    # The stack's sign-in (a Cognito pool, an SSM parameter) does not exist here: one person, no sign-in.
    "ACCESS_MODE",
    "COGNITO_CLIENT_ID_PARAMETER",
    "SAFETY_IDENTIFIER_SALT",
    "AWS_LAMBDA_EXEC_WRAPPER",
    "PORT",
    "POWERTOOLS_SERVICE_NAME",
}


class ConfigError(Exception):
    """A configuration the emulator cannot start with; the message is the one line the user sees."""


# ---------------------------------------------------------------------------------------------- template


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) into their long form instead of failing."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


@dataclass(frozen=True)
class FunctionSettings:
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str]


@dataclass(frozen=True)
class TemplateFacts:
    """What the emulator takes from template.yaml so that local runs match the deployed functions."""

    functions: dict[str, FunctionSettings]
    response_headers: list[tuple[str, str]]

    def function(self, logical_id: str) -> FunctionSettings:
        return self.functions.get(logical_id, FunctionSettings(DEFAULT_TIMEOUT_SECONDS, DEFAULT_MEMORY_MB, {}))

    def shared_environment(self) -> dict[str, str]:
        """Variables every function gets with the same value (one Python process runs them all here)."""
        merged: dict[str, str] = {}
        conflicting: set[str] = set()
        for settings in self.functions.values():
            for name, value in settings.environment.items():
                if name in merged and merged[name] != value:
                    conflicting.add(name)
                merged.setdefault(name, value)
        return {name: value for name, value in merged.items() if name not in conflicting}


def read_template(path: Path) -> TemplateFacts:
    """Timeouts, memory, literal environment and CloudFront security headers from the SAM template."""
    try:
        template = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader) or {}  # noqa: S506 - safe loader
    except FileNotFoundError:
        return TemplateFacts({}, [])
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    parameters = template.get("Parameters") or {}

    def resolve(value: Any) -> str | None:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, dict) and set(value) == {"Ref"} and "Default" in (parameters.get(value["Ref"]) or {}):
            return str(parameters[value["Ref"]]["Default"])
        return None  # an intrinsic only CloudFormation can resolve

    globals_ = (template.get("Globals") or {}).get("Function") or {}
    functions = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties") or {}
        environment = {}
        for source in (globals_, properties):
            for name, value in ((source.get("Environment") or {}).get("Variables") or {}).items():
                resolved = resolve(value)
                if resolved is not None and name not in NOT_FROM_TEMPLATE and not name.startswith("AWS_LWA_"):
                    environment[name] = resolved
        timeout = resolve(properties.get("Timeout", globals_.get("Timeout", DEFAULT_TIMEOUT_SECONDS)))
        memory = resolve(properties.get("MemorySize", globals_.get("MemorySize", DEFAULT_MEMORY_MB)))
        functions[logical_id] = FunctionSettings(
            int(timeout or DEFAULT_TIMEOUT_SECONDS), int(memory or DEFAULT_MEMORY_MB), environment
        )
    return TemplateFacts(functions, _security_headers(template))


def _security_headers(template: dict[str, Any]) -> list[tuple[str, str]]:
    """The CloudFront response headers policy, so the page meets its strict CSP locally too."""
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::CloudFront::ResponseHeadersPolicy":
            continue
        config = ((resource.get("Properties") or {}).get("ResponseHeadersPolicyConfig") or {}).get(
            "SecurityHeadersConfig"
        ) or {}
        headers = []
        csp = (config.get("ContentSecurityPolicy") or {}).get("ContentSecurityPolicy")
        if isinstance(csp, str):
            headers.append(("content-security-policy", csp))
        if "ContentTypeOptions" in config:
            headers.append(("x-content-type-options", "nosniff"))
        frame = (config.get("FrameOptions") or {}).get("FrameOption")
        if isinstance(frame, str):
            headers.append(("x-frame-options", frame))
        referrer = (config.get("ReferrerPolicy") or {}).get("ReferrerPolicy")
        if isinstance(referrer, str):
            headers.append(("referrer-policy", referrer))
        return headers
    return []


# ---------------------------------------------------------------------------------------------- the key


@dataclass(frozen=True)
class ModelConfig:
    """Which model the functions talk to, and where the key came from (never printed)."""

    api_key: str | None
    key_source: str
    base_url: str | None
    model: str | None

    @property
    def demo(self) -> bool:
        return self.api_key is None


def resolve_model_config(env_file: Path | None, environ: MutableMapping[str, str] | None = None) -> ModelConfig:
    """OPENAI_API_KEY (and OPENAI_BASE_URL, OPENAI_MODEL) from ``env_file`` first, then the environment.

    Only these three names are taken from the file: the rest of a developer's .env is not exported into the
    functions' environment.
    """
    environ = os.environ if environ is None else environ
    from_file: dict[str, str | None] = {}
    if env_file is not None and env_file.exists():
        if not env_file.is_file():
            raise ConfigError(f"cannot read {env_file}: not a file")
        try:
            from_file = dotenv_values(env_file, interpolate=False)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"cannot read {env_file}: {reason}") from None

    def pick(name: str) -> tuple[str | None, str]:
        value = (from_file.get(name) or "").strip()
        if value:
            return value, str(env_file.name if env_file else ".env")
        value = (environ.get(name) or "").strip()
        return (value, "environment") if value else (None, "")

    api_key, key_source = pick("OPENAI_API_KEY")
    base_url, _ = pick("OPENAI_BASE_URL")
    model, _ = pick("OPENAI_MODEL")
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"OPENAI_BASE_URL must start with http:// or https://, not {base_url[:40]!r}")
    return ModelConfig(api_key, key_source or KEY_SOURCE_NONE, base_url, model)


# ---------------------------------------------------------------------------------------------- moto


class MotoServer:
    """moto's Secrets Manager (and every other moto service) on ``host:port``, in a thread of this process.

    moto's own ThreadedMotoServer binds inside its thread and waits forever when the port is taken; this one
    binds in the caller so a taken port is an immediate OSError.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                """One access line per GetSecretValue would drown the emulator's own console."""

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def moto_client(service: str, endpoint_url: str, region: str = REGION) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto accepts any credentials
    )


def seed_secret(endpoint_url: str, secret_id: str, value: str, region: str = REGION) -> None:
    """Create the secret, or give it a new value if an earlier run in this process created it."""
    client = moto_client("secretsmanager", endpoint_url, region)
    try:
        client.create_secret(Name=secret_id, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=secret_id, SecretString=value)


# ---------------------------------------------------------------------------------------------- Lambda shapes


class LambdaContext:
    """The context object the Python runtime passes to a handler (awslambdaric's attributes)."""

    def __init__(self, function_name: str, request_id: str, timeout_seconds: int, memory_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = str(memory_mb)  # a string in the real runtime too
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        stream_day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{stream_day}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = int(time.time() * 1000) + timeout_seconds * 1000

    @property
    def deadline_ms(self) -> int:
        return self._deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/yaml",
)


def _is_text(content_type: str) -> bool:
    content_type = content_type.split(";", 1)[0].strip().lower()
    return not content_type or content_type.startswith(_TEXT_TYPES) or content_type.endswith(("+json", "+xml"))


def build_event(
    scope: Scope, body: bytes, *, request_id: str, url_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """The Lambda Function URL payload v2.0 event for one HTTP request."""
    now = now or datetime.now(UTC)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    client = scope.get("client") or ("127.0.0.1", 0)
    headers.setdefault("x-forwarded-for", client[0])
    headers.setdefault("x-forwarded-proto", scope.get("scheme", "http"))
    headers.setdefault("x-forwarded-port", str((scope.get("server") or ("", 80))[1]))
    trace_id = f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}"
    headers.setdefault("x-amzn-trace-id", trace_id)

    raw_query = scope.get("query_string", b"").decode("latin-1")
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    domain = f"{url_id}.lambda-url.{REGION}.on.aws"
    path = scope.get("path", "/")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": url_id,
            "domainName": domain,
            "domainPrefix": url_id,
            "http": {
                "method": scope.get("method", "GET"),
                "path": path,
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                "sourceIp": client[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        # Function URLs pass text bodies as they are and everything else base64-encoded.
        text = None
        if _is_text(headers.get("content-type", "")):
            with contextlib.suppress(UnicodeDecodeError):
                text = body.decode("utf-8")
        if text is None:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
        else:
            event["body"] = text
    return event


def response_from_result(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of the HTTP response a Function URL makes of a handler's return value."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # A bare value: Lambda answers 200 with it as a JSON document.
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    status = int(result["statusCode"])
    headers = [(str(name).lower(), str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name).lower(), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(body)
    else:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    return status, headers, data


# ---------------------------------------------------------------------------------------------- ASGI pieces


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it exceeds ``limit``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _send_plain(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw_headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand an already-read body to the next app, then pass on the server's messages (the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class EmulatorApp:
    """The one ASGI app: static files, the two buffered functions, the streaming function."""

    def __init__(
        self,
        handlers: dict[str, Callable[[dict[str, Any], Any], Any]],
        stream_app: AsgiApp,
        facts: TemplateFacts,
        static_dir: Path,
        demo: bool,
        events: list[dict[str, Any]],
    ) -> None:
        self.handlers = handlers
        self.stream_app = stream_app
        self.facts = facts
        self.demo = demo
        self.events = events
        # Inside a Starlette app, so a missing file is a plain 404 rather than an exception.
        self.static = Starlette(routes=[Mount("/", app=StaticFiles(directory=static_dir, html=True, check_dir=False))])
        # One Function URL id per function for the life of the server, like a deployed stack.
        self.url_ids = {function.route: secrets.token_hex(16) for function in FUNCTIONS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # The Web Adapter runs the stream app under uvicorn with its lifespan; keep that here.
            await self.stream_app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        function = next((f for f in FUNCTIONS if path == f"/api/{f.route}"), None)
        # The page asks HEAD / on load, so it can show the demo banner before the first call.
        extra = [DEMO_HEADER] if self.demo else []
        if function is None:
            await self.static(scope, receive, self._with_headers(send, self.facts.response_headers + extra))
            return
        if function.route == "stream":
            await self._stream(function, scope, receive, self._with_headers(send, extra))
        else:
            await self._buffered(function, scope, receive, self._with_headers(send, extra))

    @staticmethod
    def _with_headers(send: Send, headers: list[tuple[str, str]]) -> Send:
        if not headers:
            return send
        encoded = [(name.encode(), value.encode()) for name, value in headers]

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + encoded
            await send(message)

        return wrapped

    def _start(self, function: Function, scope: Scope, body: bytes) -> tuple[dict[str, Any], LambdaContext]:
        settings = self.facts.function(function.logical_id)
        request_id = str(uuid.uuid4())
        event = build_event(scope, body, request_id=request_id, url_id=self.url_ids[function.route])
        self.events.append(event)
        context = LambdaContext(function.logical_id, request_id, settings.timeout_seconds, settings.memory_mb)
        return event, context

    async def _buffered(self, function: Function, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive, MAX_REQUEST_BYTES)
        if body is None:
            await _send_plain(send, 413, [("content-type", "application/json")], TOO_LARGE_BODY)
            return
        event, context = self._start(function, scope, body)
        handler = self.handlers[function.route]
        request_id_header = ("x-amzn-requestid", context.aws_request_id)
        timeout = self.facts.function(function.logical_id).timeout_seconds
        result: Any = None
        with anyio.move_on_after(timeout) as scope_:
            try:
                # abandon_on_cancel: like Lambda, answer at the timeout; the thread finishes on its own.
                result = await anyio.to_thread.run_sync(handler, event, context, abandon_on_cancel=True)
            except Exception:  # an unhandled error in a handler is a 502, as in Lambda
                print(f"[{function.logical_id}] unhandled exception:\n{traceback.format_exc()}", file=sys.stderr)
                await _send_plain(
                    send,
                    502,
                    [("content-type", "application/json"), request_id_header],
                    b'{"Message": "Internal Server Error"}',
                )
                return
        if scope_.cancelled_caught:
            print(f"[{function.logical_id}] Task timed out after {timeout} seconds", file=sys.stderr)
            await _send_plain(
                send,
                502,
                [("content-type", "application/json"), request_id_header],
                b'{"Message": "Internal Server Error"}',
            )
            return
        try:
            status, headers, data = response_from_result(result)
        except (TypeError, ValueError, KeyError) as exc:
            print(f"[{function.logical_id}] invalid handler result: {exc!r}", file=sys.stderr)
            await _send_plain(
                send,
                502,
                [("content-type", "application/json"), request_id_header],
                b'{"Message": "Internal Server Error"}',
            )
            return
        await _send_plain(send, status, [*headers, request_id_header], data)

    async def _stream(self, function: Function, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive, MAX_REQUEST_BYTES)
        if body is None:
            await _send_plain(send, 413, [("content-type", "application/json")], TOO_LARGE_BODY)
            return
        event, context = self._start(function, scope, body)
        # What the Web Adapter adds to the request it makes of the app: the invocation's context.
        lambda_context = {
            "request_id": context.aws_request_id,
            "deadline": context.deadline_ms,
            "invoked_function_arn": context.invoked_function_arn,
            "xray_trace_id": event["headers"].get("x-amzn-trace-id", ""),
            "env_config": {
                "function_name": context.function_name,
                "memory": int(context.memory_limit_in_mb),
                "version": context.function_version,
                "log_group": context.log_group_name,
                "log_stream": context.log_stream_name,
            },
        }
        added = [
            (b"x-amzn-lambda-context", json.dumps(lambda_context).encode()),
            (b"x-amzn-request-context", json.dumps(event["requestContext"]).encode()),
        ]
        kept = [
            (n, v)
            for n, v in scope.get("headers", [])
            if n.lower() not in {b"x-amzn-lambda-context", b"x-amzn-request-context"}
        ]
        inner_scope = dict(scope)
        inner_scope["headers"] = kept + added
        await self.stream_app(inner_scope, _replay(body, receive), send)


# ---------------------------------------------------------------------------------------------- server


class _Server(uvicorn.Server):
    """uvicorn, telling a waiting thread when it is listening (or has given up)."""

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


def _load_entry_point(entry_point: str) -> Any:
    if ":" in entry_point:
        module_name, attr = entry_point.split(":", 1)
    else:
        module_name, attr = entry_point.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), attr)


class Emulator:
    """The local server, started in background threads; ready when ``__enter__`` returns."""

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
    ) -> None:
        self.host = host
        self.port = port
        self.fake = fake
        self.static_dir = Path(static_dir)
        self.env_file = env_file
        self.template = template
        self.log_level = log_level
        self.events: list[dict[str, Any]] = []
        self.model: ModelConfig | None = None
        self.moto: MotoServer | None = None
        self._owns_fake = False
        self._saved_environ: dict[str, str] | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        assert self._socket is not None, "start the emulator first"
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def demo(self) -> bool:
        return self.model is not None and self.model.demo

    def __enter__(self) -> Emulator:
        self.start()
        return self

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
        if self.fake is not None:
            # An explicit fake means demo mode, whatever key the machine has.
            self.model = ModelConfig(None, KEY_SOURCE_NONE, None, None)
        else:
            self.model = resolve_model_config(self.env_file)
        self._socket = self._bind()

        self.moto = MotoServer("127.0.0.1", 0).start()
        if self.model.demo:
            if self.fake is None:
                self.fake = FakeOpenAI()
            if not self.fake._thread.is_alive():  # the caller may hand over a fake it has not started
                self.fake.start()
                self._owns_fake = True
        seed_secret(self.moto.url, SECRET_ID, self.model.api_key or "sk-local-demo-not-a-real-key")

        self._saved_environ = dict(os.environ)
        self._configure_environment(facts)
        if str(FUNCTIONS_DIR) not in sys.path:
            sys.path.insert(0, str(FUNCTIONS_DIR))
        # The table's key names come from the functions' own budget module, importable only from here on.
        from infra.budget_table import create_budget_table

        create_budget_table(moto_client("dynamodb", self.moto.url), BUDGET_TABLE)
        handlers, stream_app = self._load_functions()

        app = EmulatorApp(handlers, stream_app, facts, self.static_dir, self.model.demo, self.events)
        config = uvicorn.Config(
            app,
            log_level=self.log_level,
            lifespan="auto",
            proxy_headers=False,  # the event's sourceIp is the real peer
            timeout_graceful_shutdown=2,  # an open stream must not hold up Ctrl-C or a test's teardown
            ws="none",
        )
        self._server = _Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="emulator", daemon=True
        )
        self._thread.start()
        self._server.ready.wait()
        if not self._server.started:
            raise ConfigError("the server did not start (see the messages above)")

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            if exc.errno == 98 or "in use" in str(exc).lower():
                raise ConfigError(f"port {self.port} on {self.host} is taken; choose another with --port") from None
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock

    def _configure_environment(self, facts: TemplateFacts) -> None:
        """Set what Lambda and the template would set, before the handlers read it at import."""
        assert self.model is not None and self.moto is not None
        for name, value in facts.shared_environment().items():
            os.environ.setdefault(name, value)
        # Tuning knobs the user may override from the shell.
        os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LlmEndpoints")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
        # Wiring: always ours, so no request can reach a real AWS account or a stale endpoint.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "OPENAI_API_KEY"):
            os.environ.pop(name, None)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.moto.url,
                "AWS_ENDPOINT_URL_DYNAMODB": self.moto.url,
                "BUDGET_TABLE_NAME": BUDGET_TABLE,
                "OPENAI_SECRET_ID": SECRET_ID,
                "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            }
        )
        if self.model.demo:
            assert self.fake is not None
            os.environ["OPENAI_BASE_URL"] = self.fake.base_url
        elif self.model.base_url:
            os.environ["OPENAI_BASE_URL"] = self.model.base_url
        else:
            os.environ.pop("OPENAI_BASE_URL", None)
        if self.model.model:
            os.environ["OPENAI_MODEL"] = self.model.model

    def _load_functions(self) -> tuple[dict[str, Callable[[dict[str, Any], Any], Any]], AsgiApp]:
        handlers: dict[str, Any] = {}
        stream_app: Any = None
        for function in FUNCTIONS:
            # Each function has its own service name in the template; Powertools reads it at import.
            os.environ["POWERTOOLS_SERVICE_NAME"] = function.route
            try:
                loaded = _load_entry_point(function.entry_point)
            except ModuleNotFoundError as exc:
                raise ConfigError(f"cannot import {function.entry_point}: {exc}") from None
            if function.route == "stream":
                stream_app = loaded
            else:
                handlers[function.route] = loaded
        # A second emulator in the same process (tests) must not inherit the first one's cached key.
        self._reset_function_caches()
        return handlers, stream_app

    @staticmethod
    def _reset_function_caches() -> None:
        llm_core = sys.modules.get("llm_core")
        reset = getattr(llm_core, "reset_caches", None)
        if callable(reset):
            reset()

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None
        if self._socket is not None:
            self._socket.close()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        if self._owns_fake and self.fake is not None:
            self.fake.stop()
            self._owns_fake = False
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
            self._reset_function_caches()


# ---------------------------------------------------------------------------------------------- command line


def _describe_model(emulator: Emulator) -> list[str]:
    model = emulator.model
    assert model is not None
    if model.demo:
        assert emulator.fake is not None
        lines = [f"  OpenAI key: {KEY_SOURCE_NONE} ({emulator.fake.base_url}); responses carry x-llm-demo"]
        if model.base_url:
            lines.append(
                "  OPENAI_BASE_URL is set but OPENAI_API_KEY is not: set a key (any value for a "
                "server that needs none) to use it"
            )
        return lines
    target = model.base_url or "the OpenAI API"
    return [f"  OpenAI key: from {model.key_source}; model: {os.environ.get('OPENAI_MODEL', 'default')} at {target}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="default 3000")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="where OPENAI_API_KEY is read first")
    parser.add_argument("--static", type=Path, default=REPO_ROOT / "static", help="the page's directory")
    parser.add_argument("--log-level", default="info", help="uvicorn's log level (default info)")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    # Before anything starts, so a Ctrl-C at any moment ends in a clean stop rather than a traceback.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    emulator = Emulator(args.host, args.port, static_dir=args.static, env_file=args.env_file, log_level=args.log_level)
    try:
        emulator.start()
    except ConfigError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 1
    try:
        assert emulator.moto is not None
        print(f"Serving the page and /api/summarize, /api/todo, /api/stream on {emulator.url}", flush=True)
        for line in _describe_model(emulator):
            print(line, flush=True)
        print(f"  Secrets Manager: moto at {emulator.moto.url}, secret {SECRET_ID!r}", flush=True)
        print("  Ctrl-C stops.", flush=True)
        stop.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

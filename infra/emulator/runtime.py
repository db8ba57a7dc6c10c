"""The shapes Lambda hands to a function and takes back: the context object, the Function URL event (payload
format 2.0), the result a buffered handler returns, and the headers the Lambda Web Adapter adds.

Only the standard library (and Starlette's type names) here: every execution environment imports this module
at its cold start, and the tests and the benchmark build their contexts with the same ``LambdaContext``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Scope

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
# Lambda's synchronous payload limit, 6 MB. Lambda refuses a request that reaches it with 413 and its own body,
# before the function runs; the body says "smaller than". It counts the event, which wraps the body
# (too_large_for_lambda): no body of the limit or more fits in one.
LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
MAX_REQUEST_BYTES = LAMBDA_PAYLOAD_LIMIT_BYTES - 1
# The most a body's character grows in the event: a control character's JSON escape, \u001f.
LARGEST_ESCAPE_BYTES = 6
TOO_LARGE_BODY = json.dumps(
    {"Message": f"Request must be smaller than {LAMBDA_PAYLOAD_LIMIT_BYTES} bytes for the InvokeFunction operation"}
).encode()
# What a function URL answers when the function fails (an unhandled error, a timeout, a failed init).
FUNCTION_ERROR_STATUS = 502
FUNCTION_ERROR_BODY = b'{"Message": "Internal Server Error"}'


def split_entry_point(entry_point: str) -> tuple[str, str]:
    """``module.attr`` (a Lambda handler) or ``module:attr`` (an ASGI app): the module's name and the attr's."""
    separator = ":" if ":" in entry_point else "."
    module, attr = entry_point.rsplit(separator, 1)
    return module, attr


def log_stream_name() -> str:
    """A new execution environment's log stream, named the way Lambda names them."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


class LambdaContext:
    """The context object the Python runtime passes to a handler (awslambdaric's attributes).

    Its remaining time counts down from ``timeout_seconds`` after creation, or to ``deadline_ms`` (epoch
    milliseconds) when the caller already fixed the invocation's deadline.
    """

    def __init__(
        self,
        function_name: str = "function",
        request_id: str | None = None,
        *,
        timeout_seconds: float = 30,
        memory_mb: int = 512,
        deadline_ms: int | None = None,
        log_stream: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = str(memory_mb)  # a string in the real runtime too
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream or log_stream_name()
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        if deadline_ms is None:
            deadline_ms = int(time.time() * 1000 + timeout_seconds * 1000)
        self._deadline_ms = deadline_ms

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


def too_large_for_lambda(event: dict[str, Any]) -> bool:
    """Whether Lambda would refuse the event as larger than its payload limit: the body in it is longer than
    the one sent by its JSON escapes or, when it is not text, by its base64 (a third)."""
    body = event.get("body") or ""
    if len(body) * LARGEST_ESCAPE_BYTES < LAMBDA_PAYLOAD_LIMIT_BYTES:
        return False  # however it is escaped, it fits: spare a large body's encoding
    return len(json.dumps(event, ensure_ascii=False).encode()) >= LAMBDA_PAYLOAD_LIMIT_BYTES


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
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}")

    raw_query = scope.get("query_string", b"").decode("latin-1")
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

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
            "domainName": f"{url_id}.lambda-url.{REGION}.on.aws",
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


def web_adapter_headers(event: dict[str, Any], context: LambdaContext) -> list[tuple[bytes, bytes]]:
    """What the Lambda Web Adapter adds to the request it makes of the web app: the invocation's context
    (``x-amzn-lambda-context``) and the Function URL's request context (``x-amzn-request-context``)."""
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
    return [
        (b"x-amzn-lambda-context", json.dumps(lambda_context).encode()),
        (b"x-amzn-request-context", json.dumps(event["requestContext"]).encode()),
    ]

"""The Powertools Function URL resolver shared by the buffered functions: the body, errors, request ids, the
time budget and the request metrics, so each handler only declares its route and its work.

The resolver's OpenAPI validation is off: it costs about half a second of every cold start, and
``request_body`` already validates with the request models and the contract's messages.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from pydantic import BaseModel

from llm_core.errors import InvalidJson, MethodNotAllowed
from llm_core.model_client import time_budget
from llm_core.observability import record_failure, record_latency, record_usage
from llm_core.request_body import parse_request

RequestModel = TypeVar("RequestModel", bound=BaseModel)


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def event_body(event: dict[str, Any]) -> bytes:
    """The body's bytes: Lambda base64-encodes bodies it does not take for text."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidJson("The request body could not be decoded.") from None
    # surrogatepass: a string Lambda decoded leniently still reaches the UTF-8 check, which names the problem.
    return body.encode("utf-8", errors="surrogatepass")


def create_resolver() -> LambdaFunctionUrlResolver:
    app = LambdaFunctionUrlResolver()

    def request_id() -> str:
        return str(app.lambda_context.aws_request_id)

    def send_error(exc: BaseException) -> Response[Any]:
        error = record_failure(exc, request_id(), function_name=app.lambda_context.function_name)
        return json_response(error.status, error.body, error.headers)

    @app.exception_handler(Exception)
    def any_failure(exc: Exception) -> Response[Any]:
        return send_error(exc)

    @app.not_found
    def wrong_method(_: NotFoundError) -> Response[Any]:
        return send_error(MethodNotAllowed("Use POST with a JSON body."))

    def budget_and_metrics(app: LambdaFunctionUrlResolver, next_middleware: NextMiddleware) -> Response[Any]:
        started = time.perf_counter()
        try:
            with time_budget(app.lambda_context.get_remaining_time_in_millis() / 1000):
                response = next_middleware(app)
        finally:
            record_latency((time.perf_counter() - started) * 1000)
        response.headers["x-request-id"] = request_id()
        return response

    app.use(middlewares=[budget_and_metrics])
    return app


def answer(
    app: LambdaFunctionUrlResolver, model: type[RequestModel], work: Callable[[RequestModel], dict[str, Any]]
) -> Response[Any]:
    """Parse the current event's body as ``model``, do ``work`` with it, and answer 200 with its result."""
    event = app.current_event
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    request = parse_request(event_body(event.raw_event), headers, model)
    result = work(request)
    record_usage(result["usage"])
    return json_response(200, result)

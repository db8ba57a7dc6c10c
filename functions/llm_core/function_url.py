"""The Powertools Function URL resolver shared by the buffered functions: validation, errors, request ids,
the time budget and the request metrics, so each handler only declares its route."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit

from llm_core.errors import (
    InternalError,
    InvalidJson,
    MethodNotAllowed,
    describe_validation_errors,
    error_response,
    to_api_error,
)
from llm_core.model_client import time_budget
from llm_core.settings import METRICS_NAMESPACE

logger = Logger(child=True)
metrics = Metrics(namespace=METRICS_NAMESPACE)


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[dict]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def create_resolver() -> LambdaFunctionUrlResolver:
    app = LambdaFunctionUrlResolver(enable_validation=True)

    def request_id() -> str:
        return app.lambda_context.aws_request_id

    def send_error(exc: BaseException) -> Response:
        error = error_response(exc, request_id())
        metrics.add_metric(name=f"Error_{error.body['error']['type']}", unit=MetricUnit.Count, value=1)
        if error.status >= 500:
            logger.warning("request failed", extra={"error_type": error.body["error"]["type"], "status": error.status})
        return json_response(error.status, error.body, error.headers)

    @app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
    def invalid_request(exc: RequestValidationError) -> Response:
        content_type = app.current_event.headers.get("content-type") or "application/json"
        if not content_type.startswith("application/json"):
            # curl -d sends a form content type; say so rather than report the JSON as one odd form field.
            return send_error(InvalidJson("Send the body as JSON, with the header Content-Type: application/json."))
        return send_error(describe_validation_errors(list(exc.errors())))

    @app.exception_handler(Exception)
    def any_failure(exc: Exception) -> Response:
        if isinstance(to_api_error(exc), InternalError):
            logger.exception("unexpected failure")
        return send_error(exc)

    @app.not_found
    def wrong_method(_: NotFoundError) -> Response:
        return send_error(MethodNotAllowed("Use POST with a JSON body."))

    def budget_and_metrics(app: LambdaFunctionUrlResolver, next_middleware: NextMiddleware) -> Response:
        started = time.perf_counter()
        try:
            with time_budget(app.lambda_context.get_remaining_time_in_millis() / 1000):
                response = next_middleware(app)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
        response.headers["x-request-id"] = request_id()
        return response

    app.use(middlewares=[budget_and_metrics])
    return app

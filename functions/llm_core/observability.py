"""What every request records, whichever way it arrived: the error it ended with, its latency, its tokens.

The core's one logger and one Metrics object, which every llm_core module logs and counts with; the handlers'
own Logger and Metrics share their state (Powertools keeps it per service), so lines and metrics carry the
function's service name and the request's keys.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.provider import cold_start

from llm_core.errors import ErrorResponse, InternalError, error_response, to_api_error
from llm_core.settings import METRICS_NAMESPACE

# Not a child logger: a child may not add keys until its parent exists, and the stream tags every request's lines.
logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)


def record_failure(exc: BaseException, request_id: str, **context: Any) -> ErrorResponse:
    """The error response for ``exc``, counted once and logged once: an unexpected failure with its
    traceback (the caller only gets the request id), any other 5xx as a warning."""
    error = to_api_error(exc)
    fields = {"error_type": error.type, "status": error.status, "request_id": request_id, **context}
    if isinstance(error, InternalError):
        logger.error("unexpected failure", exc_info=exc, extra=fields)
    elif error.status >= 500:
        # The caller's message, which says what to fix or that it passes: the owner reads it here.
        logger.warning("request failed", extra={**fields, "detail": error.message})
    metrics.add_metric(name=f"Error_{error.type}", unit=MetricUnit.Count, value=1)
    return error_response(error, request_id)


def record_latency(milliseconds: float) -> None:
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=milliseconds)


def record_usage(usage: dict[str, int]) -> None:
    metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=usage["input_tokens"])
    metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=usage["output_tokens"])


def record_cold_start(function_name: str) -> None:
    """The ColdStart metric, once per execution environment, as ``log_metrics(capture_cold_start_metric=True)``
    writes it for the buffered handlers (its own line, with the function's name and the service as dimensions):
    for the stream, whose invocations reach an app rather than a handler. Powertools' own flag, so provisioned
    concurrency counts no cold start here either."""
    if not cold_start.is_cold_start:
        return
    cold_start.is_cold_start = False
    with single_metric(name="ColdStart", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE) as metric:
        metric.add_dimension(name="function_name", value=function_name)
        if service := os.environ.get("POWERTOOLS_SERVICE_NAME"):
            metric.add_dimension(name="service", value=service)

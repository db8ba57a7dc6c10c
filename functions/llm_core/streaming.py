"""The streaming endpoint's ASGI side: Server-Sent Events, keep-alives, the deadline, errors as events.

Failures known before the first byte (bad input, missing key, upstream 429) are answered with the usual
JSON error and status. Once the 200 has gone out, a failure becomes an ``error`` event and the stream ends
cleanly; a client that goes away closes the upstream request too, so the model stops billing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from llm_core.contract import StreamRequest
from llm_core.errors import (
    InternalError,
    InvalidJson,
    MethodNotAllowed,
    describe_validation_errors,
    error_response,
    to_api_error,
)
from llm_core.model_client import time_budget
from llm_core.service import Delta, Done, open_answer_stream
from llm_core.settings import METRICS_NAMESPACE, get_settings

logger = Logger(child=True)
metrics = Metrics(namespace=METRICS_NAMESPACE)

KEEPALIVE = ": keep-alive\n\n"


class _KeepAlive:
    """Marks a quiet interval in the merged stream."""


def lambda_context_of(request: Request) -> dict[str, Any]:
    """The invocation context the Lambda Web Adapter forwards as JSON in ``x-amzn-lambda-context``."""
    try:
        context = json.loads(request.headers.get("x-amzn-lambda-context") or "{}")
    except json.JSONDecodeError:
        return {}
    return context if isinstance(context, dict) else {}


def seconds_until_deadline(context: dict[str, Any]) -> float:
    """Time left in this invocation; never more than the function's timeout, whatever the header says."""
    timeout = get_settings().stream_timeout_seconds
    deadline_ms = context.get("deadline")
    if isinstance(deadline_ms, int | float) and deadline_ms > 0:
        return min(deadline_ms / 1000 - time.time(), timeout)
    return timeout


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _answer(opening: Awaitable[AsyncIterator[Delta | Done]]) -> AsyncIterator[Delta | Done]:
    events = await opening
    try:
        async for item in events:
            yield item
    finally:
        await events.aclose()


async def with_keepalives(
    source: AsyncIterator[Any], interval: float, deadline: float
) -> AsyncIterator[Any | _KeepAlive]:
    """Items of ``source`` as they come, a _KeepAlive after each ``interval`` of silence, and a timeout error
    once the monotonic ``deadline`` passes."""
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            done, _ = await asyncio.wait({pending}, timeout=min(interval, left))
            if not done:
                yield _KeepAlive()
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await pending
        await source.aclose()


class StreamFormat:
    """SSE by default; bare text for ``Accept: text/plain`` (``curl -N``)."""

    def __init__(self, accept: str) -> None:
        self.plain = "text/plain" in accept and "text/event-stream" not in accept
        self.media_type = "text/plain; charset=utf-8" if self.plain else "text/event-stream; charset=utf-8"

    def delta(self, text: str) -> str:
        return text if self.plain else sse("delta", {"text": text})

    def done(self, done: Done) -> str:
        if self.plain:
            return "\n"
        return sse("done", {"model": done.model, "usage": done.usage, "finish_reason": done.finish_reason})

    def keepalive(self) -> str:
        # A plain-text stream has no comment syntax; an empty chunk would end a chunked response.
        return "" if self.plain else KEEPALIVE

    def error(self, body: dict[str, Any]) -> str:
        return f"\n[error: {body['error']['message']}]\n" if self.plain else sse("error", body)


async def stream_answer(request: Request) -> Response:
    context = lambda_context_of(request)
    request_id = str(context.get("request_id") or uuid.uuid4())
    started = time.perf_counter()
    headers = {"x-request-id": request_id, "cache-control": "no-cache", "x-accel-buffering": "no"}

    def fail(exc: BaseException) -> JSONResponse:
        error = error_response(exc, request_id)
        _count_error(error.body["error"]["type"])
        metrics.flush_metrics()
        return JSONResponse(error.body, status_code=error.status, headers=error.headers)

    try:
        settings = get_settings()
        body = await request.body()
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise InvalidJson("The request body is not valid JSON.") from None
        try:
            conversation = StreamRequest.model_validate(payload)
        except ValidationError as exc:
            raise describe_validation_errors(exc.errors()) from None
        seconds_left = seconds_until_deadline(context)
        with time_budget(seconds_left) as budget:
            deadline = time.monotonic() + budget
            opening = asyncio.ensure_future(open_answer_stream(conversation))
        await asyncio.wait({opening}, timeout=min(settings.keepalive_seconds, budget))
        if opening.done() and opening.exception() is not None:
            return fail(opening.exception())
    except Exception as exc:
        return fail(exc)

    output = StreamFormat(request.headers.get("accept", ""))

    async def body_chunks() -> AsyncIterator[str]:
        try:
            async for item in with_keepalives(_answer(opening), settings.keepalive_seconds, deadline):
                if isinstance(item, _KeepAlive):
                    if chunk := output.keepalive():
                        yield chunk
                elif isinstance(item, Delta):
                    if item.text:
                        yield output.delta(item.text)
                else:
                    yield output.done(item)
        except Exception as exc:
            error = error_response(exc, request_id)
            _count_error(error.body["error"]["type"])
            if isinstance(to_api_error(exc), InternalError):
                logger.exception("unexpected failure while streaming", extra={"request_id": request_id})
            else:
                logger.warning(
                    "stream ended with an error",
                    extra={"error_type": error.body["error"]["type"], "request_id": request_id},
                )
            yield output.error(error.body)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
            metrics.flush_metrics()

    return StreamingResponse(body_chunks(), media_type=output.media_type, headers=headers)


async def refuse_method(request: Request) -> JSONResponse:
    request_id = str(lambda_context_of(request).get("request_id") or uuid.uuid4())
    error = error_response(MethodNotAllowed("Use POST with a JSON body."), request_id)
    return JSONResponse(error.body, status_code=error.status, headers=error.headers)


def _count_error(error_type: str) -> None:
    metrics.add_metric(name=f"Error_{error_type}", unit=MetricUnit.Count, value=1)

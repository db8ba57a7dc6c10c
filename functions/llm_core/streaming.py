"""The streaming endpoint's ASGI side: Server-Sent Events, keep-alives, the deadline, errors as events.

Failures known before the first byte (bad input, missing key, upstream 429) are answered with the usual
JSON error and status. Once the 200 has gone out, a failure becomes an ``error`` event and the stream ends
cleanly; a client that goes away closes the upstream request too, so the model stops billing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from llm_core.budget import REMAINING_HEADER
from llm_core.contract import StreamRequest, json_text
from llm_core.errors import REQUEST_ID_HEADER, ErrorResponse, MethodNotAllowed
from llm_core.identity import identify
from llm_core.model_client import deadline_after
from llm_core.observability import logger, metrics, record_cold_start, record_failure, record_latency, record_usage
from llm_core.request_body import parse_request, split_outside_quotes
from llm_core.service import AnswerStream, Delta, Done, open_answer_stream
from llm_core.settings import get_settings

KEEPALIVE = ": keep-alive\n\n"


class _KeepAlive:
    """Marks a quiet interval in the merged stream."""


def _json_header(request: Request, name: str) -> dict[str, Any]:
    try:
        value = json.loads(request.headers.get(name) or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def lambda_context_of(request: Request) -> dict[str, Any]:
    """The invocation context the Lambda Web Adapter forwards as JSON in ``x-amzn-lambda-context``."""
    return _json_header(request, "x-amzn-lambda-context")


# The adapter adds it to every invocation, and to none of its own calls (readiness check, SnapStart hooks).
REQUEST_CONTEXT_HEADER = "x-amzn-request-context"


def request_context_of(request: Request) -> dict[str, Any]:
    """The Function URL event's ``requestContext`` (the IAM caller among it), which the adapter forwards as JSON
    in ``x-amzn-request-context``."""
    return _json_header(request, REQUEST_CONTEXT_HEADER)


def for_the_adapter_only(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """``endpoint`` for the adapter's own calls, which reach the app directly. An invocation on its path is a
    caller's request like any other (a POST streams, anything else is a 405), so a signed caller cannot drop the
    process's key and clients through a SnapStart hook."""

    async def guarded(request: Request) -> Response:
        if REQUEST_CONTEXT_HEADER not in request.headers:
            return await endpoint(request)
        if request.method != "POST":
            raise HTTPException(status_code=405)
        return await stream_answer(request)

    return guarded


def seconds_until_deadline(context: dict[str, Any]) -> float:
    """Time left in this invocation; never more than the function's timeout, whatever the header says."""
    timeout = get_settings().stream_timeout_seconds
    deadline_ms = context.get("deadline")
    if isinstance(deadline_ms, int | float) and deadline_ms > 0:
        return min(deadline_ms / 1000 - time.time(), timeout)
    return timeout


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json_text(data)}\n\n"


async def _answer(opening: Awaitable[AnswerStream]) -> AsyncGenerator[Delta | Done]:
    async for item in (await opening).events:
        yield item


async def _close_answer(opening: asyncio.Future[AnswerStream]) -> None:
    """However the response ends: the model's request closed and the reservation settled, also for an answer
    whose events were never read (the time ran out before the first read)."""
    if not opening.done():
        opening.cancel()  # nobody will read the answer; opening gives back its reservation itself
    try:
        answer = await opening
    except (asyncio.CancelledError, Exception):
        return  # nothing was opened, and a failure was answered already
    await answer.close()


async def with_keepalives(
    source: AsyncGenerator[Any], interval: float, deadline: float
) -> AsyncGenerator[Any | _KeepAlive]:
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
        # A caller who leaves cancels the response's task group, whose cancellation stays on (anyio's), so an
        # await here would be cancelled at once: shielded, the chain closes the model's request and settles.
        with anyio.CancelScope(shield=True):
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                    await pending
            await source.aclose()


def _weights(accept: str) -> dict[str, float]:
    """The weight an Accept header gives each media range it names, lower-cased as RFC 9110 compares them: its
    ``q``, or 1 when it has none. A range whose ``q`` is not a number from 0 to 1 is left out."""
    weights = {}
    for media_range in split_outside_quotes(accept.lower(), ","):
        media_type, *parameters = (part.strip() for part in split_outside_quotes(media_range, ";"))
        weight = _weight(parameters)
        if media_type and weight is not None:
            weights[media_type] = weight
    return weights


def _weight(parameters: list[str]) -> float | None:
    for parameter in parameters:
        name, _, value = (part.strip() for part in parameter.partition("="))
        if name == "q":
            try:
                weight = float(value)
            except ValueError:
                return None
            return weight if 0 <= weight <= 1 else None
    return 1.0


def _weight_of(weights: dict[str, float], media_type: str) -> float:
    """The weight of the most specific range that covers ``media_type`` (RFC 9110, 12.5.1); 0 when none does."""
    kind = media_type.split("/", 1)[0]
    for media_range in (media_type, f"{kind}/*", "*/*"):
        if media_range in weights:
            return weights[media_range]
    return 0.0


class StreamFormat:
    """SSE by default; bare text (``curl -N``) when the Accept header weighs ``text/plain`` more than
    ``text/event-stream``, so ``text/plain, */*`` (axios's default) still gets SSE."""

    def __init__(self, accept: str) -> None:
        weights = _weights(accept)
        self.plain = _weight_of(weights, "text/plain") > _weight_of(weights, "text/event-stream")
        self.media_type = "text/plain; charset=utf-8" if self.plain else "text/event-stream; charset=utf-8"

    def delta(self, text: str) -> str:
        return text if self.plain else sse("delta", {"text": text})

    def done(self, done: Done) -> str:
        if self.plain:
            # Bare text has no finish_reason: an answer cut at the output limit says so, or it reads as whole.
            return "\n[cut off: the answer reached the output limit]\n" if done.finish_reason != "completed" else "\n"
        data: dict[str, Any] = {"model": done.model, "usage": done.usage, "finish_reason": done.finish_reason}
        if done.tokens_remaining is not None:
            data["tokens_remaining"] = done.tokens_remaining
        return sse("done", data)

    def keepalive(self) -> str:
        # A plain-text stream has no comment syntax; an empty chunk would end a chunked response.
        return "" if self.plain else KEEPALIVE

    def error(self, body: dict[str, Any]) -> str:
        if self.plain:
            error = body["error"]
            return f"\n[error: {error['message']} (request id {error['request_id']})]\n"
        return sse("error", body)


class Invocation:
    """Who this request is to the logs: the adapter's request id and the function's name."""

    def __init__(self, request: Request) -> None:
        self.started = time.perf_counter()
        self.context = lambda_context_of(request)
        self.request_id = str(self.context.get("request_id") or uuid.uuid4())
        env_config = self.context.get("env_config")
        name = env_config.get("function_name") if isinstance(env_config, dict) else None
        self.function_name = str(name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "stream"))
        self.caller = "not identified"
        # The keys the buffered functions' log lines get from inject_lambda_context. Kept in a context
        # variable, which the body's task and the threads it starts copy, so concurrent requests keep their own.
        logger.thread_safe_append_keys(function_request_id=self.request_id, function_name=self.function_name)
        record_cold_start(self.function_name)

    def record_latency(self) -> None:
        """Every answer's time, a refusal's too, as the buffered functions record theirs."""
        record_latency((time.perf_counter() - self.started) * 1000)

    def record_failure(self, exc: BaseException) -> ErrorResponse:
        return record_failure(exc, self.request_id, function_name=self.function_name, caller=self.caller)

    def fail(self, exc: BaseException) -> Response:
        error = self.record_failure(exc)
        self.record_latency()
        metrics.flush_metrics()
        return Response(json_text(error.body), error.status, error.headers, media_type="application/json")


async def stream_answer(request: Request) -> Response:
    invocation = Invocation(request)
    request_id = invocation.request_id
    headers = {REQUEST_ID_HEADER: request_id, "cache-control": "no-cache", "x-accel-buffering": "no"}

    try:
        settings = get_settings()
        # In a thread: the first sign-in check of an environment fetches the user pool's keys.
        caller = await asyncio.to_thread(identify, request.headers, request_context_of(request))
        invocation.caller = caller.id
        conversation = parse_request(await request.body(), request.headers, StreamRequest, query=request.url.query)
        seconds_left = seconds_until_deadline(invocation.context)
        with deadline_after(seconds_left) as usable_seconds:
            deadline = time.monotonic() + usable_seconds
            # The task copies the context as it is created, the deadline with it: create it inside the block.
            opening = asyncio.ensure_future(open_answer_stream(conversation, caller))
        await asyncio.wait({opening}, timeout=min(settings.keepalive_seconds, usable_seconds))
        if opening.done():
            if (failure := opening.exception()) is not None:
                return invocation.fail(failure)
            if (remaining := opening.result().tokens_remaining) is not None:
                headers[REMAINING_HEADER] = str(remaining)
    except ClientDisconnect:
        # The caller hung up before its request was whole: nobody to answer, and no failure of ours to count.
        logger.info("the caller left before its request arrived")
        return Response(status_code=HTTPStatus.BAD_REQUEST, headers={REQUEST_ID_HEADER: request_id})
    except Exception as exc:
        return invocation.fail(exc)

    output = StreamFormat(request.headers.get("accept", ""))

    async def body_chunks() -> AsyncIterator[str]:
        # After "done" the answer is whole: what follows is the read to the model's body end, for its connection
        # (service.py), and neither a keep-alive nor the deadline passing in it is the caller's concern.
        answered = False
        try:
            # Closed here, however this body ends: closed at a keep-alive, the merge would still be reading the
            # answer when _close_answer closes it.
            async with contextlib.aclosing(
                with_keepalives(_answer(opening), settings.keepalive_seconds, deadline)
            ) as items:
                async for item in items:
                    if isinstance(item, _KeepAlive):
                        if not answered and (chunk := output.keepalive()):
                            yield chunk
                    elif isinstance(item, Delta):
                        if item.text:
                            yield output.delta(item.text)
                    else:
                        record_usage(item.usage)
                        answered = True
                        yield output.done(item)
        except Exception as exc:
            if answered:
                logger.info(
                    "the answer was whole; its model's body was closed unread", extra={"error": type(exc).__name__}
                )
            else:
                error = invocation.record_failure(exc)
                yield output.error(error.body)
        finally:
            try:
                # Shielded as in with_keepalives: a caller who left has cancelled this task.
                with anyio.CancelScope(shield=True):
                    await _close_answer(opening)
            finally:
                invocation.record_latency()
                metrics.flush_metrics()

    return StreamingResponse(body_chunks(), media_type=output.media_type, headers=headers)


async def refuse(request: Request, exc: Exception) -> Response:
    """Starlette's 405 (any method but POST, ``post`` in lower case included), in our envelope. It is the only
    HTTPException the app raises: the answer's route takes every path."""
    return Invocation(request).fail(MethodNotAllowed())

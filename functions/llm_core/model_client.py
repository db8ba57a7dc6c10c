"""The process's OpenAI clients (one synchronous, one asynchronous per event loop), each attempt bounded by
the time the function has left.

The SDK's defaults (600 s timeout, 2 retries with Retry-After honoured up to two minutes) outlive any
Lambda timeout. The transport below clamps each attempt's timeouts to the request's deadline and tells the
SDK not to retry when the wait it would take cannot fit, or is longer than a person should watch a spinner
(MAX_RETRY_WAIT_SECONDS), so the caller always gets an answer, a 429 with Retry-After or a 504 before the
function itself is killed.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from http import HTTPStatus
from typing import Any, TypeVar

import httpx2
import openai

from llm_core.errors import INSUFFICIENT_QUOTA, retry_after_seconds
from llm_core.secret import read_api_key
from llm_core.settings import get_settings
from llm_core.timeouts import (
    DEFAULT_RETRY_WAIT_SECONDS,
    MAX_RETRY_WAIT_SECONDS,
    MIN_ATTEMPT_SECONDS,
    OPENAI_CONNECT_TIMEOUT_SECONDS,
    OPENAI_MAX_RETRIES,
    RESPONSE_MARGIN_SECONDS,
)

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("llm_deadline", default=None)

T = TypeVar("T")
# On the transports' own 504 when no attempt of the call was sent: a response extension, which only code in
# this process can set (a header could come from the provider, or anything in between).
NEVER_SENT_EXTENSION = "llm_endpoints_never_sent"
RETRY_COUNT_HEADER = "x-stainless-retry-count"


@contextmanager
def deadline_after(seconds_left: float) -> Iterator[float]:
    """Run the block with a deadline ``seconds_left`` from now, less the response margin; the seconds usable."""
    usable = max(seconds_left - RESPONSE_MARGIN_SECONDS, 0.0)
    token = _deadline.set(time.monotonic() + usable)
    try:
        yield usable
    finally:
        _deadline.reset(token)


def seconds_left() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def _spent_response(request: httpx2.Request, *, never_sent: bool = False) -> httpx2.Response:
    """What the transport answers, as a gateway would, once no time is left to try: the SDK retries every
    transport error after a backoff sleep, but obeys ``x-should-retry: false`` on a response. ``never_sent``:
    no attempt of this call reached the model (see was_never_sent)."""
    return httpx2.Response(
        504,
        headers={"x-should-retry": "false"},
        json={"error": {"message": "The function's time is up.", "type": "timeout"}},
        request=request,
        extensions={NEVER_SENT_EXTENSION: never_sent},
    )


def _first_attempt(request: httpx2.Request) -> bool:
    # The SDK numbers each attempt of a call in this header.
    return request.headers.get(RETRY_COUNT_HEADER, "0") == "0"


def was_never_sent(exc: BaseException) -> bool:
    """Whether ``exc`` is the 504 of a call whose time ran out before its first attempt left (the dependencies
    before it used all of it): the model received nothing, so it generated nothing. Once an attempt was sent,
    the model may have worked, whatever came of it."""
    return isinstance(exc, openai.APIStatusError) and exc.response.extensions.get(NEVER_SENT_EXTENSION) is True


def _deadline_passed() -> bool:
    left = seconds_left()
    return left is not None and left <= 0


def _clamp_timeouts(request: httpx2.Request) -> None:
    """Bound the attempt by the deadline: connecting and then reading together fit in the time left."""
    left = seconds_left()
    if left is None:
        return
    timeouts = dict(request.extensions.get("timeout") or {})
    # Connecting may take at most half of what is left, so an answer always has time to arrive.
    connect = min(timeouts.get("connect") or left, left / 2)
    rest = left - connect
    timeouts["connect"] = connect
    for phase in ("read", "write", "pool"):
        current = timeouts.get(phase)
        timeouts[phase] = rest if current is None else min(current, rest)
    request.extensions["timeout"] = timeouts


def _retry_fits(wait: float) -> bool:
    """Is the SDK's ``wait`` before a retry short enough for a person to sit through, and would an attempt
    worth starting still fit in the time left after it?"""
    left = seconds_left()
    return wait <= MAX_RETRY_WAIT_SECONDS and (left is None or wait + MIN_ATTEMPT_SECONDS <= left)


def _forbid_retry_that_cannot_fit(response: httpx2.Response) -> None:
    """For any error response: the SDK retries a 408, 409, 429 or 5xx, and any status whose response says
    ``x-should-retry: true``, after the wait its Retry-After asks for. (The transports read a 429's body.)"""
    if response.status_code < HTTPStatus.BAD_REQUEST:
        return
    wait = retry_after_seconds(response.headers)
    if _is_out_of_credit(response) or not _retry_fits(DEFAULT_RETRY_WAIT_SECONDS if wait is None else wait):
        # The SDK's own switch: it will surface this response instead of sleeping past our deadline, or
        # instead of asking again an account that no wait gives credit.
        response.headers["x-should-retry"] = "false"


def _is_out_of_credit(response: httpx2.Response) -> bool:
    if response.status_code != HTTPStatus.TOO_MANY_REQUESTS:
        return False
    try:
        error = json.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and error.get("code") == INSUFFICIENT_QUOTA


def _timed_out_attempt_may_retry() -> bool:
    """The SDK retries a timed-out attempt after its backoff: worth it only while that retry fits."""
    return _retry_fits(DEFAULT_RETRY_WAIT_SECONDS)


class DeadlineTransport(httpx2.BaseTransport):
    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if _deadline_passed():
            return _spent_response(request, never_sent=_first_attempt(request))
        _clamp_timeouts(request)
        try:
            response = self._inner.handle_request(request)
            if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
                response.read()  # a short error body, which says whether a wait can help
        except httpx2.TimeoutException:
            if _timed_out_attempt_may_retry():
                raise
            return _spent_response(request)  # now, rather than after a backoff that ends in it
        _forbid_retry_that_cannot_fit(response)
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncDeadlineTransport(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if _deadline_passed():
            return _spent_response(request, never_sent=_first_attempt(request))
        _clamp_timeouts(request)
        try:
            response = await self._inner.handle_async_request(request)
            if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
                await response.aread()  # a short error body, which says whether a wait can help
        except httpx2.TimeoutException:
            if _timed_out_attempt_may_retry():
                raise
            return _spent_response(request)  # now, rather than after a backoff that ends in it
        _forbid_retry_that_cannot_fit(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _client_options() -> dict[str, Any]:
    """What both clients share: where to send, how often to retry, and the per-attempt ceiling."""
    return {
        "base_url": get_settings().openai_base_url,
        "max_retries": OPENAI_MAX_RETRIES,
        # The longest any function lives, the stream's; DeadlineTransport cuts each attempt to what the
        # invocation at hand has left, so the buffered functions' 30 s is enforced there, not here.
        "timeout": httpx2.Timeout(get_settings().stream_timeout_seconds, connect=OPENAI_CONNECT_TIMEOUT_SECONDS),
    }


@lru_cache(maxsize=1)
def get_client() -> openai.OpenAI:
    """The process's synchronous client; the key is read from the secret cache before each request."""
    transport = DeadlineTransport(httpx2.HTTPTransport())
    return openai.OpenAI(
        api_key=read_api_key, http_client=openai.DefaultHttpx2Client(transport=transport), **_client_options()
    )


async def _read_api_key_off_loop() -> str:
    return await asyncio.to_thread(read_api_key)


def get_async_client() -> openai.AsyncOpenAI:
    """The asynchronous client of the running event loop, for the streaming app. uvicorn runs one loop per
    process, so there is one client; but a pooled connection belongs to the loop that opened it, and code that
    ran each request in a new loop (``asyncio.run``) would be handed a connection of a closed one."""
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    return _async_client_of(loop)


@lru_cache(maxsize=1)
def _async_client_of(_: asyncio.AbstractEventLoop | None) -> openai.AsyncOpenAI:
    transport = AsyncDeadlineTransport(httpx2.AsyncHTTPTransport())
    return openai.AsyncOpenAI(
        api_key=_read_api_key_off_loop,
        http_client=openai.DefaultAsyncHttpx2Client(transport=transport),
        **_client_options(),
    )


def forget_clients() -> None:
    """Drop the process's clients; the next request creates new ones (new connections, new state)."""
    get_client.cache_clear()
    _async_client_of.cache_clear()


def with_key_refresh(call: Callable[[], T]) -> T:
    """Run ``call``; after a 401, read the secret again (the key may have been rotated) and retry once."""
    try:
        return call()
    except openai.AuthenticationError:
        read_api_key(force_fetch=True)
        return call()


async def with_key_refresh_async(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except openai.AuthenticationError:
        await asyncio.to_thread(read_api_key, True)
        return await call()

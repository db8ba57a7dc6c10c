from __future__ import annotations

import asyncio
import time

import httpx2
import pytest

from llm_core.errors import retry_after_seconds
from llm_core.model_client import (
    AsyncDeadlineTransport,
    DeadlineTransport,
    _clamp_timeouts,
    _forbid_retry_that_cannot_fit,
    deadline_after,
)
from llm_core.service import Delta, Done
from llm_core.streaming import StreamFormat, _KeepAlive, with_keepalives
from llm_core.timeouts import (
    DEFAULT_RETRY_WAIT_SECONDS,
    MAX_RETRY_WAIT_SECONDS,
    MIN_ATTEMPT_SECONDS,
    RESPONSE_MARGIN_SECONDS,
    STREAM_FUNCTION_TIMEOUT_SECONDS,
)


def _request() -> httpx2.Request:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/responses")
    request.extensions["timeout"] = {"connect": 3.0, "read": 600.0, "write": 600.0, "pool": 600.0}
    return request


def test_attempt_timeouts_are_clamped_to_the_time_left():
    request = _request()
    with deadline_after(RESPONSE_MARGIN_SECONDS + 2.0):
        _clamp_timeouts(request)
    assert request.extensions["timeout"]["connect"] + request.extensions["timeout"]["read"] <= 2.0


def test_without_a_budget_timeouts_are_left_alone():
    request = _request()
    _clamp_timeouts(request)
    assert request.extensions["timeout"]["read"] == 600.0


def test_spent_budget_answers_504_that_the_sdk_will_not_retry():
    transport = DeadlineTransport(httpx2.MockTransport(lambda request: httpx2.Response(200)))
    with deadline_after(RESPONSE_MARGIN_SECONDS):
        response = transport.handle_request(_request())
    assert response.status_code == 504 and response.headers["x-should-retry"] == "false"


def test_timeout_at_the_deadline_becomes_a_504_the_sdk_will_not_retry():
    def too_slow(request: httpx2.Request) -> httpx2.Response:
        time.sleep(0.05)  # the slow upstream being simulated
        raise httpx2.ReadTimeout("timed out", request=request)

    transport = DeadlineTransport(httpx2.MockTransport(too_slow))
    with deadline_after(RESPONSE_MARGIN_SECONDS + 0.01):
        response = transport.handle_request(_request())
    assert response.status_code == 504 and response.headers["x-should-retry"] == "false"


def timing_out(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ReadTimeout("timed out", request=request)


def test_timeout_with_no_time_left_for_a_retry_becomes_a_504_at_once():
    transport = DeadlineTransport(httpx2.MockTransport(timing_out))
    with deadline_after(RESPONSE_MARGIN_SECONDS + MIN_ATTEMPT_SECONDS + DEFAULT_RETRY_WAIT_SECONDS - 0.1):
        response = transport.handle_request(_request())
    assert response.status_code == 504 and response.headers["x-should-retry"] == "false"


def test_timeout_with_time_for_a_retry_is_left_to_the_sdk_to_retry():
    transport = DeadlineTransport(httpx2.MockTransport(timing_out))
    with (
        deadline_after(RESPONSE_MARGIN_SECONDS + MIN_ATTEMPT_SECONDS + DEFAULT_RETRY_WAIT_SECONDS + 1),
        pytest.raises(httpx2.ReadTimeout),
    ):
        transport.handle_request(_request())


def test_streams_timeout_with_no_time_left_for_a_retry_becomes_a_504_at_once():
    async def attempt() -> httpx2.Response:
        transport = AsyncDeadlineTransport(httpx2.MockTransport(timing_out))
        with deadline_after(RESPONSE_MARGIN_SECONDS + MIN_ATTEMPT_SECONDS + DEFAULT_RETRY_WAIT_SECONDS - 0.1):
            return await transport.handle_async_request(_request())

    response = asyncio.run(attempt())
    assert response.status_code == 504 and response.headers["x-should-retry"] == "false"


def test_connecting_may_take_at_most_half_of_the_time_left():
    request = _request()
    request.extensions["timeout"] = {"connect": 60.0, "read": 600.0, "write": 600.0, "pool": 600.0}
    with deadline_after(RESPONSE_MARGIN_SECONDS + 4.0):
        _clamp_timeouts(request)
    assert request.extensions["timeout"]["connect"] <= 2.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after-ms": "12000"}, 12.0), ({"retry-after": "7"}, 7.0), ({}, None), ({"retry-after": "soon"}, None)],
)
def test_retry_after_is_read_in_every_form_the_sdk_honours(headers, seconds):
    assert retry_after_seconds(httpx2.Headers(headers)) == seconds


def test_retry_after_as_an_http_date_is_seconds_from_now():
    from email.utils import formatdate

    wait = retry_after_seconds(httpx2.Headers({"retry-after": formatdate(time.time() + 30, usegmt=True)}))
    assert 28 < wait <= 30


def test_retry_after_longer_than_the_time_left_forbids_the_retry():
    response = httpx2.Response(429, headers={"retry-after": "30"})
    with deadline_after(RESPONSE_MARGIN_SECONDS + 5):
        _forbid_retry_that_cannot_fit(response)
    assert response.headers["x-should-retry"] == "false"


def test_retry_after_longer_than_a_person_should_wait_forbids_the_retry_with_time_to_spare():
    response = httpx2.Response(429, headers={"retry-after": str(MAX_RETRY_WAIT_SECONDS + 1)})
    with deadline_after(STREAM_FUNCTION_TIMEOUT_SECONDS):
        _forbid_retry_that_cannot_fit(response)
    assert response.headers["x-should-retry"] == "false"


def test_short_retry_after_keeps_the_sdks_retry():
    response = httpx2.Response(429, headers={"retry-after": "1"})
    with deadline_after(RESPONSE_MARGIN_SECONDS + 5):
        _forbid_retry_that_cannot_fit(response)
    assert "x-should-retry" not in response.headers


def test_sse_format_matches_the_contract():
    output = StreamFormat("text/event-stream")
    assert output.delta("Hi") == 'event: delta\ndata: {"text": "Hi"}\n\n'
    done = output.done(Done("m", {"input_tokens": 1, "output_tokens": 2}, "completed"))
    assert done.startswith("event: done\ndata: ") and '"finish_reason": "completed"' in done
    assert output.keepalive() == ": keep-alive\n\n"


def test_plain_format_is_bare_text():
    output = StreamFormat("text/plain")
    assert (output.delta("Hi"), output.media_type) == ("Hi", "text/plain; charset=utf-8")


def test_plain_format_is_chosen_whatever_the_case_of_the_accept_header():
    assert StreamFormat("Text/Plain").plain


@pytest.mark.parametrize(
    ("accept", "plain"),
    [
        ("text/plain;q=0", False),
        ("text/plain; q=0.0, */*", False),
        ("text/event-stream;q=0, text/plain", True),
        ("text/plain;q=0.5", True),
        ("text/plainx", False),
        ("application/json, text/plain", True),
        ("text/plain, */*", False),  # */* accepts SSE as much: the server's choice
        ("application/json, text/plain, */*", False),  # axios's default
        ("text/plain, */*; q=0.01", True),  # jQuery's: text/plain weighs more
        ("text/*;q=0.2, text/plain;q=0.1", False),  # text/* covers text/event-stream, and weighs more
        ("text/event-stream;q=0.5, text/plain", True),
        ("text/plain;q=2", True),  # a weight that is not one counts as 1
    ],
)
def test_plain_format_follows_what_the_accept_header_accepts_and_refuses(accept, plain):
    assert StreamFormat(accept).plain is plain


async def _silent_then(release: asyncio.Event, item: object):
    await release.wait()
    yield item


def test_silence_produces_keepalives_until_the_next_item():
    async def scenario() -> list[object]:
        release = asyncio.Event()
        seen: list[object] = []
        async for item in with_keepalives(_silent_then(release, Delta("x")), 0.01, time.monotonic() + 5):
            seen.append(item)
            if isinstance(item, _KeepAlive) and sum(isinstance(i, _KeepAlive) for i in seen) == 2:
                release.set()
        return seen

    seen = asyncio.run(scenario())
    assert [type(item) for item in seen] == [_KeepAlive, _KeepAlive, Delta]


def test_passing_the_deadline_raises_timeout():
    async def scenario() -> None:
        async for _ in with_keepalives(_silent_then(asyncio.Event(), 1), 0.01, time.monotonic() + 0.05):
            pass

    with pytest.raises(TimeoutError):
        asyncio.run(scenario())

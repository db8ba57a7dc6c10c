"""llm_core.model_client: the deadline, and each attempt's timeouts and retries bounded by it."""

from __future__ import annotations

import asyncio

import httpx2
import openai
import pytest

from llm_core.model_client import (
    NEVER_SENT_EXTENSION,
    RETRY_COUNT_HEADER,
    AsyncDeadlineTransport,
    DeadlineTransport,
    _clamp_timeouts,
    _forbid_retry_that_cannot_fit,
    deadline_after,
    was_never_sent,
)
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


def test_without_a_deadline_timeouts_are_left_alone():
    request = _request()
    _clamp_timeouts(request)
    assert request.extensions["timeout"]["read"] == 600.0


def test_a_passed_deadline_answers_504_that_the_sdk_will_not_retry():
    transport = DeadlineTransport(httpx2.MockTransport(lambda request: httpx2.Response(200)))
    with deadline_after(RESPONSE_MARGIN_SECONDS):
        response = transport.handle_request(_request())
    assert response.status_code == 504 and response.headers["x-should-retry"] == "false"


def test_a_passed_deadline_before_the_first_attempt_says_the_call_was_never_sent():
    transport = DeadlineTransport(httpx2.MockTransport(lambda request: httpx2.Response(200)))
    with deadline_after(RESPONSE_MARGIN_SECONDS):
        response = transport.handle_request(_request())
    assert was_never_sent(openai.APIStatusError("time", response=response, body=None))


def test_a_passed_deadline_before_a_retry_does_not_say_the_call_was_never_sent():
    transport = DeadlineTransport(httpx2.MockTransport(lambda request: httpx2.Response(200)))
    request = _request()
    request.headers[RETRY_COUNT_HEADER] = "1"  # an earlier attempt was sent, and may have been worked on
    with deadline_after(RESPONSE_MARGIN_SECONDS):
        response = transport.handle_request(request)
    assert not was_never_sent(openai.APIStatusError("time", response=response, body=None))


def test_a_streams_passed_deadline_before_the_first_attempt_says_the_call_was_never_sent():
    async def attempt() -> httpx2.Response:
        transport = AsyncDeadlineTransport(httpx2.MockTransport(lambda request: httpx2.Response(200)))
        with deadline_after(RESPONSE_MARGIN_SECONDS):
            return await transport.handle_async_request(_request())

    assert was_never_sent(openai.APIStatusError("time", response=asyncio.run(attempt()), body=None))


def test_a_providers_504_cannot_say_the_call_was_never_sent():
    # The mark's own name, as a header: only the transport's response extension may carry it.
    response = httpx2.Response(504, headers={NEVER_SENT_EXTENSION: "True"}, request=_request())
    assert not was_never_sent(openai.APIStatusError("time", response=response, body=None))


def test_a_timed_out_attempt_does_not_say_the_call_was_never_sent():
    transport = DeadlineTransport(httpx2.MockTransport(timing_out))
    with deadline_after(RESPONSE_MARGIN_SECONDS + MIN_ATTEMPT_SECONDS + DEFAULT_RETRY_WAIT_SECONDS - 0.1):
        response = transport.handle_request(_request())
    assert response.status_code == 504
    assert not was_never_sent(openai.APIStatusError("time", response=response, body=None))


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


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "10"}, {"retry-after-ms": "10000"}, {"retry-after": "10", "x-should-retry": "true"}],
)
@pytest.mark.parametrize("status", [408, 409, 500])
def test_a_long_retry_after_forbids_the_retry_whatever_error_the_sdk_would_retry(status, headers):
    response = httpx2.Response(status, headers=headers)
    with deadline_after(STREAM_FUNCTION_TIMEOUT_SECONDS):
        _forbid_retry_that_cannot_fit(response)
    assert response.headers["x-should-retry"] == "false"


def test_any_error_the_provider_says_to_retry_has_its_long_retry_after_forbidden():
    response = httpx2.Response(400, headers={"retry-after": "10", "x-should-retry": "true"})
    with deadline_after(STREAM_FUNCTION_TIMEOUT_SECONDS):
        _forbid_retry_that_cannot_fit(response)
    assert response.headers["x-should-retry"] == "false"


def test_a_success_is_left_alone_whatever_its_headers_say():
    response = httpx2.Response(200, headers={"retry-after": "30"})
    with deadline_after(RESPONSE_MARGIN_SECONDS + 5):
        _forbid_retry_that_cannot_fit(response)
    assert "x-should-retry" not in response.headers


def test_short_retry_after_keeps_the_sdks_retry():
    response = httpx2.Response(429, headers={"retry-after": "1"})
    with deadline_after(RESPONSE_MARGIN_SECONDS + 5):
        _forbid_retry_that_cannot_fit(response)
    assert "x-should-retry" not in response.headers

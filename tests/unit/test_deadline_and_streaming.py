from __future__ import annotations

import asyncio
import time

import httpx2
import pytest

from llm_core.model_client import (
    RESPONSE_MARGIN_SECONDS,
    _budget_spent,
    _clamp_timeouts,
    _forbid_retry_that_cannot_fit,
    time_budget,
)
from llm_core.service import Delta, Done
from llm_core.streaming import StreamFormat, _KeepAlive, with_keepalives


def _request() -> httpx2.Request:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/responses")
    request.extensions["timeout"] = {"connect": 3.0, "read": 600.0, "write": 600.0, "pool": 600.0}
    return request


def test_attempt_timeouts_are_clamped_to_the_time_left():
    request = _request()
    with time_budget(RESPONSE_MARGIN_SECONDS + 2.0):
        _clamp_timeouts(request)
    assert 1.5 < request.extensions["timeout"]["read"] <= 2.0
    assert request.extensions["timeout"]["connect"] <= 2.0


def test_without_a_budget_timeouts_are_left_alone():
    request = _request()
    _clamp_timeouts(request)
    assert request.extensions["timeout"]["read"] == 600.0


def test_spent_budget_answers_504_that_the_sdk_will_not_retry():
    with time_budget(RESPONSE_MARGIN_SECONDS):
        response = _budget_spent(_request())
    assert response.status_code == 504 and response.headers["x-should-retry"] == "false"


def test_retry_after_longer_than_the_time_left_forbids_the_retry():
    response = httpx2.Response(429, headers={"retry-after": "30"})
    with time_budget(RESPONSE_MARGIN_SECONDS + 5):
        _forbid_retry_that_cannot_fit(response)
    assert response.headers["x-should-retry"] == "false"


def test_short_retry_after_keeps_the_sdks_retry():
    response = httpx2.Response(429, headers={"retry-after": "1"})
    with time_budget(RESPONSE_MARGIN_SECONDS + 5):
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

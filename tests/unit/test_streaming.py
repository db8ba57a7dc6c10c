"""llm_core.streaming: the two stream formats, keep-alives and the deadline."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_core.service import Delta, Done
from llm_core.streaming import StreamFormat, _KeepAlive, with_keepalives


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
        ("text/plain;q=2", False),  # a range with a weight that is not one is left out
        ("text/plain;q=nan", False),
        ("text/event-stream;q=0, */*", True),  # refused by name, though */* would cover it
        ('text/plain;note="a,b;c";q=0.01, text/event-stream;q=0.5', False),  # quoted , and ; are not separators
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


@given(st.text().filter(lambda accept: "plain" not in accept.lower()))
def test_any_accept_header_that_does_not_ask_for_plain_text_gets_server_sent_events(accept: str) -> None:
    assert StreamFormat(accept).media_type == "text/event-stream; charset=utf-8"

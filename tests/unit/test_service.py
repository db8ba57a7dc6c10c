"""llm_core.service.structured_output: what of a model's response is the structured answer."""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.responses import Response

from llm_core.errors import UpstreamError
from llm_core.prompts import Todo
from llm_core.service import (
    CONTENT_FILTER_MESSAGE,
    OUTPUT_LIMIT_MESSAGE,
    _settled,
    answer_events,
    structured_output,
)

TODO_TEXT = '{"title": "Call Ana", "due_date": null, "priority": 2}'


def message(*parts: dict[str, Any], phase: str | None = None) -> dict[str, Any]:
    item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed", "content": list(parts)}
    return {**item, "phase": phase} if phase else item


def text(value: str) -> dict[str, Any]:
    return {"type": "output_text", "text": value, "annotations": []}


def response(
    *output: dict[str, Any],
    status: str = "completed",
    incomplete_reason: str | None = None,
    usage: tuple[int, int] | None = None,
) -> Response:
    reported = None
    if usage is not None:
        reported = {
            "input_tokens": usage[0],
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": usage[1],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": sum(usage),
        }
    return Response.model_validate(
        {
            "usage": reported,
            "id": "resp_1",
            "object": "response",
            "created_at": 0,
            "model": "gpt-test",
            "status": status,
            "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
            "output": list(output),
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    )


def test_the_answer_is_the_message_text_validated_by_the_model() -> None:
    assert structured_output(response(message(text(TODO_TEXT))), Todo) == Todo(
        title="Call Ana", due_date=None, priority=2
    )


def test_text_of_another_phase_is_not_part_of_the_answer() -> None:
    thinking_aloud = message(text("Let me think."), phase="commentary")
    answer = response(thinking_aloud, message(text(TODO_TEXT), phase="final_answer"))
    assert structured_output(answer, Todo).title == "Call Ana"


def test_a_refusal_is_an_upstream_error_that_does_not_quote_it() -> None:
    refused = response(message({"type": "refusal", "refusal": "I won't do that."}))
    with pytest.raises(UpstreamError) as caught:
        structured_output(refused, Todo)
    assert caught.value.message == "The model refused to answer this request: rephrase it."


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("max_output_tokens", OUTPUT_LIMIT_MESSAGE),
        (None, OUTPUT_LIMIT_MESSAGE),
        ("content_filter", "The provider's content filter stopped the model's answer: rephrase the request."),
    ],
)
def test_an_incomplete_answer_says_what_stopped_it_not_that_it_is_invalid(reason, says) -> None:
    cut_off = response(message(text('{"title": "Call')), status="incomplete", incomplete_reason=reason)
    with pytest.raises(UpstreamError) as caught:
        structured_output(cut_off, Todo)
    assert caught.value.message == says


def test_no_message_is_no_structured_answer() -> None:
    with pytest.raises(UpstreamError) as caught:
        structured_output(response(), Todo)
    assert caught.value.message == "The model returned no structured answer: try again."


def test_text_that_breaks_the_schema_is_a_validation_error() -> None:
    with pytest.raises(pydantic.ValidationError):
        structured_output(response(message(text('{"title": "Call Ana", "due_date": null, "priority": 9}'))), Todo)


class ScriptedEvents:
    """In place of the SDK's event stream: these events, then the end."""

    def __init__(self, *events: Any) -> None:
        self._events = events

    async def __aenter__(self) -> ScriptedEvents:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def __aiter__(self) -> Any:
        for event in self._events:
            yield event


def test_a_stream_stopped_by_the_content_filter_says_so_as_the_buffered_answers_do() -> None:
    stopped = response(status="incomplete", incomplete_reason="content_filter")

    async def read() -> str:
        with pytest.raises(UpstreamError) as refused:
            async for _ in answer_events(ScriptedEvents(SimpleNamespace(type="response.incomplete", response=stopped))):
                pass
        return refused.value.message

    assert asyncio.run(read()) == CONTENT_FILTER_MESSAGE


class RecordingReservation:
    def __init__(self) -> None:
        self.settlements: list[int | None] = []
        self.remaining = None

    def settle(self, used_tokens: int | None) -> None:
        self.settlements.append(used_tokens)


def settlements_of_a_stream_that_ended(last: Response) -> list[int | None]:
    """What a stream whose last event carries ``last`` settles its reservation to, in order; it must fail."""
    reservation = RecordingReservation()

    async def read() -> None:
        events = answer_events(ScriptedEvents(SimpleNamespace(type="response.incomplete", response=last)))
        with pytest.raises(UpstreamError):
            async for _ in _settled(events, reservation):  # type: ignore[arg-type]
                pass

    asyncio.run(read())
    return reservation.settlements


@pytest.mark.parametrize("reason", ["content_filter", "max_messages"])
def test_a_stream_the_model_stopped_early_settles_what_its_last_event_says_it_used(reason: str) -> None:
    stopped = response(status="incomplete", incomplete_reason=reason, usage=(20, 30))
    # Kept whole (None), the reservation of the worst case would count tokens the model never wrote.
    assert settlements_of_a_stream_that_ended(stopped)[0] == 50


def test_a_stream_the_model_stopped_early_without_saying_what_it_used_keeps_its_reservation() -> None:
    stopped = response(status="incomplete", incomplete_reason="content_filter")
    assert settlements_of_a_stream_that_ended(stopped) == [None]


def utf16_units(text: str) -> str:
    """``text`` as JavaScript counts it: a character beyond U+FFFF is two code units, here two surrogates."""
    encoded = text.encode("utf-16-le")
    return "".join(chr(int.from_bytes(encoded[i : i + 2], "little")) for i in range(0, len(encoded), 2))


@given(st.text(), st.lists(st.integers(min_value=0, max_value=40), max_size=12))
def test_any_answer_cut_anywhere_in_utf16_streams_whole(text: str, cuts: list[int]) -> None:
    units = utf16_units(text)
    bounds = sorted({min(cut, len(units)) for cut in cuts} | {0, len(units)})
    pieces = [units[start:end] for start, end in itertools.pairwise(bounds)]
    events = [SimpleNamespace(type="response.output_text.delta", delta=piece) for piece in pieces]
    events.append(SimpleNamespace(type="response.completed", response=response(usage=(1, 1))))

    async def read() -> str:
        streamed = []
        async for item in answer_events(ScriptedEvents(*events)):
            streamed.append(getattr(item, "text", ""))
        return "".join(streamed)

    # A character whose two halves came in two deltas is one character again, never two replacements.
    assert asyncio.run(read()) == text

"""First-use work done before the first request: the SDK builds each response model's validator the first
time it parses one (about 0.4 s for a streamed answer's events), which would otherwise stall the first
answer after its 200 has gone out. The stream rehearses at every start; the buffered functions only when
initialisation is not a caller's wait.

The rehearsal runs the real SDK path over an in-memory transport: no network, no key, nothing a caller sent.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai

from llm_core.errors import ApiError
from llm_core.model_client import get_async_client, get_client
from llm_core.prompts import Todo
from llm_core.service import answer_events, structured_output, text_format_for
from llm_core.snapstart import SNAPSTART_INITIALIZATION, initialization_type

PREPARED_INITIALIZATION_TYPES = {SNAPSTART_INITIALIZATION, "provisioned-concurrency"}
_TEXT = '{"title": "warm up", "due_date": null, "priority": 3}'
_PART = {"type": "output_text", "text": _TEXT, "annotations": [], "logprobs": []}
_MESSAGE = {"id": "msg_warm_up", "type": "message", "role": "assistant", "status": "completed", "content": [_PART]}
_USAGE = {
    "input_tokens": 1,
    "output_tokens": 1,
    "total_tokens": 2,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens_details": {"reasoning_tokens": 0},
}
_RESPONSE: dict[str, Any] = {
    "id": "resp_warm_up",
    "object": "response",
    "created_at": 0,
    "model": "warm-up",
    "status": "completed",
    "output": [_MESSAGE],
    "usage": _USAGE,
    "error": None,
    "incomplete_details": None,
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}
_IN_PROGRESS = {**_RESPONSE, "status": "in_progress", "output": [], "usage": None}
_WHERE = {"item_id": "msg_warm_up", "output_index": 0, "content_index": 0}
# Every event type of a streamed text answer, in the order the API sends them: the SDK builds each type's
# validator the first time it meets one.
_STREAM_EVENTS: list[dict[str, Any]] = [
    {"type": "response.created", "response": _IN_PROGRESS},
    {"type": "response.in_progress", "response": _IN_PROGRESS},
    {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {**_MESSAGE, "status": "in_progress", "content": []},
    },
    {"type": "response.content_part.added", **_WHERE, "part": {**_PART, "text": ""}},
    {"type": "response.output_text.delta", **_WHERE, "delta": _TEXT, "logprobs": []},
    {"type": "response.output_text.done", **_WHERE, "text": _TEXT, "logprobs": []},
    {"type": "response.content_part.done", **_WHERE, "part": _PART},
    {"type": "response.output_item.done", "output_index": 0, "item": _MESSAGE},
    {"type": "response.completed", "response": _RESPONSE},
]


def _rehearsal_answer(request: httpx2.Request) -> httpx2.Response:
    """What the in-memory model answers: a streamed answer, or a whole one for a buffered request."""
    if not json.loads(request.content).get("stream"):
        return httpx2.Response(200, json=_RESPONSE)
    events = [{**event, "sequence_number": number} for number, event in enumerate(_STREAM_EVENTS)]
    body = "".join(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


REHEARSAL_KEY = "warm-up"  # never sent anywhere: the transport answers in memory
REHEARSAL_URL = "http://warm-up.invalid/v1"


def warm_up_parsing() -> None:
    """Make the process's client and read one structured answer (a TODO item) as the buffered handlers do:
    what gets warm is the SDK's and pydantic's code and validators. (Before a SnapStart snapshot the client
    itself is dropped again, snapstart.py; a configuration problem ends the rehearsal here.)

    Only where initialisation time is not a caller's wait (a SnapStart snapshot, provisioned concurrency):
    on an on-demand cold start it would only move the same work from the first request to the init phase.
    """
    if initialization_type() not in PREPARED_INITIALIZATION_TYPES:
        return
    try:
        get_client()
    except ApiError:
        return
    transport = httpx2.MockTransport(_rehearsal_answer)
    with openai.OpenAI(
        api_key=REHEARSAL_KEY, base_url=REHEARSAL_URL, http_client=openai.DefaultHttpx2Client(transport=transport)
    ) as rehearsal:
        answer = rehearsal.responses.create(model="warm-up", input="warm-up", text={"format": text_format_for(Todo)})
        structured_output(answer, Todo)


async def warm_up_streaming() -> None:
    """Make the process's client and parse one streamed answer through the SDK and the core (as above)."""
    try:
        get_async_client()
    except ApiError:
        return  # a configuration problem, already logged at start; each request answers it with a 503
    rehearsal = openai.AsyncOpenAI(
        api_key=REHEARSAL_KEY,
        base_url=REHEARSAL_URL,
        http_client=openai.DefaultAsyncHttpx2Client(transport=httpx2.MockTransport(_rehearsal_answer)),
    )
    async with rehearsal:
        events = await rehearsal.responses.create(model="warm-up", input="warm-up", stream=True)
        async for _ in answer_events(events):
            pass

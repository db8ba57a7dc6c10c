"""First-use work done before the first request: the SDK builds each response model's validator the first
time it parses one (about 0.4 s for a streamed answer's events), which would otherwise stall the first
answer after its 200 has gone out.

The rehearsal runs the real SDK path over an in-memory transport: no network, no key, nothing a caller sent.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai

from llm_core.errors import ApiError
from llm_core.model_client import get_async_client
from llm_core.service import answer_events

_RESPONSE = {
    "id": "resp_warm_up",
    "object": "response",
    "created_at": 0,
    "model": "warm-up",
    "output": [],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}
_USAGE = {
    "input_tokens": 1,
    "output_tokens": 1,
    "total_tokens": 2,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens_details": {"reasoning_tokens": 0},
}
_STREAM_EVENTS: list[dict[str, Any]] = [
    {"type": "response.created", "sequence_number": 0, "response": {**_RESPONSE, "status": "in_progress"}},
    {
        "type": "response.output_text.delta",
        "sequence_number": 1,
        "item_id": "msg_warm_up",
        "output_index": 0,
        "content_index": 0,
        "delta": "ok",
        "logprobs": [],
    },
    {
        "type": "response.completed",
        "sequence_number": 2,
        "response": {**_RESPONSE, "status": "completed", "usage": _USAGE},
    },
]


def _streamed_answer(_: httpx2.Request) -> httpx2.Response:
    body = "".join(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in _STREAM_EVENTS)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


async def warm_up_streaming() -> None:
    """Create the process's client and parse one streamed answer through the SDK and the core."""
    try:
        get_async_client()
    except ApiError:
        return  # a configuration problem, already logged at start; each request answers it with a 503
    rehearsal = openai.AsyncOpenAI(
        api_key="warm-up",  # never sent anywhere: the transport below answers in memory
        base_url="http://warm-up.invalid/v1",
        http_client=openai.DefaultAsyncHttpx2Client(transport=httpx2.MockTransport(_streamed_answer)),
    )
    async with rehearsal:
        events = await rehearsal.responses.create(model="warm-up", input="warm-up", stream=True)
        async for _ in answer_events(events):
            pass

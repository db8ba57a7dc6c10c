"""A fake OpenAI Responses API on a loopback port, shared by the tests, the local emulator and the benchmark.

It speaks ``POST /v1/responses`` both as JSON and as Server-Sent Events with the event names and payloads the
real API uses (checked against OpenAI's published schemas), so the official SDK talks to it unchanged over a
real socket.

Usage::

    with FakeOpenAI() as fake:
        client = OpenAI(base_url=fake.base_url, api_key="sk-test")
        fake.enqueue(FakeReply(status=429, headers={"retry-after": "1"}))   # next request only
        ...
        fake.requests[-1].body   # what the SDK sent

Requests take scripted replies from the queue in order; when the queue is empty the fake answers like an
offline demo model: structured outputs get schema-valid data derived from the input, free text gets a canned
answer that quotes the last user message (streamed at a person's reading pace with ``pace_words_per_second``),
and with ``faults`` some of those answers turn into failures drawn at random. From a shell, with faults::

    python -m infra.fake_openai --port 8787 --fault-rate 0.3 --seed 1
"""

from infra.fake_openai.faults import FAULTS, Faults
from infra.fake_openai.replies import (
    DEMO_MODEL,
    HUMAN_PACE_WORDS_PER_SECOND,
    FakeReply,
    RecordedRequest,
    demo_reply,
)
from infra.fake_openai.server import FakeOpenAI

__all__ = [
    "DEMO_MODEL",
    "FAULTS",
    "HUMAN_PACE_WORDS_PER_SECOND",
    "FakeOpenAI",
    "FakeReply",
    "Faults",
    "RecordedRequest",
    "demo_reply",
]

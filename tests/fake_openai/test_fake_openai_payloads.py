"""Every body and stream event the fake sends matches OpenAI's published schema for it, so it cannot drift
from the real API unnoticed. The schemas are a trimmed copy of the official OpenAPI document
(openai_schemas.json; refresh_openai_schemas.py says how to update it), checked with jsonschema, independent
of the SDK whose behaviour the fake stands in for."""

from __future__ import annotations

import http.client
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from infra.fake_openai import FakeOpenAI, FakeReply
from infra.fake_openai.payloads import usage

SCHEMAS = json.loads((Path(__file__).with_name("openai_schemas.json")).read_text(encoding="utf-8"))
TODO_FORMAT = {
    "format": {
        "type": "json_schema",
        "name": "Todo",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"title": {"type": "string"}, "due_date": {"type": ["string", "null"]}},
            "required": ["title", "due_date"],
            "additionalProperties": False,
        },
    }
}
REQUEST = {
    "model": "gpt-5.4-mini",
    "input": [{"role": "user", "content": "Say something."}],
    "instructions": "Be brief.",
    "max_output_tokens": 512,
    "truncation": "auto",
}

ANSWERS = {
    "text": FakeReply(tokens=["Cold", " starts", " fade."]),
    "structured": FakeReply(output={"title": "Call the plumber", "due_date": None}),
    "output that breaks the schema": FakeReply(raw_output_text='{"unexpected": true}'),
    "refusal": FakeReply(refusal="I can't help with that."),
    "incomplete": FakeReply(tokens=["cut", " off"], incomplete=True),
    "failed": FakeReply(tokens=["half"], failed="The model failed to generate a response."),
    "demo": None,
}
ERRORS = {
    "429": FakeReply(status=429, headers={"retry-after": "1"}, error_code="rate_limit_exceeded"),
    "500": FakeReply(status=500),
    "401": FakeReply(status=401, error_code="invalid_api_key"),
}


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": SCHEMAS["components"]})


@cache
def event_schema_names() -> dict[str, str]:
    """Each stream event's ``type`` to the name of its schema, from the ResponseStreamEvent union."""
    schemas = SCHEMAS["components"]["schemas"]
    names = [variant["$ref"].rsplit("/", 1)[-1] for variant in schemas["ResponseStreamEvent"]["anyOf"]]
    return {schemas[name]["properties"]["type"]["enum"][0]: name for name in names}


def assert_matches(name: str, instance: Any) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator(name).iter_errors(instance)
    ]
    assert not errors, f"{name} breaks OpenAI's schema:\n" + "\n".join(errors[:10])


def post(fake_model: FakeOpenAI, body: dict[str, Any], path: str = "/v1/responses") -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", fake_model.port, timeout=10)
    try:
        connection.request("POST", path, json.dumps(body), {"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def stream_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each event in a Server-Sent Events body."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def request_for(kind: str, stream: bool) -> dict[str, Any]:
    structured = kind in ("structured", "output that breaks the schema")
    return {**REQUEST, "stream": stream, **({"text": TODO_FORMAT} if structured else {})}


@pytest.mark.parametrize("kind", ANSWERS)
def test_json_answer_is_a_response_object(fake_model: FakeOpenAI, kind: str) -> None:
    if ANSWERS[kind] is not None:
        fake_model.enqueue(ANSWERS[kind])
    status, body = post(fake_model, request_for(kind, stream=False))
    assert status == 200
    assert_matches("Response", json.loads(body))


@pytest.mark.parametrize("kind", ANSWERS)
def test_every_stream_event_matches_the_schema_of_its_type(fake_model: FakeOpenAI, kind: str) -> None:
    if ANSWERS[kind] is not None:
        fake_model.enqueue(ANSWERS[kind])
    status, body = post(fake_model, request_for(kind, stream=True))
    assert status == 200
    events = stream_events(body)
    assert len(events) >= 5
    for name, data in events:
        assert name == data["type"]
        assert data["type"] in event_schema_names(), f"{data['type']} is not an event of the Responses API"
        assert_matches(event_schema_names()[data["type"]], data)


def test_error_event_matches_its_schema(fake_model: FakeOpenAI) -> None:
    fake_model.enqueue(
        FakeReply(tokens=["lost"], stream_error="The server had an error while processing your request.")
    )
    _, body = post(fake_model, request_for("text", stream=True))
    name, data = stream_events(body)[-1]
    assert name == "error"
    assert_matches("ResponseErrorEvent", data)


def test_sequence_numbers_count_up_from_zero(fake_model: FakeOpenAI) -> None:
    _, body = post(fake_model, request_for("demo", stream=True))
    numbers = [data["sequence_number"] for _, data in stream_events(body)]
    assert numbers == list(range(len(numbers)))


@pytest.mark.parametrize("status", ERRORS)
def test_error_status_carries_an_error_body(fake_model: FakeOpenAI, status: str) -> None:
    fake_model.enqueue(ERRORS[status])
    answered, body = post(fake_model, request_for("text", stream=False))
    assert answered == int(status)
    assert_matches("ErrorResponse", json.loads(body))


def test_rejected_key_gets_the_error_body(fake_model: FakeOpenAI) -> None:
    fake_model.required_key = "sk-the-right-one"
    try:
        status, body = post(fake_model, request_for("text", stream=False))
    finally:
        fake_model.required_key = None
    assert status == 401
    assert_matches("ErrorResponse", json.loads(body))


def test_unknown_path_gets_the_error_body(fake_model: FakeOpenAI) -> None:
    status, body = post(fake_model, request_for("text", stream=False), path="/v1/chat/completions")
    assert status == 404
    assert_matches("ErrorResponse", json.loads(body))


def test_reported_output_tokens_never_pass_the_requests_max_output_tokens() -> None:
    assert usage({"input": "x", "max_output_tokens": 16}, "y" * 4_000)["output_tokens"] == 16


def test_a_character_beyond_ascii_counts_as_one_character_not_its_json_escape() -> None:
    assert usage({"input": "😀" * 400}, "😀" * 400) == usage({"input": "x" * 400}, "x" * 400)


def test_billed_tokens_are_reported_in_place_of_the_estimate() -> None:
    reported = usage({"input": "x", "max_output_tokens": 64}, "y", billed=(6_400, 64))
    assert (reported["input_tokens"], reported["output_tokens"], reported["total_tokens"]) == (6_400, 64, 6_464)

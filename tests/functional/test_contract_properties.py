"""Any request at all gets an answer from the contract (docs/api.md): property-based, through the real handlers.

Bodies are arbitrary JSON values (often shaped like the real requests), arbitrary bytes, arbitrary content types
and methods. Whatever arrives, the answer has a status from the error table, the envelope whose type belongs to
that status, an ``x-request-id`` matching the envelope's, no traceback, and a 200 only when the model got exactly
what the caller sent. ``HYPOTHESIS_PROFILE=fuzz`` runs ten times as many examples.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from infra.emulator.server import BUFFERED_FUNCTIONS
from tests.support import call_stream_app, event_with_body

settings.register_profile(
    "contract",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("fuzz", parent=settings.get_profile("contract"), max_examples=1500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "contract"))

# The error table: which types each status may carry.
ERROR_TYPES = {
    400: {"invalid_json", "invalid_request"},
    401: {"unauthenticated"},
    403: {"forbidden"},
    404: {"not_found"},
    405: {"invalid_request"},
    413: {"too_large"},
    429: {"rate_limited", "quota_exceeded"},
    502: {"upstream_error"},
    503: {"not_configured", "unavailable"},
    504: {"upstream_timeout"},
}

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
)
REAL_FIELDS = ["text", "max_bullets", "timezone", "prompt", "messages", "system", "role", "content"]
shaped_objects = st.dictionaries(st.sampled_from(REAL_FIELDS) | st.text(max_size=8), json_values, max_size=4)
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", ""]), "content": json_values}),
    max_size=3,
)
texts = st.text(max_size=60)
near_valid = (
    st.fixed_dictionaries({"text": texts}, optional={"max_bullets": st.integers(-1, 12)})
    | st.fixed_dictionaries(
        {"text": texts}, optional={"timezone": st.sampled_from(["UTC", "Europe/Paris", "Mars/Olympus", "../etc"])}
    )
    | st.fixed_dictionaries({"prompt": texts}, optional={"system": texts})
)
bodies = (
    st.builds(
        json.dumps,
        near_valid | near_valid | json_values | shaped_objects | st.fixed_dictionaries({"messages": messages}),
    )
    .map(str.encode)
    .filter(lambda body: len(body) < 4000)
    | st.binary(max_size=300)
    | st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass"))
)
content_types = st.sampled_from(
    [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/json; charset=iso-8859-1",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ]
) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
methods = st.sampled_from(["POST"] * 5 + ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "post", "TRACE"])


def assert_in_contract(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
    """The invariants every answer keeps; returns the parsed envelope of an error."""
    assert "traceback" not in body.decode("utf-8", "replace").lower()
    request_id = headers.get("x-request-id")
    assert request_id
    if status == 200:
        return None
    assert status in ERROR_TYPES, status
    error = json.loads(body)["error"]
    assert error["type"] in ERROR_TYPES[status]
    assert error["request_id"] == request_id
    assert isinstance(error["message"], str) and error["message"].strip()
    return error


def sent_to_model(fake_model) -> list[dict[str, Any]]:
    return [request.body for request in fake_model.requests]


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
@given(body=bodies, content_type=st.just("application/json") | content_types, method=methods)
def test_buffered_functions_answer_any_request_within_the_contract(
    configured, fake_model, invoke, function, body, content_type, method
):
    fake_model.reset()
    request = event_with_body(f"function_url_{function}", "")
    request["body"], request["isBase64Encoded"] = base64.b64encode(body).decode(), True
    request["requestContext"]["http"]["method"] = method
    if content_type:
        request["headers"]["content-type"] = content_type
    else:
        del request["headers"]["content-type"]
    result = invoke(function, request)
    event(f"status {result['statusCode']}")
    headers = {name.lower(): value for name, value in result["headers"].items()}
    assert_in_contract(result["statusCode"], headers, result["body"].encode())
    if result["statusCode"] == 200:
        # Nothing dropped: the model saw the caller's text, whole.
        text = json.loads(body)["text"]
        assert [request["input"][0]["content"] for request in sent_to_model(fake_model)] == [text]


def has_visible_text(text: str) -> bool:
    """The contract's "not blank": a character that is not a space, a control, a format character, a lone
    combining mark, a letter drawn as a blank or one of Unicode's noncharacters (U+FDD0-U+FDEF, and the last
    two code points of every plane)."""
    blank_letters = "\u115f\u1160\u3164\uffa0\u2800"
    invisible = ("Cc", "Cf", "Mn", "Me")
    noncharacters = {chr(code) for code in range(0xFDD0, 0xFDF0)} | {
        chr(plane + last) for plane in range(0, 0x110000, 0x10000) for last in (0xFFFE, 0xFFFF)
    }
    return any(
        not char.isspace()
        and char not in blank_letters
        and char not in noncharacters
        and unicodedata.category(char) not in invisible
        for char in text
    )


valid_texts = st.text(min_size=1, max_size=300).filter(has_visible_text)


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
@given(text=valid_texts, ascii_only=st.booleans())
def test_any_valid_text_reaches_the_model_whole(configured, fake_model, invoke, function, text, ascii_only):
    fake_model.reset()
    body = json.dumps({"text": text}, ensure_ascii=ascii_only)
    result = invoke(function, event_with_body(f"function_url_{function}", body))
    assert result["statusCode"] == 200, result["body"]
    assert [request["input"][0]["content"] for request in sent_to_model(fake_model)] == [text]


@given(body=bodies, content_type=st.just("application/json") | content_types, method=methods)
def test_stream_answers_any_request_within_the_contract(configured, fake_model, body, content_type, method):
    fake_model.reset()
    status, headers, content = asyncio.run(call_stream_app(body, content_type, method))
    event(f"status {status}")
    assert_in_contract(status, headers, content)
    if status == 200:
        assert headers["x-request-id"] == "fuzz"
        assert b"event: done" in content or b"event: error" in content
        request = json.loads(body)
        conversation = [{"role": "user", "content": request["prompt"]}] if "prompt" in request else request["messages"]
        assert [item["input"] for item in sent_to_model(fake_model)] == [conversation]


@given(prompt=valid_texts, system=st.none() | valid_texts)
def test_any_valid_prompt_reaches_the_model_whole(configured, fake_model, prompt, system):
    fake_model.reset()
    body = json.dumps({"prompt": prompt} if system is None else {"prompt": prompt, "system": system}).encode()
    status, _, content = asyncio.run(call_stream_app(body, "application/json", "POST"))
    assert (status, b"event: done" in content) == (200, True)
    [sent] = sent_to_model(fake_model)
    assert (sent["input"], sent.get("instructions")) == ([{"role": "user", "content": prompt}], system)

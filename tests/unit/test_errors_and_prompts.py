from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import openai
import pytest
from pydantic import ValidationError

from llm_core.contract import StreamRequest, SummarizeRequest
from llm_core.errors import error_response, to_api_error
from llm_core.prompts import summary_schema, todo_instructions


def _status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/responses")
    response = httpx2.Response(status, headers=headers, request=request, json={"error": {"message": "x"}})
    classes = {429: openai.RateLimitError, 401: openai.AuthenticationError}
    cls = classes.get(status, openai.InternalServerError if status >= 500 else openai.BadRequestError)
    return cls("upstream said no", response=response, body=None)


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (openai.APITimeoutError(httpx2.Request("POST", "http://127.0.0.1")), 504, "upstream_timeout"),
        (TimeoutError(), 504, "upstream_timeout"),
        (_status_error(504), 504, "upstream_timeout"),
        (_status_error(503), 502, "upstream_error"),
        (_status_error(401), 503, "not_configured"),
        (_status_error(429, {"retry-after": "7"}), 429, "rate_limited"),
        (RuntimeError("boom"), 500, "internal_error"),
    ],
)
def test_failures_map_onto_the_error_table(exc, status, kind):
    error = to_api_error(exc)
    assert (error.status, error.type) == (status, kind)


def _bad_request(code: object) -> openai.BadRequestError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/responses")
    error = {"message": "the provider's words, which may quote the input", "code": code}
    response = httpx2.Response(400, request=request, json={"error": error})
    return openai.BadRequestError("Error code: 400", response=response, body=error)


def test_context_too_long_for_the_model_is_413_the_caller_can_act_on():
    error = to_api_error(_bad_request("context_length_exceeded"))
    assert (error.status, error.type, error.message) == (
        413,
        "too_large",
        "The text or conversation is longer than the model can read: shorten it or start a new chat.",
    )


def test_other_refusal_by_the_provider_names_its_code_not_its_message():
    error = to_api_error(_bad_request("invalid_prompt"))
    assert (error.status, error.type, error.message) == (
        502,
        "upstream_error",
        "The model provider refused the request (400 invalid_prompt): rephrase it, or ask the deployment's owner "
        "to look in the function's log.",
    )


@pytest.mark.parametrize("code", [None, "two words", "x" * 65, "caf\u00e9"])
def test_provider_code_that_is_not_a_plain_identifier_is_left_out(code):
    assert to_api_error(_bad_request(code)).message.startswith("The model provider refused the request (400): ")


def test_rate_limit_passes_retry_after_on():
    response = error_response(_status_error(429, {"retry-after": "7"}), "rid")
    assert response.headers["retry-after"] == "7"
    assert response.body["error"]["request_id"] == "rid"


def test_internal_error_message_hides_the_exception_text():
    response = error_response(RuntimeError("secret detail"), "rid")
    assert "secret detail" not in str(response.body)


def test_strict_mode_refuses_a_number_sent_as_a_string():
    with pytest.raises(ValidationError):
        SummarizeRequest.model_validate({"text": "hi", "max_bullets": "3"})


def test_prompt_shorthand_becomes_a_one_message_conversation():
    request = StreamRequest.model_validate({"prompt": "Hello"})
    assert [(m.role, m.content) for m in request.conversation] == [("user", "Hello")]


def test_input_size_counts_every_message_and_the_system_prompt():
    request = StreamRequest.model_validate(
        {
            "system": "abc",
            "messages": [
                {"role": "user", "content": "12"},
                {"role": "assistant", "content": "345"},
                {"role": "user", "content": "6"},
            ],
        }
    )
    assert request.input_chars() == 9


def test_todo_prompt_uses_the_date_in_the_callers_timezone():
    late_evening_utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert "Monday, 2026-11-23 in the time zone Asia/Tokyo" in todo_instructions("Asia/Tokyo", late_evening_utc)
    assert "Sunday, 2026-11-22 in the time zone UTC" in todo_instructions("UTC", late_evening_utc)


def test_summary_schema_caps_bullets_at_the_requested_count():
    schema = summary_schema(7).model_json_schema()
    assert (schema["properties"]["bullets"]["minItems"], schema["properties"]["bullets"]["maxItems"]) == (1, 7)

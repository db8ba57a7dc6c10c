"""llm_core.errors: every failure onto the error table, and the waits a provider asks for."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx2
import openai
import pytest

from llm_core.errors import error_response, retry_after_seconds, to_api_error


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


def test_a_rejected_key_tells_whoever_sees_it_that_the_owner_must_fix_it():
    assert to_api_error(_status_error(401)).message == (
        "OpenAI rejected this deployment's API key: its owner must put a valid key in the secret named by "
        "OPENAI_SECRET_ID."
    )


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


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after-ms": "12000"}, 12.0), ({"retry-after": "7"}, 7.0), ({}, None), ({"retry-after": "soon"}, None)],
)
def test_retry_after_is_read_in_every_form_the_sdk_honours(headers, seconds):
    assert retry_after_seconds(httpx2.Headers(headers)) == seconds


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "nan"},
        {"retry-after": "inf"},
        {"retry-after": "1e400"},
        {"retry-after-ms": "1e309"},
        {"retry-after-ms": "abc"},
        {"retry-after": "1e308"},
        {"retry-after": "86401"},
    ],
)
def test_retry_after_that_is_no_plausible_wait_is_no_wait(headers):
    assert retry_after_seconds(httpx2.Headers(headers)) is None


def test_retry_after_ms_that_is_no_number_gives_way_to_retry_after_as_the_sdk_reads_them():
    assert retry_after_seconds(httpx2.Headers({"retry-after-ms": "abc", "retry-after": "7"})) == 7.0


def test_retry_after_as_an_http_date_is_seconds_from_now():
    wait = retry_after_seconds(httpx2.Headers({"retry-after": formatdate(time.time() + 30, usegmt=True)}))
    assert 28 < wait <= 30

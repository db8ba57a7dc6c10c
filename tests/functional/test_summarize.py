"""The summarize function, end to end: Function URL event in, the fake model over a real socket."""

from __future__ import annotations

import base64
import json
import time

import pytest

import llm_core
from infra.emulator.runtime import LambdaContext
from infra.fake_openai import FakeReply
from tests.support import CANARY_KEY, SECRET_ID, event_with_body, load_event


def test_summary_is_the_models_bullets(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(output={"bullets": ["Trial of cycling lanes from March.", "Vote in June."]}))
    result = invoke("summarize", "function_url_summarize")
    assert result["statusCode"] == 200
    assert result["json"]["bullets"] == ["Trial of cycling lanes from March.", "Vote in June."]
    assert result["json"]["model"] == "gpt-5.4-mini"
    assert result["json"]["usage"]["input_tokens"] > 0 and result["json"]["usage"]["output_tokens"] > 0


def test_request_asks_for_strict_structured_output_capped_at_max_bullets(configured, fake_model, invoke):
    invoke("summarize", "function_url_summarize")
    sent = fake_model.requests[-1].body
    text_format = sent["text"]["format"]
    assert text_format["type"] == "json_schema" and text_format["strict"] is True
    assert text_format["schema"]["properties"]["bullets"]["maxItems"] == 3
    assert text_format["schema"]["required"] == ["bullets"]
    assert text_format["schema"]["additionalProperties"] is False
    assert sent["store"] is False and sent["max_output_tokens"] == 512
    assert sent["input"][0]["content"].startswith("The city council met")


def test_key_from_secret_is_sent_as_bearer_token(configured, fake_model, invoke):
    invoke("summarize", "function_url_summarize")
    assert fake_model.requests[-1].headers["authorization"] == f"Bearer {CANARY_KEY}"


def test_every_response_carries_the_request_id(configured, invoke, lambda_context):
    for event in ("function_url_summarize", "function_url_summarize_invalid_json"):
        assert invoke("summarize", event)["headers"]["x-request-id"] == lambda_context.aws_request_id


def test_cloudfront_api_path_is_served_like_the_root(configured, invoke):
    assert invoke("summarize", "function_url_summarize_cloudfront_path")["statusCode"] == 200


def test_base64_encoded_body_is_decoded(configured, fake_model, invoke):
    event = load_event("function_url_summarize_base64")
    sent = json.loads(base64.b64decode(event["body"]))["text"]
    assert invoke("summarize", event)["statusCode"] == 200
    assert fake_model.requests[-1].body["input"][0]["content"] == sent


def test_invalid_json_is_400_invalid_json(configured, fake_model, invoke):
    result = invoke("summarize", "function_url_summarize_invalid_json")
    assert result["statusCode"] == 400
    assert result["json"]["error"]["type"] == "invalid_json"
    assert fake_model.requests == []


def test_form_content_type_is_told_to_send_json(configured, invoke):
    event = load_event("function_url_summarize")
    event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    result = invoke("summarize", event)
    assert result["statusCode"] == 400
    assert "Content-Type: application/json" in result["json"]["error"]["message"]


def test_wrong_field_type_is_400_naming_the_field(configured, invoke):
    result = invoke("summarize", "function_url_summarize_wrong_type")
    assert result["statusCode"] == 400
    assert result["json"]["error"]["type"] == "invalid_request"
    assert result["json"]["error"]["message"].startswith("max_bullets:")


def test_missing_text_is_400(configured, invoke):
    result = invoke("summarize", event_with_body("function_url_summarize", {"max_bullets": 2}))
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        400,
        "text: required, a non-empty string, the text to summarize.",
    )


def test_blank_text_is_400(configured, invoke):
    result = invoke("summarize", "function_url_summarize_empty_text")
    assert (result["statusCode"], result["json"]["error"]["type"]) == (400, "invalid_request")
    assert result["json"]["error"]["message"] == "text: must hold at least one visible character."


def test_max_bullets_over_ten_is_400(configured, invoke):
    result = invoke("summarize", event_with_body("function_url_summarize", {"text": "Hi.", "max_bullets": 11}))
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        400,
        "max_bullets: must be an integer from 1 to 10.",
    )


def test_unknown_field_is_refused_not_dropped(configured, invoke):
    result = invoke("summarize", "function_url_summarize_unknown_field")
    assert result["statusCode"] == 400
    assert result["json"]["error"]["message"] == 'language: unknown field; the fields are "text", "max_bullets".'


def test_query_parameter_is_refused_not_ignored_and_the_model_is_not_called(configured, fake_model, invoke):
    event = {**load_event("function_url_summarize"), "rawQueryString": "max_bullets=1"}
    result = invoke("summarize", event)
    assert (result["statusCode"], result["json"]["error"]["type"]) == (400, "invalid_request")
    assert result["json"]["error"]["message"].startswith('Query parameters are not accepted ("max_bullets"): send')
    assert fake_model.requests == []


def test_text_too_long_for_the_models_context_is_413_not_a_provider_failure(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(status=400, error_code="context_length_exceeded"))
    result = invoke("summarize", "function_url_summarize")
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        413,
        "The text or conversation is longer than the model can read: shorten it or start a new chat.",
    )
    assert len(fake_model.requests) == 1  # a 400 is not retried


def test_body_that_is_not_an_object_is_400(configured, invoke):
    result = invoke("summarize", event_with_body("function_url_summarize", "[1, 2]"))
    assert (result["statusCode"], result["json"]["error"]["type"]) == (400, "invalid_json")
    assert result["json"]["error"]["message"].startswith("The request body must be a JSON object, such as {")


def test_text_over_the_limit_is_413_and_the_model_is_not_called(configured, fake_model, invoke):
    result = invoke("summarize", event_with_body("function_url_summarize", {"text": "x" * 2001}))
    assert result["statusCode"] == 413
    assert result["json"]["error"]["type"] == "too_large"
    assert result["json"]["error"]["message"] == "The input is 2,001 characters; the limit is 2,000."
    assert fake_model.requests == []


def test_get_is_refused_with_the_error_envelope(configured, invoke):
    event = load_event("function_url_summarize")
    event["requestContext"]["http"]["method"] = "GET"
    result = invoke("summarize", event)
    assert result["statusCode"] == 405
    assert result["json"]["error"]["type"] == "invalid_request"


def test_get_is_told_which_method_works(configured, invoke):
    event = load_event("function_url_summarize")
    event["requestContext"]["http"]["method"] = "GET"
    result = invoke("summarize", event)
    assert result["headers"]["allow"] == "POST"
    assert result["json"]["error"]["message"] == "Use POST with a JSON body."


def test_upstream_429_is_retried_then_surfaced_with_retry_after(configured, fake_model, invoke):
    fake_model.enqueue(*[FakeReply(status=429, headers={"retry-after": "0.01"}) for _ in range(3)])
    result = invoke("summarize", "function_url_summarize")
    assert len(fake_model.requests) == 3
    assert result["statusCode"] == 429
    assert result["json"]["error"]["type"] == "rate_limited"
    assert result["headers"]["retry-after"] == "1"  # whole seconds, as RFC 9110 defines the header


def test_upstream_429_whose_retry_after_is_no_number_is_surfaced_without_one(configured, fake_model, invoke):
    fake_model.enqueue(*[FakeReply(status=429, headers={"retry-after": "nan"}) for _ in range(3)])
    result = invoke("summarize", "function_url_summarize")
    assert result["statusCode"] == 429
    message = result["json"]["error"]["message"]
    assert message == "The model provider is rate limiting this account. Try again in a moment."
    assert "retry-after" not in result["headers"]


def test_an_openai_account_out_of_credit_is_for_the_owner_to_fix_not_a_wait(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(status=429, error_code="insufficient_quota"))
    result = invoke("summarize", "function_url_summarize")
    assert len(fake_model.requests) == 1  # no wait gives the account credit: not asked again
    assert (result["statusCode"], result["json"]["error"]["type"]) == (503, "not_configured")
    assert "no credit left (insufficient_quota)" in result["json"]["error"]["message"]
    assert "retry-after" not in result["headers"]


def test_upstream_429_that_clears_on_retry_is_a_success(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "0.01"}))
    assert invoke("summarize", "function_url_summarize")["statusCode"] == 200
    assert len(fake_model.requests) == 2


def test_retry_after_longer_than_the_time_left_is_not_waited_for(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "60"}))
    result = invoke("summarize", "function_url_summarize")
    assert result["statusCode"] == 429 and result["headers"]["retry-after"] == "60"
    assert len(fake_model.requests) == 1


def test_upstream_500_is_retried_then_502(configured, fake_model, invoke):
    fake_model.enqueue(*[FakeReply(status=500, headers={"retry-after": "0.01"}) for _ in range(3)])
    result = invoke("summarize", "function_url_summarize")
    assert len(fake_model.requests) == 3
    assert (result["statusCode"], result["json"]["error"]["type"]) == (502, "upstream_error")


def test_slow_upstream_is_504_before_the_function_times_out(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(delay_seconds=6), FakeReply(delay_seconds=6), FakeReply(delay_seconds=6))
    started = time.monotonic()
    result = invoke("summarize", "function_url_summarize", LambdaContext(timeout_seconds=3))
    elapsed = time.monotonic() - started
    assert (result["statusCode"], result["json"]["error"]["type"]) == (504, "upstream_timeout")
    assert elapsed < 3.0
    assert len(fake_model.requests) == 1  # no retry that could not have fitted


def test_refusal_is_502(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(refusal="I can't help with that."))
    result = invoke("summarize", "function_url_summarize")
    assert (result["statusCode"], result["json"]["error"]["type"]) == (502, "upstream_error")
    assert "refused" in result["json"]["error"]["message"]


def test_output_that_breaks_the_schema_is_502(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(raw_output_text='{"summary": "not bullets"}'))
    result = invoke("summarize", "function_url_summarize")
    assert (result["statusCode"], result["json"]["error"]["type"], result["json"]["error"]["message"]) == (
        502,
        "upstream_error",
        "The model's answer did not match the expected schema: try again.",
    )


@pytest.mark.parametrize("bullets", [["Fine.", " "], ["\u200b"]], ids=["blank", "invisible"])
def test_a_bullet_that_is_no_shown_text_is_502(configured, fake_model, invoke, bullets):
    fake_model.enqueue(FakeReply(output={"bullets": bullets}))
    result = invoke("summarize", "function_url_summarize")
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        502,
        "The model's answer did not match the expected schema: try again.",
    )


def test_answer_cut_off_by_max_output_tokens_is_502(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(raw_output_text='{"bullets": ["unfinis', incomplete=True))
    result = invoke("summarize", "function_url_summarize")
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        502,
        "The model's answer reached the output limit before it was complete: try again, or ask the deployment's "
        "owner to raise MAX_OUTPUT_TOKENS.",
    )


def test_missing_secret_is_503_naming_the_setting(secretsmanager, fake_model, invoke):
    result = invoke("summarize", "function_url_summarize")
    assert (result["statusCode"], result["json"]["error"]["type"]) == (503, "not_configured")
    assert "OPENAI_SECRET_ID" in result["json"]["error"]["message"]
    assert fake_model.requests == []


def test_a_503_is_logged_with_the_message_its_caller_got(secretsmanager, invoke, caplog):
    message = invoke("summarize", "function_url_summarize")["json"]["error"]["message"]
    (record,) = [record for record in caplog.records if record.getMessage() == "request failed"]
    assert (record.error_type, record.detail) == ("not_configured", message)


def test_placeholder_secret_without_a_key_is_503(secretsmanager, invoke):
    secretsmanager.create_secret(Name=SECRET_ID, SecretString='{"api_key": ""}')
    result = invoke("summarize", "function_url_summarize")
    assert result["statusCode"] == 503
    assert "put-secret-value" in result["json"]["error"]["message"]


def test_malformed_json_secret_is_503(secretsmanager, invoke):
    secretsmanager.create_secret(Name=SECRET_ID, SecretString='{"api_key": ')
    result = invoke("summarize", "function_url_summarize")
    assert result["statusCode"] == 503
    assert "not valid JSON" in result["json"]["error"]["message"]


def test_json_secret_with_api_key_is_used(secretsmanager, fake_model, invoke):
    secretsmanager.create_secret(Name=SECRET_ID, SecretString='{"api_key": "sk-from-json"}')
    assert invoke("summarize", "function_url_summarize")["statusCode"] == 200
    assert fake_model.requests[-1].headers["authorization"] == "Bearer sk-from-json"


def test_missing_secret_id_setting_is_503_naming_the_variable(configured, invoke, monkeypatch):
    monkeypatch.delenv("OPENAI_SECRET_ID")
    llm_core.reset_caches()
    result = invoke("summarize", "function_url_summarize")
    assert result["statusCode"] == 503
    assert "OPENAI_SECRET_ID is not set" in result["json"]["error"]["message"]


def test_rotated_key_is_fetched_again_after_a_401(configured, fake_model, invoke):
    assert invoke("summarize", "function_url_summarize")["statusCode"] == 200  # the old key is now cached
    configured.put_secret_value(SecretId=SECRET_ID, SecretString="sk-rotated")
    fake_model.required_key = "sk-rotated"
    result = invoke("summarize", "function_url_summarize")
    assert result["statusCode"] == 200
    assert [r.headers["authorization"] for r in fake_model.requests[1:]] == [
        f"Bearer {CANARY_KEY}",
        "Bearer sk-rotated",
    ]


def test_key_rejected_even_after_refetch_is_503(configured, fake_model, invoke):
    fake_model.required_key = "sk-something-else"
    result = invoke("summarize", "function_url_summarize")
    assert (result["statusCode"], result["json"]["error"]["type"]) == (503, "not_configured")
    assert len(fake_model.requests) == 2


def test_key_never_appears_in_logs_or_responses(configured, fake_model, invoke, all_output):
    fake_model.required_key = "sk-other"  # a 401 path, where SDK errors describe the request
    bodies = [invoke("summarize", "function_url_summarize")["body"]]
    fake_model.required_key = None
    fake_model.enqueue(FakeReply(status=500), FakeReply(status=500), FakeReply(status=500))
    bodies.append(invoke("summarize", "function_url_summarize")["body"])
    bodies.append(invoke("summarize", "function_url_summarize")["body"])
    output = all_output()
    assert "request failed" in output  # the functions' own log lines were collected
    assert CANARY_KEY not in output
    assert all(CANARY_KEY not in body for body in bodies)


def test_reasoning_effort_is_sent_only_when_configured(configured, fake_model, invoke, monkeypatch):
    invoke("summarize", "function_url_summarize")
    assert "reasoning" not in fake_model.requests[-1].body
    monkeypatch.setenv("OPENAI_REASONING_EFFORT", "low")
    llm_core.reset_caches()
    invoke("summarize", "function_url_summarize")
    assert fake_model.requests[-1].body["reasoning"] == {"effort": "low"}


def test_retry_after_in_milliseconds_longer_than_the_time_left_is_passed_on_in_seconds(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(status=429, headers={"retry-after-ms": "45000"}))
    result = invoke("summarize", "function_url_summarize")
    assert (result["statusCode"], result["headers"]["retry-after"]) == (429, "45")
    assert len(fake_model.requests) == 1


def test_json_nested_deeper_than_the_limit_is_400_saying_so(configured, invoke):
    result = invoke("summarize", event_with_body("function_url_summarize", '{"text": ' + "[" * 150 + "]" * 150 + "}"))
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        400,
        "The request body is nested more than 100 levels deep.",
    )


def test_key_with_a_line_break_is_503_and_never_logged(secretsmanager, fake_model, invoke, all_output):
    secretsmanager.create_secret(Name=SECRET_ID, SecretString="sk-canary-part1\npart2-secret")
    result = invoke("summarize", "function_url_summarize")
    assert (result["statusCode"], result["json"]["error"]["type"]) == (503, "not_configured")
    assert fake_model.requests == []
    assert "part2-secret" not in all_output() + result["body"]

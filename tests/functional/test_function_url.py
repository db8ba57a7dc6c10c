"""The buffered functions' request path (llm_core.function_url): every body gets the contract's answer."""

from __future__ import annotations

import base64
import gzip

import pytest

from infra.emulator.server import BUFFERED_FUNCTIONS
from tests.support import event_with_body


def raw_event(function: str, body: bytes, **headers: str) -> dict:
    event = event_with_body(f"function_url_{function}", "")
    event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = True
    event["headers"].update(headers)
    return event


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_integer_over_python_digit_limit_is_400(configured, invoke, function):
    result = invoke(function, event_with_body(f"function_url_{function}", '{"text": ' + "7" * 4301 + "}"))
    assert (result["statusCode"], result["json"]["error"]["type"]) == (400, "invalid_json")


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_lone_surrogate_is_400_and_the_model_is_not_called(configured, fake_model, invoke, function):
    result = invoke(function, event_with_body(f"function_url_{function}", '{"text": "hi \\ud800"}'))
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        400,
        "text: holds an unpaired UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode text.",
    )
    assert fake_model.requests == []


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-32"])
def test_body_that_is_not_utf8_is_400(configured, invoke, function, encoding):
    result = invoke(function, raw_event(function, '{"text": "café"}'.encode(encoding)))
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        400,
        "The request body is not UTF-8 text: send JSON encoded as UTF-8.",
    )


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_gzip_body_is_400_naming_content_encoding(configured, invoke, function):
    result = invoke(function, raw_event(function, gzip.compress(b'{"text": "hi"}'), **{"content-encoding": "gzip"}))
    assert result["statusCode"] == 400
    assert result["json"]["error"]["message"].startswith("Content-Encoding is not accepted")


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_array_body_is_400_not_its_first_element(configured, fake_model, invoke, function):
    result = invoke(function, event_with_body(f"function_url_{function}", '[{"text": "a"}, {"text": "b"}]'))
    assert (result["statusCode"], result["json"]["error"]["type"]) == (400, "invalid_json")
    assert result["json"]["error"]["message"].startswith("The request body must be a JSON object")
    assert fake_model.requests == []


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_mixed_case_json_media_type_is_accepted(configured, invoke, function):
    event = event_with_body(f"function_url_{function}", '{"text": "Lambda runs code without servers."}')
    event["headers"]["content-type"] = "Application/JSON; charset=UTF-8"
    assert invoke(function, event)["statusCode"] == 200


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_empty_body_says_what_to_send(configured, invoke, function):
    result = invoke(function, event_with_body(f"function_url_{function}", ""))
    assert result["json"]["error"]["message"].startswith(
        'The request body is empty: send a JSON object such as {"text":'
    )


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_unexpected_failure_is_logged_once_with_request_id_and_function_name(
    configured, invoke, monkeypatch, all_output, lambda_context, function
):
    lambda_context.function_name = f"llm-endpoints-{function}-function"

    def broken(_request):
        raise RuntimeError("a bug in the core")

    monkeypatch.setattr(f"handlers.{function}.app.work", broken)
    result = invoke(function, f"function_url_{function}")
    assert (result["statusCode"], result["json"]["error"]["request_id"]) == (500, lambda_context.aws_request_id)
    assert "a bug in the core" not in result["body"]
    failures = [line for line in all_output().splitlines() if "unexpected failure" in line and "'levelname'" in line]
    assert len(failures) == 1
    assert lambda_context.aws_request_id in failures[0] and lambda_context.function_name in failures[0]

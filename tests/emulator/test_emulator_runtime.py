"""Lambda's shapes, without a server: Function URL events and results, the context, the Web Adapter's headers."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

from infra.emulator.runtime import LambdaContext, build_event, response_from_result, web_adapter_headers


def scope(**overrides: Any) -> dict[str, Any]:
    base = {
        "type": "http",
        "method": "POST",
        "path": "/api/todo",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 3000),
        "scheme": "http",
        "http_version": "1.1",
    }
    return base | overrides


def test_event_time_fields_use_the_function_url_formats() -> None:
    now = datetime(2026, 3, 5, 7, 8, 9, 123000, tzinfo=UTC)

    event = build_event(scope(), b"{}", request_id="r-1", url_id="u" * 32, now=now)

    assert event["requestContext"]["time"] == "05/Mar/2026:07:08:09 +0000"
    assert event["requestContext"]["timeEpoch"] == 1772694489123


def test_event_without_body_has_no_body_key() -> None:
    event = build_event(scope(method="GET"), b"", request_id="r-1", url_id="u" * 32)

    assert "body" not in event
    assert event["isBase64Encoded"] is False


def test_event_without_query_or_cookies_omits_those_keys() -> None:
    event = build_event(scope(), b"{}", request_id="r-1", url_id="u" * 32)

    assert "queryStringParameters" not in event
    assert "cookies" not in event


def test_event_for_invalid_utf8_json_is_base64() -> None:
    event = build_event(scope(), b'{"text": "\xff"}', request_id="r-1", url_id="u" * 32)

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b'{"text": "\xff"}'


def test_result_with_base64_body_is_decoded() -> None:
    result = {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}

    assert response_from_result(result)[2] == b"\x00\x01"


def test_result_cookies_become_set_cookie_headers() -> None:
    status, headers, _ = response_from_result({"statusCode": 204, "cookies": ["a=1; Secure", "b=2"]})

    assert status == 204
    assert [value for name, value in headers if name == "set-cookie"] == ["a=1; Secure", "b=2"]


def test_result_without_status_code_is_a_200_json_document() -> None:
    status, headers, body = response_from_result({"hello": "world"})

    assert (status, json.loads(body)) == (200, {"hello": "world"})
    assert ("content-type", "application/json") in headers


def test_lambda_context_counts_down_from_the_timeout() -> None:
    context = LambdaContext("SummarizeFunction", "r-1", timeout_seconds=30, memory_mb=512)

    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000
    assert context.invoked_function_arn.endswith(":function:SummarizeFunction")
    assert context.memory_limit_in_mb == "512"


def test_lambda_context_counts_down_to_a_given_deadline() -> None:
    context = LambdaContext("SummarizeFunction", deadline_ms=int(time.time() * 1000) + 2_000)

    assert 1_000 < context.get_remaining_time_in_millis() <= 2_000


def test_lambda_context_never_has_negative_time_left() -> None:
    context = LambdaContext(deadline_ms=int(time.time() * 1000) - 5_000)

    assert context.get_remaining_time_in_millis() == 0


def test_each_lambda_context_gets_its_own_request_id() -> None:
    assert LambdaContext().aws_request_id != LambdaContext().aws_request_id


def test_web_adapter_headers_carry_the_invocation_and_the_request_context() -> None:
    event = build_event(scope(), b"{}", request_id="r-1", url_id="u" * 32)
    context = LambdaContext("StreamFunction", "r-1", timeout_seconds=120, memory_mb=512)

    headers = dict(web_adapter_headers(event, context))

    lambda_context = json.loads(headers[b"x-amzn-lambda-context"])
    assert (lambda_context["request_id"], lambda_context["deadline"]) == ("r-1", context.deadline_ms)
    assert lambda_context["env_config"]["function_name"] == "StreamFunction"
    assert json.loads(headers[b"x-amzn-request-context"]) == event["requestContext"]

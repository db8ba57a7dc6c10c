"""The emulator's translations, without a server: events, results, the Lambda context, template and key lookup."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.emulator import (
    KEY_SOURCE_NONE,
    ConfigError,
    EmulatorApp,
    LambdaContext,
    TemplateFacts,
    build_event,
    read_template,
    resolve_model_config,
    response_from_result,
)

REPO = Path(__file__).resolve().parents[2]


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


def test_template_timeouts_are_read_per_function() -> None:
    facts = read_template(REPO / "template.yaml")

    assert facts.function("SummarizeFunction").timeout_seconds == 30
    assert facts.function("StreamFunction").timeout_seconds == 120


def test_missing_template_gives_the_default_timeout(tmp_path: Path) -> None:
    assert read_template(tmp_path / "none.yaml").function("SummarizeFunction").timeout_seconds == 30


def test_template_variables_that_differ_per_function_are_not_shared(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Parameters:\n  Level: {Type: String, Default: INFO}\n"
        "Globals:\n  Function:\n    Environment:\n      Variables:\n        LOG: !Ref Level\n"
        "Resources:\n"
        "  A:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Environment: {Variables: {TOKENS: '1', ONLY_A: x}}\n"
        "  B:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Environment: {Variables: {TOKENS: '2', ARN: !GetAtt A.Arn}}\n"
    )

    assert read_template(template).shared_environment() == {"LOG": "INFO", "ONLY_A": "x"}


def test_key_from_env_file_wins_over_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-file\nUNRELATED=1\n")

    config = resolve_model_config(env_file, {"OPENAI_API_KEY": "sk-shell"})

    assert (config.api_key, config.key_source) == ("sk-file", ".env")


def test_key_from_the_environment_when_the_env_file_has_none(tmp_path: Path) -> None:
    config = resolve_model_config(tmp_path / "absent.env", {"OPENAI_API_KEY": "sk-shell"})

    assert (config.api_key, config.key_source, config.demo) == ("sk-shell", "environment", False)


def test_no_key_anywhere_means_the_offline_demo(tmp_path: Path) -> None:
    config = resolve_model_config(tmp_path / "absent.env", {})

    assert (config.demo, config.key_source) == (True, KEY_SOURCE_NONE)


def test_base_url_without_scheme_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        resolve_model_config(None, {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "api.example"})


def call_app(app: EmulatorApp, body: bytes) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope(path="/api/summarize"), receive, send))
    return sent


def app_with_handler(handler: Any, tmp_path: Path) -> EmulatorApp:
    async def no_stream(*_: Any) -> None:
        raise AssertionError("not called")

    return EmulatorApp({"summarize": handler, "todo": handler}, no_stream, TemplateFacts({}, []), tmp_path, False, [])


def test_unhandled_handler_exception_is_a_502_like_lambda(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def crash(event: dict, context: Any) -> dict:
        raise RuntimeError("boom")

    start = call_app(app_with_handler(crash, tmp_path), b"{}")[0]

    assert start["status"] == 502
    assert "RuntimeError: boom" in capsys.readouterr().err


def test_handler_gets_the_context_and_event_of_one_invocation(tmp_path: Path) -> None:
    seen: list[tuple[dict, Any]] = []

    def record(event: dict, context: Any) -> dict:
        seen.append((event, context))
        return {"statusCode": 200, "body": "ok"}

    call_app(app_with_handler(record, tmp_path), b"{}")

    event, context = seen[0]
    assert context.aws_request_id == event["requestContext"]["requestId"]
    assert context.function_name == "SummarizeFunction"

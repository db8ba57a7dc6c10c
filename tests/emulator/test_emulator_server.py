"""The emulator over real HTTP on 127.0.0.1, running the real handlers against the fake model."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest

from infra.emulator import DEMO_HEADER, Emulator
from infra.emulator.guard import ApiGuard
from infra.emulator.server import (
    EVENT_HISTORY,
    FUNCTIONS,
    RECORDED_BODY_CHARS,
    STOPPING_MESSAGE,
    Function,
    function_environment,
    max_input_chars,
    with_headers,
    without_query_string,
)
from infra.emulator.template import FunctionSettings, read_template
from infra.fake_openai import FakeOpenAI, FakeReply
from llm_core.prompts import MAX_BULLETS
from llm_core.settings import Settings
from llm_core.tokens import SIGN_IN_UNKNOWN_KEY
from tests.emulator.conftest import Client, LogCollector, read_sse_event, sign_in_over_http

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = read_template(REPO / "template.yaml")

API_PATHS = ["/api/summarize", "/api/todo", "/api/stream"]
# Lambda's documented limit on a synchronous invocation's request payload.
SIX_MB = 6 * 1024 * 1024
VALID_BODIES = {
    "/api/summarize": {"text": "The council met. It agreed a trial. A vote follows in June."},
    "/api/todo": {"text": "Call the plumber today", "timezone": "Europe/Paris"},
    "/api/stream": {"prompt": "Say hello"},
}


def test_page_is_served_at_root(client: Client) -> None:
    reply = client.request("GET", "/")

    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert b"<html" in reply.body.lower()


def test_page_carries_the_cloudfront_content_security_policy(client: Client) -> None:
    reply = client.request("GET", "/")

    assert "default-src 'self'" in reply.headers["content-security-policy"]


@pytest.mark.parametrize("path", [*API_PATHS, "/api/nothing-here"])
def test_api_answers_carry_the_cloudfront_security_headers_too(client: Client, path: str) -> None:
    reply = client.post_json(path, VALID_BODIES.get(path, {}))

    # The template puts the response headers policy on the /api* behaviours as on the page's.
    assert {name: reply.headers.get(name) for name, _ in TEMPLATE.response_headers} == dict(TEMPLATE.response_headers)


def test_the_policys_headers_replace_those_an_answer_set_under_the_same_names() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    start = {"type": "http.response.start", "status": 200, "headers": [(b"X-Frame-Options", b"SAMEORIGIN")]}
    asyncio.run(with_headers(send, [("x-frame-options", "DENY")])(start))

    # As CloudFront's Override: true, not a second header the browser would have to choose between.
    assert sent[0]["headers"] == [(b"x-frame-options", b"DENY")]


def test_unknown_static_file_is_404(client: Client) -> None:
    assert client.request("GET", "/no-such-file.js").status == 404


def test_summarize_returns_bullets(client: Client) -> None:
    reply = client.post_json("/api/summarize", {"text": "One thing. Another thing. A third thing.", "max_bullets": 2})

    assert reply.status == 200
    body = reply.json()
    assert body["bullets"] == ["One thing.", "Another thing."]
    assert set(body["usage"]) == {"input_tokens", "output_tokens"}


def test_summarize_error_is_the_json_envelope(client: Client) -> None:
    reply = client.request("POST", "/api/summarize", b'{"text": ', {"content-type": "application/json"})

    assert reply.status == 400
    assert reply.json() == {
        "error": {
            "type": "invalid_json",
            "message": "The request body is not valid JSON (Expecting value at line 1, column 10).",
            "request_id": reply.headers["x-request-id"],
        }
    }


def test_todo_returns_a_schema_valid_item(client: Client) -> None:
    reply = client.post_json("/api/todo", {"text": "Buy milk today", "timezone": "Europe/Paris"})

    assert reply.status == 200
    todo = reply.json()["todo"]
    assert set(todo) == {"title", "due_date", "priority"}
    assert todo["title"] == "Buy milk today"
    assert 1 <= todo["priority"] <= 5


def test_todo_error_is_the_json_envelope(client: Client) -> None:
    reply = client.post_json("/api/todo", {"text": "Buy milk", "timezone": "Mars/Olympus_Mons"})

    assert reply.status == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request"
    assert "timezone" in error["message"]
    assert error["request_id"] == reply.headers["x-request-id"]


def test_upstream_failure_is_a_502_envelope(client: Client, emulator_fake_model: FakeOpenAI) -> None:
    # The SDK retries a 500 twice, so script three failures.
    emulator_fake_model.enqueue(*(FakeReply(status=500) for _ in range(3)))

    reply = client.post_json("/api/summarize", VALID_BODIES["/api/summarize"])

    assert reply.status == 502
    assert reply.json()["error"]["type"] == "upstream_error"


def test_stream_sends_deltas_then_done(client: Client, emulator_fake_model: FakeOpenAI) -> None:
    emulator_fake_model.enqueue(FakeReply(tokens=["Hel", "lo", "!"]))
    connection = client.connection()
    connection.request("POST", "/api/stream", json.dumps({"prompt": "Hi"}), {"content-type": "application/json"})
    response = connection.getresponse()

    events = []
    while (event := read_sse_event(response)) != ("", ""):
        events.append(event)
    connection.close()

    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [name for name, _ in events] == ["delta", "delta", "delta", "done"]
    assert "".join(json.loads(data)["text"] for name, data in events if name == "delta") == "Hello!"
    assert json.loads(events[-1][1])["finish_reason"] == "completed"


def test_stream_first_delta_arrives_before_the_model_has_finished(
    client: Client, emulator_fake_model: FakeOpenAI
) -> None:
    release_last_token = threading.Event()
    emulator_fake_model.enqueue(FakeReply(tokens=["first", " second", " last"], hold_last_token=release_last_token))
    connection = client.connection()
    try:
        connection.request("POST", "/api/stream", json.dumps({"prompt": "Hi"}), {"content-type": "application/json"})
        response = connection.getresponse()

        # The emulator_fake_model is holding its last token until this test releases it, so this read can only succeed
        # if the emulator passed the first delta through instead of buffering the answer.
        first = read_sse_event(response)
        finished_before_first_delta = release_last_token.is_set()
        release_last_token.set()
        rest = []
        while (event := read_sse_event(response)) != ("", ""):
            rest.append(event)
    finally:
        release_last_token.set()
        connection.close()

    assert first == ("delta", json.dumps({"text": "first"}))
    assert not finished_before_first_delta
    assert [name for name, _ in rest] == ["delta", "delta", "done"]


def test_stream_error_is_the_json_envelope(client: Client) -> None:
    reply = client.post_json("/api/stream", {"prompt": "Hi", "messages": []})

    assert reply.status == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["request_id"] == reply.headers["x-request-id"]


def test_stream_is_not_compressed(client: Client) -> None:
    reply = client.request(
        "POST",
        "/api/stream",
        json.dumps({"prompt": "Hi"}).encode(),
        {"content-type": "application/json", "accept-encoding": "gzip"},
    )

    assert reply.status == 200
    assert "content-encoding" not in reply.headers


def test_stream_app_gets_the_invocation_context_like_behind_the_web_adapter(client: Client, emulator: Emulator) -> None:
    reply = client.post_json("/api/stream", {"prompt": "Hi"})

    # The app takes its request id from the x-amzn-lambda-context header the adapter adds.
    assert reply.headers["x-request-id"] == emulator.events[-1]["requestContext"]["requestId"]


@pytest.mark.parametrize("path", API_PATHS)
def test_every_api_response_has_a_request_id(client: Client, path: str) -> None:
    assert client.post_json(path, VALID_BODIES[path]).headers["x-request-id"]


@pytest.mark.parametrize("path", API_PATHS)
def test_every_error_response_has_a_request_id(client: Client, path: str) -> None:
    reply = client.request("POST", path, b"not json", {"content-type": "application/json"})

    assert reply.status == 400
    assert reply.headers["x-request-id"] == reply.json()["error"]["request_id"]


@pytest.mark.parametrize("path", API_PATHS)
def test_demo_mode_marks_every_api_response(client: Client, path: str) -> None:
    reply = client.post_json(path, VALID_BODIES[path])

    assert reply.headers[DEMO_HEADER[0]] == DEMO_HEADER[1]


def test_page_says_it_is_the_demo_so_the_banner_shows_before_any_call(client: Client) -> None:
    assert client.request("HEAD", "/").headers[DEMO_HEADER[0]] == DEMO_HEADER[1]


def test_handler_receives_a_function_url_v2_event(client: Client, emulator: Emulator) -> None:
    client.request(
        "POST",
        "/api/summarize?lang=en&lang=fr&debug",
        json.dumps(VALID_BODIES["/api/summarize"]).encode(),
        {"content-type": "application/json", "cookie": "a=1; b=2", "user-agent": "emulator-test/1.0"},
    )

    event = emulator.events[-1]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/api/summarize"
    assert event["rawQueryString"] == "lang=en&lang=fr&debug"
    assert event["queryStringParameters"] == {"lang": "en,fr", "debug": ""}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["content-type"] == "application/json"
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == VALID_BODIES["/api/summarize"]
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/api/summarize",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "emulator-test/1.0",
    }
    assert context["routeKey"] == "$default"
    assert context["stage"] == "$default"
    assert context["domainName"] == f"{context['apiId']}.lambda-url.us-east-1.on.aws"
    assert context["domainPrefix"] == context["apiId"]
    assert isinstance(context["timeEpoch"], int)
    assert {"accountId", "requestId", "time"} <= set(context)


def test_event_headers_are_lower_case_and_repeats_comma_joined(client: Client, emulator: Emulator) -> None:
    connection = client.connection()
    connection.putrequest("POST", "/api/todo")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("X-Thing", "one")
    connection.putheader("X-Thing", "two")
    body = json.dumps(VALID_BODIES["/api/todo"]).encode()
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    connection.getresponse().read()
    connection.close()

    headers = emulator.events[-1]["headers"]
    assert headers["x-thing"] == "one,two"
    assert all(name == name.lower() for name in headers)


def test_binary_body_reaches_the_handler_base64_encoded(client: Client, emulator: Emulator) -> None:
    payload = b"\x89PNG\r\n\x1a\n\x00\xff"
    reply = client.request("POST", "/api/summarize", payload, {"content-type": "application/octet-stream"})

    event = emulator.events[-1]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload
    assert reply.json()["error"]["type"] == "invalid_json"


def test_key_comes_from_the_secret_seeded_from_the_env_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAI(required_key="sk-from-dotenv-1234") as server:
        env_file = tmp_path / ".env"
        env_file.write_text(f"OPENAI_API_KEY=sk-from-dotenv-1234\nOPENAI_BASE_URL={server.base_url}\n")
        with Emulator(env_file=env_file) as emulator:
            reply = Client(emulator.url).post_json("/api/summarize", VALID_BODIES["/api/summarize"])

    assert reply.status == 200
    assert server.requests[-1].headers["authorization"] == "Bearer sk-from-dotenv-1234"
    assert DEMO_HEADER[0] not in reply.headers


def test_reasoning_effort_from_the_env_file_reaches_the_functions_even_empty(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_MODEL=gpt-4o-mini\nOPENAI_REASONING_EFFORT=\n")

    with Emulator(env_file=env_file) as emulator:  # no key: the demo model answers
        wired = {route: emulator.function_environment(route) for route in ("summarize", "todo", "stream")}

    assert {route: env["OPENAI_REASONING_EFFORT"] for route, env in wired.items()} == dict.fromkeys(wired, "")


def test_console_access_lines_keep_no_query_string(tmp_path) -> None:
    with FakeOpenAI() as server, Emulator(fake=server, env_file=tmp_path / "missing.env", log_level="info"):
        access = logging.getLogger("uvicorn.access")
        record = access.makeRecord(
            access.name,
            logging.INFO,
            __file__,
            0,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", "/?code=a-sign-in-code&state=s", "1.1", 200),
            None,
        )
        kept = access.filter(record)
    assert (kept, record.getMessage()) == (True, '127.0.0.1:5000 - "GET / HTTP/1.1" 200')
    access.removeFilter(without_query_string)


def test_emulator_leaves_its_own_process_environment_alone(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    before = dict(os.environ)

    with FakeOpenAI() as server, Emulator(fake=server, env_file=tmp_path / "missing.env") as emulator:
        during = dict(os.environ)
        wired = emulator.function_environment("summarize")["AWS_ENDPOINT_URL_SECRETS_MANAGER"]

    assert during == before == dict(os.environ)
    assert wired.startswith("http://127.0.0.1:")


# ---------------------------------------------------------------------------------------------- paths


@pytest.mark.parametrize("path", ["/api/summarize/", "//api/summarize", "/api/unknown", "/api", "/api/todo/extra"])
def test_unknown_api_path_is_a_404_envelope_naming_the_endpoints(client: Client, path: str) -> None:
    reply = client.post_json(path, VALID_BODIES["/api/summarize"])

    assert reply.status == 404
    error = reply.json()["error"]
    assert error["type"] == "not_found"
    assert all(endpoint in error["message"] for endpoint in API_PATHS)
    assert error["request_id"] == reply.headers["x-request-id"]


def test_a_request_line_in_absolute_form_reaches_its_endpoint(client: Client) -> None:
    # As a proxy sends it: POST http://host:port/api/summarize HTTP/1.1.
    reply = client.post_json(f"http://{client.host}:{client.port}/api/summarize", VALID_BODIES["/api/summarize"])
    assert (reply.status, list(reply.json())) == (200, ["bullets", "model", "usage"])


@pytest.mark.parametrize("path", ["/x/../api/summarize", "/./api/summarize", "/%61pi/%73ummarize"])
def test_a_path_cloudfront_normalizes_to_an_endpoint_reaches_it(client: Client, emulator: Emulator, path: str) -> None:
    reply = client.post_json(path, VALID_BODIES["/api/summarize"])

    assert (reply.status, list(reply.json())) == (200, ["bullets", "model", "usage"])
    assert emulator.events[-1]["rawPath"] == "/api/summarize"


@pytest.mark.parametrize("path", ["/api%2Fsummarize", "/api%2fsummarize", "/api/summarize%2F"])
def test_an_encoded_slash_is_no_separator_so_the_path_is_no_endpoint(
    client: Client, emulator: Emulator, path: str
) -> None:
    before = list(emulator.events)
    reply = client.post_json(path, VALID_BODIES["/api/summarize"])

    assert (reply.status, reply.json()["error"]["type"]) == (404, "not_found")
    assert list(emulator.events) == before


def test_an_encoded_slash_in_an_absolute_form_request_line_is_no_separator_either(client: Client) -> None:
    reply = client.post_json(f"http://{client.host}:{client.port}/api%2Fsummarize", VALID_BODIES["/api/summarize"])
    assert (reply.status, reply.json()["error"]["type"]) == (404, "not_found")


def test_a_user_name_in_an_absolute_form_request_line_is_not_part_of_the_host(client: Client) -> None:
    reply = client.post_json(f"http://ana@{client.host}:{client.port}/api/summarize", VALID_BODIES["/api/summarize"])
    assert (reply.status, list(reply.json())) == (200, ["bullets", "model", "usage"])


def test_a_request_line_in_absolute_form_naming_another_host_is_refused(client: Client) -> None:
    # The authority in the request line, not the Host header, is the address asked for (RFC 9112, 3.2.2).
    reply = client.post_json("http://evil.example/api/summarize", VALID_BODIES["/api/summarize"])
    assert (reply.status, reply.json()["error"]["type"]) == (403, "forbidden")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS", "PROPFIND"])
def test_unknown_api_path_is_a_404_whatever_the_method(client: Client, method: str) -> None:
    reply = client.request(method, "/api/summarize/")

    assert (reply.status, reply.json()["error"]["type"]) == (404, "not_found")


def test_unknown_api_path_invokes_no_function(client: Client, emulator: Emulator) -> None:
    before = list(emulator.events)

    client.post_json("/api/summarize/", VALID_BODIES["/api/summarize"])

    assert list(emulator.events) == before


def test_other_paths_still_serve_the_page(client: Client) -> None:
    reply = client.request("GET", "/index.html")

    assert (reply.status, reply.headers["content-type"].split(";")[0]) == (200, "text/html")


# ---------------------------------------------------------------------------------------------- the page's config


def test_config_json_gives_the_page_the_limits_the_functions_enforce(client: Client) -> None:
    reply = client.request("GET", "/config.json")

    assert reply.status == 200
    assert reply.json()["limits"] == {
        "max_input_chars": int(TEMPLATE.function("SummarizeFunction").environment["MAX_INPUT_CHARS"]),
        "max_bullets": MAX_BULLETS,
    }
    assert reply.json()["auth"] == {"mode": "none"}


def test_a_function_gets_no_key_nor_aws_credentials_from_the_shell() -> None:
    shell = {"OPENAI_API_KEY": "sk-not-a-real-key", "AWS_PROFILE": "work", "AWS_SESSION_TOKEN": "t", "HOME": "/h"}

    environment = function_environment(FunctionSettings(), shell, {})

    # The key reaches a function only through its secret, as in AWS; the shell's account is never reached.
    assert environment == {"HOME": "/h"}


def test_a_functions_service_name_is_the_templates_whatever_the_shell_says() -> None:
    settings = FunctionSettings(environment={"POWERTOOLS_SERVICE_NAME": "summarize", "LOG_LEVEL": "INFO"})

    environment = function_environment(settings, {"POWERTOOLS_SERVICE_NAME": "x", "LOG_LEVEL": "DEBUG"}, {})

    # The shell may tune a variable, but not rename the function in its logs and metrics.
    assert environment == {"POWERTOOLS_SERVICE_NAME": "summarize", "LOG_LEVEL": "DEBUG"}


def test_config_json_is_never_kept_by_the_browser(client: Client) -> None:
    # Each run of make dev SIGN_IN=1 makes a new pool and app client: a kept copy would send the page to the old one.
    reply = client.request("GET", "/config.json")

    assert reply.headers["cache-control"] == "no-store"


def test_max_input_chars_from_the_environment_reaches_the_page_and_the_functions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_INPUT_CHARS", "1234")
    with FakeOpenAI() as fake, Emulator(fake=fake) as emulator:
        client = Client(emulator.url)
        page_limit = client.request("GET", "/config.json").json()["limits"]["max_input_chars"]
        at_the_limit = client.post_json("/api/summarize", {"text": "x" * 1234})
        over_the_limit = client.post_json("/api/summarize", {"text": "x" * 1235})

    assert page_limit == 1234
    assert at_the_limit.status == 200
    assert (over_the_limit.status, over_the_limit.json()["error"]["type"]) == (413, "too_large")


def test_the_page_is_told_the_input_limit_of_the_strictest_function() -> None:
    # One function tuned lower than the others: the page must not offer input that function refuses with a 413.
    functions = [{"OPENAI_SECRET_ID": "local", "MAX_INPUT_CHARS": chars} for chars in ("20000", "5000", "12000")]

    assert max_input_chars(functions) == 5000


@pytest.mark.parametrize("value", ["", "0", "many"])  # the functions: unset, then below 1, then not a number
def test_a_max_input_chars_the_functions_do_not_take_leaves_the_page_the_default(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MAX_INPUT_CHARS", value)
    with FakeOpenAI() as fake, Emulator(fake=fake) as emulator:
        page_limit = Client(emulator.url).request("GET", "/config.json").json()["limits"]["max_input_chars"]

    assert page_limit == Settings.model_fields["max_input_chars"].default


# ---------------------------------------------------------------------------------------------- Lambda's limits


def test_a_body_whose_event_stays_under_6_mb_reaches_the_function(client: Client, emulator: Emulator) -> None:
    # The event around the body (its headers, the request context) takes about 1 KB of the limit.
    reply = client.request("POST", "/api/summarize", b"x" * (SIX_MB - 4096), {"content-type": "text/plain"})

    # The function's own answer (not JSON), not Lambda's 413.
    assert (reply.status, reply.json()["error"]["type"]) == (400, "invalid_json")
    assert emulator.events[-1]["body"].startswith("x" * RECORDED_BODY_CHARS)


def test_a_body_of_6_mb_gets_lambdas_own_413_saying_it_must_be_smaller(client: Client, emulator: Emulator) -> None:
    before = list(emulator.events)

    reply = client.request("POST", "/api/summarize", b"x" * SIX_MB, {"content-type": "text/plain"})

    assert (reply.status, reply.json()) == (
        413,
        {"Message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation"},
    )
    assert list(emulator.events) == before


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # 4 MB sent; each \" is \\\" in the event's JSON: 8 MB.
        (b'{"text": "' + b'\\"' * (2 * 1024 * 1024) + b'"}', "application/json"),
        # 5 MB sent; not text, so base64 in the event: 6.7 MB.
        (b"\x00" * (5 * 1024 * 1024), "application/octet-stream"),
    ],
)
def test_a_body_under_6_mb_whose_event_is_over_it_gets_lambdas_own_413(
    client: Client, emulator: Emulator, body: bytes, content_type: str
) -> None:
    before = list(emulator.events)

    reply = client.request("POST", "/api/summarize", body, {"content-type": content_type})

    assert (reply.status, reply.json()) == (
        413,
        {"Message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation"},
    )
    assert list(emulator.events) == before


def test_lambdas_own_413_names_its_request_id(client: Client) -> None:
    reply = client.request("POST", "/api/summarize", b"x" * SIX_MB, {"content-type": "text/plain"})
    assert re.fullmatch(r"[0-9a-f-]{36}", reply.headers["x-amzn-requestid"])


# ---------------------------------------------------------------------------------------------- history


def test_history_keeps_only_the_latest_events(client: Client, emulator: Emulator) -> None:
    sent = [f"request {index}" for index in range(EVENT_HISTORY + 5)]

    for text in sent:
        client.request("POST", "/api/summarize", text.encode(), {"content-type": "text/plain"})

    assert [event["body"] for event in emulator.events] == sent[-EVENT_HISTORY:]


def test_history_keeps_large_bodies_cut_short(client: Client, emulator: Emulator) -> None:
    text = "y" * (RECORDED_BODY_CHARS * 8)

    client.request("POST", "/api/summarize", text.encode(), {"content-type": "text/plain"})

    recorded = emulator.events[-1]["body"]
    assert recorded.startswith("y" * RECORDED_BODY_CHARS)
    assert len(recorded) < RECORDED_BODY_CHARS + 100
    assert str(len(text)) in recorded


# ---------------------------------------------------------------------------------------------- other sites


def forbidden(reply_message: str, reply: Any) -> dict[str, Any]:
    return {"error": {"type": "forbidden", "message": reply_message, "request_id": reply.headers["x-request-id"]}}


@pytest.mark.parametrize("path", [*API_PATHS, "/api/nothing-here"])
def test_a_page_on_another_site_cannot_call_the_api(
    client: Client, emulator: Emulator, emulator_fake_model: FakeOpenAI, path: str
) -> None:
    events, model_calls = list(emulator.events), len(emulator_fake_model.requests)
    # What fetch(url, {method: "POST", mode: "no-cors", body}) on https://evil.example sends: no preflight.
    body = json.dumps(VALID_BODIES.get(path, {})).encode()

    reply = client.request("POST", path, body, {"content-type": "text/plain", "origin": "https://evil.example"})

    assert (reply.status, reply.json()) == (403, forbidden(ApiGuard(emulator.url).wrong_origin, reply))
    assert (list(emulator.events), len(emulator_fake_model.requests)) == (events, model_calls)


@pytest.mark.parametrize("path", API_PATHS)
def test_a_dns_rebinding_page_cannot_call_the_api(
    client: Client, emulator: Emulator, emulator_fake_model: FakeOpenAI, path: str
) -> None:
    events, model_calls = list(emulator.events), len(emulator_fake_model.requests)
    # evil.example resolved to 127.0.0.1: to the browser, the call is the attacker's page's own origin.
    rebound = {"host": f"evil.example:{client.port}", "origin": f"http://evil.example:{client.port}"}

    reply = client.post_json(path, VALID_BODIES[path], rebound)

    assert (reply.status, reply.json()) == (403, forbidden(ApiGuard(emulator.url).wrong_host, reply))
    assert (list(emulator.events), len(emulator_fake_model.requests)) == (events, model_calls)


@pytest.mark.parametrize("path", API_PATHS)
def test_the_pages_own_call_with_its_origin_is_answered(client: Client, emulator: Emulator, path: str) -> None:
    reply = client.post_json(path, VALID_BODIES[path], {"origin": emulator.url})

    assert reply.status == 200


def test_the_page_opened_at_localhost_calls_the_api_there(client: Client) -> None:
    at_localhost = {"host": f"localhost:{client.port}", "origin": f"http://localhost:{client.port}"}

    reply = client.post_json("/api/summarize", VALID_BODIES["/api/summarize"], at_localhost)

    assert reply.status == 200


def test_an_emulator_on_ipv6_loopback_answers_its_own_page_there(emulator_fake_model: FakeOpenAI) -> None:
    with Emulator(host="::1", fake=emulator_fake_model, wait_until_warm=False) as emulator:
        url = emulator.url
        # Past the guard: the envelope's 404 for a path with no function, not its 403.
        reply = Client(url).post_json("/api/nothing-here", {}, {"origin": url})

    assert (url.startswith("http://[::1]:"), reply.status) == (True, 404)


def test_the_page_itself_is_served_through_any_host_name(client: Client) -> None:
    # Only /api/ spends anything; the page at a stray name then shows the API's 403 and where to go.
    reply = client.request("GET", "/", headers={"host": f"evil.example:{client.port}"})

    assert (reply.status, b"<title>" in reply.body) == (200, True)


# ---------------------------------------------------------------------------------------------- hang-ups


def test_caller_who_leaves_mid_upload_invokes_no_function(
    client: Client, emulator: Emulator, emulator_fake_model: FakeOpenAI
) -> None:
    before = len(emulator_fake_model.requests)
    with socket.create_connection((client.host, client.port)) as caller:
        caller.sendall(
            f"POST /api/summarize HTTP/1.1\r\nHost: {client.host}:{client.port}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            + b'{"text": "'
            + b"z" * 1000
        )
        caller.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # A request after the hang-up: once it is answered, the emulator has dealt with the one before.
    marker = f"after-{uuid.uuid4().hex}"
    client.post_json("/api/summarize", {"text": f"{marker}."})

    assert marker in emulator.events[-1]["body"]
    assert not any(event.get("body", "").startswith('{"text": "zzz') for event in emulator.events)
    assert len(emulator_fake_model.requests) == before + 1


def test_caller_who_leaves_mid_stream_closes_the_model_request(client: Client, emulator_fake_model: FakeOpenAI) -> None:
    release = threading.Event()
    emulator_fake_model.enqueue(FakeReply(tokens=["first", " second", " last"], hold_last_token=release))
    connection = client.connection()
    try:
        connection.request("POST", "/api/stream", json.dumps({"prompt": "Hi"}), {"content-type": "application/json"})
        response = connection.getresponse()
        assert read_sse_event(response) == ("delta", json.dumps({"text": "first"}))
        upstream = emulator_fake_model.requests[-1]
    finally:
        connection.close()

    # The fake model holds the last token until the caller goes: only the emulator closing the model's connection
    # (the stream app in its environment, told by the emulator that its caller left) ends the wait this early.
    assert upstream.finished.wait(10)
    assert upstream.client_gone and not release.is_set()


# ---------------------------------------------------------------------------------------------- per function


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda function: function.route)
def test_each_function_runs_with_its_own_output_limit(
    client: Client, emulator_fake_model: FakeOpenAI, function: Function
) -> None:
    client.post_json(function.path, VALID_BODIES[function.path])

    expected = int(TEMPLATE.function(function.logical_id).environment["MAX_OUTPUT_TOKENS"])
    assert emulator_fake_model.requests[-1].body["max_output_tokens"] == expected


# ---------------------------------------------------------------------------------------------- Lambda's execution


def marked_request(path: str, marker: str) -> dict[str, Any]:
    """A valid body for ``path`` that the demo model quotes back, marker included."""
    if path == "/api/summarize":
        return {"text": f"First point {marker}. Second point {marker}."}
    if path == "/api/todo":
        return {"text": f"Call {marker} today", "timezone": "Europe/Paris"}
    return {"prompt": f"Repeat {marker}"}


MARKER = re.compile(r"mk\d{3}x[0-9a-f]{8}")


def test_concurrent_requests_never_see_each_others_input_or_request_id() -> None:
    requests = [(API_PATHS[index % 3], f"mk{index:03d}x{uuid.uuid4().hex[:8]}") for index in range(120)]
    with FakeOpenAI() as fake, Emulator(fake=fake) as emulator:
        client = Client(emulator.url)
        with ThreadPoolExecutor(max_workers=16) as pool:
            replies = list(pool.map(lambda request: client.post_json(request[0], marked_request(*request)), requests))

    for (_, marker), reply in zip(requests, replies, strict=True):
        assert reply.status == 200
        # The answer echoes the input its function was given, and its id is the one its context carried.
        assert set(MARKER.findall(reply.body.decode())) == {marker}
        assert reply.headers["x-request-id"] == reply.headers["x-amzn-requestid"]
    assert len({reply.headers["x-request-id"] for reply in replies}) == len(requests)


# ---------------------------------------------------------------------------------------------- failures


@pytest.fixture
def sample_emulator(
    tmp_path: Path, emulator_fake_model: FakeOpenAI
) -> Iterator[Callable[[str], tuple[Emulator, LogCollector]]]:
    """An emulator serving one handler of sample_functions.py at /api/summarize, with a 1 s timeout."""
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  SampleFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      Timeout: 1\n"
    )
    running: list[Emulator] = []

    def start(handler: str) -> tuple[Emulator, LogCollector]:
        logs = LogCollector()
        function = Function("summarize", "SampleFunction", f"tests.emulator.sample_functions.{handler}")
        running.append(
            Emulator(fake=emulator_fake_model, template=template, functions=[function], log_sink=logs).start()
        )
        return running[-1], logs

    yield start
    for emulator in running:
        emulator.stop()


def test_a_function_past_its_timeout_gets_502_and_its_environment_is_replaced(sample_emulator) -> None:
    emulator, logs = sample_emulator("describe")
    client = Client(emulator.url)

    before = client.post_json("/api/summarize", {"seconds": 0}).json()
    timed_out = client.post_json("/api/summarize", {"seconds": 5})
    after = client.post_json("/api/summarize", {"seconds": 0}).json()

    assert (timed_out.status, timed_out.json()) == (502, {"Message": "Internal Server Error"})
    request_id = timed_out.headers["x-amzn-requestid"]
    logs.wait_for(lambda lines: any(line.text == f"{request_id} Task timed out after 1.00 seconds" for line in lines))
    assert after["pid"] != before["pid"]
    assert after["invocation"] == 1


def test_an_unhandled_handler_error_is_502_and_logged_with_its_request_id(sample_emulator) -> None:
    emulator, logs = sample_emulator("crash")

    reply = Client(emulator.url).post_json("/api/summarize", {})

    assert (reply.status, reply.json()) == (502, {"Message": "Internal Server Error"})
    lines = logs.wait_for(lambda lines: any(line.stderr for line in lines))
    error = json.loads(next(line.text for line in lines if line.stderr))
    assert (error["requestId"], error["message"]["errorType"]) == (reply.headers["x-amzn-requestid"], "RuntimeError")


def test_a_function_that_cannot_start_is_502_for_each_request(sample_emulator) -> None:
    emulator, logs = sample_emulator("no_such_handler")

    replies = [Client(emulator.url).post_json("/api/summarize", {}) for _ in range(2)]

    assert [reply.status for reply in replies] == [502, 502]
    # The cold start at the emulator's start, then one for each request: each tried again, each logged.
    logs.wait_for(lambda lines: sum("Runtime.HandlerNotFound" in line.text for line in lines) == 3)


def test_an_invocation_that_starts_once_the_emulator_is_stopping_is_answered_503(sample_emulator) -> None:
    emulator, _ = sample_emulator("describe")
    assert emulator._app is not None
    # Ctrl-C, as Emulator.stop begins it: the server's loop runs it before it reads the next request.
    emulator._app.stop_invocations()

    reply = Client(emulator.url).post_json("/api/summarize", {"seconds": 0})

    assert reply.status == 503
    assert reply.json()["error"]["message"] == STOPPING_MESSAGE


# ---------------------------------------------------------------------------------------------- sign-in


@pytest.fixture(scope="module")
def sign_in_logs() -> LogCollector:
    return LogCollector()


@pytest.fixture(scope="module")
def signing_in(emulator_fake_model: FakeOpenAI, sign_in_logs: LogCollector) -> Iterator[Emulator]:
    """The emulator as `make dev SIGN_IN=1` runs it."""
    with Emulator(fake=emulator_fake_model, sign_in=True, log_sink=sign_in_logs) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def tokens(signing_in: Emulator) -> dict[str, Any]:
    """The local user's tokens, from the stand-in on the emulator's own origin."""
    assert signing_in.sign_in is not None
    return sign_in_over_http(Client(signing_in.url), signing_in.sign_in.email, signing_in.sign_in.password)


def test_with_sign_in_config_json_sends_the_page_to_the_emulators_own_login_pages(signing_in: Emulator) -> None:
    assert signing_in.sign_in is not None
    pool = signing_in.sign_in.pool

    auth = Client(signing_in.url).request("GET", "/config.json").json()["auth"]

    assert auth == {
        "mode": "cognito",
        "region": "us-east-1",
        "user_pool_id": pool.user_pool_id,
        "client_id": pool.client_id,
        "domain": signing_in.url,
        "redirect_uri": signing_in.url + "/",
        "logout_uri": signing_in.url + "/",
        "scopes": ["openid", "email"],
        "header": "x-auth-token",
    }


def test_with_sign_in_the_page_opened_at_localhost_moves_to_the_address_sign_in_returns_to(
    signing_in: Emulator,
) -> None:
    client = Client(signing_in.url)

    reply = client.request("GET", "/?tab=chat", headers={"host": f"localhost:{client.port}"})

    assert (reply.status, reply.headers["location"]) == (307, signing_in.url + "/?tab=chat")


@pytest.mark.parametrize("path", ["/%E2%82%AC", "/%0D%0ASet-Cookie:x=y", "/a%20b"])
def test_the_move_from_localhost_keeps_the_path_percent_encoded(signing_in: Emulator, path: str) -> None:
    client = Client(signing_in.url)

    reply = client.request("GET", path, headers={"host": f"localhost:{client.port}"})

    assert (reply.status, reply.headers["location"]) == (307, signing_in.url + path)


def test_without_sign_in_the_page_is_served_at_localhost_too(client: Client) -> None:
    reply = client.request("GET", "/", headers={"host": f"localhost:{client.port}"})

    assert reply.status == 200
    assert b"<title>" in reply.body


def test_with_sign_in_the_local_user_is_you_at_example_com(signing_in: Emulator) -> None:
    assert signing_in.sign_in is not None
    assert signing_in.sign_in.email == "you@example.com"


def test_with_sign_in_a_second_local_person_signs_in_with_the_same_password_as_another_caller(
    signing_in: Emulator, tokens: dict[str, Any]
) -> None:
    assert signing_in.sign_in is not None
    second = sign_in_over_http(Client(signing_in.url), signing_in.sign_in.second_email, signing_in.sign_in.password)
    subject = jwt.decode(second["access_token"], options={"verify_signature": False})["sub"]
    assert subject != jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"]


@pytest.mark.parametrize("path", API_PATHS)
def test_with_sign_in_a_call_without_a_token_is_401_asking_to_sign_in(signing_in: Emulator, path: str) -> None:
    reply = Client(signing_in.url).post_json(path, VALID_BODIES[path])

    assert reply.status == 401
    assert reply.json() == {
        "error": {
            "type": "unauthenticated",
            "message": "Sign-in required: send your access token in the x-auth-token header. Sign in and try again.",
            "request_id": reply.headers["x-request-id"],
        }
    }


@pytest.mark.parametrize("path", API_PATHS)
def test_with_sign_in_a_call_with_the_stand_ins_access_token_is_answered(
    signing_in: Emulator, tokens: dict[str, Any], path: str
) -> None:
    reply = Client(signing_in.url).post_json(path, VALID_BODIES[path], {"x-auth-token": tokens["access_token"]})

    assert reply.status == 200


def test_with_sign_in_a_token_signed_with_motos_shipped_key_is_refused(signing_in: Emulator) -> None:
    """Anyone can sign a token with the private key that ships with moto; the functions trust only the key the
    stand-in made for this run."""
    assert signing_in.sign_in is not None
    pool = signing_in.sign_in.pool
    straight_from_moto = pool.client().initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": signing_in.sign_in.email, "PASSWORD": signing_in.sign_in.password},
    )["AuthenticationResult"]["AccessToken"]

    reply = Client(signing_in.url).post_json(
        "/api/summarize", VALID_BODIES["/api/summarize"], {"x-auth-token": straight_from_moto}
    )

    assert (reply.status, reply.json()["error"]["message"]) == (401, SIGN_IN_UNKNOWN_KEY)


def test_with_sign_in_the_users_tokens_never_reach_the_functions_logs(
    signing_in: Emulator, tokens: dict[str, Any], sign_in_logs: LogCollector
) -> None:
    client, start = Client(signing_in.url), len(sign_in_logs.lines)

    accepted = client.post_json(
        "/api/summarize", VALID_BODIES["/api/summarize"], {"x-auth-token": tokens["access_token"]}
    )
    refused = client.post_json("/api/summarize", VALID_BODIES["/api/summarize"], {"x-auth-token": tokens["id_token"]})

    assert (accepted.status, refused.status) == (200, 401)
    # Each invocation ends with its metrics line, which carries its latency.
    lines = sign_in_logs.wait_for(lambda lines: sum('"Latency"' in line.text for line in lines[start:]) >= 2)
    logged = "\n".join(line.text for line in lines)
    assert [name for name in ("access_token", "id_token", "refresh_token") if tokens[name] in logged] == []


def test_without_sign_in_the_login_pages_are_not_served(client: Client) -> None:
    reply = client.request("GET", "/oauth2/authorize")

    assert reply.status == 404


def test_without_sign_in_the_functions_admit_everyone_whatever_the_shell_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_MODE", "cognito")
    with FakeOpenAI() as fake, Emulator(fake=fake) as emulator:
        reply = Client(emulator.url).post_json("/api/summarize", VALID_BODIES["/api/summarize"])

    assert reply.status == 200


def test_with_sign_in_a_repeated_token_header_is_one_invalid_token_on_every_path(
    signing_in: Emulator, tokens: dict[str, Any]
) -> None:
    """Function URLs comma-join a repeated header in the event; behind the Web Adapter the app sees the
    event's headers, so the stream refuses the joined token as the buffered functions do."""
    client, token = Client(signing_in.url), tokens["access_token"]
    replies = {}

    for path in API_PATHS:
        connection = client.connection()
        body = json.dumps(VALID_BODIES[path]).encode()
        connection.putrequest("POST", path)
        for name, value in [("content-type", "application/json"), ("x-auth-token", token), ("x-auth-token", token)]:
            connection.putheader(name, value)
        connection.putheader("content-length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        replies[path] = (response.status, response.read())
        connection.close()

    assert {path: status for path, (status, _) in replies.items()} == dict.fromkeys(API_PATHS, 401)
    errors = {
        (error["type"], error["message"]) for error in (json.loads(body)["error"] for _, body in replies.values())
    }
    assert [error_type for error_type, _ in errors] == ["unauthenticated"]

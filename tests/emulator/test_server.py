"""The emulator over real HTTP on 127.0.0.1, running the real handlers against the fake model."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from infra.emulator import DEMO_HEADER, Emulator
from infra.fake_openai import FakeOpenAI, FakeReply
from tests.emulator.conftest import Client, read_sse_event

API_PATHS = ["/api/summarize", "/api/todo", "/api/stream"]
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
            "message": "The request body is not valid JSON.",
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


def test_upstream_failure_is_a_502_envelope(client: Client, fake: FakeOpenAI) -> None:
    # The SDK retries a 500 twice, so script three failures.
    fake.enqueue(*(FakeReply(status=500) for _ in range(3)))

    reply = client.post_json("/api/summarize", VALID_BODIES["/api/summarize"])

    assert reply.status == 502
    assert reply.json()["error"]["type"] == "upstream_error"


def test_stream_sends_deltas_then_done(client: Client, fake: FakeOpenAI) -> None:
    fake.enqueue(FakeReply(tokens=["Hel", "lo", "!"]))
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


def test_stream_first_delta_arrives_before_the_model_has_finished(client: Client, fake: FakeOpenAI) -> None:
    release_last_token = threading.Event()
    fake.enqueue(FakeReply(tokens=["first", " second", " last"], hold_last_token=release_last_token))
    connection = client.connection()
    try:
        connection.request("POST", "/api/stream", json.dumps({"prompt": "Hi"}), {"content-type": "application/json"})
        response = connection.getresponse()

        # The fake is holding its last token until this test releases it, so this read can only succeed
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


def test_emulator_restores_the_environment_when_it_stops(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    import os

    before = dict(os.environ)
    with FakeOpenAI() as server, Emulator(fake=server, env_file=tmp_path / "missing.env"):
        assert os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"].startswith("http://127.0.0.1:")

    assert dict(os.environ) == before

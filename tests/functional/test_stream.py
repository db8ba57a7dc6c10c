"""The stream function's ASGI app, served by uvicorn on a loopback port as the Lambda Web Adapter would."""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

import llm_core
from infra.fake_openai import FakeReply
from infra.sse import COMMENT, response_events
from llm_core import service
from tests.support import CANARY_KEY, SECRET_ID, call_stream_app, event_with_body, load_event

CONVERSATION = json.loads(load_event("function_url_stream")["body"])


@pytest.fixture
def stream_url(configured) -> Iterator[tuple[str, int]]:
    from handlers.stream import app

    listening = socket.create_server(("127.0.0.1", 0))
    # Connections wait in the listen backlog until uvicorn accepts them, so no readiness wait is needed.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    yield listening.getsockname()
    server.should_exit = True
    thread.join(timeout=5)


def post(address, body, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(*address, timeout=15)
    payload = body if isinstance(body, str) else json.dumps(body)
    connection.request("POST", "/", payload, {"content-type": "application/json", **(headers or {})})
    return connection.getresponse()


def sse_events(response: http.client.HTTPResponse) -> Iterator[tuple[str, object]]:
    """(event, data) pairs as they arrive, the data decoded; keep-alive comments come as (COMMENT, text)."""
    for event, data in response_events(response, comments=True):
        yield event, data if event == COMMENT else json.loads(data)


def test_answer_streams_as_delta_events_then_done(stream_url, fake_model):
    fake_model.enqueue(FakeReply(tokens=["Cold", " starts", " fade."]))
    response = post(stream_url, CONVERSATION)
    assert response.status == 200
    assert response.getheader("content-type").startswith("text/event-stream")
    events = list(sse_events(response))
    assert events[:3] == [("delta", {"text": "Cold"}), ("delta", {"text": " starts"}), ("delta", {"text": " fade."})]
    kind, done = events[3]
    assert kind == "done"
    assert done["finish_reason"] == "completed" and done["model"] == "gpt-5.4-mini"
    assert done["usage"]["output_tokens"] > 0


def test_a_refusal_streams_as_the_answer_then_done(stream_url, fake_model):
    fake_model.enqueue(FakeReply(refusal="I can't help with that."))
    events = list(sse_events(post(stream_url, CONVERSATION)))
    assert "".join(data["text"] for event, data in events if event == "delta") == "I can't help with that."
    assert events[-1][0] == "done" and events[-1][1]["finish_reason"] == "completed"


def test_a_character_split_across_two_deltas_streams_whole(stream_url, fake_model):
    # As a server that cuts text in UTF-16 units sends an emoji: its two halves in two deltas.
    fake_model.enqueue(FakeReply(tokens=["Smile ", "\ud83d", "\ude00", " done"]))
    events = list(sse_events(post(stream_url, CONVERSATION)))
    assert "".join(data["text"] for event, data in events if event == "delta") == "Smile \U0001f600 done"
    assert events[-1][0] == "done"


def test_a_caller_who_leaves_before_the_body_arrives_is_no_failure(configured, fake_model, caplog) -> None:
    from handlers.stream import app

    sent: list[dict[str, object]] = []

    async def leaves() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"15")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, leaves, send))
    assert sent[0]["status"] == 400
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == [
        "the caller left before its request arrived"
    ]
    assert fake_model.requests == []


def test_half_a_character_left_alone_streams_as_a_replacement_character(stream_url, fake_model):
    fake_model.enqueue(FakeReply(tokens=["Cut ", "\ud83d"]))
    events = list(sse_events(post(stream_url, CONVERSATION)))
    assert "".join(data["text"] for event, data in events if event == "delta") == "Cut \ufffd"
    assert events[-1][0] == "done"


def test_a_later_answer_reuses_the_connection_to_the_model(stream_url, fake_model):
    for _ in range(2):
        assert [event for event, _ in sse_events(post(stream_url, CONVERSATION))][-1] == "done"
    first, second = fake_model.requests
    assert second.client_port == first.client_port


def test_done_goes_out_although_the_models_body_has_not_ended(stream_url, fake_model):
    body_end = threading.Event()
    fake_model.enqueue(FakeReply(tokens=["Whole."], hold_body_end=body_end))
    try:
        events = [event for event, _ in sse_events(post(stream_url, CONVERSATION))]
        assert events == ["delta", "done"] and not body_end.is_set()
    finally:
        body_end.set()


def test_an_answer_whose_models_body_outlasts_the_deadline_ends_with_done(stream_url, fake_model, monkeypatch):
    monkeypatch.setenv("STREAM_TIMEOUT_SECONDS", "3")
    llm_core.reset_caches()

    async def lingering(answer: object) -> None:
        await asyncio.Event().wait()  # a body end that never comes, and no timeout of its own

    # The read to the body's end outlasts the function's time, which runs out after "done" has gone out.
    monkeypatch.setattr(service, "_read_to_the_body_end", lingering)
    fake_model.enqueue(FakeReply(tokens=["Whole."]))
    events = [event for event, _ in sse_events(post(stream_url, CONVERSATION))]
    # An error after "done" would have the page call a whole answer cut off.
    assert events == ["delta", "done"]


def test_an_answer_in_a_new_event_loop_gets_a_client_of_its_own(configured, fake_model):
    # A pooled connection belongs to the loop that opened it; this one's loop is closed when the second starts.
    for _ in range(2):
        status, _, content = asyncio.run(call_stream_app(json.dumps(CONVERSATION).encode(), "application/json", "POST"))
        assert (status, b"event: done" in content) == (200, True), content


def test_first_delta_arrives_while_the_model_is_still_answering(stream_url, fake_model):
    release = threading.Event()
    fake_model.enqueue(FakeReply(tokens=["first", " last"], hold_last_token=release))
    events = sse_events(post(stream_url, CONVERSATION))
    assert next(events) == ("delta", {"text": "first"})
    assert not release.is_set()
    release.set()
    assert next(events) == ("delta", {"text": " last"})


def test_conversation_and_system_are_sent_with_truncation_auto(stream_url, fake_model):
    body = {
        "system": "Answer in French.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "user", "content": "How are you?"},
        ],
    }
    post(stream_url, body).read()
    sent = fake_model.requests[-1].body
    assert sent["input"] == body["messages"]
    assert sent["instructions"] == "Answer in French."
    assert sent["truncation"] == "auto" and sent["stream"] is True and sent["store"] is False


def test_prompt_shorthand_is_one_user_message(stream_url, fake_model):
    post(stream_url, {"prompt": "Say hello."}).read()
    sent = fake_model.requests[-1].body
    assert sent["input"] == [{"role": "user", "content": "Say hello."}]
    assert "instructions" not in sent


def test_accept_text_plain_streams_bare_text(stream_url, fake_model):
    fake_model.enqueue(FakeReply(tokens=["Hello", " there"]))
    response = post(stream_url, {"prompt": "hi"}, {"accept": "text/plain"})
    assert response.getheader("content-type").startswith("text/plain")
    assert response.read().decode() == "Hello there\n"


def test_a_bare_text_answer_cut_at_the_output_limit_says_so(stream_url, fake_model):
    fake_model.enqueue(FakeReply(tokens=["Half an"], incomplete=True))
    response = post(stream_url, {"prompt": "hi"}, {"accept": "text/plain"})
    assert response.read().decode() == "Half an\n[cut off: the answer reached the output limit]\n"


def test_a_bare_text_error_line_names_the_request_id(stream_url, fake_model):
    fake_model.enqueue(FakeReply(tokens=["a", " b"], drop_after_tokens=1))
    response = post(stream_url, {"prompt": "hi"}, {"accept": "text/plain"})
    text = response.read().decode()
    assert text.endswith(f" (request id {response.getheader('x-request-id')})]\n")
    assert text.startswith("a\n[error: ")


def test_keepalive_comments_flow_while_the_model_is_silent(stream_url, fake_model, monkeypatch):
    monkeypatch.setenv("KEEPALIVE_SECONDS", "0.1")
    llm_core.reset_caches()
    fake_model.enqueue(FakeReply(tokens=["late"], delay_seconds=0.5))
    events = list(sse_events(post(stream_url, CONVERSATION)))
    assert events[0] == (COMMENT, "keep-alive")
    assert ("delta", {"text": "late"}) in events and events[-1][0] == "done"


def test_a_bare_text_stream_stays_bare_text_while_the_model_is_silent(stream_url, fake_model, monkeypatch):
    # Plain text has no comment syntax: a keep-alive there would be words in the answer.
    monkeypatch.setenv("KEEPALIVE_SECONDS", "0.1")
    llm_core.reset_caches()
    fake_model.enqueue(FakeReply(tokens=["late"], delay_seconds=0.5))
    response = post(stream_url, {"prompt": "hi"}, {"accept": "text/plain"})
    assert response.read().decode() == "late\n"


def test_a_stream_tells_proxies_not_to_buffer_it(stream_url, fake_model):
    # nginx (and proxies that follow it) would otherwise hold the deltas back until the answer is whole.
    fake_model.enqueue(FakeReply(tokens=["Hi"]))
    response = post(stream_url, CONVERSATION)
    assert response.getheader("x-accel-buffering") == "no"
    response.read()


def test_log_lines_written_while_streaming_carry_the_invocations_request_id(stream_url, fake_model):
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(LambdaPowertoolsFormatter())  # formats as the line is written, in the request's context
    logging.getLogger().addHandler(handler)
    try:
        fake_model.enqueue(FakeReply(tokens=["a", " b"], drop_after_tokens=1))  # logged inside the body
        context = {"request_id": "req-in-the-logs", "env_config": {"function_name": "llm-endpoints-Stream"}}
        list(sse_events(post(stream_url, CONVERSATION, {"x-amzn-lambda-context": json.dumps(context)})))
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    failure = next(line for line in lines if line["message"] == "request failed")
    assert (failure["function_request_id"], failure["function_name"]) == ("req-in-the-logs", "llm-endpoints-Stream")


def test_max_output_tokens_ends_with_that_finish_reason(stream_url, fake_model):
    fake_model.enqueue(FakeReply(tokens=["cut"], incomplete=True))
    events = list(sse_events(post(stream_url, CONVERSATION)))
    assert events[-1][0] == "done" and events[-1][1]["finish_reason"] == "max_output_tokens"


@pytest.mark.parametrize("failure", ["failed", "stream_error"])
def test_a_model_that_fails_mid_answer_is_an_error_event_saying_so(stream_url, fake_model, failure):
    # "failed": a response.failed event; "stream_error": an error event.
    fake_model.enqueue(FakeReply(tokens=["Half", " an"], **{failure: "The server had an error."}))
    events = list(sse_events(post(stream_url, CONVERSATION)))
    assert [event for event, _ in events] == ["delta", "delta", "error"]
    error = events[-1][1]["error"]
    assert (error["type"], error["message"]) == ("upstream_error", "The model failed while answering: try again.")


def test_drop_mid_stream_is_an_error_event_then_a_clean_end(stream_url, fake_model):
    fake_model.enqueue(FakeReply(tokens=["a", " b", " c", " d"], drop_after_tokens=2))
    response = post(stream_url, CONVERSATION)
    events = list(sse_events(response))  # reading to the end raises if the stream is not ended cleanly
    assert events[:2] == [("delta", {"text": "a"}), ("delta", {"text": " b"})]
    assert events[2][0] == "error"
    assert events[2][1]["error"]["type"] == "upstream_error"
    assert events[2][1]["error"]["request_id"] == response.getheader("x-request-id")
    assert len(events) == 3


def test_invalid_json_is_400(stream_url, fake_model):
    response = post(stream_url, "{nope")
    assert response.status == 400
    assert json.loads(response.read())["error"]["type"] == "invalid_json"


def test_an_error_body_is_written_as_the_buffered_endpoints_write_theirs(stream_url, invoke):
    streamed = post(stream_url, {"prompt": "hi", "extra": 1}).read().decode()
    buffered = invoke("summarize", event_with_body("function_url_summarize", {"text": "hi", "extra": 1}))["body"]
    written_alike = '{"error": {"type": "invalid_request", "message": "extra: unknown field; the fields are '
    assert (streamed.startswith(written_alike), buffered.startswith(written_alike)) == (True, True)


def test_prompt_and_messages_together_are_400(stream_url):
    response = post(stream_url, {"prompt": "a", "messages": [{"role": "user", "content": "b"}]})
    assert response.status == 400
    assert json.loads(response.read())["error"]["message"] == (
        'Send either "messages" or "prompt", not both and not neither.'
    )


def test_conversation_ending_with_the_assistant_is_400(stream_url):
    response = post(stream_url, {"messages": [{"role": "assistant", "content": "b"}]})
    assert response.status == 400
    assert json.loads(response.read())["error"]["message"] == 'messages: must end with a message of role "user".'


def test_system_role_inside_messages_is_400(stream_url):
    response = post(stream_url, {"messages": [{"role": "system", "content": "b"}]})
    assert response.status == 400
    assert json.loads(response.read())["error"]["message"].startswith("messages.0.role:")


def test_conversation_over_the_limit_is_413_and_the_model_is_not_called(stream_url, fake_model):
    messages = [{"role": "user", "content": "x" * 1500}, {"role": "assistant", "content": "y" * 400}]
    response = post(stream_url, {"messages": [*messages, {"role": "user", "content": "z" * 200}]})
    assert response.status == 413
    # The last message alone is short: the caller is told that the whole conversation counts.
    assert json.loads(response.read())["error"]["message"] == (
        "The conversation (its messages and instructions together) is 2,100 characters; the limit is 2,000."
    )
    assert fake_model.requests == []


def test_a_prompt_whose_instructions_pass_the_limit_is_told_they_count(stream_url, fake_model):
    response = post(stream_url, {"prompt": "x" * 1990, "system": "y" * 20})
    assert response.status == 413
    assert json.loads(response.read())["error"]["message"] == (
        "The input (the message and its instructions together) is 2,010 characters; the limit is 2,000."
    )
    assert fake_model.requests == []


def test_upstream_429_is_a_429_with_retry_after(stream_url, fake_model):
    fake_model.enqueue(*[FakeReply(status=429, headers={"retry-after": "0.01"}) for _ in range(3)])
    response = post(stream_url, CONVERSATION)
    assert response.status == 429
    assert response.getheader("retry-after") == "1"  # whole seconds, as RFC 9110 defines the header
    assert json.loads(response.read())["error"]["type"] == "rate_limited"


def test_an_openai_account_out_of_credit_is_503_at_once(stream_url, fake_model):
    fake_model.enqueue(FakeReply(status=429, error_code="insufficient_quota"))
    response = post(stream_url, CONVERSATION)
    assert response.status == 503
    assert json.loads(response.read())["error"]["type"] == "not_configured"
    assert len(fake_model.requests) == 1


def test_upstream_429_with_a_long_retry_after_is_passed_on_at_once(stream_url, fake_model):
    # The stream has minutes left, but nobody should watch "Answering..." through a 30 s wait, twice.
    fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "30"}))
    response = post(stream_url, CONVERSATION)
    assert (response.status, response.getheader("retry-after")) == (429, "30")
    assert len(fake_model.requests) == 1


def test_upstream_500_after_retries_is_502(stream_url, fake_model):
    fake_model.enqueue(*[FakeReply(status=500, headers={"retry-after": "0.01"}) for _ in range(3)])
    response = post(stream_url, CONVERSATION)
    error = json.loads(response.read())["error"]
    assert (response.status, error["type"]) == (502, "upstream_error")
    assert error["message"] == "The model provider answered 500: try again in a moment."
    assert len(fake_model.requests) == 3


def test_adapter_deadline_bounds_a_slow_upstream(stream_url, fake_model):
    fake_model.enqueue(*[FakeReply(delay_seconds=5) for _ in range(3)])
    context = json.dumps({"request_id": "req-from-adapter", "deadline": int((time.time() + 2.5) * 1000)})
    started = time.monotonic()
    response = post(stream_url, CONVERSATION, {"x-amzn-lambda-context": context})
    body = response.read().decode()
    assert time.monotonic() - started < 2.5
    assert response.getheader("x-request-id") == "req-from-adapter"
    assert "upstream_timeout" in body


def test_missing_secret_is_503(stream_url, configured):
    configured.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    response = post(stream_url, CONVERSATION)
    assert response.status == 503
    assert "OPENAI_SECRET_ID" in json.loads(response.read())["error"]["message"]


def test_rotated_key_is_fetched_again_after_a_401(stream_url, configured, fake_model):
    post(stream_url, CONVERSATION).read()
    configured.put_secret_value(SecretId=SECRET_ID, SecretString="sk-rotated")
    fake_model.required_key = "sk-rotated"
    response = post(stream_url, CONVERSATION)
    assert response.status == 200
    assert list(sse_events(response))[-1][0] == "done"


def test_healthz_answers_the_adapters_readiness_check(stream_url):
    connection = http.client.HTTPConnection(*stream_url, timeout=5)
    connection.request("GET", "/healthz")
    assert connection.getresponse().status == 200


def test_key_never_appears_in_stream_output_or_logs(stream_url, fake_model, all_output):
    fake_model.required_key = "sk-other"
    bodies = [post(stream_url, CONVERSATION).read().decode()]
    fake_model.required_key = None
    bodies.append(post(stream_url, CONVERSATION).read().decode())
    assert all(CANARY_KEY not in body for body in bodies)
    assert CANARY_KEY not in all_output()


def test_query_parameter_is_refused_and_the_model_is_not_called(stream_url, fake_model):
    connection = http.client.HTTPConnection(*stream_url, timeout=5)
    connection.request("POST", "/?model=gpt-5", json.dumps(CONVERSATION), {"content-type": "application/json"})
    response = connection.getresponse()
    error = json.loads(response.read())["error"]
    assert (response.status, error["type"]) == (400, "invalid_request")
    assert error["message"].startswith('Query parameters are not accepted ("model"): send every field in the JSON body')
    assert fake_model.requests == []


def test_get_is_refused_with_the_error_envelope(stream_url):
    connection = http.client.HTTPConnection(*stream_url, timeout=5)
    connection.request("GET", "/api/stream")
    response = connection.getresponse()
    assert response.status == 405
    assert json.loads(response.read())["error"]["type"] == "invalid_request"


def test_get_is_told_which_method_works(stream_url):
    connection = http.client.HTTPConnection(*stream_url, timeout=5)
    connection.request("GET", "/api/stream")
    response = connection.getresponse()
    assert response.getheader("allow") == "POST"


def test_client_that_leaves_closes_the_upstream_request(stream_url, fake_model):
    release = threading.Event()
    fake_model.enqueue(FakeReply(tokens=["first", " never sent"], hold_last_token=release))
    response = post(stream_url, CONVERSATION)
    assert next(sse_events(response)) == ("delta", {"text": "first"})
    response.close()  # the caller goes away mid-answer; the model must stop generating (and billing)
    upstream = fake_model.requests[-1]
    assert upstream.finished.wait(10)
    assert upstream.client_gone and not release.is_set()


def test_a_deadline_passed_before_the_answers_first_read_closes_the_model_request(stream_url, fake_model, monkeypatch):
    from llm_core import streaming

    with_keepalives = streaming.with_keepalives
    # The model's headers came just inside the time, and the body's first read just outside it.
    monkeypatch.setattr(
        streaming,
        "with_keepalives",
        lambda source, interval, deadline: with_keepalives(source, interval, time.monotonic() - 1),
    )
    release = threading.Event()
    fake_model.enqueue(FakeReply(tokens=["first", " never sent"], hold_last_token=release))
    try:
        events = list(sse_events(post(stream_url, CONVERSATION)))
        assert [(event, data["error"]["type"]) for event, data in events] == [("error", "upstream_timeout")]
        upstream = fake_model.requests[-1]
        assert upstream.finished.wait(10) and upstream.client_gone
    finally:
        release.set()


def test_a_body_closed_at_a_keepalive_closes_cleanly_and_records_its_latency(
    configured, fake_model, monkeypatch, capsys
):
    from starlette.requests import Request

    from llm_core import model_client, streaming
    from tests.functional.test_observability import metric_records

    monkeypatch.setenv("KEEPALIVE_SECONDS", "0.1")
    llm_core.reset_caches()
    release = threading.Event()
    fake_model.enqueue(FakeReply(tokens=["late", " never sent"], hold_last_token=release))
    body = json.dumps(CONVERSATION).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body}

    async def read_to_a_keepalive_then_close() -> None:
        response = await streaming.stream_answer(Request(scope, receive))
        chunks = response.body_iterator
        async for chunk in chunks:
            if chunk == streaming.KEEPALIVE:
                break
        # As the event loop's finalizer does to a body Starlette dropped: closed at a keep-alive, mid-answer.
        await chunks.aclose()
        release.set()
        await model_client.get_async_client().close()

    capsys.readouterr()
    asyncio.run(read_to_a_keepalive_then_close())
    assert [r for r in metric_records(capsys.readouterr().out) if "Latency" in r["values"]]


def test_the_first_request_of_an_environment_counts_its_cold_start_once(stream_url, monkeypatch, capsys):
    from aws_lambda_powertools.metrics.provider import cold_start

    monkeypatch.setattr(cold_start, "is_cold_start", True)
    context = {"x-amzn-lambda-context": json.dumps({"env_config": {"function_name": "stack-StreamFunction"}})}
    capsys.readouterr()
    for _ in range(2):
        post(stream_url, CONVERSATION, context).read()
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    cold_starts = [line for line in emitted if "ColdStart" in line]
    assert [(line["ColdStart"], line["function_name"]) for line in cold_starts] == [([1.0], "stack-StreamFunction")]


def test_options_is_refused_with_the_error_envelope(stream_url):
    connection = http.client.HTTPConnection(*stream_url, timeout=5)
    connection.request("OPTIONS", "/")
    response = connection.getresponse()
    error = json.loads(response.read())["error"]
    assert (response.status, response.getheader("allow")) == (405, "POST")
    assert (error["type"], error["message"]) == ("invalid_request", "Use POST with a JSON body.")
    assert error["request_id"] == response.getheader("x-request-id")


def test_deeply_nested_json_is_400(stream_url):
    response = post(stream_url, "[" * 100_000)
    assert response.status == 400
    assert json.loads(response.read())["error"]["message"] == "The request body is nested more than 100 levels deep."


def test_adapter_deadline_beyond_the_function_timeout_is_capped(stream_url, fake_model, monkeypatch):
    monkeypatch.setenv("STREAM_TIMEOUT_SECONDS", "2.5")
    llm_core.reset_caches()
    fake_model.enqueue(*[FakeReply(delay_seconds=5) for _ in range(3)])
    context = json.dumps({"request_id": "r", "deadline": int((time.time() + 3600) * 1000)})
    started = time.monotonic()
    body = post(stream_url, CONVERSATION, {"x-amzn-lambda-context": context}).read().decode()
    assert time.monotonic() - started < 2.5
    assert "upstream_timeout" in body


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "FOO", "post", "PUT", "DELETE"])
def test_any_method_but_post_gets_the_envelope_and_a_request_id(stream_url, method):
    connection = http.client.HTTPConnection(*stream_url, timeout=5)
    connection.request(method, "/api/stream", headers={"x-amzn-lambda-context": json.dumps({"request_id": "req-7"})})
    response = connection.getresponse()
    assert (response.status, response.getheader("x-request-id")) == (405, "req-7")
    assert json.loads(response.read())["error"] == {
        "type": "invalid_request",
        "message": "Use POST with a JSON body.",
        "request_id": "req-7",
    }


def test_array_body_is_400_without_internal_names(stream_url):
    response = post(stream_url, [{"prompt": "hi"}])
    error = json.loads(response.read())["error"]
    assert (response.status, error["type"]) == (400, "invalid_json")
    assert (
        error["message"] == 'The request body must be a JSON object, such as {"prompt": "Write a haiku about Lambda"}.'
    )


def test_blank_prompt_names_the_field(stream_url):
    response = post(stream_url, {"prompt": " "})
    assert json.loads(response.read())["error"]["message"] == "prompt: must hold at least one visible character."


def test_lone_surrogate_is_400_naming_the_field_and_the_model_is_not_called(stream_url, fake_model):
    response = post(stream_url, '{"prompt": "hi \\ud800"}')
    assert (response.status, json.loads(response.read())["error"]["message"]) == (
        400,
        "prompt: holds an unpaired UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode text.",
    )
    assert fake_model.requests == []


def test_integer_with_too_many_digits_is_400(stream_url):
    response = post(stream_url, '{"prompt": "hi", "system": ' + "1" * 5000 + "}")
    assert (response.status, json.loads(response.read())["error"]["type"]) == (400, "invalid_json")


def test_mixed_case_json_media_type_is_accepted(stream_url, fake_model):
    response = post(stream_url, CONVERSATION, {"content-type": "Application/JSON; Charset=UTF-8"})
    assert response.status == 200 and response.read()


def test_unexpected_failure_is_logged_once_with_request_id_and_function_name(
    stream_url, fake_model, monkeypatch, all_output
):
    def broken(_request, _caller):
        raise RuntimeError("a bug in the core")

    monkeypatch.setattr("llm_core.streaming.open_answer_stream", broken)
    context = {"request_id": "req-500", "env_config": {"function_name": "llm-endpoints-StreamFunction"}}
    response = post(stream_url, CONVERSATION, {"x-amzn-lambda-context": json.dumps(context)})
    assert (response.status, json.loads(response.read())["error"]["request_id"]) == (500, "req-500")
    failures = [line for line in all_output().splitlines() if "unexpected failure" in line and "'levelname'" in line]
    assert len(failures) == 1
    assert "req-500" in failures[0] and "llm-endpoints-StreamFunction" in failures[0]
    assert "a bug in the core" in failures[0]  # the traceback is in the log, never in the response


# What the adapter adds to every invocation (and never to its own readiness check or hooks), with the caller's
# Content-Type.
INVOCATION_HEADERS = {
    "x-amzn-request-context": json.dumps(load_event("function_url_stream")["requestContext"]),
    "content-type": "application/json",
}


@pytest.mark.parametrize("hook", ["before-checkpoint", "after-restore"])
def test_an_invocation_on_a_snapstart_hooks_path_is_a_request_not_the_hook(stream_url, fake_model, hook):
    from llm_core import model_client

    client = model_client.get_client()  # the process's one synchronous client: the hooks would drop it
    connection = http.client.HTTPConnection(*stream_url, timeout=15)
    connection.request("POST", f"/_snapstart/{hook}", json.dumps(CONVERSATION), INVOCATION_HEADERS)
    response = connection.getresponse()
    assert list(sse_events(response))[-1][0] == "done"
    assert model_client.get_client() is client


def test_an_invocation_that_gets_the_readiness_path_is_told_to_post(stream_url):
    connection = http.client.HTTPConnection(*stream_url, timeout=5)
    connection.request("GET", "/healthz", headers=INVOCATION_HEADERS)
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())["error"]["message"]) == (405, "Use POST with a JSON body.")


@pytest.mark.parametrize("hook", ["before-checkpoint", "after-restore"])
def test_snapstart_hooks_of_the_adapter_drop_the_process_clients(stream_url, hook):
    from llm_core import model_client

    client = model_client.get_async_client()
    connection = http.client.HTTPConnection(*stream_url, timeout=5)
    connection.request("POST", f"/_snapstart/{hook}")
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"ok")
    assert model_client.get_async_client() is not client

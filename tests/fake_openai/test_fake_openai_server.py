"""The fake model's server over a real loopback socket: callers that leave, human pace, dropped answers, stop."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import struct
import threading
import time

import pytest

from infra.fake_openai import FakeOpenAI, FakeReply, Faults

STREAM_REQUEST = json.dumps({"model": "m", "input": "Tell me about cold starts.", "stream": True}).encode()
# Bounds every socket read, so a broken fake fails the test instead of hanging it.
SOCKET_TIMEOUT_SECONDS = 10
# The zero-length chunk that ends a chunked body, with the end of the chunk before it: "0\r\n\r\n" alone also
# matches the end of the headers whenever the random x-request-id happens to end in 0.
LAST_CHUNK = b"\r\n0\r\n\r\n"


def open_stream(port: int) -> socket.socket:
    """A raw connection that has sent a streaming request, so the test decides how it ends."""
    caller = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_SECONDS)
    head = f"POST /v1/responses HTTP/1.1\r\nHost: fake\r\nContent-Length: {len(STREAM_REQUEST)}\r\n\r\n"
    caller.sendall(head.encode() + STREAM_REQUEST)
    return caller


def read_until(caller: socket.socket, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        chunk = caller.recv(65536)
        assert chunk, f"the fake closed the stream before sending {marker!r}"
        received += chunk
    return received


def reset(caller: socket.socket) -> None:
    """Close with an RST instead of a FIN, as a crashed client or a proxy giving up does."""
    caller.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    caller.close()


def test_caller_that_resets_while_the_last_token_is_held_is_recorded_as_gone(fake_model: FakeOpenAI) -> None:
    release = threading.Event()
    fake_model.enqueue(FakeReply(tokens=["first", " never sent"], hold_last_token=release))
    caller = open_stream(fake_model.port)
    read_until(caller, b"response.output_text.delta")
    reset(caller)
    assert fake_model.requests[-1].finished.wait(SOCKET_TIMEOUT_SECONDS)
    assert fake_model.requests[-1].client_gone


def test_caller_that_closes_while_the_last_token_is_held_is_recorded_as_gone(fake_model: FakeOpenAI) -> None:
    release = threading.Event()
    fake_model.enqueue(FakeReply(tokens=["first", " never sent"], hold_last_token=release))
    caller = open_stream(fake_model.port)
    read_until(caller, b"response.output_text.delta")
    caller.close()
    assert fake_model.requests[-1].finished.wait(SOCKET_TIMEOUT_SECONDS)
    assert fake_model.requests[-1].client_gone


def test_caller_that_resets_mid_stream_prints_no_traceback(
    fake_model: FakeOpenAI, capfd: pytest.CaptureFixture[str]
) -> None:
    fake_model.enqueue(FakeReply(tokens=["word"] * 200, token_delay_seconds=0.005))
    caller = open_stream(fake_model.port)
    read_until(caller, b"response.output_text.delta")
    reset(caller)
    assert fake_model.requests[-1].finished.wait(SOCKET_TIMEOUT_SECONDS)
    assert fake_model.requests[-1].client_gone
    assert "Traceback" not in capfd.readouterr().err


def test_caller_that_stays_is_not_recorded_as_gone(fake_model: FakeOpenAI) -> None:
    fake_model.enqueue(FakeReply(tokens=["all", " of", " it"]))
    caller = open_stream(fake_model.port)
    read_until(caller, LAST_CHUNK)
    caller.close()
    assert fake_model.requests[-1].finished.wait(SOCKET_TIMEOUT_SECONDS)
    assert not fake_model.requests[-1].client_gone


def delta_arrival_times(port: int) -> list[tuple[float, str]]:
    """(time, text) of each text delta of one streamed answer, as the caller receives them."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT_SECONDS)
    connection.request("POST", "/v1/responses", STREAM_REQUEST, {"content-type": "application/json"})
    response = connection.getresponse()
    arrivals = []
    for line in response:
        if line.startswith(b"data: "):
            data = json.loads(line[len(b"data: ") :])
            if data["type"] == "response.output_text.delta":
                arrivals.append((time.monotonic(), data["delta"]))
    connection.close()
    return arrivals


def test_demo_answer_streams_word_by_word_at_the_pace_asked() -> None:
    words_per_second = 100  # faster than a person's pace, to keep the test short; the rule is the same
    with FakeOpenAI(pace_words_per_second=words_per_second) as fake:
        # From the request: a reader held up after the first word finds the next ones waiting, closer together.
        asked = time.monotonic()
        arrivals = delta_arrival_times(fake.port)
    assert len(arrivals) >= 40, "a demo answer of a few sentences"
    assert all(len(text.split()) == 1 for _, text in arrivals), "one word a delta"
    assert arrivals[-1][0] - asked >= 0.9 * (len(arrivals) - 1) / words_per_second


def test_demo_answer_without_a_pace_streams_at_once(fake_model: FakeOpenAI) -> None:
    arrivals = delta_arrival_times(fake_model.port)
    assert arrivals[-1][0] - arrivals[0][0] < (len(arrivals) - 1) / 40


def test_paced_answer_ends_when_the_caller_stops_reading_midway() -> None:
    with FakeOpenAI(pace_words_per_second=40) as fake:
        caller = open_stream(fake.port)
        read_until(caller, b"response.output_text.delta")
        caller.close()
        assert fake.requests[-1].finished.wait(SOCKET_TIMEOUT_SECONDS)
        assert fake.requests[-1].client_gone


def test_pace_must_be_positive() -> None:
    with pytest.raises(ValueError, match="pace_words_per_second must be positive"):
        FakeOpenAI(pace_words_per_second=0)


def test_dropped_json_answer_ends_halfway_through_the_body(fake_model: FakeOpenAI) -> None:
    fake_model.enqueue(FakeReply(output={"bullets": ["One.", "Two."]}, drop_after_tokens=0))
    connection = http.client.HTTPConnection("127.0.0.1", fake_model.port, timeout=SOCKET_TIMEOUT_SECONDS)
    connection.request("POST", "/v1/responses", b"{}", {"content-type": "application/json"})
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    connection.close()


def test_failed_answer_streams_response_failed_with_the_message(fake_model: FakeOpenAI) -> None:
    fake_model.enqueue(FakeReply(tokens=["half"], failed="The model failed to generate a response."))
    connection = http.client.HTTPConnection("127.0.0.1", fake_model.port, timeout=SOCKET_TIMEOUT_SECONDS)
    connection.request("POST", "/v1/responses", STREAM_REQUEST, {"content-type": "application/json"})
    last = [line for line in connection.getresponse() if line.startswith(b"data: ")][-1]
    connection.close()
    data = json.loads(last[len(b"data: ") :])
    assert data["type"] == "response.failed"
    assert data["response"]["error"] == {"code": "server_error", "message": "The model failed to generate a response."}


def post_json(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT_SECONDS)
    connection.request("POST", "/v1/responses", b'{"input": "Hi."}', {"content-type": "application/json"})
    status = connection.getresponse().status
    connection.close()
    return status


def test_fault_drawn_for_a_request_is_its_answer_and_recorded_with_it() -> None:
    with FakeOpenAI(faults=Faults(1.0, seed=1, menu=["500"])) as fake:
        assert post_json(fake.port) == 500
        assert fake.requests[-1].fault == "500"


def test_scripted_reply_is_never_turned_into_a_fault() -> None:
    with FakeOpenAI(faults=Faults(1.0, seed=1, menu=["500"])) as fake:
        fake.enqueue(FakeReply(text="As scripted."))
        assert post_json(fake.port) == 200
        assert fake.requests[-1].fault is None


def test_stop_does_not_wait_out_a_poll_interval() -> None:
    stops = []
    for fake in [FakeOpenAI().start() for _ in range(5)]:
        started = time.monotonic()
        fake.stop()
        stops.append(time.monotonic() - started)
    # The stdlib's serving loop looks at its stop flag every 0.5 s: a stop took 0.25 s on average.
    assert statistics.median(stops) < 0.1


def test_a_fake_never_started_stops_at_once() -> None:
    fake = FakeOpenAI()
    stopper = threading.Thread(target=fake.stop, daemon=True)
    stopper.start()
    stopper.join(SOCKET_TIMEOUT_SECONDS)
    assert not stopper.is_alive()

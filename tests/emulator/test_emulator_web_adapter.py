"""The Lambda Web Adapter's part: which headers the web app gets, and which come back to the caller."""

from __future__ import annotations

from infra.emulator.web_adapter import forwarded_headers

ADDED = [(b"x-amzn-lambda-context", b'{"request_id": "r-1"}'), (b"x-amzn-request-context", b"{}")]


def test_the_app_gets_the_callers_headers_and_the_invocation_context() -> None:
    caller = [(b"Content-Type", b"application/json"), (b"Accept", b"text/event-stream")]

    headers = forwarded_headers(caller, ADDED)

    assert headers == [(b"content-type", b"application/json"), (b"accept", b"text/event-stream"), *ADDED]


def test_a_caller_cannot_pose_as_the_adapter() -> None:
    caller = [(b"X-Amzn-Lambda-Context", b'{"request_id": "forged", "deadline": 99999999999999}')]

    assert forwarded_headers(caller, ADDED) == ADDED


def test_framing_and_hop_by_hop_headers_stay_with_the_caller() -> None:
    caller = [
        (b"Host", b"127.0.0.1:3000"),
        (b"Content-Length", b"12"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Connection", b"keep-alive"),
        (b"Expect", b"100-continue"),
    ]

    assert forwarded_headers(caller, ADDED) == ADDED

"""The Lambda Web Adapter's part: which headers the web app gets, and which come back to the caller."""

from __future__ import annotations

from typing import Any

from infra.emulator.runtime import build_event
from infra.emulator.web_adapter import forwarded_headers

ADDED = [(b"x-amzn-lambda-context", b'{"request_id": "r-1"}'), (b"x-amzn-request-context", b"{}")]
# The headers a Function URL event always has, whatever the caller sent.
EVENT_DEFAULTS = {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-port", b"x-amzn-trace-id"}


def event_for(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    scope = {"type": "http", "method": "POST", "path": "/api/stream", "headers": headers}
    return build_event(scope, b"{}", request_id="r-1", url_id="u" * 32)


def from_caller(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The forwarded headers, less the ones every event has."""
    return [(name, value) for name, value in forwarded_headers(event_for(headers), ADDED) if name not in EVENT_DEFAULTS]


def test_the_app_gets_the_callers_headers_and_the_invocation_context() -> None:
    caller = [(b"Content-Type", b"application/json"), (b"Accept", b"text/event-stream")]

    assert from_caller(caller) == [(b"content-type", b"application/json"), (b"accept", b"text/event-stream"), *ADDED]


def test_a_repeated_header_reaches_the_app_once_comma_joined_as_in_the_event() -> None:
    caller = [(b"x-auth-token", b"first"), (b"X-Auth-Token", b"second")]

    assert from_caller(caller) == [(b"x-auth-token", b"first,second"), *ADDED]


def test_the_events_cookies_reach_the_app_as_one_cookie_header() -> None:
    caller = [(b"Cookie", b"a=1; b=2"), (b"Cookie", b"c=3")]

    assert from_caller(caller) == [(b"cookie", b"a=1; b=2; c=3"), *ADDED]


def test_a_caller_cannot_pose_as_the_adapter() -> None:
    caller = [(b"X-Amzn-Lambda-Context", b'{"request_id": "forged", "deadline": 99999999999999}')]

    assert from_caller(caller) == ADDED


def test_framing_and_hop_by_hop_headers_stay_with_the_caller() -> None:
    caller = [
        (b"Host", b"127.0.0.1:3000"),
        (b"Content-Length", b"12"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Connection", b"keep-alive"),
        (b"Expect", b"100-continue"),
    ]

    assert from_caller(caller) == ADDED

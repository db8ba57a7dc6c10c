"""The local emulator, running on a free loopback port with the fake model, and a small HTTP client for it.

httpx is not installed (the SDK uses httpx2), so the client is http.client: a real socket, nothing mocked.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from infra.emulator import Emulator
from infra.emulator.environments import LogLine
from infra.sse import response_events

# Bounds every socket read, so a broken stream fails the test instead of hanging it.
# A safety net, not a synchronisation: under load, up to twelve cold starts share two cores.
SOCKET_TIMEOUT_SECONDS = 60
# Bounds a wait for log lines that never come.
LOG_WAIT_SECONDS = 15


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=SOCKET_TIMEOUT_SECONDS)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def post_json(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        return self.request(
            "POST", path, json.dumps(payload).encode(), {"content-type": "application/json", **(headers or {})}
        )


def read_sse_event(response: http.client.HTTPResponse) -> tuple[str, str]:
    """The next (event, data) of a Server-Sent Events stream, skipping comments; ("", "") at its end."""
    return next(response_events(response), ("", ""))


@pytest.fixture
def client(emulator: Emulator) -> Client:
    return Client(emulator.url)


FORM = {"content-type": "application/x-www-form-urlencoded"}


def sign_in_over_http(client: Client, email: str, password: str) -> dict[str, Any]:
    """The page's sign-in on an emulator run with sign-in, as plain HTTP: the login form at the emulator's
    /oauth2/authorize with a PKCE challenge, then the code and its verifier at /oauth2/token. The tokens."""
    auth = client.request("GET", "/config.json").json()["auth"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    authorize = {
        "response_type": "code",
        "client_id": auth["client_id"],
        "redirect_uri": auth["redirect_uri"],
        "scope": " ".join(auth["scopes"]),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    form = urlencode({"email": email, "password": password}).encode()
    signed_in = client.request("POST", f"/oauth2/authorize?{urlencode(authorize)}", form, FORM)
    assert signed_in.status == 302, signed_in.body
    code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
    redeem = {
        "grant_type": "authorization_code",
        "client_id": auth["client_id"],
        "code": code,
        "redirect_uri": auth["redirect_uri"],
        "code_verifier": verifier,
    }
    tokens = client.request("POST", "/oauth2/token", urlencode(redeem).encode(), FORM)
    assert tokens.status == 200, tokens.body
    answer: dict[str, Any] = tokens.json()
    return answer


class LogCollector:
    """A log sink for the emulator: keeps the functions' log lines, and lets a test wait for the ones it needs
    (an environment's log reaches the emulator on its own pipe, possibly after the HTTP response)."""

    def __init__(self) -> None:
        self.lines: list[LogLine] = []
        self._changed = threading.Condition()

    def __call__(self, line: LogLine) -> None:
        with self._changed:
            self.lines.append(line)
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[list[LogLine]], bool]) -> list[LogLine]:
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self.lines), timeout=LOG_WAIT_SECONDS):
                raise AssertionError(f"the log lines never met the condition; got {len(self.lines)} lines")
            return list(self.lines)

    def records(self) -> list[dict[str, Any]]:
        """The JSON records of stdout (Powertools' log lines and metrics)."""
        with self._changed:
            return [json.loads(line.text) for line in self.lines if not line.stderr]

"""infra.deploy.sigv4_client: the SigV4 signature and body hash it sends, and how it prints answers.

The server is a tiny http.server on 127.0.0.1 that checks each request's signature the way a
function URL would (recomputed with botocore from fixed credentials), then answers as scripted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from infra.deploy import sigv4_client

CREDS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
REGION = "eu-west-1"
BODY = b'{"prompt": "hi"}'
FIXED_NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def expected_signature(method: str, url: str, headers: dict[str, str], body: bytes, creds: Any, region: str) -> str:
    """Recompute the SigV4 signature with botocore at the request's own X-Amz-Date.

    Only the headers named in SignedHeaders take part, as on the AWS side; a missing host header
    is derived from the URL, as botocore and http.client both do.
    """
    authorization = headers["Authorization"]
    signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    lowered = {k.lower(): v for k, v in headers.items()}
    request = AWSRequest(
        method=method, url=url, data=body, headers={n: lowered[n] for n in signed_names if n in lowered}
    )
    request.context["timestamp"] = lowered["x-amz-date"]
    signer = SigV4Auth(creds, "lambda", region)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


def signature_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].rsplit("Signature=", 1)[1]


# ------------------------------------------------------------------ local server


@dataclass
class Reply:
    status: int = 200
    content_type: str = "application/json"
    chunks: list[bytes] = field(default_factory=list)
    # Between the first and the second chunk the server waits for this (see the streaming test).
    gate: threading.Event | None = None


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    gate_opened_in_time: bool | None = None


class SignedEndpoint:
    def __init__(self) -> None:
        self.reply = Reply(chunks=[b'{"ok": true}'])
        self.received: list[Received] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                url = f"http://{self.headers['Host']}{self.path}"
                valid = signature_of(headers) == expected_signature("POST", url, headers, body, CREDS, REGION)
                record = Received(headers, body, valid)
                endpoint.received.append(record)
                reply = endpoint.reply
                # HTTP/1.0 and no Content-Length: the body ends when the connection closes,
                # and each chunk reaches the client as soon as it is flushed.
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.end_headers()
                for index, chunk in enumerate(reply.chunks):
                    if index == 1 and reply.gate is not None:
                        record.gate_opened_in_time = reply.gate.wait(timeout=5)
                    self.wfile.write(chunk)
                    self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/stream"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def endpoint() -> Iterator[SignedEndpoint]:
    with SignedEndpoint() as server:
        yield server


class Terminal(io.StringIO):
    """stdout stand-in that can run a callback on each write (to observe streaming)."""

    def __init__(self, on_write: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.on_write = on_write

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.on_write:
            self.on_write(self.getvalue())
        return written


def call(endpoint: SignedEndpoint, *extra: str, out: io.StringIO | None = None) -> tuple[int, str, str]:
    out = out if out is not None else Terminal()
    err = io.StringIO()
    code = sigv4_client.main(
        [endpoint.url, "--region", REGION, "--json", BODY.decode(), *extra],
        out=out,
        err=err,
        credentials=CREDS,
    )
    return code, out.getvalue(), err.getvalue()


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


# ------------------------------------------------------------------ the signed request


def test_body_hash_header_is_sha256_of_body() -> None:
    signed = sigv4_client.sign_request("https://x.lambda-url.eu-west-1.on.aws/", BODY, CREDS, REGION)
    assert signed.headers["x-amz-content-sha256"] == hashlib.sha256(BODY).hexdigest()


def test_signature_matches_botocore_at_fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: FIXED_NOW)
    url = "https://abc123.lambda-url.eu-west-1.on.aws/"
    signed = sigv4_client.sign_request(url, BODY, CREDS, REGION)
    assert signed.headers["X-Amz-Date"] == "20260102T030405Z"
    assert signature_of(signed.headers) == expected_signature("POST", url, signed.headers, BODY, CREDS, REGION)


def test_credential_scope_names_region_and_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: FIXED_NOW)
    signed = sigv4_client.sign_request("https://a.lambda-url.eu-west-1.on.aws/", BODY, CREDS, REGION)
    assert "Credential=AKIDEXAMPLE/20260102/eu-west-1/lambda/aws4_request" in signed.headers["Authorization"]


def test_body_hash_and_host_are_signed_headers() -> None:
    signed = sigv4_client.sign_request("https://a.lambda-url.eu-west-1.on.aws/", BODY, CREDS, REGION)
    names = signed.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-amz-content-sha256", "x-amz-date", "content-type"} <= set(names)


def test_session_token_is_sent_and_signed() -> None:
    creds = ReadOnlyCredentials("ASIAEXAMPLE", "secret", "session-token")
    signed = sigv4_client.sign_request("https://a.lambda-url.eu-west-1.on.aws/", BODY, creds, REGION)
    assert signed.headers["X-Amz-Security-Token"] == "session-token"
    assert "x-amz-security-token" in signed.headers["Authorization"]


def test_region_is_read_from_function_url() -> None:
    assert sigv4_client.region_from_url("https://abc.lambda-url.ap-southeast-2.on.aws/") == "ap-southeast-2"


def test_region_is_not_guessed_from_other_hosts() -> None:
    assert sigv4_client.region_from_url("https://d111.cloudfront.net/api/stream") is None


# ------------------------------------------------------------------ against the local server


def test_server_accepts_the_signature(endpoint: SignedEndpoint) -> None:
    call(endpoint)
    assert endpoint.received[0].signature_valid


def test_server_receives_body_and_its_hash(endpoint: SignedEndpoint) -> None:
    call(endpoint)
    got = endpoint.received[0]
    assert got.body == BODY
    assert got.headers["x-amz-content-sha256"] == hashlib.sha256(BODY).hexdigest()


def test_stream_is_printed_as_it_arrives(endpoint: SignedEndpoint) -> None:
    first_delta_printed = threading.Event()
    endpoint.reply = Reply(
        content_type="text/event-stream",
        chunks=[
            sse("delta", {"text": "Hel"}),
            b": keep-alive\n\n" + sse("delta", {"text": "lo"}),
            sse(
                "done",
                {
                    "model": "m",
                    "usage": {"input_tokens": 1, "output_tokens": 2},
                    "finish_reason": "completed",
                },
            ),
        ],
        gate=first_delta_printed,
    )
    terminal = Terminal(on_write=lambda text: first_delta_printed.set() if "Hel" in text else None)
    code, out, _ = call(endpoint, out=terminal)
    # The server held the rest of the stream back until the client had printed the first delta.
    assert endpoint.received[0].gate_opened_in_time is True
    assert (code, out) == (0, "Hello\n")


def test_stream_done_event_reports_usage_on_stderr(endpoint: SignedEndpoint) -> None:
    endpoint.reply = Reply(
        content_type="text/event-stream",
        chunks=[sse("done", {"model": "m", "usage": {"output_tokens": 2}, "finish_reason": "max_output_tokens"})],
    )
    _, _, err = call(endpoint)
    assert "max_output_tokens" in err


def test_stream_error_event_goes_to_stderr_and_exits_1(endpoint: SignedEndpoint) -> None:
    endpoint.reply = Reply(
        content_type="text/event-stream",
        chunks=[
            sse("delta", {"text": "Hi"}),
            sse("error", {"error": {"type": "upstream_timeout", "message": "model too slow"}}),
        ],
    )
    code, out, err = call(endpoint)
    assert (code, out.strip()) == (1, "Hi")
    assert err.strip() == "error: upstream_timeout: model too slow"


def test_text_flag_asks_for_plain_text(endpoint: SignedEndpoint) -> None:
    endpoint.reply = Reply(content_type="text/plain; charset=utf-8", chunks=[b"Hel", b"lo"])
    call(endpoint, "--text")
    assert endpoint.received[0].headers["Accept"] == "text/plain"


def test_plain_text_stream_is_printed_verbatim(endpoint: SignedEndpoint) -> None:
    endpoint.reply = Reply(content_type="text/plain; charset=utf-8", chunks=[b"caf", "é!".encode()])
    code, out, _ = call(endpoint, "--text")
    assert (code, out) == (0, "café!\n")


def test_json_answer_is_pretty_printed(endpoint: SignedEndpoint) -> None:
    endpoint.reply = Reply(chunks=[b'{"bullets": ["a", "b"]}'])
    _, out, _ = call(endpoint)
    assert json.loads(out) == {"bullets": ["a", "b"]}
    assert out.count("\n") > 1


def test_error_envelope_message_is_printed_with_exit_1(endpoint: SignedEndpoint) -> None:
    envelope = {"error": {"type": "too_large", "message": "text is over 20000 characters", "request_id": "r-1"}}
    endpoint.reply = Reply(status=413, chunks=[json.dumps(envelope).encode()])
    code, out, err = call(endpoint)
    assert (code, out) == (1, "")
    assert err.strip() == "error: HTTP 413 too_large: text is over 20000 characters (request id r-1)"


def test_lambda_forbidden_message_is_printed(endpoint: SignedEndpoint) -> None:
    endpoint.reply = Reply(status=403, chunks=[b'{"Message":"Forbidden. For troubleshooting ..."}'])
    code, _, err = call(endpoint)
    assert code == 1
    assert err.strip() == "error: HTTP 403: Forbidden. For troubleshooting ..."


# ------------------------------------------------------------------ argument errors


def test_invalid_json_argument_is_one_line_error(endpoint: SignedEndpoint) -> None:
    err = io.StringIO()
    code = sigv4_client.main([endpoint.url, "--json", "{nope", "--region", REGION], err=err, credentials=CREDS)
    assert code == 1
    assert len(err.getvalue().strip().splitlines()) == 1
    assert endpoint.received == []


def test_body_can_come_from_a_file(endpoint: SignedEndpoint, tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_bytes(BODY)
    sigv4_client.main([endpoint.url, "--json", f"@{path}", "--region", REGION], out=io.StringIO(), credentials=CREDS)
    assert endpoint.received[0].body == BODY


def test_no_credentials_is_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    err = io.StringIO()
    code = sigv4_client.main(["http://127.0.0.1:9/", "--json", "{}", "--region", REGION], err=err)
    assert code == 1
    assert err.getvalue().strip() == "error: no AWS credentials found: run `aws configure` or `aws sso login`"

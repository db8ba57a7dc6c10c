"""Call an IAM-auth Lambda function URL, signed with your own AWS credentials.

    python -m infra.deploy.sigv4_client "$STREAM_URL" --json '{"prompt": "Write a haiku about Lambda"}'
    python -m infra.deploy.sigv4_client "$SUMMARIZE_URL" --json @article.json
    python -m infra.deploy.sigv4_client "$STREAM_URL" --text --json '{"prompt": "hi"}'   # Accept: text/plain

The request is a POST signed with SigV4 for service "lambda" (botocore's signer, the credentials
of your AWS profile), with x-amz-content-sha256 set to the body's SHA-256 as function URLs and the
CloudFront Lambda OAC require. A streamed answer is printed as it arrives: the text of each SSE
`delta` event without a newline, `done` ends the line, `error` goes to stderr. JSON answers are
pretty-printed. A non-2xx answer prints its error message on stderr and exits 1.

Only the standard library's http.client and botocore are used, so the client has no dependency the
project does not already have.
"""

from __future__ import annotations

import argparse
import codecs
import hashlib
import http.client
import json
import re
import sys
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import BotoCoreError

from infra.sse import response_events
from llm_core.timeouts import STREAM_FUNCTION_TIMEOUT_SECONDS

SERVICE = "lambda"
# Waits past the longest a function runs (the stream's timeout), so the function's own answer arrives first.
READ_TIMEOUT_SECONDS = STREAM_FUNCTION_TIMEOUT_SECONDS + 30
SSE_ACCEPT = "text/event-stream, application/json"
TEXT_ACCEPT = "text/plain"
_URL_REGION = re.compile(r"\.lambda-url\.([a-z0-9-]+)\.on\.aws$")


class ClientError(Exception):
    """A failure to report as one line on stderr."""


@dataclass(frozen=True)
class SignedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def region_from_url(url: str) -> str | None:
    """Function URLs carry their region: https://<id>.lambda-url.<region>.on.aws/."""
    match = _URL_REGION.search(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def sign_request(
    url: str,
    body: bytes,
    credentials: Credentials | ReadOnlyCredentials,
    region: str,
    accept: str = SSE_ACCEPT,
) -> SignedRequest:
    """A POST with the body hash header, signed by botocore's SigV4 signer (time = now)."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "Accept": accept,
            # Lambda rejects unsigned payloads; with this header present botocore signs exactly
            # this value, and CloudFront's OAC passes it on when the call goes through /api/*.
            "x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
        },
    )
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return SignedRequest("POST", url, dict(request.headers.items()), body)


def error_message(status: int, body: bytes) -> str:
    """The message of the project's error envelope, or of Lambda's own ({"Message": ...})."""
    text = body.decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return f"HTTP {status}: {text[:300] or 'empty response'}"
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            kind = f" {error['type']}" if error.get("type") else ""
            rid = f" (request id {error['request_id']})" if error.get("request_id") else ""
            return f"HTTP {status}{kind}: {error['message']}{rid}"
        if payload.get("Message"):
            return f"HTTP {status}: {payload['Message']}"
    return f"HTTP {status}: {text[:300]}"


def _print_sse(response: http.client.HTTPResponse, out: IO[str], err: IO[str]) -> int:
    status = 0
    for event, data in response_events(response):
        try:
            payload = json.loads(data)
        except ValueError:
            payload = {}
        if event == "delta":
            out.write(payload.get("text", ""))
            out.flush()
        elif event == "done":
            out.write("\n")
            out.flush()
            usage = payload.get("usage") or {}
            finish = payload.get("finish_reason", "?")
            err.write(f"[{payload.get('model', '?')}, {finish}, usage {json.dumps(usage)}]\n")
        elif event == "error":
            out.write("\n")
            error = payload.get("error", {})
            err.write(f"error: {error.get('type', 'error')}: {error.get('message', data)}\n")
            status = 1
    return status


def _print_text(response: http.client.HTTPResponse, out: IO[str]) -> int:
    # Incremental, because a chunk may end in the middle of a multi-byte character.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while chunk := response.read1(4096):
        out.write(decoder.decode(chunk))
        out.flush()
    out.write(decoder.decode(b"", final=True) + "\n")
    return 0


def send(signed: SignedRequest, out: IO[str], err: IO[str], timeout: float = READ_TIMEOUT_SECONDS) -> int:
    """Send the request and print the answer as it arrives; returns the exit code."""
    parts = urlsplit(signed.url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        connection.request(signed.method, path, body=signed.body, headers=signed.headers)
        response = connection.getresponse()
        if not 200 <= response.status < 300:
            err.write(f"error: {error_message(response.status, response.read())}\n")
            return 1
        content_type = (response.getheader("Content-Type") or "").lower()
        if content_type.startswith("text/event-stream"):
            return _print_sse(response, out, err)
        if content_type.startswith("text/plain"):
            return _print_text(response, out)
        body = response.read()
        try:
            out.write(json.dumps(json.loads(body), indent=2, ensure_ascii=False) + "\n")
        except ValueError:
            out.write(body.decode("utf-8", "replace") + "\n")
        return 0
    finally:
        connection.close()


def _read_body(value: str) -> bytes:
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ClientError(f"cannot read {value[1:]}: {exc.strerror}") from None
    else:
        text = value
    try:
        json.loads(text)
    except ValueError as exc:
        raise ClientError(f"--json is not valid JSON: {exc}") from None
    return text.encode("utf-8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.deploy.sigv4_client",
        description="POST JSON to an IAM-auth Lambda function URL, signed with your AWS credentials.",
    )
    parser.add_argument("url", help="function URL (the stack outputs list them)")
    parser.add_argument("--json", required=True, help="request body: JSON text, @file, or - for stdin")
    parser.add_argument("--region", help="default: taken from the URL, else your AWS profile's region")
    parser.add_argument("--profile", help="AWS profile to sign with")
    parser.add_argument("--text", action="store_true", help="ask for bare streamed text (Accept: text/plain)")
    parser.add_argument("--timeout", type=float, default=READ_TIMEOUT_SECONDS, help="socket timeout in seconds")
    return parser


def main(
    argv: list[str] | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    credentials: Any = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        if urlsplit(args.url).scheme not in ("http", "https"):
            raise ClientError(f"not an http(s) URL: {args.url}")
        body = _read_body(args.json)
        session = botocore.session.Session(profile=args.profile)
        region = args.region or region_from_url(args.url) or session.get_config_variable("region")
        if not region:
            raise ClientError("no AWS region: pass --region or set AWS_REGION")
        if credentials is None:
            found = session.get_credentials()
            if found is None:
                raise ClientError("no AWS credentials found: run `aws configure` or `aws sso login`")
            credentials = found.get_frozen_credentials()
        signed = sign_request(args.url, body, credentials, region, TEXT_ACCEPT if args.text else SSE_ACCEPT)
        return send(signed, out, err, timeout=args.timeout)
    except ClientError as exc:
        err.write(f"error: {exc}\n")
    except BotoCoreError as exc:
        err.write(f"error: {exc}\n")
    except (OSError, http.client.HTTPException) as exc:
        err.write(f"error: request to {args.url} failed: {exc}\n")
    except KeyboardInterrupt:
        err.write("\ninterrupted\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())

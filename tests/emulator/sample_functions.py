"""Handlers for the execution-environment tests; each shows one thing about how the emulator runs them."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from infra.emulator.runtime import LambdaContext

_invocations = 0


def describe(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Which process ran this invocation and when, how many it has run, and what it was given.

    ``seconds`` (in the event, or in a Function URL event's JSON body) keeps it busy that long: the work of a
    slow handler."""
    global _invocations
    _invocations += 1
    started = time.time()
    seconds = event["seconds"] if "seconds" in event else json.loads(event.get("body") or "{}").get("seconds", 0)
    time.sleep(float(seconds))
    return {
        "pid": os.getpid(),
        "started": started,
        "ended": time.time(),
        "invocation": _invocations,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def environment_variables(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    return dict(os.environ)


def crash(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raise RuntimeError("boom")


def unserializable(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"statusCode": 200, "body": object()}


def exit_abruptly(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    os._exit(3)


def ignore_the_deadline(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A handler that works on past its function's timeout."""
    time.sleep(60)
    return {"statusCode": 200, "body": "too late"}


def print_long_lines(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Log lines far longer than one pipe write, each naming its invocation."""
    for index in range(int(event["lines"])):
        print(f"{context.aws_request_id} {index} " + "x" * 200_000)
    return {"statusCode": 200, "body": "printed"}


async def echo_headers(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A web app that answers 200 with the names of the headers it was given."""
    if scope["type"] != "http":
        return
    body = json.dumps(sorted(name.decode() for name, _ in scope["headers"])).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})

"""The inside of one execution environment: a Python process that runs one function, one invocation at a time.

    python -m infra.emulator.worker --channel FD --entry-point handlers.summarize.lambda_handler
    python -m infra.emulator.worker --channel FD --entry-point handlers.stream:app --web-adapter

The emulator starts it (environments.py) with the function's environment, and talks to it over the socket
``FD``, one JSON document a line:

- after its cold start (the import of the handler), it says ``{"ready": {"port": null}}`` (buffered) or
  ``{"ready": {"port": N, "token": T}}`` (web adapter);
- a buffered function then receives ``{"event": ..., "request_id": ..., "deadline_ms": ...}`` and answers
  ``{"result": ...}``, or ``{"error": "<type>"}`` when the handler raised (the error is logged first, as
  Lambda logs it), as soon as the handler returns; then ``{"done": true}`` once the extensions the handler
  registered (extensions_api.py) have finished with the invocation, when it may take the next one (with no
  extension, ``"done": true`` comes in the answer);
- a web-adapter function serves its ASGI app with uvicorn on ``127.0.0.1:N``, where the emulator forwards
  each invocation as an HTTP request, as the Lambda Web Adapter does. Each request carries the token ``T`` in
  INVOCATION_TOKEN_HEADER; any other gets 403, so a page in the developer's browser cannot reach the function
  around the emulator's guard (guard.py) by finding this port.

Its stdout and stderr are the function's log; the emulator relays them line by line. When the emulator goes
away the socket closes, and the environment ends with it.
"""

from __future__ import annotations

import argparse
import hmac
import importlib
import json
import os
import secrets
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, BinaryIO

from infra.emulator.extensions_api import ExtensionsApi
from infra.emulator.runtime import LambdaContext, split_entry_point

INVOCATION_TOKEN_HEADER = "x-emulator-invocation-token"  # noqa: S105 - a header name


def load_entry_point(entry_point: str) -> Any:
    module_name, attr = split_entry_point(entry_point)
    return getattr(importlib.import_module(module_name), attr)


def log_error(exc: BaseException, error_type: str, request_id: str | None = None) -> None:
    """One line, in the shape Lambda's JSON log format gives the runtime's own error records."""
    message = {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": request_id or "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }
    record = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": "ERROR",
        "message": message,
        "requestId": request_id or "",
    }
    print(json.dumps(record), file=sys.stderr, flush=True)


def send(channel: BinaryIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message).encode() + b"\n")
    channel.flush()


def serve_handler(
    handler: Callable[[Any, Any], Any], extensions: ExtensionsApi, inbox: BinaryIO, outbox: BinaryIO
) -> None:
    """Invoke ``handler`` once per event until the emulator closes the channel, or an extension fails (Lambda
    then resets the environment)."""
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
    memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    log_stream = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
    extensions.end_init()
    send(outbox, {"ready": {"port": None}})
    for line in inbox:
        invocation = json.loads(line)
        request_id = invocation["request_id"]
        extensions.begin_invocation(request_id, invocation["deadline_ms"])
        reply = invoke(handler, invocation, function_name, memory_mb, log_stream)
        if not extensions.registered:
            outbox.write(encode_reply({**reply, "done": True}, request_id))
            outbox.flush()
            continue
        outbox.write(encode_reply(reply, request_id))
        outbox.flush()
        # Lambda's limit on the whole invocation, extensions included, is the emulator's to enforce.
        extensions.wait_until_done()
        if extensions.failed:
            log_error(RuntimeError("an extension reported an error"), "Extension.Crash", request_id)
            return
        send(outbox, {"done": True})


def invoke(
    handler: Callable[[Any, Any], Any],
    invocation: dict[str, Any],
    function_name: str,
    memory_mb: int,
    log_stream: str | None,
) -> dict[str, Any]:
    """The handler's result, or the error it raised, as the runtime reports them."""
    request_id = invocation["request_id"]
    context = LambdaContext(
        function_name, request_id, memory_mb=memory_mb, deadline_ms=invocation["deadline_ms"], log_stream=log_stream
    )
    try:
        return {"result": handler(invocation["event"], context)}
    except Exception as exc:  # the runtime's job: log the handler's failure, answer an error
        log_error(exc, type(exc).__name__, request_id)
        return {"error": type(exc).__name__}


def encode_reply(reply: dict[str, Any], request_id: str) -> bytes:
    """One JSON line for the emulator; a result JSON cannot hold is the runtime's marshal error."""
    try:
        return json.dumps(reply).encode() + b"\n"
    except (TypeError, ValueError) as exc:
        log_error(exc, "Runtime.MarshalError", request_id)
        answer = {name: value for name, value in reply.items() if name != "result"} | {"error": "Runtime.MarshalError"}
        return json.dumps(answer).encode() + b"\n"


def only_from_the_emulator(app: Any, token: str) -> Any:
    """``app``, answering only requests that carry ``token`` (which it removes before the app sees them)."""
    name = INVOCATION_TOKEN_HEADER.encode()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        sent = [value for key, value in scope["headers"] if key.lower() == name]
        if len(sent) != 1 or not hmac.compare_digest(sent[0], token.encode()):
            body = b"This port serves the local emulator only: call the address make dev printed.\n"
            headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers = [(key, value) for key, value in scope["headers"] if key.lower() != name]
        await app({**scope, "headers": headers}, receive, send)

    return guarded


def serve_web_app(app: Any, outbox: BinaryIO, inbox: BinaryIO) -> None:
    """Serve the ASGI app on a loopback port, as run_stream.sh does behind the Lambda Web Adapter."""
    import uvicorn  # here: an environment of a buffered function never needs it

    from llm_core.timeouts import ADAPTER_CONNECTION_IDLE_SECONDS  # imported by the app already

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    token = secrets.token_urlsafe(32)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                send(outbox, {"ready": {"port": port, "token": token}})

    # run_stream.sh's options; warnings only, as the adapter's start-up lines would say nothing here.
    config = uvicorn.Config(
        only_from_the_emulator(app, token),
        log_level="warning",
        access_log=False,
        timeout_keep_alive=ADAPTER_CONNECTION_IDLE_SECONDS,
        ws="none",
    )
    server = Server(config)
    threading.Thread(target=exit_when_closed, args=(inbox,), name="channel", daemon=True).start()
    server.run(sockets=[listener])


def exit_when_closed(inbox: BinaryIO) -> None:
    """The emulator has gone (its end of the channel closed): so does this environment. A reset counts as
    gone too: an emulator killed before it read a message leaves this end a reset, not an end of file."""
    try:
        inbox.read()
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.emulator.worker")
    parser.add_argument("--channel", type=int, required=True, help="file descriptor of the emulator's socket")
    parser.add_argument("--entry-point", required=True)
    parser.add_argument("--web-adapter", action="store_true", help="an ASGI app behind the Lambda Web Adapter")
    args = parser.parse_args(argv)
    # Whole lines as they are written, so the emulator can relay each log line as soon as it exists.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    channel = socket.socket(fileno=args.channel)
    inbox, outbox = channel.makefile("rb"), channel.makefile("wb")
    extensions = None
    if not args.web_adapter:
        # Lambda's runtime API address: the handler's import may register an internal extension there.
        extensions = ExtensionsApi(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function"))
        os.environ["AWS_LAMBDA_RUNTIME_API"] = extensions.address
    # A failed init is logged the way Lambda names it, and the environment ends; the next invocation retries.
    try:
        function = load_entry_point(args.entry_point)
    except AttributeError as exc:
        log_error(exc, "Runtime.HandlerNotFound")
        return 1
    except Exception as exc:
        log_error(exc, "Runtime.ImportModuleError")
        return 1
    if args.web_adapter:
        serve_web_app(function, outbox, inbox)
    else:
        assert extensions is not None
        serve_handler(function, extensions, inbox, outbox)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A handler whose import registers the after-response extension (functions/llm_core/after_response.py), as
a buffered function's import does when a budget is set."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from infra.emulator.runtime import LambdaContext
from llm_core import after_response

after_response.start_extension()


@after_response.after_the_response
def answer_then_work(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer at once; after the response, connect to the test's ``port``, wait for its go-ahead, and send
    back the time the work ended."""

    def work() -> None:
        with socket.create_connection(("127.0.0.1", event["port"])) as peer:
            peer.recv(1)
            peer.sendall(repr(time.time()).encode())

    after_response.defer(work)
    return {"pid": os.getpid(), "started": time.time()}

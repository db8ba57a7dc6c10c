"""The request path of the buffered functions, from a Function URL event to its result: the method, the body,
errors as the contract's envelope, the request id header, the deadline and the request metrics.

Each buffered function has one route (POST, any path), so this is a small app of its own rather than
Powertools' event-handler resolver: importing that package costs about 60 ms of every cold start, more than
the rest of the handler, and its OpenAPI validation about 0.45 s; ``request_body`` already validates with the
request models and the contract's messages.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from llm_core.budget import REMAINING_HEADER
from llm_core.cold_start import resume_garbage_collection
from llm_core.contract import json_text
from llm_core.errors import REQUEST_ID_HEADER, InvalidJson, MethodNotAllowed
from llm_core.identity import Caller, identify
from llm_core.model_client import deadline_after
from llm_core.observability import record_failure, record_latency, record_usage
from llm_core.request_body import parse_request
from llm_core.service import Answer

RequestModel = TypeVar("RequestModel", bound=BaseModel)


class LambdaContext(Protocol):
    """What this module reads of the context the Lambda runtime passes to a handler."""

    aws_request_id: str
    function_name: str

    def get_remaining_time_in_millis(self) -> int: ...


def json_result(status: int, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """A Function URL result: Lambda turns it into the HTTP response."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **headers},
        "body": json_text(body),
        "isBase64Encoded": False,
    }


def event_body(event: dict[str, Any]) -> bytes:
    """The body's bytes: Lambda base64-encodes bodies it does not take for text."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidJson("The request body could not be decoded.") from None
    # surrogatepass: a string Lambda decoded leniently still reaches the UTF-8 check, which names the problem.
    return str(body).encode("utf-8", errors="surrogatepass")


class FunctionUrlApp(Generic[RequestModel]):
    """POST a JSON body of ``model`` to any path; ``work`` turns the request and its caller into the 200's body."""

    def __init__(self, model: type[RequestModel], work: Callable[[RequestModel, Caller], Answer]) -> None:
        self.model = model
        self.work = work

    def resolve(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        started = time.perf_counter()
        request_id = context.aws_request_id
        caller: Caller | None = None
        try:
            with deadline_after(context.get_remaining_time_in_millis() / 1000):
                caller, request = self._admit(event)
                answer = self.work(request, caller)
            record_usage(answer.body["usage"])
            headers = {REQUEST_ID_HEADER: request_id}
            if answer.tokens_remaining is not None:
                headers[REMAINING_HEADER] = str(answer.tokens_remaining)
            return json_result(200, answer.body, headers)
        except Exception as exc:
            who = caller.id if caller else "not identified"
            error = record_failure(exc, request_id, function_name=context.function_name, caller=who)
            return json_result(error.status, error.body, error.headers)
        finally:
            record_latency((time.perf_counter() - started) * 1000)
            # The first invocation ends the cold start (llm_core/cold_start.py); later ones find it on.
            resume_garbage_collection()

    def _admit(self, event: dict[str, Any]) -> tuple[Caller, RequestModel]:
        """Who is asking, and what: the method, then the caller (a 401 before anything is read), then the body."""
        method = ((event.get("requestContext") or {}).get("http") or {}).get("method")
        if method != "POST":
            raise MethodNotAllowed()
        headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
        caller = identify(headers, event.get("requestContext") or {})
        return caller, parse_request(event_body(event), headers, self.model, query=event.get("rawQueryString") or "")

"""The bodies the fake sends, shaped like the Responses API's: a ``Response`` object, its stream events, errors.

tests/fake_openai/test_fake_openai_payloads.py checks every one of them against the official OpenAPI schemas.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any

from infra.fake_openai.replies import DEMO_MODEL, FakeReply

Event = dict[str, Any]


def error_body(status: int, message: str, code: str) -> dict[str, Any]:
    """OpenAI's error body, as sent with a non-200 status."""
    error_type = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def usage(body: dict[str, Any], output_text: str, billed: tuple[int, int] | None = None) -> dict[str, Any]:
    """Token counts estimated at four characters a token (or ``billed``): plausible enough for budgets and
    metrics. As a real model's, the output's count never passes the request's ``max_output_tokens``."""
    input_tokens = max(1, len(json.dumps(body.get("input", ""), ensure_ascii=False)) // 4)
    output_tokens = max(1, len(output_text) // 4)
    if billed is not None:
        input_tokens, output_tokens = billed
    if isinstance(body.get("max_output_tokens"), int):
        output_tokens = min(output_tokens, body["max_output_tokens"])
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


class Answer:
    """One answer of the Responses API to a request ``body``, as one JSON ``Response`` or as its stream events."""

    def __init__(self, body: dict[str, Any], reply: FakeReply) -> None:
        self.body = body
        self.reply = reply
        self.response_id = f"resp_{uuid.uuid4().hex}"
        self.item_id = f"msg_{uuid.uuid4().hex}"
        self.created_at = int(time.time())
        model = body.get("model")
        self.model = model if isinstance(model, str) and model else DEMO_MODEL
        self.part_type = "refusal" if reply.refusal is not None else "output_text"
        self.full_text = reply.answer_text
        self.deltas = reply.deltas
        self._sequence = itertools.count()

    @property
    def final_status(self) -> str:
        if self.reply.failed is not None:
            return "failed"
        return "incomplete" if self.reply.incomplete else "completed"

    def final_response(self) -> dict[str, Any]:
        message_status = "completed" if self.final_status == "completed" else "incomplete"
        return self._response(
            self.final_status,
            [self._message(self.full_text, message_status)],
            usage(self.body, self.full_text, self.reply.billed),
        )

    # ------------------------------------------------------------------------------------------ streaming

    def opening_events(self) -> list[Event]:
        in_progress = self._response("in_progress", [])
        return [
            self._event("response.created", response=in_progress),
            self._event("response.in_progress", response=in_progress),
            self._event("response.output_item.added", output_index=0, item=self._message(None, "in_progress")),
            self._event("response.content_part.added", **self._part_position(), part=self._content_part("")),
        ]

    def delta_event(self, delta: str) -> Event:
        if self.part_type == "refusal":
            return self._event("response.refusal.delta", **self._part_position(), delta=delta)
        return self._event("response.output_text.delta", **self._part_position(), delta=delta, logprobs=[])

    def closing_events(self) -> list[Event]:
        """What follows the last delta: the answer's end, or the failure that ends it."""
        if self.reply.stream_error is not None:
            return [self._event("error", code="server_error", message=self.reply.stream_error, param=None)]
        if self.reply.failed is not None:
            return [self._event("response.failed", response=self.final_response())]
        if self.part_type == "refusal":
            text_done = self._event("response.refusal.done", **self._part_position(), refusal=self.full_text)
        else:
            text_done = self._event(
                "response.output_text.done", **self._part_position(), text=self.full_text, logprobs=[]
            )
        final_event = "response.incomplete" if self.reply.incomplete else "response.completed"
        return [
            text_done,
            self._event("response.content_part.done", **self._part_position(), part=self._content_part(self.full_text)),
            self._event(
                "response.output_item.done", output_index=0, item=self._message(self.full_text, self.final_status)
            ),
            self._event(final_event, response=self.final_response()),
        ]

    # ------------------------------------------------------------------------------------------ pieces

    def _event(self, kind: str, **data: Any) -> Event:
        return {"type": kind, "sequence_number": next(self._sequence), **data}

    def _part_position(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "output_index": 0, "content_index": 0}

    def _content_part(self, text: str) -> dict[str, Any]:
        if self.part_type == "refusal":
            return {"type": "refusal", "refusal": text}
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def _message(self, text: str | None, status: str) -> dict[str, Any]:
        """The assistant message; ``text`` None gives the empty item that opens a stream."""
        return {
            "id": self.item_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [] if text is None else [self._content_part(text)],
        }

    def _response(self, status: str, output: list[dict[str, Any]], tokens: dict[str, Any] | None = None) -> Event:
        response: dict[str, Any] = {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": output,
            "error": {"code": "server_error", "message": self.reply.failed} if status == "failed" else None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": self.body.get("instructions"),
            "max_output_tokens": self.body.get("max_output_tokens"),
            "parallel_tool_calls": True,
            "temperature": 1.0,
            "top_p": 1.0,
            "tool_choice": "auto",
            "tools": [],
            "truncation": self.body.get("truncation", "disabled"),
            "store": self.body.get("store", True),
            "text": self.body.get("text") or {"format": {"type": "text"}},
            "metadata": {},
        }
        if status == "completed":
            response["completed_at"] = int(time.time())
        if tokens is not None:  # the API leaves usage out until the answer is over
            response["usage"] = tokens
        return response

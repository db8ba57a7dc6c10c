"""What the fake model answers: scripted replies, the offline demo's answers, and the record of each request."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

DEMO_MODEL = "fake-demo-model"
# What a person reading along sees as a model writing: the pace for `make dev`'s demo and the command line.
HUMAN_PACE_WORDS_PER_SECOND = 30.0
QUOTE_LIMIT_CHARS = 200
# A TODO title the page shows on one line.
DEMO_TITLE_CHARS = 80


@dataclass
class FakeReply:
    """One scripted answer. Every field is optional; the defaults give a normal, successful answer.

    status / headers / error_message / error_code: a non-200 answer with OpenAI's error body.
    text: the answer text (free text); tokens: the exact deltas to stream instead of splitting ``text``.
    output: an object serialised as the structured output; raw_output_text: literal output text
    (for output that breaks the schema).
    refusal: the model refuses with this message.
    failed: the model fails after its deltas with this message (status "failed"; streaming: ``response.failed``).
    stream_error: streaming only: an ``error`` event with this message after the deltas ends the stream.
    delay_seconds: wait before sending the response headers (a slow upstream).
    hold: wait for this event before sending the response headers (a model still working, until a test says).
    hold_last_token: streaming only: send every delta but the last, then wait for this event.
    hold_body_end: streaming only: send every event, then keep the body open until this event.
    drop_after_tokens: close the connection mid-answer: streaming, after this many deltas, mid-chunk; JSON,
    halfway through the body.
    token_delay_seconds: streaming only: pause between deltas.
    incomplete: the answer stops with status "incomplete", reason "max_output_tokens".
    billed: the (input, output) tokens to report instead of the estimate, as a tokenizer that counts more
    than one token a character may (the output still no more than the request's max_output_tokens).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "scripted failure"
    error_code: str = "scripted"
    text: str | None = None
    tokens: list[str] | None = None
    output: dict[str, Any] | None = None
    raw_output_text: str | None = None
    refusal: str | None = None
    failed: str | None = None
    stream_error: str | None = None
    delay_seconds: float = 0.0
    hold: threading.Event | None = None
    hold_last_token: threading.Event | None = None
    hold_body_end: threading.Event | None = None
    drop_after_tokens: int | None = None
    token_delay_seconds: float = 0.0
    incomplete: bool = False
    billed: tuple[int, int] | None = None

    @property
    def answer_text(self) -> str:
        """The whole text the model writes, whichever field scripts it."""
        if self.refusal is not None:
            return self.refusal
        if self.raw_output_text is not None:
            return self.raw_output_text
        if self.output is not None:
            return json.dumps(self.output, ensure_ascii=False)  # as a model writes it: the characters, not escapes
        return "".join(self.tokens) if self.tokens is not None else (self.text or "")

    @property
    def deltas(self) -> list[str]:
        """The pieces the answer streams in: ``tokens`` as scripted, otherwise one per word."""
        return self.tokens if self.tokens is not None else split_words(self.answer_text)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    client_port: int = 0
    """The caller's port: two requests on one kept-alive connection share it."""
    fault: str | None = None
    """The name of the fault drawn for this request, when the fake injects faults at random."""
    first_delta_at: float | None = None
    """``time.perf_counter()`` when the first text delta was written (streaming only)."""
    client_gone: bool = False
    """The caller closed or reset its connection before the fake had written its whole answer."""
    finished: threading.Event = field(default_factory=threading.Event)
    """Set when the fake has written its whole answer, or given up on a caller that left."""


def split_words(text: str) -> list[str]:
    """Word-sized deltas, each carrying the whitespace before it, as a model's tokens roughly do."""
    return re.findall(r"\s*\S+", text) or [text]


def is_structured(body: dict[str, Any]) -> bool:
    """The request asks for structured output (a JSON schema) rather than free text."""
    return _text_format(body).get("type") == "json_schema"


def demo_reply(body: dict[str, Any], words_per_second: float | None = None) -> FakeReply:
    """What the offline demo model answers: plausible, schema-valid, and clearly fake.

    ``words_per_second``: free text streams one word at a time at this pace, as a person sees a real model
    write; None streams it as fast as the socket allows.
    """
    user_text = _last_user_text(body)
    if is_structured(body):
        schema = _text_format(body).get("schema") or {}
        return FakeReply(output=_demo_structured_output(schema, user_text, str(body.get("instructions") or "")))
    quoted = user_text if len(user_text) <= QUOTE_LIMIT_CHARS else user_text[:QUOTE_LIMIT_CHARS] + "…"
    return FakeReply(
        text=(
            "This is the project's fake model (infra/fake_openai), so this answer is canned, but it streams the "
            f'way a real model does: a word at a time, while you watch. You said: "{quoted}". Nothing you type '
            "here leaves your machine. make dev answers with it when no OPENAI_API_KEY is set (or when "
            "OPENAI_BASE_URL points at it); with a key in .env it talks to a real model. Press Stop while an "
            "answer is still being written to keep what has arrived, or ask again to continue the conversation."
        ),
        token_delay_seconds=1 / words_per_second if words_per_second else 0.0,
    )


def _text_format(body: dict[str, Any]) -> dict[str, Any]:
    text = body.get("text")
    text_format = text.get("format") if isinstance(text, dict) else None
    return text_format if isinstance(text_format, dict) else {}


def _last_user_text(body: dict[str, Any]) -> str:
    items = body.get("input")
    if isinstance(items, str):
        return items
    for item in reversed(items if isinstance(items, list) else []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return " ".join(part.get("text", "") for part in content or [] if isinstance(part, dict))
    return ""


def _sentences(text: str) -> list[str]:
    return [sentence.strip() for sentence in re.split(r"(?<=[.!?])\s+", text) if sentence.strip()]


def _demo_title(user_text: str, limit: int = DEMO_TITLE_CHARS) -> str:
    """The request's first sentence, cut at a word rather than inside one when it is long."""
    sentences = _sentences(user_text)
    if not sentences:
        return "Untitled"
    first = sentences[0]
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _demo_due_date(user_text: str, instructions: str) -> str | None:
    """ "today", "tomorrow" or a weekday ("by Friday": the next one after today), against the date the
    instructions state for the caller's time zone, as a real model resolves them; None for anything else."""
    stated = re.search(r"Today is \w+, (\d{4}-\d{2}-\d{2})", instructions)
    today = date.fromisoformat(stated.group(1)) if stated else date.today()
    words = re.findall(r"[a-z]+", user_text.lower())
    if "today" in words:
        return today.isoformat()
    if "tomorrow" in words:
        return (today + timedelta(days=1)).isoformat()
    for word in words:
        if word in WEEKDAYS:
            days_ahead = (WEEKDAYS.index(word) - today.weekday() - 1) % 7 + 1
            return (today + timedelta(days=days_ahead)).isoformat()
    return None


def _demo_structured_output(schema: dict[str, Any], user_text: str, instructions: str) -> dict[str, Any]:
    properties = schema.get("properties", {})
    if "bullets" in properties:
        limit = properties["bullets"].get("maxItems", 3)
        return {"bullets": _sentences(user_text)[:limit] or ["(empty)"]}
    if "priority" in properties:
        urgent = re.search(r"\b(urgent|asap)\b", user_text, re.IGNORECASE) is not None
        due = _demo_due_date(user_text, instructions)
        return {"title": _demo_title(user_text), "due_date": due, "priority": 2 if urgent else 3}
    # A schema it has no answer for (a new endpoint's): a value of each property's type, so the answer is
    # valid and `make dev` works before anyone writes a better demo.
    return {name: _demo_value(spec, user_text) for name, spec in properties.items()}


def _demo_value(spec: dict[str, Any], user_text: str) -> Any:
    """A value that satisfies ``spec`` (one property of a strict schema), drawn from the request's text."""
    kinds = spec.get("type", "string")
    kind = next((k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null"), "null")
    if "enum" in spec:
        return spec["enum"][0]
    if kind == "string":
        return _demo_title(user_text)
    if kind in {"integer", "number"}:
        return spec.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return [_demo_value(spec.get("items", {}), user_text) for _ in range(spec.get("minItems", 1))]
    if kind == "object":
        return {name: _demo_value(inner, user_text) for name, inner in spec.get("properties", {}).items()}
    return None

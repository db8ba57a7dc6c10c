"""The offline demo model's answers (infra.fake_openai.replies): what `make dev` shows without a key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from infra.fake_openai.replies import DEMO_TITLE_CHARS, demo_reply
from llm_core.prompts import todo_instructions

TODO_SCHEMA = {"properties": {"title": {}, "due_date": {}, "priority": {}}}


# What todo_instructions states for the caller's day: a Monday.
MONDAY_INSTRUCTIONS = (
    "You turn the user's request into exactly one TODO item. Today is Monday, 2026-11-23 in the time zone"
)


def demo_todo(text: str, instructions: str = MONDAY_INSTRUCTIONS) -> dict[str, Any]:
    body = {
        "instructions": instructions,
        "input": [{"role": "user", "content": text}],
        "text": {"format": {"type": "json_schema", "name": "todo", "schema": TODO_SCHEMA, "strict": True}},
    }
    output = demo_reply(body).output
    assert isinstance(output, dict)
    return output


def test_demo_todo_title_is_the_requests_first_sentence() -> None:
    todo = demo_todo("Remind me to send the report to Dana by Friday. It is fairly urgent.")
    assert todo["title"] == "Remind me to send the report to Dana by Friday."


def test_demo_todo_title_is_cut_between_words_when_long() -> None:
    title = demo_todo("word " * 40)["title"]
    assert len(title) <= DEMO_TITLE_CHARS + 1
    assert title.endswith("word…")


def test_demo_todo_marks_an_urgent_request_more_urgent() -> None:
    assert (demo_todo("Pay the rent, urgent")["priority"], demo_todo("Pay the rent")["priority"]) == (2, 3)


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("Call Dana today", "2026-11-23"),
        ("Call Dana tomorrow", "2026-11-24"),
        ("Send the report by next Friday.", "2026-11-27"),
        ("Water the plants on Monday", "2026-11-30"),
        ("Call Dana someday", None),
    ],
)
def test_demo_todo_resolves_a_day_against_the_date_the_instructions_state(text, due) -> None:
    assert demo_todo(text)["due_date"] == due


def test_demo_todo_date_follows_the_prompts_own_wording() -> None:
    instructions = todo_instructions("Europe/Paris", datetime(2026, 11, 23, 12, tzinfo=UTC))
    assert demo_todo("Pay the rent tomorrow", instructions)["due_date"] == "2026-11-24"


def test_demo_answer_to_an_unknown_schema_is_valid_against_it() -> None:
    # A new endpoint's schema, before anyone writes its demo: make dev must still answer with valid JSON.
    schema = {
        "type": "object",
        "properties": {
            "translation": {"type": "string"},
            "confidence": {"type": ["number", "null"], "minimum": 0},
            "tone": {"type": "string", "enum": ["formal", "casual"]},
            "notes": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "done": {"type": "boolean"},
            "source": {"type": "object", "properties": {"language": {"type": "string"}}},
        },
        "required": ["translation", "confidence", "tone", "notes", "done", "source"],
        "additionalProperties": False,
    }
    body = {
        "input": [{"role": "user", "content": "Bonjour tout le monde."}],
        "text": {"format": {"type": "json_schema", "name": "translation", "schema": schema, "strict": True}},
    }
    output = demo_reply(body).output
    jsonschema.validate(output, schema)
    assert output["translation"] == "Bonjour tout le monde."

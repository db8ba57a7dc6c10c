"""The offline demo model's answers (infra.fake_openai.replies): what `make dev` shows without a key."""

from __future__ import annotations

from typing import Any

from infra.fake_openai.replies import DEMO_TITLE_CHARS, demo_reply

TODO_SCHEMA = {"properties": {"title": {}, "due_date": {}, "priority": {}}}


def demo_todo(text: str) -> dict[str, Any]:
    body = {
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

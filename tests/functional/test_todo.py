"""The todo function: strict structured output, dates resolved in the caller's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from infra.fake_openai import FakeReply
from tests.support import event_with_body


def test_todo_is_the_models_item(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(output={"title": "Call the plumber", "due_date": "2026-11-27", "priority": 1}))
    result = invoke("todo", "function_url_todo")
    assert result["statusCode"] == 200
    assert result["json"]["todo"] == {"title": "Call the plumber", "due_date": "2026-11-27", "priority": 1}
    assert set(result["json"]) == {"todo", "model", "usage"}


def test_no_date_is_null_not_missing(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(output={"title": "Water the plants", "due_date": None, "priority": 3}))
    result = invoke("todo", "function_url_todo")
    assert result["json"]["todo"]["due_date"] is None


def test_schema_is_strict_with_every_property_required(configured, fake_model, invoke):
    invoke("todo", "function_url_todo")
    text_format = fake_model.requests[-1].body["text"]["format"]
    schema = text_format["schema"]
    assert text_format["strict"] is True and schema["additionalProperties"] is False
    assert sorted(schema["required"]) == sorted(schema["properties"]) == ["due_date", "priority", "title"]
    assert {"type": "null"} in schema["properties"]["due_date"]["anyOf"]
    assert (schema["properties"]["priority"]["minimum"], schema["properties"]["priority"]["maximum"]) == (1, 5)


def test_prompt_states_today_in_the_callers_timezone(configured, fake_model, invoke):
    # The days on either side of the call, in case it ran across midnight in Paris.
    before = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    invoke("todo", "function_url_todo")
    after = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    instructions = fake_model.requests[-1].body["instructions"]
    assert any(f"{today} in the time zone Europe/Paris" in instructions for today in {before, after})


def test_timezone_defaults_to_utc(configured, fake_model, invoke):
    invoke("todo", event_with_body("function_url_todo", {"text": "Renew the passport"}))
    assert "in the time zone UTC" in fake_model.requests[-1].body["instructions"]


def test_unknown_timezone_is_400(configured, fake_model, invoke):
    result = invoke("todo", "function_url_todo_bad_timezone")
    assert result["statusCode"] == 400
    assert result["json"]["error"]["message"].startswith("timezone:")
    assert fake_model.requests == []


def assert_schema_break(result: dict) -> None:
    assert (result["statusCode"], result["json"]["error"]["type"], result["json"]["error"]["message"]) == (
        502,
        "upstream_error",
        "The model's answer did not match the expected schema: try again.",
    )


def test_priority_outside_one_to_five_is_502(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(output={"title": "Do it", "due_date": None, "priority": 9}))
    assert_schema_break(invoke("todo", "function_url_todo"))


def test_date_that_is_not_iso_is_502(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(output={"title": "Do it", "due_date": "next Friday", "priority": 2}))
    assert_schema_break(invoke("todo", "function_url_todo"))


@pytest.mark.parametrize("title", ["  ", "\u200b", "\u3164"], ids=["spaces", "zero-width space", "Hangul filler"])
def test_title_that_shows_nothing_is_502(configured, fake_model, invoke, title):
    fake_model.enqueue(FakeReply(output={"title": title, "due_date": None, "priority": 2}))
    assert_schema_break(invoke("todo", "function_url_todo"))


@pytest.mark.parametrize(
    "answer",
    [
        {"priority": "2"},
        {"priority": True},
        {"priority": 2.5},
        {"due_date": 0},
        {"due_date": "2026-11-27T00:00:00"},
    ],
    ids=["priority as a string", "priority as a boolean", "priority with a fraction", "date as a number",
         "date with a time"],
)  # fmt: skip
def test_an_answer_the_schema_does_not_allow_is_502_not_coerced(configured, fake_model, invoke, answer):
    fake_model.enqueue(FakeReply(output={"title": "Do it", "due_date": None, "priority": 2, **answer}))
    assert_schema_break(invoke("todo", "function_url_todo"))


def test_a_whole_priority_written_with_a_fraction_is_that_integer(configured, fake_model, invoke):
    # JSON has one kind of number: 2.0 is the integer 2, as JSON Schema says and as the request contract reads it.
    fake_model.enqueue(FakeReply(output={"title": "Do it", "due_date": None, "priority": 2.0}))
    assert invoke("todo", "function_url_todo")["json"]["todo"]["priority"] == 2


def test_the_models_title_comes_back_without_surrounding_spaces(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(output={"title": "  Call mum ", "due_date": None, "priority": 2}))
    assert invoke("todo", "function_url_todo")["json"]["todo"]["title"] == "Call mum"


def test_refusal_is_502_and_not_passed_through(configured, fake_model, invoke):
    fake_model.enqueue(FakeReply(refusal="I won't do that."))
    result = invoke("todo", "function_url_todo")
    assert (result["statusCode"], result["json"]["error"]["type"], result["json"]["error"]["message"]) == (
        502,
        "upstream_error",
        "The model refused to answer this request: rephrase it.",
    )
    assert "I won't" not in result["body"]


# Files of the host's zoneinfo directory that are not IANA names; Lambda's runtime has no such directory.
@pytest.mark.parametrize("timezone", ["localtime", "posixrules", "right/UTC", "posix/Europe/Paris"])
def test_timezone_known_only_to_this_machine_is_400_as_on_lambda(configured, fake_model, invoke, timezone):
    result = invoke("todo", event_with_body("function_url_todo", {"text": "Water the plants", "timezone": timezone}))
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        400,
        "timezone: must be an IANA time zone name such as Europe/Paris.",
    )
    assert fake_model.requests == []


@pytest.mark.parametrize("timezone", ["America", "Europe/" + "x" * 300, "../../etc/passwd"])
def test_timezone_that_is_a_path_or_too_long_is_400(configured, invoke, timezone):
    result = invoke("todo", event_with_body("function_url_todo", {"text": "Water the plants", "timezone": timezone}))
    assert (result["statusCode"], result["json"]["error"]["message"]) == (
        400,
        "timezone: must be an IANA time zone name such as Europe/Paris.",
    )

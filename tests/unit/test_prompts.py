"""llm_core.prompts: what the model is told, and the schemas of its answers."""

from __future__ import annotations

from datetime import UTC, datetime

from llm_core.prompts import summary_schema, todo_instructions


def test_todo_prompt_uses_the_date_in_the_callers_timezone():
    late_evening_utc = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert "Monday, 2026-11-23 in the time zone Asia/Tokyo" in todo_instructions("Asia/Tokyo", late_evening_utc)
    assert "Sunday, 2026-11-22 in the time zone UTC" in todo_instructions("UTC", late_evening_utc)


def test_summary_schema_caps_bullets_at_the_requested_count():
    schema = summary_schema(7).model_json_schema()
    assert (schema["properties"]["bullets"]["minItems"], schema["properties"]["bullets"]["maxItems"]) == (1, 7)

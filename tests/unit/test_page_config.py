"""What /config.json tells the page (llm_core/page_config.py) agrees with what the functions do."""

from __future__ import annotations

from llm_core.contract import SummarizeRequest, TodoRequest
from llm_core.page_config import page_config
from llm_core.prompts import Todo


def test_the_bullet_count_the_page_offers_first_is_the_contracts_default() -> None:
    config = page_config(20_000)

    assert config["defaults"]["max_bullets"] == SummarizeRequest.model_fields["max_bullets"].default
    assert 1 <= config["defaults"]["max_bullets"] <= config["limits"]["max_bullets"]


def test_the_time_zone_the_page_says_the_server_assumes_is_the_contracts_default() -> None:
    assert page_config(20_000)["defaults"]["timezone"] == TodoRequest.model_fields["timezone"].default


def test_the_priority_scale_the_page_draws_is_the_one_a_todo_must_match() -> None:
    schema = Todo.model_json_schema()["properties"]["priority"]

    values = [priority["value"] for priority in page_config(20_000)["priorities"]]

    assert values == list(range(schema["minimum"], schema["maximum"] + 1))


def test_the_priorities_are_named_from_highest_to_lowest_as_docs_api_md_says() -> None:
    names = [priority["name"] for priority in page_config(20_000)["priorities"]]

    assert names == ["highest", "high", "medium", "low", "lowest"]

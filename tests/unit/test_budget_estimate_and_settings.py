"""llm_core.budget without the table: the worst-case estimate and the budget settings."""

from __future__ import annotations

import pytest

import llm_core
from llm_core.budget import (
    INSTRUCTION_OVERHEAD_TOKENS,
    MESSAGE_OVERHEAD_TOKENS,
    estimate_tokens,
)
from llm_core.errors import NotConfigured
from llm_core.settings import get_settings


def test_estimate_counts_a_token_per_character_plus_instructions_and_the_whole_output():
    assert estimate_tokens(2_000, 1_024) == 2_000 + MESSAGE_OVERHEAD_TOKENS + INSTRUCTION_OVERHEAD_TOKENS + 1_024


def test_estimate_counts_the_framing_of_every_message():
    one = estimate_tokens(1_000, 512, messages=1)
    assert estimate_tokens(1_000, 512, messages=20) - one == 19 * MESSAGE_OVERHEAD_TOKENS


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_SECRET_ID", "s")
    for name in ("BUDGET_TABLE_NAME", "DAILY_TOKENS_PER_USER", "DAILY_TOKENS_TOTAL"):
        monkeypatch.delenv(name, raising=False)
    llm_core.reset_caches()
    yield monkeypatch
    llm_core.reset_caches()


def test_budgets_are_off_unless_configured(settings_env):
    settings = get_settings()
    assert (settings.daily_tokens_per_user, settings.daily_tokens_total, settings.budget_table_name) == (0, 0, None)


def test_caps_are_read_from_their_variables(settings_env):
    settings_env.setenv("BUDGET_TABLE_NAME", "budgets")
    settings_env.setenv("DAILY_TOKENS_PER_USER", "200000")
    settings_env.setenv("DAILY_TOKENS_TOTAL", "2000000")
    settings = get_settings()
    assert (settings.daily_tokens_per_user, settings.daily_tokens_total, settings.budget_table_name) == (
        200_000,
        2_000_000,
        "budgets",
    )


@pytest.mark.parametrize("variable", ["DAILY_TOKENS_PER_USER", "DAILY_TOKENS_TOTAL"])
def test_a_cap_without_a_table_names_the_missing_variable(settings_env, variable):
    settings_env.setenv(variable, "1000")
    with pytest.raises(NotConfigured) as problem:
        get_settings()
    assert problem.value.message == (
        "Function configuration: BUDGET_TABLE_NAME is invalid: must name the budget table when "
        "DAILY_TOKENS_PER_USER or DAILY_TOKENS_TOTAL is set."
    )


def test_a_negative_cap_is_refused(settings_env):
    settings_env.setenv("BUDGET_TABLE_NAME", "budgets")
    settings_env.setenv("DAILY_TOKENS_TOTAL", "-1")
    with pytest.raises(NotConfigured, match="DAILY_TOKENS_TOTAL is invalid"):
        get_settings()

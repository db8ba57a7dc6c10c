"""llm_core.settings: the typed settings read from the environment, and the messages that name a variable."""

from __future__ import annotations

import pytest

import llm_core
from llm_core.errors import NotConfigured
from llm_core.settings import get_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch):
    llm_core.reset_caches()
    yield monkeypatch
    llm_core.reset_caches()


def test_missing_secret_id_names_the_variable(clean_env):
    with pytest.raises(NotConfigured, match="OPENAI_SECRET_ID is not set"):
        get_settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_INPUT_CHARS", "lots"),  # not a number
        ("MAX_OUTPUT_TOKENS", "8"),  # below the Responses API's minimum of 16
        ("OPENAI_BASE_URL", "localhost:8000"),  # not http(s)
        ("OPENAI_REASONING_EFFORT", "extreme"),  # not one of the API's efforts
    ],
)
def test_an_invalid_value_names_its_variable(settings_env, variable, value):
    settings_env.setenv(variable, value)
    with pytest.raises(NotConfigured, match=f"{variable} is invalid"):
        get_settings()


def test_defaults_apply_when_only_the_secret_id_is_set(settings_env):
    settings = get_settings()
    assert (settings.openai_model, settings.max_input_chars, settings.openai_base_url) == ("gpt-5.4-mini", 20_000, None)


# ------------------------------------------------------------------ the daily budgets


@pytest.fixture
def settings_env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_env.setenv("OPENAI_SECRET_ID", "s")
    return clean_env


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
        "Function configuration: BUDGET_TABLE_NAME is not set: it must name the budget table when "
        "DAILY_TOKENS_PER_USER or DAILY_TOKENS_TOTAL is set."
    )


def test_a_negative_cap_is_refused(settings_env):
    settings_env.setenv("BUDGET_TABLE_NAME", "budgets")
    settings_env.setenv("DAILY_TOKENS_TOTAL", "-1")
    with pytest.raises(NotConfigured, match="DAILY_TOKENS_TOTAL is invalid"):
        get_settings()

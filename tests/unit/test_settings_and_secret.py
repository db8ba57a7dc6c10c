from __future__ import annotations

import pytest

import llm_core
from llm_core.errors import NotConfigured
from llm_core.secret import _key_from_secret_value
from llm_core.settings import get_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch):
    llm_core.reset_caches()
    yield monkeypatch
    llm_core.reset_caches()


def test_missing_secret_id_names_the_variable(clean_env):
    with pytest.raises(NotConfigured, match="OPENAI_SECRET_ID is not set"):
        get_settings()


def test_bad_number_names_the_variable(clean_env):
    clean_env.setenv("OPENAI_SECRET_ID", "s")
    clean_env.setenv("MAX_INPUT_CHARS", "lots")
    with pytest.raises(NotConfigured, match="MAX_INPUT_CHARS is invalid"):
        get_settings()


def test_max_output_tokens_below_the_api_minimum_is_refused(clean_env):
    clean_env.setenv("OPENAI_SECRET_ID", "s")
    clean_env.setenv("MAX_OUTPUT_TOKENS", "8")
    with pytest.raises(NotConfigured, match="MAX_OUTPUT_TOKENS"):
        get_settings()


def test_base_url_must_be_http(clean_env):
    clean_env.setenv("OPENAI_SECRET_ID", "s")
    clean_env.setenv("OPENAI_BASE_URL", "localhost:8000")
    with pytest.raises(NotConfigured, match="OPENAI_BASE_URL"):
        get_settings()


def test_defaults_apply_when_only_the_secret_id_is_set(clean_env):
    clean_env.setenv("OPENAI_SECRET_ID", "s")
    settings = get_settings()
    assert (settings.openai_model, settings.max_input_chars, settings.openai_base_url) == ("gpt-5.4-mini", 20_000, None)


def test_bare_key_is_used_as_is():
    assert _key_from_secret_value("s", "  sk-abc\n") == "sk-abc"


def test_json_secret_yields_its_api_key():
    assert _key_from_secret_value("s", '{"api_key": "sk-abc", "note": "prod"}') == "sk-abc"


@pytest.mark.parametrize("value", ["", "   ", '{"api_key": ""}', '{"other": "x"}'])
def test_secret_without_a_key_is_not_configured(value):
    with pytest.raises(NotConfigured, match="holds no key"):
        _key_from_secret_value("s", value)


def test_api_key_that_is_not_a_string_is_not_configured():
    with pytest.raises(NotConfigured, match="must be a string"):
        _key_from_secret_value("s", '{"api_key": 42}')


def test_broken_json_secret_is_not_configured_without_echoing_it():
    with pytest.raises(NotConfigured) as caught:
        _key_from_secret_value("s", '{"api_key": "sk-half')
    assert "sk-half" not in caught.value.message


def test_unknown_reasoning_effort_names_the_variable(clean_env):
    clean_env.setenv("OPENAI_SECRET_ID", "s")
    clean_env.setenv("OPENAI_REASONING_EFFORT", "extreme")
    with pytest.raises(NotConfigured, match="OPENAI_REASONING_EFFORT is invalid"):
        get_settings()


@pytest.mark.parametrize("value", ["sk-abc\ndef", "sk-abc def", "sk-abc\u00a0def", '{"api_key": "sk-a\\u0000b"}'])
def test_key_that_cannot_be_a_header_is_not_configured_without_echoing_it(value):
    with pytest.raises(NotConfigured) as caught:
        _key_from_secret_value("s", value)
    assert "sk-a" not in caught.value.message

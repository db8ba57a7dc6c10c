"""Where the functions' OpenAI key comes from, and the offline demo when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.emulator.environments import REPO_ROOT
from infra.emulator.errors import ConfigError
from infra.emulator.model import KEY_SOURCE_NONE, README_PLACEHOLDER_KEY, resolve_model_config


def test_key_from_env_file_wins_over_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-file\nUNRELATED=1\n")

    config = resolve_model_config(env_file, {"OPENAI_API_KEY": "sk-shell"})

    assert (config.api_key, config.key_source) == ("sk-file", ".env")


def test_key_from_the_environment_when_the_env_file_has_none(tmp_path: Path) -> None:
    config = resolve_model_config(tmp_path / "absent.env", {"OPENAI_API_KEY": "sk-shell"})

    assert (config.api_key, config.key_source, config.demo) == ("sk-shell", "environment", False)


def test_no_key_anywhere_means_the_offline_demo(tmp_path: Path) -> None:
    config = resolve_model_config(tmp_path / "absent.env", {})

    assert (config.demo, config.key_source) == (True, KEY_SOURCE_NONE)


def test_the_readmes_placeholder_key_is_a_config_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-...\n")

    with pytest.raises(ConfigError) as refused:
        resolve_model_config(env_file, {})

    assert str(refused.value) == (
        "OPENAI_API_KEY in .env is 'sk-...', the README's placeholder: put your own key there, "
        "or remove it for the offline demo model"
    )


def test_the_refused_placeholder_is_the_one_the_readme_writes() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"OPENAI_API_KEY={README_PLACEHOLDER_KEY}" in readme


def test_base_url_without_scheme_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        resolve_model_config(None, {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "api.example"})


def test_reasoning_effort_in_the_env_file_is_taken_even_empty(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-file\nOPENAI_MODEL=gpt-4o-mini\nOPENAI_REASONING_EFFORT=\n")

    assert resolve_model_config(env_file, {}).reasoning_effort == ""


def test_reasoning_effort_absent_from_the_env_file_is_left_to_the_template(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-file\n")

    assert resolve_model_config(env_file, {}).reasoning_effort is None

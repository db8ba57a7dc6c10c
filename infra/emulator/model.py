"""Which model the functions talk to: OpenAI (or a compatible server) with the developer's key, or, with no
key, the fake model as an offline demo."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from infra.emulator.errors import ConfigError
from infra.fake_openai import HUMAN_PACE_WORDS_PER_SECOND, FakeOpenAI

KEY_SOURCE_NONE = "none: offline demo with the fake model"


@dataclass(frozen=True)
class ModelConfig:
    """Where the key came from (never printed), and where the functions send their requests."""

    api_key: str | None = field(repr=False)
    key_source: str
    base_url: str | None
    model: str | None
    # From the file only (the shell's reaches the functions anyway); "" is meaningful: no reasoning.
    reasoning_effort: str | None = None
    # The other names the file sets, which no function reads from it (the console names those it would from
    # the shell).
    not_read_from_file: tuple[str, ...] = ()

    @property
    def demo(self) -> bool:
        return self.api_key is None


DEMO = ModelConfig(None, KEY_SOURCE_NONE, None, None)


# The only names taken from .env (resolve_model_config).
READ_FROM_ENV_FILE = frozenset({"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_REASONING_EFFORT"})
# What the README's example writes into .env, copied as is, in place of a key.
README_PLACEHOLDER_KEY = "sk-..."


def resolve_model_config(env_file: Path | None, environ: Mapping[str, str] | None = None) -> ModelConfig:
    """OPENAI_API_KEY (and OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_REASONING_EFFORT) from ``env_file`` first,
    then the environment.

    Only these four names are taken from the file: the rest of a developer's .env is not exported into the
    functions' environment.
    """
    environ = os.environ if environ is None else environ
    from_file: dict[str, str | None] = {}
    if env_file is not None and env_file.exists():
        if not env_file.is_file():
            raise ConfigError(f"cannot read {env_file}: not a file")
        try:
            from_file = dotenv_values(env_file, interpolate=False)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"cannot read {env_file}: {reason}") from None

    def pick(name: str) -> tuple[str | None, str]:
        value = (from_file.get(name) or "").strip()
        if value:
            return value, str(env_file.name if env_file else ".env")
        value = (environ.get(name) or "").strip()
        return (value, "environment") if value else (None, "")

    api_key, key_source = pick("OPENAI_API_KEY")
    if api_key == README_PLACEHOLDER_KEY:
        where = "the environment" if key_source == "environment" else key_source
        raise ConfigError(
            f"OPENAI_API_KEY in {where} is {README_PLACEHOLDER_KEY!r}, the README's placeholder: put your own key "
            "there, or remove it for the offline demo model"
        )
    base_url, _ = pick("OPENAI_BASE_URL")
    model, _ = pick("OPENAI_MODEL")
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"OPENAI_BASE_URL must start with http:// or https://, not {base_url[:40]!r}")
    # Present but empty is an answer (no reasoning), so not read through pick().
    in_file = "OPENAI_REASONING_EFFORT" in from_file
    reasoning_effort = (from_file["OPENAI_REASONING_EFFORT"] or "").strip() if in_file else None
    not_read = tuple(name for name in from_file if name not in READ_FROM_ENV_FILE)
    return ModelConfig(api_key, key_source or KEY_SOURCE_NONE, base_url, model, reasoning_effort, not_read)


def demo_model() -> FakeOpenAI:
    """The fake model of the offline demo, which a person watches answer on the page."""
    return FakeOpenAI(pace_words_per_second=HUMAN_PACE_WORDS_PER_SECOND)

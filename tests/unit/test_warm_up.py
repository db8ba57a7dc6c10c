"""The warm-up rehearsals (llm_core.warm_up): real SDK parsing over an in-memory transport, no network, no key."""

from __future__ import annotations

import asyncio

import openai
import pytest

import llm_core
from llm_core import warm_up


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch):
    for name, value in {"OPENAI_SECRET_ID": "s", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    llm_core.reset_caches()
    yield monkeypatch
    llm_core.reset_caches()


def test_stream_rehearsal_parses_every_event_of_an_answer_without_the_network_or_the_key(settings_env, monkeypatch):
    seen: list[str] = []
    original = warm_up.answer_events

    async def recording(events):
        async for item in original(events):
            seen.append(type(item).__name__)
            yield item

    monkeypatch.setattr(warm_up, "answer_events", recording)
    monkeypatch.setattr("llm_core.secret.read_api_key", lambda *_: pytest.fail("the warm-up read the key"))
    asyncio.run(warm_up.warm_up_streaming())
    assert seen == ["Delta", "Done"]


def test_stream_rehearsal_is_skipped_when_the_settings_are_broken(monkeypatch):
    monkeypatch.delenv("OPENAI_SECRET_ID", raising=False)
    llm_core.reset_caches()
    monkeypatch.setattr(warm_up, "answer_events", lambda _events: pytest.fail("rehearsed with broken settings"))
    asyncio.run(warm_up.warm_up_streaming())  # the configuration problem is answered per request, not here


@pytest.mark.parametrize("initialization", ["snap-start", "provisioned-concurrency"])
def test_buffered_rehearsal_parses_a_structured_answer_where_init_is_not_a_wait(settings_env, initialization):
    settings_env.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", initialization)
    parsed: list[object] = []
    original = warm_up.structured_output

    def recording(response, model):
        parsed.append(original(response, model))
        return parsed[-1]

    settings_env.setattr(warm_up, "structured_output", recording)
    warm_up.warm_up_parsing()
    assert [todo.title for todo in parsed] == ["warm up"]


def test_buffered_rehearsal_is_skipped_on_an_on_demand_cold_start(settings_env):
    settings_env.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    settings_env.setattr(
        openai.resources.responses.Responses, "create", lambda *a, **k: pytest.fail("rehearsed on demand")
    )
    warm_up.warm_up_parsing()

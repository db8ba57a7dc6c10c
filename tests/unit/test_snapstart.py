"""SnapStart hooks (llm_core.snapstart): nothing secret or connected survives into a snapshot or out of it."""

from __future__ import annotations

import random

import pytest
import snapshot_restore_py

import llm_core
from llm_core import model_client, secret, snapstart


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_SECRET_ID", "s")
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
    }.items():
        monkeypatch.setenv(name, value)
    llm_core.reset_caches()
    yield
    llm_core.reset_caches()


def test_before_snapshot_drops_the_cached_key_and_its_client(settings_env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(secret, "_cached", secret._CachedKey("sk-cached", read_at=0.0))
    client = secret._client()
    snapstart.before_snapshot()
    assert secret._cached is None and secret._client() is not client


def test_after_restore_gives_new_model_clients(settings_env):
    clients = (model_client.get_client(), model_client.get_async_client())
    snapstart.after_restore()
    assert model_client.get_client() is not clients[0] and model_client.get_async_client() is not clients[1]


def test_after_restore_reseeds_randomness():
    random.seed(7)
    from_snapshot = random.random()
    random.seed(7)
    snapstart.after_restore()
    assert random.random() != from_snapshot


def test_hooks_are_registered_with_the_runtime(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    snapstart.register_runtime_hooks()
    assert [hook[0] for hook in snapshot_restore_py._before_snapshot_registry] == [snapstart.before_snapshot]
    assert [hook[0] for hook in snapshot_restore_py._after_restore_registry] == [snapstart.after_restore]

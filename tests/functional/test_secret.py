"""The key's cache (llm_core.secret) against moto's Secrets Manager."""

from __future__ import annotations

import llm_core
from llm_core.secret import read_api_key
from tests.support import CANARY_KEY, SECRET_ID


def test_key_is_cached_until_forced(configured):
    assert read_api_key() == CANARY_KEY
    configured.put_secret_value(SecretId=SECRET_ID, SecretString="sk-rotated")
    assert read_api_key() == CANARY_KEY
    assert read_api_key(force_fetch=True) == "sk-rotated"
    assert read_api_key() == "sk-rotated"


def test_max_age_zero_reads_the_secret_every_time(configured, monkeypatch):
    monkeypatch.setenv("SECRET_MAX_AGE_SECONDS", "0")
    llm_core.reset_caches()
    assert read_api_key() == CANARY_KEY
    configured.put_secret_value(SecretId=SECRET_ID, SecretString="sk-rotated")
    assert read_api_key() == "sk-rotated"


def test_binary_secret_is_read_as_text(secretsmanager):
    secretsmanager.create_secret(Name=SECRET_ID, SecretBinary=b'{"api_key": "sk-binary"}')
    assert read_api_key() == "sk-binary"

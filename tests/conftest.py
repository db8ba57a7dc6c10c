"""Fixtures shared by every suite: the fake model, moto's Secrets Manager, sample events, a Lambda context."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

import llm_core
from infra.emulator import Emulator
from infra.emulator.runtime import LambdaContext
from infra.fake_openai import FakeOpenAI
from tests.support import BASE_ENVIRONMENT, CANARY_KEY, SECRET_ID, SETTINGS_VARIABLES

# Powertools objects read their configuration when their module is first imported, which in a pytest session is
# at collection, possibly by another suite's module and before any fixture runs. Lambda sets these before import.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LlmEndpointsTests")


@pytest.fixture(autouse=True)
def garbage_collected() -> None:
    """Importing a handler turns the collector off until its environment's first invocation, which then
    freezes everything made so far (llm_core/cold_start.py). In this one long process that would be the whole
    test session's heap, so every test starts with the collector on (tests/unit/test_cold_start.py sets up its
    own)."""
    gc.enable()


@pytest.fixture(scope="module")
def emulator_fake_model() -> Iterator[FakeOpenAI]:
    """The fake model behind the local emulator, shared by a module's tests that drive the emulator."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def emulator(emulator_fake_model: FakeOpenAI) -> Iterator[Emulator]:
    """The local emulator (`make dev`) on a free loopback port, in demo mode with ``emulator_fake_model``."""
    with Emulator(fake=emulator_fake_model) as emulator:
        yield emulator


@pytest.fixture
def lambda_context() -> LambdaContext:
    """The context of one invocation of a function with the template's 30 s timeout and 512 MB."""
    return LambdaContext("summarize", timeout_seconds=30, memory_mb=512)


@pytest.fixture
def fake_model() -> Iterator[FakeOpenAI]:
    """A fresh fake model for one test (the functional tests), named in OPENAI_BASE_URL by ``environment``."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, fake_model: FakeOpenAI) -> Iterator[dict[str, str]]:
    values = {**BASE_ENVIRONMENT, "OPENAI_BASE_URL": fake_model.base_url}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    llm_core.reset_caches()
    yield values
    llm_core.reset_caches()


@pytest.fixture
def secretsmanager(environment: dict[str, str]) -> Iterator[object]:
    """moto's Secrets Manager, in-process, empty."""
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=environment["AWS_DEFAULT_REGION"])


@pytest.fixture
def configured(secretsmanager: object) -> object:
    """The secret holds the canary key: the functions are ready to call the fake model."""
    secretsmanager.create_secret(Name=SECRET_ID, SecretString=CANARY_KEY)
    return secretsmanager


@pytest.fixture
def all_output(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
    """Everything the functions wrote: formatted log records with every extra field, and stdout/stderr
    (metrics). Powertools' JSON handler keeps the stdout it found at import, so its lines are read from
    the records rather than from the captured stream."""
    caplog.set_level(logging.DEBUG)

    def collect() -> str:
        captured = capsys.readouterr()
        records = [str(vars(record)) for record in caplog.records]
        return "\n".join([caplog.text, *records, captured.out, captured.err])

    return collect


@pytest.fixture(autouse=True)
def _nothing_from_the_developers_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS profile or endpoint, and none of the functions' settings: each test sets what it needs."""
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    endpoints = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE")
    for name in (*SETTINGS_VARIABLES, "OPENAI_API_KEY", *endpoints):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server on a loopback port, for what must be reached over HTTP (a user pool's JWKS)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()

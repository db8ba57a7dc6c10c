"""Calling the real handlers with Function URL events, moto's Secrets Manager and the fake model."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from moto.dynamodb.responses import DynamoHandler

from infra.emulator.extensions_api import ExtensionsApi
from infra.emulator.runtime import LambdaContext
from infra.emulator.signin import LocalPool, add_local_user, create_local_pool
from tests.support import load_event


@pytest.fixture
def extensions(monkeypatch: pytest.MonkeyPatch) -> Iterator[ExtensionsApi]:
    """An Extensions API on loopback, and this process's after-response extension registered with it, as a
    buffered function's import registers it at a cold start (llm_core/after_response.py)."""
    from llm_core import after_response

    api = ExtensionsApi("function")
    monkeypatch.setattr(after_response, "_extension", None)
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
    after_response.start_extension()
    api.end_init()
    yield api
    api.close()


@pytest.fixture
def invoke(lambda_context: LambdaContext) -> Callable[..., dict]:
    """Invoke a buffered handler the way Lambda does; returns the Function URL result with a parsed body."""

    def call(function: str, event: str | dict, context: LambdaContext | None = None) -> dict:
        from handlers import summarize, todo

        handler = {"summarize": summarize, "todo": todo}[function].lambda_handler
        result = handler(load_event(event) if isinstance(event, str) else event, context or lambda_context)
        return {**result, "json": json.loads(result["body"])}

    return call


@pytest.fixture
def dynamodb_one_request_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each request atomically; moto's backend does not (an update reads the item, then
    writes it back, without a lock), so requests are applied one at a time here, as DynamoDB would order them."""
    one_at_a_time = threading.Lock()
    call_action = DynamoHandler.call_action

    def serialized(handler: DynamoHandler) -> Any:
        with one_at_a_time:
            return call_action(handler)

    monkeypatch.setattr(DynamoHandler, "call_action", serialized)


@pytest.fixture
def metrics_flushed_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handlers invoked from parallel threads share the process's one Metrics object, and a flush checks its
    metrics, then serialises them: another thread's flush in between leaves it none to serialise. Lambda runs
    one invocation per process at a time, so each flush here waits for the one before."""
    one_at_a_time = threading.Lock()
    flush = AmazonCloudWatchEMFProvider.flush_metrics

    def serialized(provider: AmazonCloudWatchEMFProvider, raise_on_empty_metrics: bool = False) -> None:
        with one_at_a_time:
            flush(provider, raise_on_empty_metrics)

    monkeypatch.setattr(AmazonCloudWatchEMFProvider, "flush_metrics", serialized)


LOCAL_EMAIL, LOCAL_PASSWORD = "ada@example.com", "Correct horse battery staple 1"


@pytest.fixture(scope="module")
def local_pool(moto_url: str) -> LocalPool:
    """A user pool in moto's server with one person, LOCAL_EMAIL."""
    created = create_local_pool(moto_url, ["http://127.0.0.1:8000/"])
    add_local_user(created, LOCAL_EMAIL, LOCAL_PASSWORD)
    return created


def trusting_motos_key(pool: LocalPool) -> dict[str, str]:
    """The functions' settings to accept ``pool``'s tokens as moto signs them, with the key that ships with
    moto: for tests of the token check only (the emulator trusts its sign-in stand-in's key instead)."""
    return {
        "ACCESS_MODE": "cognito",
        "COGNITO_USER_POOL_ID": pool.user_pool_id,
        "COGNITO_CLIENT_ID": pool.client_id,
        "COGNITO_JWKS_URL": f"{pool.endpoint_url}/{pool.user_pool_id}/.well-known/jwks.json",
    }


@pytest.fixture(scope="module")
def local_tokens(local_pool: LocalPool) -> dict[str, Any]:
    """The pool's tokens for LOCAL_EMAIL (access, id, refresh), signed by moto's keys."""
    result = local_pool.client().initiate_auth(
        ClientId=local_pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": LOCAL_EMAIL, "PASSWORD": LOCAL_PASSWORD},
    )
    tokens: dict[str, Any] = result["AuthenticationResult"]
    return tokens

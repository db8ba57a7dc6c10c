"""Calling the real handlers with Function URL events, moto's Secrets Manager and the fake model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.emulator.runtime import LambdaContext
from infra.emulator.signin import LocalPool, add_local_user, create_local_pool
from tests.support import load_event


@pytest.fixture
def invoke(lambda_context: LambdaContext) -> Callable[..., dict]:
    """Invoke a buffered handler the way Lambda does; returns the Function URL result with a parsed body."""

    def call(function: str, event: str | dict, context: LambdaContext | None = None) -> dict:
        from handlers import summarize, todo

        handler = {"summarize": summarize, "todo": todo}[function].lambda_handler
        result = handler(load_event(event) if isinstance(event, str) else event, context or lambda_context)
        return {**result, "json": json.loads(result["body"])}

    return call


LOCAL_EMAIL, LOCAL_PASSWORD = "ada@example.com", "Correct horse battery staple 1"


@pytest.fixture(scope="module")
def local_pool(moto_url: str) -> LocalPool:
    """A user pool in moto's server with one person, LOCAL_EMAIL."""
    created = create_local_pool(moto_url, ["http://127.0.0.1:8000/"])
    add_local_user(created, LOCAL_EMAIL, LOCAL_PASSWORD)
    return created


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

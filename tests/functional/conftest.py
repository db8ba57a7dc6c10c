"""Calling the real handlers with Function URL events, moto's Secrets Manager and the fake model."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from infra.emulator.runtime import LambdaContext
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

"""The emulator's Extensions API (infra/emulator/extensions_api.py): what a registered extension may call."""

from __future__ import annotations

import http.client
import json

import pytest

from infra.emulator.extensions_api import PREFIX, ExtensionsApi


def call(api: ExtensionsApi, method: str, path: str, headers: dict[str, str], body: dict | None = None):
    connection = http.client.HTTPConnection(api.address, timeout=10)
    try:
        connection.request(method, f"{PREFIX}/{path}", json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        return response.status, response.getheader("Lambda-Extension-Identifier"), json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture
def api():
    extensions = ExtensionsApi("function")
    yield extensions
    extensions.close()


def register(api: ExtensionsApi) -> str:
    status, identifier, _ = call(api, "POST", "register", {"Lambda-Extension-Name": "x"}, {"events": ["INVOKE"]})
    assert status == 200 and identifier
    return identifier


def test_an_extension_reporting_an_error_ends_the_invocation_as_failed(api: ExtensionsApi) -> None:
    identifier = register(api)
    status, _, _ = call(api, "POST", "exit/error", {"Lambda-Extension-Identifier": identifier})
    assert (status, api.failed) == (202, True)
    assert api.wait_until_done(timeout=10)


def test_an_internal_extension_may_not_ask_for_shutdown_events(api: ExtensionsApi) -> None:
    status, _, body = call(api, "POST", "register", {"Lambda-Extension-Name": "x"}, {"events": ["SHUTDOWN"]})
    assert (status, body["errorType"]) == (403, "Extension.InvalidEventType")

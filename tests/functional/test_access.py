"""Sign-in on the request path: in cognito mode no request without a valid token reaches the model, and the
model is told only a hash of who is asking (OpenAI's safety_identifier)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import boto3
import pytest

import llm_core
from infra.emulator.server import BUFFERED_FUNCTIONS
from infra.emulator.signin import LocalPool
from tests.functional.conftest import trusting_motos_key
from tests.functional.test_stream import CONVERSATION, post, stream_url  # noqa: F401 - the fixture
from tests.support import CANARY_KEY, SECRET_ID, event_with_body

SALT = "stack-guid"


@pytest.fixture
def cognito_mode(environment, moto_url: str, local_pool: LocalPool, monkeypatch: pytest.MonkeyPatch) -> LocalPool:
    """The key in moto's server rather than in-process moto: starting in-process moto would reset the server's
    user pool too (they share moto's state)."""
    secrets = boto3.client("secretsmanager", endpoint_url=moto_url, region_name="eu-west-1")
    try:
        secrets.create_secret(Name=SECRET_ID, SecretString=CANARY_KEY)
    except secrets.exceptions.ResourceExistsException:
        pass
    variables = {
        **trusting_motos_key(local_pool),
        "SAFETY_IDENTIFIER_SALT": SALT,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    llm_core.reset_caches()
    return local_pool


@pytest.fixture(scope="module")
def user_token(local_tokens: dict[str, Any]) -> tuple[str, str]:
    """A signed-in person's access token and ``sub``, from moto's server (before any in-process moto starts)."""
    claims = json.loads(base64.urlsafe_b64decode(local_tokens["AccessToken"].split(".")[1] + "=="))
    return local_tokens["AccessToken"], claims["sub"]


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_buffered_request_without_a_token_is_401_and_never_reaches_the_model(
    cognito_mode, fake_model, invoke, function
):
    result = invoke(function, f"function_url_{function}")
    assert (result["statusCode"], result["json"]["error"]["type"]) == (401, "unauthenticated")
    assert "x-auth-token" in result["json"]["error"]["message"]
    assert fake_model.requests == []


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_buffered_401_says_which_header_takes_the_token_as_http_asks(cognito_mode, fake_model, invoke, function):
    result = invoke(function, f"function_url_{function}")
    assert result["headers"]["www-authenticate"] == 'AccessToken header="x-auth-token"'


def test_buffered_request_with_a_valid_token_sends_only_a_hash_of_the_user(
    cognito_mode, user_token, fake_model, invoke
):
    token, sub = user_token
    event = event_with_body("function_url_summarize", {"text": "Lambda runs code without servers."})
    event["headers"]["x-auth-token"] = token
    result = invoke("summarize", event)
    assert result["statusCode"] == 200
    expected = hmac.new(SALT.encode(), f"user:{sub}".encode(), hashlib.sha256).hexdigest()
    [sent] = fake_model.requests
    assert sent.body["safety_identifier"] == expected
    assert sub not in json.dumps(sent.body) and token not in json.dumps(sent.body)


def test_stream_without_a_token_is_401_and_never_reaches_the_model(cognito_mode, fake_model, stream_url):  # noqa: F811
    response = post(stream_url, CONVERSATION)
    body: dict[str, Any] = json.loads(response.read())
    assert (response.status, body["error"]["type"]) == (401, "unauthenticated")
    assert response.headers["www-authenticate"] == 'AccessToken header="x-auth-token"'
    assert fake_model.requests == []


def test_stream_with_a_valid_token_answers(cognito_mode, user_token, fake_model, stream_url):  # noqa: F811
    token, _ = user_token
    response = post(stream_url, CONVERSATION, {"x-auth-token": token})
    assert response.status == 200 and b"event: done" in response.read()
    assert fake_model.requests[-1].body["safety_identifier"]

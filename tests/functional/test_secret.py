"""llm_core.secret: reading the key from the secret's value, and its cache against moto's Secrets Manager."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pytest
from botocore.exceptions import ClientError

import llm_core
from llm_core import secret
from llm_core.errors import NotConfigured, Unavailable
from llm_core.secret import _key_from_secret_value, read_api_key
from tests.support import CANARY_KEY, SECRET_ID, closed_port_url


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


def test_unreachable_secrets_manager_is_unavailable_not_a_setting_to_fix(environment, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", closed_port_url())
    llm_core.reset_caches()
    with pytest.raises(Unavailable) as refused:
        read_api_key()
    assert refused.value.message == (
        "Secrets Manager cannot be reached to read the OpenAI key; no model call was made. Try again in a moment."
    )


def client_answering(code: str) -> Callable[[], Any]:
    """In place of the module's cached client: one that answers every read with the error ``code``."""

    class Client:
        def get_secret_value(self, SecretId: str) -> dict[str, Any]:  # noqa: N803 - boto3's argument name
            raise ClientError({"Error": {"Code": code, "Message": "no"}}, "GetSecretValue")

    return lru_cache(maxsize=1)(Client)


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServiceError"])
def test_secrets_manager_trouble_that_passes_is_unavailable(environment, monkeypatch, code):
    monkeypatch.setattr(secret, "_client", client_answering(code))
    with pytest.raises(Unavailable):
        read_api_key()


def test_a_key_the_function_cannot_decrypt_names_kms_decrypt(environment, monkeypatch):
    monkeypatch.setattr(secret, "_client", client_answering("DecryptionFailure"))
    with pytest.raises(NotConfigured) as refused:
        read_api_key()
    assert refused.value.message == (
        "The OpenAI key's secret (OPENAI_SECRET_ID) could not be decrypted: "
        "allow this function kms:Decrypt on the secret's KMS key."
    )


NOT_READABLE = "The OpenAI key's secret (OPENAI_SECRET_ID) may not be read by this function: check its IAM policy."


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("AccessDeniedException", NOT_READABLE),
        ("UnrecognizedClientException", NOT_READABLE),
        (
            "ResourceNotFoundException",
            "The OpenAI key's secret (OPENAI_SECRET_ID) was not found, or has no value yet: create it and put the key.",
        ),
        (
            "InvalidRequestException",
            "The OpenAI key's secret (OPENAI_SECRET_ID) could not be read (InvalidRequestException).",
        ),
    ],
)
def test_a_secret_that_cannot_be_read_tells_the_owner_what_to_fix(environment, monkeypatch, code, message):
    monkeypatch.setattr(secret, "_client", client_answering(code))
    with pytest.raises(NotConfigured) as refused:
        read_api_key()
    assert refused.value.message == message


@pytest.mark.parametrize(
    "code", ["ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure", "InvalidRequestException"]
)
def test_a_secret_that_cannot_be_read_is_named_by_its_variable_not_its_arn(environment, monkeypatch, code):
    monkeypatch.setattr(secret, "_client", client_answering(code))
    with pytest.raises(NotConfigured) as refused:
        read_api_key()
    assert "OPENAI_SECRET_ID" in refused.value.message and SECRET_ID not in refused.value.message


@pytest.mark.parametrize("value", ["", "sk a b", '{"api_key": 42}', '{"api_key": "sk-half'])
def test_a_secret_without_a_usable_key_is_named_by_its_variable_not_its_arn(secretsmanager, value):
    secretsmanager.create_secret(Name=SECRET_ID, SecretString=value or " ")
    with pytest.raises(NotConfigured) as refused:
        read_api_key()
    assert "OPENAI_SECRET_ID" in refused.value.message and SECRET_ID not in refused.value.message


# ------------------------------------------------------------------ the secret's value


def test_bare_key_is_used_as_is():
    assert _key_from_secret_value("  sk-abc\n") == "sk-abc"


def test_json_secret_yields_its_api_key():
    assert _key_from_secret_value('{"api_key": "sk-abc", "note": "prod"}') == "sk-abc"


@pytest.mark.parametrize("value", ["", "   ", '{"api_key": ""}'])
def test_secret_without_a_key_is_not_configured(value):
    with pytest.raises(NotConfigured, match="holds no key"):
        _key_from_secret_value(value)


def test_json_secret_with_the_key_under_another_name_says_which_field_it_needs_without_echoing_it():
    with pytest.raises(NotConfigured) as caught:
        _key_from_secret_value('{"OPENAI_API_KEY": "sk-abc"}')
    assert caught.value.message == (
        'The OpenAI key\'s secret (OPENAI_SECRET_ID) is JSON without an "api_key" field: store {"api_key": "..."} '
        "or the bare key."
    )


def test_api_key_that_is_not_a_string_is_not_configured():
    with pytest.raises(NotConfigured, match="must be a string"):
        _key_from_secret_value('{"api_key": 42}')


def test_broken_json_secret_is_not_configured_without_echoing_it():
    with pytest.raises(NotConfigured) as caught:
        _key_from_secret_value('{"api_key": "sk-half')
    assert "sk-half" not in caught.value.message


@pytest.mark.parametrize("value", ["sk-abc\ndef", "sk-abc def", "sk-abc\u00a0def", '{"api_key": "sk-a\\u0000b"}'])
def test_key_that_cannot_be_a_header_is_not_configured_without_echoing_it(value):
    with pytest.raises(NotConfigured) as caught:
        _key_from_secret_value(value)
    assert "sk-a" not in caught.value.message

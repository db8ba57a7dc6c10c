"""The OpenAI key, read from AWS Secrets Manager and cached in memory for SECRET_MAX_AGE_SECONDS.

A direct boto3 call rather than Powertools Parameters: importing that package loads every provider it has
(DynamoDB conditions, AppConfig) and cost about 25 ms of each cold start, for a cache of one value.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from llm_core.errors import ApiError, NotConfigured, Unavailable
from llm_core.settings import get_settings
from llm_core.timeouts import AWS_CLIENT_CONFIG

# botocore logs whole response bodies at DEBUG, the secret's value included. A function run with
# ApplicationLogLevel=DEBUG would put the key in CloudWatch, so botocore never logs below INFO here.
logging.getLogger("botocore").setLevel(logging.INFO)
# httpcore2 quotes a header it cannot send, the Authorization header included, at DEBUG.
logging.getLogger("httpcore2").setLevel(logging.INFO)

# Printable ASCII without spaces: anything else cannot go into an Authorization header.
HEADER_SAFE_KEY = re.compile(r"[\x21-\x7e]+")


# Secrets Manager's own trouble, which passes; anything else it answers is about the secret or the policy.
_PASSING_FAILURES = frozenset({"InternalServiceError", "ThrottlingException", "ServiceUnavailableException"})
# Named by its variable, never its ARN: the answer may go to anyone the deployment lets in, and the ARN
# carries the AWS account's id. The owner finds the value in the function's configuration.
_WHERE_THE_KEY_IS = "The OpenAI key's secret (OPENAI_SECRET_ID)"
_UNREACHABLE_MESSAGE = (
    "Secrets Manager cannot be reached to read the OpenAI key; no model call was made. Try again in a moment."
)


@dataclass(frozen=True)
class _CachedKey:
    key: str
    read_at: float


# Replaced whole, never changed in place: a reader on another thread sees the old key or the new one.
_cached: _CachedKey | None = None


@lru_cache(maxsize=1)
def _client() -> Any:
    return boto3.client("secretsmanager", config=AWS_CLIENT_CONFIG)


def forget_key() -> None:
    """Drop the cached key and the Secrets Manager client: the next read fetches it again."""
    global _cached
    _cached = None
    _client.cache_clear()


def read_api_key(force_fetch: bool = False) -> str:
    """The key from the secret named by OPENAI_SECRET_ID: the bare key, or JSON ``{"api_key": "..."}``.

    Cached for SECRET_MAX_AGE_SECONDS; ``force_fetch`` reads it again, as after OpenAI answered 401.
    """
    global _cached
    settings = get_settings()
    secret_id = settings.openai_secret_id
    cached = _cached
    if not force_fetch and cached is not None and time.monotonic() - cached.read_at < settings.secret_max_age_seconds:
        return cached.key
    try:
        response = _client().get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        raise _read_failure(exc.response.get("Error", {}).get("Code", "")) from None
    except BotoCoreError:
        # The network, a timeout, or the endpoint: nothing the owner set up wrong, and a retry may work.
        raise Unavailable(_UNREACHABLE_MESSAGE) from None
    value = response.get("SecretString")
    if value is None and response.get("SecretBinary") is not None:
        value = response["SecretBinary"].decode("utf-8", errors="replace")
    key = _key_from_secret_value(value or "")
    _cached = _CachedKey(key, time.monotonic())
    return key


def _read_failure(code: str) -> ApiError:
    if code == "ResourceNotFoundException":
        return NotConfigured(f"{_WHERE_THE_KEY_IS} was not found, or has no value yet: create it and put the key.")
    if code in {"AccessDeniedException", "UnrecognizedClientException"}:
        return NotConfigured(f"{_WHERE_THE_KEY_IS} may not be read by this function: check its IAM policy.")
    if code == "DecryptionFailure":
        return NotConfigured(
            f"{_WHERE_THE_KEY_IS} could not be decrypted: allow this function kms:Decrypt on the secret's KMS key."
        )
    if code in _PASSING_FAILURES:
        return Unavailable(_UNREACHABLE_MESSAGE)
    return NotConfigured(f"{_WHERE_THE_KEY_IS} could not be read ({code or 'unknown error'}).")


def _key_from_secret_value(value: str) -> str:
    value = value.strip()
    if value.startswith("{"):
        try:
            fields = json.loads(value)
            value = fields.get("api_key") or ""
        except (json.JSONDecodeError, AttributeError):
            raise NotConfigured(
                f'{_WHERE_THE_KEY_IS} is not valid JSON: store the bare key or {{"api_key": "..."}}.'
            ) from None
        if "api_key" not in fields:
            # Its other fields go unnamed: one may be the key under another name.
            raise NotConfigured(
                f'{_WHERE_THE_KEY_IS} is JSON without an "api_key" field: store {{"api_key": "..."}} or the bare key.'
            )
        if not isinstance(value, str):
            raise NotConfigured(f'{_WHERE_THE_KEY_IS}: "api_key" must be a string.')
        value = value.strip()
    if value and not HEADER_SAFE_KEY.fullmatch(value):
        raise NotConfigured(
            f"{_WHERE_THE_KEY_IS} holds a key with spaces or characters a key never has: "
            "put the key alone, as OpenAI shows it."
        )
    if not value:
        raise NotConfigured(f"{_WHERE_THE_KEY_IS} holds no key yet: put it with `aws secretsmanager put-secret-value`.")
    return value

"""The OpenAI key, read from AWS Secrets Manager through Powertools Parameters and cached in memory."""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.config import Config

from llm_core.errors import NotConfigured
from llm_core.settings import get_settings
from llm_core.timeouts import SECRETS_CONNECT_TIMEOUT_SECONDS, SECRETS_MAX_ATTEMPTS, SECRETS_READ_TIMEOUT_SECONDS

# botocore logs whole response bodies at DEBUG, the secret's value included. A function run with
# ApplicationLogLevel=DEBUG would put the key in CloudWatch, so botocore never logs below INFO here.
logging.getLogger("botocore").setLevel(logging.INFO)
# httpcore2 quotes a header it cannot send, the Authorization header included, at DEBUG.
logging.getLogger("httpcore2").setLevel(logging.INFO)

# Printable ASCII without spaces: anything else cannot go into an Authorization header.
HEADER_SAFE_KEY = re.compile(r"[\x21-\x7e]+")

# Secrets Manager answers in milliseconds; a stuck call must not eat the model's time budget.
SECRETS_CLIENT_CONFIG = Config(
    connect_timeout=SECRETS_CONNECT_TIMEOUT_SECONDS,
    read_timeout=SECRETS_READ_TIMEOUT_SECONDS,
    retries={"max_attempts": SECRETS_MAX_ATTEMPTS, "mode": "standard"},
)


@lru_cache(maxsize=1)
def _provider() -> SecretsProvider:
    return SecretsProvider(boto_config=SECRETS_CLIENT_CONFIG)


def forget_key() -> None:
    """Drop the cached key (and the Secrets Manager client): the next read fetches it again."""
    _provider.cache_clear()


def read_api_key(force_fetch: bool = False) -> str:
    """The key from the secret named by OPENAI_SECRET_ID: the bare key, or JSON ``{"api_key": "..."}``.

    Cached for SECRET_MAX_AGE_SECONDS; ``force_fetch`` reads it again, as after OpenAI answered 401.
    """
    settings = get_settings()
    secret_id = settings.openai_secret_id
    try:
        value = _provider().get(secret_id, max_age=settings.secret_max_age_seconds, force_fetch=force_fetch)
    except GetParameterError as exc:
        raise NotConfigured(_explain_read_failure(secret_id, exc)) from None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return _key_from_secret_value(secret_id, value or "")


def _explain_read_failure(secret_id: str, exc: GetParameterError) -> str:
    cause = exc.__context__
    code = getattr(cause, "response", {}).get("Error", {}).get("Code", "") if cause else ""
    if code == "ResourceNotFoundException":
        return f"Secret {secret_id!r} (OPENAI_SECRET_ID) was not found, or has no value yet: create it and put the key."
    if code in {"AccessDeniedException", "UnrecognizedClientException"}:
        return f"This function may not read secret {secret_id!r} (OPENAI_SECRET_ID): check its IAM policy."
    return f"Secret {secret_id!r} (OPENAI_SECRET_ID) could not be read ({code or type(cause).__name__})."


def _key_from_secret_value(secret_id: str, value: str) -> str:
    value = value.strip()
    if value.startswith("{"):
        try:
            value = json.loads(value).get("api_key") or ""
        except (json.JSONDecodeError, AttributeError):
            raise NotConfigured(
                f"Secret {secret_id!r} (OPENAI_SECRET_ID) is not valid JSON: "
                'store the bare key or {"api_key": "..."}.'
            ) from None
        if not isinstance(value, str):
            raise NotConfigured(f'Secret {secret_id!r} (OPENAI_SECRET_ID): "api_key" must be a string.')
        value = value.strip()
    if value and not HEADER_SAFE_KEY.fullmatch(value):
        raise NotConfigured(
            f"Secret {secret_id!r} (OPENAI_SECRET_ID) holds a key with spaces or characters a key never has: "
            "put the key alone, as OpenAI shows it."
        )
    if not value:
        raise NotConfigured(
            f"Secret {secret_id!r} (OPENAI_SECRET_ID) holds no key yet: "
            "put it with `aws secretsmanager put-secret-value`."
        )
    return value

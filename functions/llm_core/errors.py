"""Every failure a caller can see, and the one function that maps exceptions onto the error table."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import openai
import pydantic

# The longest provider error code a message repeats; OpenAI's are a few words in snake case.
MAX_PROVIDER_CODE_CHARS = 64
# On every answer of ours, and as request_id in every error body: the Lambda request id.
REQUEST_ID_HEADER = "x-request-id"


class ApiError(Exception):
    """A failure with its place in the public error table (docs/api.md, "Errors")."""

    status = 500
    type = "internal_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InternalError(ApiError):
    """An unexpected failure: logged with its traceback, answered without one."""

    def __init__(self) -> None:
        super().__init__("Internal error; see the function's logs for this request id.")


class InvalidJson(ApiError):
    status, type = 400, "invalid_json"


class InvalidRequest(ApiError):
    status, type = 400, "invalid_request"


class Unauthenticated(ApiError):
    status, type = 401, "unauthenticated"


class Forbidden(ApiError):
    status, type = 403, "forbidden"


class NotFound(ApiError):
    status, type = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, type = 405, "invalid_request"

    def __init__(self) -> None:
        # HTTP asks a 405 to name the methods that would work.
        super().__init__("Use POST with a JSON body.", {"allow": "POST"})


class TooLarge(ApiError):
    status, type = 413, "too_large"


class RateLimited(ApiError):
    status, type = 429, "rate_limited"


class QuotaExceeded(ApiError):
    status, type = 429, "quota_exceeded"


class UpstreamError(ApiError):
    status, type = 502, "upstream_error"


class NotConfigured(ApiError):
    status, type = 503, "not_configured"


class Unavailable(ApiError):
    status, type = 503, "unavailable"


class UpstreamTimeout(ApiError):
    status, type = 504, "upstream_timeout"


# The longest wait retry_after_seconds takes as meant (why: its docstring).
LONGEST_RETRY_AFTER_SECONDS = 86_400
# OpenAI's error code for a 429 that is no rate limit: the account is out of credit (its error-codes guide).
INSUFFICIENT_QUOTA = "insufficient_quota"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a response asks for, in the forms the SDK honours and in its order (retry-after-ms, then
    retry-after in seconds or as an HTTP date); None when it asks for none, or for no plausible wait: not a
    number ("nan", "inf", "1e400"), or longer than a day, past any budget or rate window's reset."""
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return _plausible(milliseconds / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return _plausible(seconds)
    try:
        return _plausible(parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _plausible(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) and seconds <= LONGEST_RETRY_AFTER_SECONDS else None


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def is_gateway_timeout(exc: BaseException) -> bool:
    """A 504 from a gateway: the provider's, or the one model_client answers when the function's time ran out.
    Either may come after the model worked (model_client.was_never_sent tells the one that cannot)."""
    return isinstance(exc, openai.APIStatusError) and exc.status_code == HTTPStatus.GATEWAY_TIMEOUT


def to_api_error(exc: BaseException) -> ApiError:
    """Map any exception to the error table. Messages never carry upstream bodies or credentials."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, openai.APITimeoutError | TimeoutError) or is_gateway_timeout(exc):
        return UpstreamTimeout(
            "The model did not answer in the time this function has left: try again, or send a shorter text."
        )
    if isinstance(exc, openai.RateLimitError) and exc.code == INSUFFICIENT_QUOTA:
        # A 429 that no wait ends: the account's credit or monthly limit is used up until its owner acts.
        return NotConfigured(
            "The OpenAI account behind this deployment has no credit left (insufficient_quota): its owner must add "
            "credit or raise its usage limit."
        )
    if isinstance(exc, openai.RateLimitError):
        wait = retry_after_seconds(exc.response.headers)
        retry_after = str(max(math.ceil(wait), 1)) if wait is not None else None
        headers = {"retry-after": retry_after} if retry_after else {}
        hint = f" Retry after {retry_after} s." if retry_after else " Try again in a moment."
        return RateLimited(f"The model provider is rate limiting this account.{hint}", headers)
    if isinstance(exc, openai.AuthenticationError):
        return NotConfigured(
            "OpenAI rejected this deployment's API key: its owner must put a valid key in the secret named by "
            "OPENAI_SECRET_ID."
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return NotConfigured(
            "This deployment's OpenAI key may not use its model: its owner must check OPENAI_MODEL and the key."
        )
    if isinstance(exc, openai.NotFoundError):
        return NotConfigured(
            "The model was not found: this deployment's owner must check OPENAI_MODEL (and OPENAI_BASE_URL if set)."
        )
    if isinstance(exc, openai.BadRequestError) and exc.code == "context_length_exceeded":
        return TooLarge("The text or conversation is longer than the model can read: shorten it or start a new chat.")
    if isinstance(exc, openai.BadRequestError):
        return UpstreamError(
            f"The model provider refused the request (400{_error_code_of(exc)}): rephrase it, or ask the "
            "deployment's owner to look in the function's log."
        )
    if isinstance(exc, openai.APIStatusError):
        return UpstreamError(f"The model provider answered {exc.status_code}: try again in a moment.")
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError("The connection to the model provider failed: try again in a moment.")
    if isinstance(exc, openai.APIError):
        return UpstreamError("The model provider reported an error while answering: try again.")
    if isinstance(exc, pydantic.ValidationError):
        return UpstreamError("The model's answer did not match the expected schema: try again.")
    return InternalError()


def _error_code_of(exc: openai.APIStatusError) -> str:
    """The provider's error code, such as "invalid_prompt", when it is a plain identifier; its message is never
    shown, since it may quote what was sent."""
    code = exc.code or ""
    return f" {code}" if code.isidentifier() and code.isascii() and len(code) <= MAX_PROVIDER_CODE_CHARS else ""


def error_response(exc: BaseException, request_id: str) -> ErrorResponse:
    error = to_api_error(exc)
    body = {"error": {"type": error.type, "message": error.message, "request_id": request_id}}
    return ErrorResponse(error.status, body, {**error.headers, REQUEST_ID_HEADER: request_id})

"""Typed settings, read once from the environment and validated at cold start."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from aws_lambda_powertools import Logger
from openai.types.shared import ReasoningEffort
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from llm_core.errors import NotConfigured
from llm_core.timeouts import KEEPALIVE_SECONDS, STREAM_FUNCTION_TIMEOUT_SECONDS

DEFAULT_MODEL = "gpt-5.4-mini"
# Read at import like Powertools itself does; the default keeps metrics valid in code imported before
# the environment is set (tools, tests), where a Metrics object without a namespace fails on flush.
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LlmEndpoints")
# The variables of the daily caps (Settings.daily_tokens_per_user and daily_tokens_total).
PER_USER_CAP_VARIABLE = "DAILY_TOKENS_PER_USER"
TOTAL_CAP_VARIABLE = "DAILY_TOKENS_TOTAL"
DAILY_CAP_VARIABLES = (PER_USER_CAP_VARIABLE, TOTAL_CAP_VARIABLE)


# A setting that only some values of others require: the table, once a daily cap is set.
MISSING_FOR_CAPS = "missing_for_caps"


class Settings(BaseModel):
    """One field per environment variable, named after it in lower case, so an error names the variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    openai_secret_id: str = Field(min_length=1, description="Secrets Manager name or ARN of the OpenAI key")
    openai_model: str = Field(DEFAULT_MODEL, min_length=1)
    # Only for reasoning models; a model without reasoning refuses the parameter, so unset sends none. The
    # SDK's own list of efforts (the template's ReasoningEffort allows the same).
    openai_reasoning_effort: ReasoningEffort = None
    openai_base_url: str | None = Field(None, pattern=r"^https?://")
    max_input_chars: int = Field(20_000, ge=1)
    # The Responses API refuses max_output_tokens below 16.
    max_output_tokens: int = Field(1024, ge=16)
    secret_max_age_seconds: int = Field(300, ge=0)
    keepalive_seconds: float = Field(KEEPALIVE_SECONDS, gt=0)
    # The stream function's own timeout: the adapter's deadline header is never trusted beyond it.
    stream_timeout_seconds: float = Field(STREAM_FUNCTION_TIMEOUT_SECONDS, gt=0)
    # Who may call (llm_core.identity); "none" is one person on their own machine, never a deployment.
    access_mode: Literal["cognito", "iam", "public", "none"] = "none"
    cognito_user_pool_id: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d_[0-9a-zA-Z]+$")
    cognito_client_id: str | None = Field(None, pattern=r"^[\w+]+$")
    # The stack cannot hand the client id to the functions directly (the client's callback URL needs the
    # distribution, which needs the functions' URLs), so it stores the id in this SSM parameter.
    cognito_client_id_parameter: str | None = Field(None, min_length=1)
    cognito_jwks_url: str | None = Field(None, pattern=r"^https?://")
    safety_identifier_salt: str = ""
    # Daily token budgets (docs/budgets.md); 0 is no limit. The caps come first: the table name is checked
    # against them.
    daily_tokens_per_user: int = Field(0, ge=0)
    daily_tokens_total: int = Field(0, ge=0)
    budget_table_name: str | None = Field(None, min_length=1, validate_default=True)

    @property
    def caps_daily_tokens(self) -> bool:
        return bool(self.daily_tokens_per_user or self.daily_tokens_total)

    @field_validator("budget_table_name")
    @classmethod
    def _table_for_caps(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and (info.data.get("daily_tokens_per_user") or info.data.get("daily_tokens_total")):
            raise PydanticCustomError(
                MISSING_FOR_CAPS,
                f"it must name the budget table when {PER_USER_CAP_VARIABLE} or {TOTAL_CAP_VARIABLE} is set",
            )
        return value


def _describe(error: ErrorDetails) -> str:
    variable = str(error["loc"][0]).upper() if error["loc"] else "configuration"
    if error["type"] == "missing":
        return f"{variable} is not set"
    if error["type"] == MISSING_FOR_CAPS:
        return f"{variable} is not set: {error['msg']}"
    return f"{variable} is invalid: {error['msg']}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process. Raises NotConfigured naming the environment variable to fix."""
    return settings_from(os.environ)


def settings_from(environ: Mapping[str, str]) -> Settings:
    """The settings ``environ`` gives a function (the local emulator checks each function's at start)."""
    raw = {field: environ[field.upper()] for field in Settings.model_fields if environ.get(field.upper())}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise NotConfigured(f"Function configuration: {problems}.") from None


def log_configuration_problem(logger: logging.Logger | Logger) -> None:
    """Validate the settings at cold start. A problem is logged once here and answered as 503 per request,
    which tells the caller more than a function that fails to start."""
    try:
        get_settings()
    except NotConfigured as exc:
        logger.error(exc.message)

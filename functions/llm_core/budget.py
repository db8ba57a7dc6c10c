"""Daily token budgets: reserve a request's worst case before the model call, settle to its real usage after.

One DynamoDB item per caller and UTC day, and one per UTC day for the whole deployment. A reservation adds the
worst case to both in one transaction whose conditions refuse it when either would pass its cap, so no
number of concurrent requests can spend more than a cap (plus what a request's estimate underrated). When the
table cannot be reached the request is refused: an unmetered model call is the failure this guards against.

    reservation = reserve(caller_id, estimate_tokens(chars, max_output_tokens))   # QuotaExceeded, Unavailable
    ...call the model...
    reservation.settle(usage_total_or_none)                                       # never raises
    headers[REMAINING_HEADER] = str(reservation.remaining)                         # when not None
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, TypeVar

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from llm_core.errors import NotConfigured, QuotaExceeded, TooLarge, Unavailable
from llm_core.settings import METRICS_NAMESPACE, get_settings

logger = Logger(child=True)
metrics = Metrics(namespace=METRICS_NAMESPACE)

# The response header that tells the caller what is left of their day (docs/budgets.md).
REMAINING_HEADER = "x-tokens-remaining"
# The metric behind the 80 % alarm and the dashboard: the deployment's tokens today, reservations included.
DEPLOYMENT_TOKENS_METRIC = "DeploymentTokensToday"

# The table's shape; template.yaml and the local table (infra/emulator/budget_table.py) follow these names.
KEY_ATTRIBUTE = "pk"
USED_ATTRIBUTE = "used"
TTL_ATTRIBUTE = "expires_at"
# A day's rows are worthless once it is over; TTL removes them a little later (DynamoDB deletes lazily).
ROW_LIFETIME_AFTER_DAY = timedelta(days=2)

# One token per character is an upper bound for nearly all text: tokenizers put ~4 characters of English
# and 1-2 of Chinese or Japanese in a token, and rarely split one character in two. chars/4 would be the
# usual average, but an estimate that is too low lets a request through that the cap should have stopped.
# Reserving too much costs nothing lasting: settlement gives the difference back.
TOKENS_PER_CHARACTER = 1
# Our instructions and the strict JSON schema sent with structured outputs stay under 300 tokens.
INSTRUCTION_OVERHEAD_TOKENS = 500
# The chat format's own tokens around each message (role, delimiters): 3-4 in OpenAI's published counts.
MESSAGE_OVERHEAD_TOKENS = 8

# DynamoDB answers in milliseconds; the model call, not the budget check, should get the function's time.
BUDGET_CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
# Concurrent transactions on the deployment's row can cancel each other (TransactionConflict); botocore does
# not retry that, so we do, after a short random wait that spreads the retries apart.
CONFLICT_ATTEMPTS = 4
CONFLICT_BACKOFF_SECONDS = 0.01

UNAVAILABLE_MESSAGE = "The budget table cannot be reached; no model call was made. Try again in a moment."

T = TypeVar("T")
Scope = Literal["caller", "deployment"]


def estimate_tokens(input_chars: int, max_output_tokens: int, *, messages: int = 1) -> int:
    """The most tokens a request can be billed for: its input at one token per character, the framing of
    each message, our instructions, and the whole output allowance (reasoning tokens count against it)."""
    return (
        input_chars * TOKENS_PER_CHARACTER
        + messages * MESSAGE_OVERHEAD_TOKENS
        + INSTRUCTION_OVERHEAD_TOKENS
        + max_output_tokens
    )


@dataclass(frozen=True)
class _Budget:
    scope: Scope
    key: str
    cap: int


@dataclass
class Reservation:
    """Tokens held for one request against the caller's day and the deployment's day."""

    tokens: int
    day: date
    _budgets: tuple[_Budget, ...] = field(repr=False)
    # Tokens used (reservations included) per row, as last seen; a row missing here was not readable.
    _used: dict[str, int] = field(repr=False)
    _settled: bool = field(default=False, repr=False)

    @property
    def remaining(self) -> int | None:
        """Tokens the caller may still use today: the lower of what their budget and the deployment's leave.
        None when no cap applies (both are 0), or when the table could not tell."""
        left = [budget.cap - self._used[budget.key] for budget in self._budgets if budget.key in self._used]
        return max(min(left), 0) if left else None

    def settle(self, used_tokens: int | None) -> None:
        """Replace the reservation with what the model reported using. ``None`` (the usage is unknown, as when
        a stream broke off before its totals) keeps the reservation. A second call does nothing. Failures are
        logged, never raised: the caller already has the answer."""
        if self._settled:
            return
        self._settled = True
        if used_tokens is not None and used_tokens < 0:
            logger.error("negative usage ignored; the reservation stays", extra={"used": used_tokens})
            used_tokens = None
        difference = 0 if used_tokens is None else used_tokens - self.tokens
        if difference:
            for budget in self._budgets:
                self._adjust(budget, difference)
        self._report_deployment_usage()

    def _adjust(self, budget: _Budget, difference: int) -> None:
        settings = get_settings()
        try:
            response = _retry_conflicts(
                lambda: _client().update_item(
                    TableName=settings.budget_table_name,
                    Key={KEY_ATTRIBUTE: {"S": budget.key}},
                    UpdateExpression="ADD #used :difference",
                    ExpressionAttributeNames={"#used": USED_ATTRIBUTE},
                    ExpressionAttributeValues={":difference": {"N": str(difference)}},
                    ReturnValues="UPDATED_NEW",
                )
            )
        except (ClientError, BotoCoreError) as exc:
            logger.error(
                "budget settlement failed; the row keeps the reservation",
                extra={"budget": budget.scope, "difference": difference, "error": _error_code(exc)},
            )
            return
        self._used[budget.key] = int(response["Attributes"][USED_ATTRIBUTE]["N"])

    def _report_deployment_usage(self) -> None:
        for budget in self._budgets:
            if budget.scope == "deployment" and budget.key in self._used:
                metrics.add_metric(name=DEPLOYMENT_TOKENS_METRIC, unit=MetricUnit.Count, value=self._used[budget.key])


def reserve(caller_id: str, tokens: int, *, now: datetime | None = None) -> Reservation:
    """Hold ``tokens`` against the caller's and the deployment's budgets for today (UTC), atomically.

    Raises QuotaExceeded (429, Retry-After until UTC midnight) when either budget cannot hold them,
    TooLarge (413) when the request alone exceeds a whole day's budget, Unavailable (503) when the table
    cannot be reached and NotConfigured (503) when it does not exist or may not be written.
    """
    if not caller_id:
        raise ValueError("caller_id must identify the caller")
    settings = get_settings()
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    day = moment.date()
    budgets = _budgets_for(caller_id, day, settings.daily_tokens_per_user, settings.daily_tokens_total)
    if not budgets:
        return Reservation(tokens, day, (), {})
    for budget in budgets:
        if tokens > budget.cap:
            raise TooLarge(_larger_than_budget(budget, tokens))
    try:
        _retry_conflicts(lambda: _reserve_in_one_transaction(budgets, tokens, day))
    except ClientError as exc:
        refused = _refused_budgets(exc, budgets)
        if refused:
            raise _quota_exceeded(refused, moment) from None
        raise _table_failure(exc) from None
    except BotoCoreError as exc:
        raise _table_failure(exc) from None
    return Reservation(tokens, day, budgets, _read_used(budgets))


def _budgets_for(caller_id: str, day: date, per_user: int, total: int) -> tuple[_Budget, ...]:
    budgets = []
    if per_user:
        budgets.append(_Budget("caller", f"caller#{caller_id}#{day.isoformat()}", per_user))
    if total:
        budgets.append(_Budget("deployment", f"total#{day.isoformat()}", total))
    return tuple(budgets)


def _reserve_in_one_transaction(budgets: tuple[_Budget, ...], tokens: int, day: date) -> None:
    table = get_settings().budget_table_name
    expires_at = int(datetime.combine(day + ROW_LIFETIME_AFTER_DAY, datetime.min.time(), UTC).timestamp())
    _client().transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {KEY_ATTRIBUTE: {"S": budget.key}},
                    "UpdateExpression": "SET #used = if_not_exists(#used, :zero) + :tokens, #expires = :expires",
                    # Conditions cannot add, so "used + tokens <= cap" is written "used <= cap - tokens".
                    "ConditionExpression": "attribute_not_exists(#used) OR #used <= :ceiling",
                    "ExpressionAttributeNames": {"#used": USED_ATTRIBUTE, "#expires": TTL_ATTRIBUTE},
                    "ExpressionAttributeValues": {
                        ":zero": {"N": "0"},
                        ":tokens": {"N": str(tokens)},
                        ":ceiling": {"N": str(budget.cap - tokens)},
                        ":expires": {"N": str(expires_at)},
                    },
                }
            }
            for budget in budgets
        ]
    )


def _read_used(budgets: tuple[_Budget, ...]) -> dict[str, int]:
    """Each row's total after our reservation, for the remaining-tokens header. The reservation already
    holds, so a failed read leaves the header out rather than failing a request that may proceed."""
    table = get_settings().budget_table_name
    try:
        response = _client().batch_get_item(
            RequestItems={
                table: {
                    "Keys": [{KEY_ATTRIBUTE: {"S": budget.key}} for budget in budgets],
                    "ConsistentRead": True,
                    "ProjectionExpression": "#key, #used",
                    "ExpressionAttributeNames": {"#key": KEY_ATTRIBUTE, "#used": USED_ATTRIBUTE},
                }
            }
        )
    except (ClientError, BotoCoreError) as exc:
        logger.warning("budget read after reservation failed", extra={"error": _error_code(exc)})
        return {}
    return {item[KEY_ATTRIBUTE]["S"]: int(item[USED_ATTRIBUTE]["N"]) for item in response["Responses"].get(table, [])}


def _retry_conflicts(call: Callable[[], T]) -> T:
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return call()
        except ClientError as exc:
            if attempt == CONFLICT_ATTEMPTS or not _is_conflict(exc):
                raise
        # Random jitter, not security: spreads the retries of requests that collided.
        time.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * 2**attempt))  # noqa: S311
    raise AssertionError("unreachable: the last attempt returns or raises")


def _is_conflict(exc: ClientError) -> bool:
    if _error_code(exc) == "TransactionConflictException":
        return True
    reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
    return "TransactionConflict" in reasons and "ConditionalCheckFailed" not in reasons


def _refused_budgets(exc: ClientError, budgets: tuple[_Budget, ...]) -> list[_Budget]:
    if _error_code(exc) != "TransactionCanceledException":
        return []
    # One reason per transaction item, in the order of the items.
    reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
    return [budget for budget, reason in zip(budgets, reasons, strict=False) if reason == "ConditionalCheckFailed"]


def _quota_exceeded(refused: list[_Budget], now: datetime) -> QuotaExceeded:
    reset = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    seconds = max(math.ceil((reset - now).total_seconds()), 1)
    scopes = {budget.scope for budget in refused}
    caller_cap = next((budget.cap for budget in refused if budget.scope == "caller"), 0)
    if scopes == {"caller", "deployment"}:
        spent = f"Your daily budget of {caller_cap:,} tokens and this deployment's daily budget are both spent."
    elif scopes == {"caller"}:
        spent = f"Your daily budget of {caller_cap:,} tokens is spent."
    else:
        spent = "This deployment's daily token budget, shared by everyone who uses it, is spent."
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    wait = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    message = f"{spent} It resets at midnight UTC ({reset:%Y-%m-%d %H:%M} UTC), in {wait}; the model was not called."
    return QuotaExceeded(message, {"retry-after": str(seconds)})


def _larger_than_budget(budget: _Budget, tokens: int) -> str:
    whose = "your whole daily budget" if budget.scope == "caller" else "this deployment's whole daily budget"
    return (
        f"This request could use up to {tokens:,} tokens, more than {whose} of {budget.cap:,}: "
        "send a shorter text or conversation."
    )


def _table_failure(exc: ClientError | BotoCoreError) -> NotConfigured | Unavailable:
    code = _error_code(exc)
    table = get_settings().budget_table_name
    logger.error("budget table failed; the request was refused", extra={"error": code})
    if isinstance(exc, ClientError) and _is_conflict(exc):
        return Unavailable(
            "The budget table is busy with other requests; no model call was made. Try again in a moment.",
            {"retry-after": "1"},
        )
    if code == "ResourceNotFoundException":
        return NotConfigured(f"The budget table {table!r} (BUDGET_TABLE_NAME) does not exist; no model call was made.")
    if code in {"AccessDeniedException", "UnrecognizedClientException"}:
        return NotConfigured(
            f"This function may not write the budget table {table!r} (BUDGET_TABLE_NAME): check its IAM policy."
        )
    return Unavailable(UNAVAILABLE_MESSAGE)


def _error_code(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def forget_client() -> None:
    _client.cache_clear()


@lru_cache(maxsize=1)
def _client() -> Any:
    # AWS_ENDPOINT_URL_DYNAMODB, which boto3 reads itself, points this at moto locally.
    return boto3.client("dynamodb", config=BUDGET_CLIENT_CONFIG)

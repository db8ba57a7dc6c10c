"""Daily token budgets: reserve a request's worst case before the model call, settle to its real usage after.

One DynamoDB item per caller and UTC day, and one per UTC day for the whole deployment. A reservation adds the
worst case to each row with a conditional UpdateItem that refuses it when that row would pass its cap, so no
number of concurrent requests can spend more than a cap (plus what a request's estimate underrated); when one
row refuses, what the other took is given back. When the table cannot be reached the request is refused: an
unmetered model call is the failure this guards against.

A caller's row also holds the reservations of their requests still under way (a string set, an element each,
removed when the request settles), so a refusal can say how much of what is used may come back within minutes
rather than at the reset. The deployment's row keeps only their sum: under heavy traffic a set of everyone's
requests would grow without bound, and each write is billed by the item's size. Each update returns the row's
new total, so what is left needs no read (one refusal reads: a request larger than a whole day's budget is told
what is left today). The two rows are written at the same time (one round trip instead of two) because a request waits
for its reservation before the model is called. What a refusal says is worded in budget_messages.py; the
estimate it reserves is token_estimate.py's. A buffered function's settlement is written after its response has
gone (after_response.py): the caller learns what is left from the reservation's totals and the real usage,
without waiting for the write.

    reservation = reserve(caller_id, estimate_tokens(chars, max_output_tokens))   # QuotaExceeded, Unavailable
    ...call the model...
    reservation.settle(usage_total_or_none)                                       # never raises
    headers[REMAINING_HEADER] = str(reservation.remaining)                         # when not None
"""

from __future__ import annotations

import hashlib
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any, Literal, TypeVar

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from llm_core import after_response
from llm_core.budget_messages import quota_exceeded_message, reset_after, too_large_message
from llm_core.errors import NotConfigured, QuotaExceeded, TooLarge, Unavailable
from llm_core.observability import logger, metrics
from llm_core.settings import get_settings
from llm_core.timeouts import (
    AWS_CLIENT_CONFIG,
    AWS_ONE_ATTEMPT_CONFIG,
    BUDGET_WRITE_RETRY_PAUSE_SECONDS,
    BUFFERED_FUNCTION_TIMEOUT_SECONDS,
    STREAM_FUNCTION_TIMEOUT_SECONDS,
)
from llm_core.token_estimate import TextSize, estimate_tokens

# The response header that tells the caller what is left of their day (docs/budgets.md).
REMAINING_HEADER = "x-tokens-remaining"
# The metric behind the 80 % alarm and the dashboard: the deployment's tokens today, reservations included.
DEPLOYMENT_TOKENS_METRIC = "DeploymentTokensToday"

# The table's shape; template.yaml and the local table (infra/emulator/budget_table.py) follow these names.
KEY_ATTRIBUTE = "pk"
USED_ATTRIBUTE = "used"
TTL_ATTRIBUTE = "expires_at"
# On a caller's row, the reservations of their requests under way, each "deadline:tokens:id" (the deadline in
# epoch seconds).
HELD_ATTRIBUTE = "held"
# No request outlives the longest function timeout: a hold past its deadline belongs to a request that ended
# without settling (its process was killed), whose reservation stays used, as the safe side.
HOLD_SECONDS = max(BUFFERED_FUNCTION_TIMEOUT_SECONDS, STREAM_FUNCTION_TIMEOUT_SECONDS)
# On the deployment's row, the tokens the reservations of everyone's requests under way hold. A count has no
# deadlines: a request whose settlement was never written (its process was killed, the write failed or its
# answer was lost) stays counted until the day's row is done with.
UNDER_WAY_ATTRIBUTE = "under_way"
# DynamoDB's partition keys hold at most 2,048 bytes: a caller id of more bytes than this, well within that, is
# hashed in its row's key.
MAX_CALLER_IN_KEY_BYTES = 1_024
# A day's rows are worthless once it is over; TTL removes them a little later (DynamoDB deletes lazily).
ROW_LIFETIME_AFTER_DAY = timedelta(days=2)

# DynamoDB's refusals of a write it did not apply, which another attempt may get through.
NOT_APPLIED_CODES = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"})

UNAVAILABLE_MESSAGE = "The budget table cannot be reached; no model call was made. Try again in a moment."

T = TypeVar("T")
Scope = Literal["caller", "deployment"]
# What a write to the table can fail with: DynamoDB's refusal, botocore's failure to reach it, or an answer
# without the row's total (KeyError, ValueError), which DynamoDB never sends but a stand-in might.
TableError = ClientError | BotoCoreError | KeyError | ValueError
# The same four, as `except` takes them (a union it does not).
TABLE_ERRORS = (ClientError, BotoCoreError, KeyError, ValueError)


@dataclass(frozen=True)
class Budget:
    """One day's row of one budget: the caller's or the whole deployment's."""

    scope: Scope
    key: str
    cap: int


@dataclass
class Reservation:
    """Tokens held for one request against the caller's day and the deployment's day."""

    tokens: int
    day: date
    _budgets: tuple[Budget, ...] = field(repr=False)
    # Tokens used (reservations included) per row, as its last update returned it.
    _used: dict[str, int] = field(repr=False)
    # This reservation's element of the caller's row's HELD_ATTRIBUTE, removed when it settles.
    _hold: str = field(default="", repr=False)
    _settled: bool = field(default=False, repr=False)

    @property
    def remaining(self) -> int | None:
        """Tokens the caller may still use today: the lower of what their budget and the deployment's leave.
        None when no cap applies (both are 0)."""
        left = [budget.cap - self._used[budget.key] for budget in self._budgets if budget.key in self._used]
        return max(min(left), 0) if left else None

    def settle(self, used_tokens: int | None, *, now: datetime | None = None) -> None:
        """Replace the reservation with what the model reported using. ``None`` (the usage is unknown, as when
        a stream broke off before its totals) keeps the reservation. A second call does nothing.

        ``remaining`` follows at once; the table is written after the response where an extension can run
        it (after_response.py), since the caller has the answer by then. Failures are logged, never raised."""
        if self._settled:
            return
        self._settled = True
        if used_tokens is not None and used_tokens < 0:
            logger.error("negative usage ignored; the reservation stays", extra={"used": used_tokens})
            used_tokens = None
        difference = 0 if used_tokens is None else used_tokens - self.tokens
        if self._budgets:
            # Written even with no difference: the request is no longer under way.
            # What the rows will hold, as far as this request knows; the writes below return the real totals.
            for budget in self._budgets:
                self._used[budget.key] += difference
            after_response.defer(partial(self._write_settlement, difference))
        # A request begun before midnight UTC settles yesterday's row, whose total would pass for today's.
        if self.day == (now or datetime.now(UTC)).astimezone(UTC).date():
            self._report_deployment_usage()

    def _write_settlement(self, difference: int) -> None:
        outcomes = _on_each_row(self._budgets, lambda budget: _release(budget, difference, self.tokens, self._hold))
        for budget, outcome in zip(self._budgets, outcomes, strict=True):
            if isinstance(outcome, int):
                self._used[budget.key] = outcome
            elif outcome is not None:
                self._used[budget.key] -= difference  # the row still holds the reservation
                logger.error(
                    "budget settlement failed; the row keeps the reservation",
                    extra={"budget": budget.scope, "difference": difference, "error": _error_code(outcome)},
                )

    def _report_deployment_usage(self) -> None:
        for budget in self._budgets:
            if budget.scope == "deployment" and budget.key in self._used:
                metrics.add_metric(name=DEPLOYMENT_TOKENS_METRIC, unit=MetricUnit.Count, value=self._used[budget.key])


def capped() -> bool:
    """Whether this function's settings set a daily cap (False when they are not valid)."""
    try:
        return get_settings().caps_daily_tokens
    except NotConfigured:
        return False


def reserve(caller_id: str, tokens: int, *, text: TextSize | None = None, now: datetime | None = None) -> Reservation:
    """Hold ``tokens`` against the caller's and the deployment's budgets for today (UTC), each atomically;
    a refused request holds nothing once this returns.

    ``text``, the size of the request's text or conversation, lets a refusal say how much shorter would fit, or
    that a new chat would (a conversation whose earlier turns are what is too much).

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
    smallest = estimate_tokens(1, settings.max_output_tokens)
    # The smaller cap first: advice measured against the larger one would be refused again by the smaller.
    for budget in sorted(budgets, key=lambda budget: budget.cap):
        if tokens > budget.cap:
            raise _too_large(budget, budgets, tokens, smallest, moment, text)
    expires_at = int(datetime.combine(day + ROW_LIFETIME_AFTER_DAY, datetime.min.time(), UTC).timestamp())
    hold = f"{int(moment.timestamp()) + HOLD_SECONDS}:{tokens}:{secrets.token_hex(8)}"
    outcomes = _on_each_row(budgets, lambda budget: _reserve_row(budget, tokens, expires_at, hold))
    used = {budget.key: outcome for budget, outcome in zip(budgets, outcomes, strict=True) if isinstance(outcome, int)}
    if len(used) == len(budgets):
        return Reservation(tokens, day, budgets, used, hold)
    # One row refused or failed: the other gives back what it took, so a refused request holds nothing.
    for budget in budgets:
        if budget.key in used:
            _give_back(budget, tokens, hold)
    refused = {
        budget: _row_when_refused(budget, outcome, moment)
        for budget, outcome in zip(budgets, outcomes, strict=True)
        if isinstance(outcome, ClientError) and _is_refusal(outcome)
    }
    if refused:
        raise _quota_exceeded(refused, tokens, smallest, moment, text)
    raise _table_failure(next(outcome for outcome in outcomes if not isinstance(outcome, int)))


def _too_large(
    budget: Budget, budgets: tuple[Budget, ...], tokens: int, smallest: int, now: datetime, text: TextSize | None
) -> TooLarge:
    """The refusal of a request whose worst case passes ``budget``, the smallest cap, whole. It carries what is
    left, as a 429 does, when every row could be read."""
    # What every budget leaves today: advice measured against one would be refused by a lower other.
    reads = _on_each_row(budgets, _left_today)
    read = {row: outcome for row, outcome in zip(budgets, reads, strict=True) if isinstance(outcome, int)}
    # A row that could not be read (_left_today logged it) counts its whole cap.
    left_today = {row: read.get(row, row.cap) for row in budgets}
    headers = {REMAINING_HEADER: str(min(left_today.values()))} if len(read) == len(budgets) else {}
    max_output_tokens = get_settings().max_output_tokens
    message = too_large_message(budget, tokens, max_output_tokens, smallest, left_today, now, text)
    return TooLarge(message, headers)


def _quota_exceeded(
    refused: dict[Budget, _RefusingRow], tokens: int, smallest: int, now: datetime, text: TextSize | None
) -> QuotaExceeded:
    """The refusal by the rows that would pass their caps, given what each held when it refused. The message
    and the remaining header say how much is left, even when it is less than this function's ``smallest``
    request: the functions' output allowances differ, so what one cannot use another may. Retry-After is the
    reset, the one time the request surely fits: requests under way may use all they hold."""
    left = {budget: max(budget.cap - row.used, 0) if row.used is not None else 0 for budget, row in refused.items()}
    # Worth naming only where the same request fits once they end, if they use nothing: in every refusing row,
    # counted from what it used (a row may be past its cap).
    may_make_room = all(
        row.used is not None and budget.cap - row.used + row.held >= tokens for budget, row in refused.items()
    )
    held = {budget: row.held for budget, row in refused.items()} if may_make_room else {}
    _, seconds, _ = reset_after(now)
    headers = {"retry-after": str(seconds), REMAINING_HEADER: str(min(left.values()))}
    return QuotaExceeded(quota_exceeded_message(left, held, tokens, smallest, now, text), headers)


def _budgets_for(caller_id: str, day: date, per_user: int, total: int) -> tuple[Budget, ...]:
    budgets = []
    if per_user:
        budgets.append(Budget("caller", f"caller#{_row_name(caller_id)}#{day.isoformat()}", per_user))
    if total:
        budgets.append(Budget("deployment", f"total#{day.isoformat()}", total))
    return tuple(budgets)


def _row_name(caller_id: str) -> str:
    """The caller as their row's key names them: as they are, so the owner can find a person's row, unless
    that would pass DynamoDB's limit on a key (a caller id is a token's claim or an ARN, not ours to bound)."""
    if len(caller_id.encode()) <= MAX_CALLER_IN_KEY_BYTES:
        return caller_id
    return "sha256:" + hashlib.sha256(caller_id.encode()).hexdigest()


def _reserve_row(budget: Budget, tokens: int, expires_at: int, hold: str) -> int:
    """Add ``tokens`` to the row, and to its requests under way (on a caller's, ``hold``; on the deployment's,
    ``tokens``), unless its total would pass its cap; the row's new total."""
    names = {"#used": USED_ATTRIBUTE, "#expires": TTL_ATTRIBUTE}
    values: dict[str, dict[str, Any]] = {
        ":tokens": {"N": str(tokens)},
        ":ceiling": {"N": str(budget.cap - tokens)},
        ":expires": {"N": str(expires_at)},
    }
    # ADD starts a missing count at 0 and a missing set empty, as on the day's first request.
    additions = "#used :tokens"
    if budget.scope == "caller":
        names["#held"] = HELD_ATTRIBUTE
        values[":hold"] = {"SS": [hold]}
        additions += ", #held :hold"
    else:
        names["#under_way"] = UNDER_WAY_ATTRIBUTE
        additions += ", #under_way :tokens"
    response = _update_item(
        TableName=get_settings().budget_table_name,
        Key={KEY_ATTRIBUTE: {"S": budget.key}},
        UpdateExpression=f"ADD {additions} SET #expires = :expires",
        # Conditions cannot add, so "used + tokens <= cap" is written "used <= cap - tokens".
        ConditionExpression="attribute_not_exists(#used) OR #used <= :ceiling",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ReturnValues="UPDATED_NEW",
        # A refusal then carries the row, so the message can say how much is left.
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    return int(response["Attributes"][USED_ATTRIBUTE]["N"])


def _release(budget: Budget, difference: int, reserved: int, hold: str) -> int | None:
    """Add ``difference`` (negative to give tokens back) to the row, whatever its cap, and take the request,
    which reserved ``reserved``, from the row's requests under way (on a caller's, ``hold``); the row's new
    total, or None with no difference (the total is then not written)."""
    names: dict[str, str] = {}
    values: dict[str, dict[str, Any]] = {}
    additions = []
    if difference:
        names["#used"] = USED_ATTRIBUTE
        values[":difference"] = {"N": str(difference)}
        additions.append("#used :difference")
    clauses = []
    if budget.scope == "caller":
        names["#held"] = HELD_ATTRIBUTE
        values[":hold"] = {"SS": [hold]}
        clauses.append("DELETE #held :hold")
    else:
        names["#under_way"] = UNDER_WAY_ATTRIBUTE
        values[":ended"] = {"N": str(-reserved)}
        additions.append("#under_way :ended")
    if additions:
        clauses.append(f"ADD {', '.join(additions)}")
    response = _update_item(
        TableName=get_settings().budget_table_name,
        Key={KEY_ATTRIBUTE: {"S": budget.key}},
        UpdateExpression=" ".join(clauses),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ReturnValues="UPDATED_NEW" if difference else "NONE",
    )
    return int(response["Attributes"][USED_ATTRIBUTE]["N"]) if difference else None


def _update_item(**request: Any) -> dict[str, Any]:
    """One UpdateItem, tried a second time only when the first surely was not applied: a retry after DynamoDB
    applied a write whose answer was lost would count its tokens twice."""
    try:
        return _client_once().update_item(**request)  # type: ignore[no-any-return]
    except (ClientError, BotoCoreError) as exc:
        if not _surely_not_applied(exc):
            raise
    time.sleep(random.uniform(0, BUDGET_WRITE_RETRY_PAUSE_SECONDS))  # noqa: S311 - a pause, not a secret
    return _client_once().update_item(**request)  # type: ignore[no-any-return]


def _surely_not_applied(exc: ClientError | BotoCoreError) -> bool:
    """DynamoDB refused the write before applying it, or it never left this function (a read timeout, a reset
    or a 500 may come after DynamoDB applied it)."""
    if isinstance(exc, ClientError):
        return _error_code(exc) in NOT_APPLIED_CODES
    return isinstance(exc, EndpointConnectionError | ConnectTimeoutError)


def _give_back(budget: Budget, tokens: int, hold: str) -> None:
    try:
        _release(budget, -tokens, tokens, hold)
    except TABLE_ERRORS as exc:
        # The row keeps tokens no model call will use: the safe side, as with a failed settlement.
        logger.error(
            "budget reservation could not be given back; the row keeps it",
            extra={"budget": budget.scope, "tokens": tokens, "error": _error_code(exc)},
        )


def _on_each_row(budgets: tuple[Budget, ...], write: Callable[[Budget], T]) -> list[T | TableError]:
    """``write`` applied to every row at the same time, in the order of ``budgets``: its result, or the
    TableError it raised. The first row is written on this thread, the others on the pool's."""
    others = [_pool().submit(_outcome, write, budget) for budget in budgets[1:]]
    return [_outcome(write, budgets[0]), *(future.result() for future in others)]


def _outcome(write: Callable[[Budget], T], budget: Budget) -> T | TableError:
    try:
        return write(budget)
    except TABLE_ERRORS as exc:
        return exc


def _is_refusal(outcome: object) -> bool:
    return isinstance(outcome, ClientError) and _error_code(outcome) == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class _RefusingRow:
    used: int | None  # None: the refusal carried no row
    held: int  # by the requests under way: on a caller's row, those before their deadlines


def _row_when_refused(budget: Budget, refusal: ClientError, now: datetime) -> _RefusingRow:
    """What the row held when it refused, from the row the refusal carries."""
    row: dict[str, Any] = refusal.response.get("Item", {})  # type: ignore[assignment]
    used = row.get(USED_ATTRIBUTE, {}).get("N")
    if budget.scope == "caller":
        held = _held_before_deadline(row.get(HELD_ATTRIBUTE, {}).get("SS", []), now)
    else:
        held = max(int(row.get(UNDER_WAY_ATTRIBUTE, {}).get("N", "0")), 0)
    return _RefusingRow(int(used) if used is not None else None, held)


def _held_before_deadline(holds: list[str], now: datetime) -> int:
    """The tokens of the holds whose requests may still be under way at ``now``."""
    held = 0
    for hold in holds:
        deadline, _, rest = hold.partition(":")
        tokens = rest.partition(":")[0]
        if deadline.isdigit() and tokens.isdigit() and int(deadline) > now.timestamp():
            held += int(tokens)
    return held


def _left_today(budget: Budget) -> int | None:
    """What the row leaves of its cap now; None when it cannot be read (the refusal stands either way)."""
    try:
        row = (
            _client()
            .get_item(
                TableName=get_settings().budget_table_name,
                Key={KEY_ATTRIBUTE: {"S": budget.key}},
                # What the refusal's advice is measured against: it must include the last reservation.
                ConsistentRead=True,
                ProjectionExpression="#used",
                ExpressionAttributeNames={"#used": USED_ATTRIBUTE},
            )
            .get("Item", {})
        )
    except (ClientError, BotoCoreError) as exc:
        # The refusal's advice then counts the whole day, which may not be enough to fit what is left.
        logger.warning(
            "budget row could not be read; the refusal counts the whole day's budget",
            extra={"budget": budget.scope, "error": _error_code(exc), "table": get_settings().budget_table_name},
        )
        return None
    return max(budget.cap - int(row.get(USED_ATTRIBUTE, {}).get("N", "0")), 0)


def _table_failure(exc: TableError) -> NotConfigured | Unavailable:
    code = _error_code(exc)
    # The answer names the variable, not the table: it may go to anyone the deployment lets in.
    logger.error(
        "budget table failed; the request was refused",
        extra={"error": code, "table": get_settings().budget_table_name},
    )
    if code == "ResourceNotFoundException":
        return NotConfigured("The budget table (BUDGET_TABLE_NAME) does not exist; no model call was made.")
    if code in {"AccessDeniedException", "UnrecognizedClientException"}:
        return NotConfigured("This function may not write the budget table (BUDGET_TABLE_NAME): check its IAM policy.")
    return Unavailable(UNAVAILABLE_MESSAGE)


def _error_code(exc: TableError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def forget_client() -> None:
    _client.cache_clear()
    _client_once.cache_clear()


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    # Each request hands the pool one row at a time, and Lambda runs one request per execution environment; the
    # emulator's and the tests' concurrent requests queue here for a moment rather than start a thread each.
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="budget")


# The two rows' first writes ask for a client at the same moment, and boto3's default session is not thread-safe.
_MAKING_A_CLIENT = threading.Lock()


@lru_cache(maxsize=1)
def _client() -> Any:
    # For reads. AWS_ENDPOINT_URL_DYNAMODB, which boto3 reads itself, points both clients at moto locally.
    with _MAKING_A_CLIENT:
        return boto3.client("dynamodb", config=AWS_CLIENT_CONFIG)


@lru_cache(maxsize=1)
def _client_once() -> Any:
    # For every write: each adds tokens or gives them back, and botocore's retry after DynamoDB applied one whose
    # answer was lost would apply it twice (_update_item retries only what surely was not). A failed reservation
    # refuses the request (a row that applied it keeps the tokens, the safe side); a failed settlement or
    # give-back is logged and the row keeps the reservation.
    with _MAKING_A_CLIENT:
        return boto3.client("dynamodb", config=AWS_ONE_ATTEMPT_CONFIG)

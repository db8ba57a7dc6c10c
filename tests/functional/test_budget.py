"""llm_core.budget: the worst-case estimate, and against moto's DynamoDB the reservation, settlement, refusals,
concurrency, the UTC day and outages."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from moto import mock_aws
from moto.dynamodb.exceptions import DynamodbException
from moto.dynamodb.models import DynamoDBBackend

import llm_core
from infra.emulator.budget_table import create_budget_table
from llm_core import budget, token_estimate
from llm_core.errors import NotConfigured, QuotaExceeded, TooLarge, Unavailable
from tests.support import BASE_ENVIRONMENT, closed_port_url

TABLE = "llm-endpoints-budgets-test"
REGION = BASE_ENVIRONMENT["AWS_DEFAULT_REGION"]
# A Sunday afternoon, UTC; the day's rows are keyed by its date.
AFTERNOON = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
DAY = "2026-11-22"
ALICE_ROW = f"caller#alice#{DAY}"
BOB_ROW = f"caller#bob#{DAY}"
TOTAL_ROW = f"total#{DAY}"


class BudgetTable:
    """Reads the rows the way the owner would in the console."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def row(self, key: str) -> dict[str, Any] | None:
        return self.client.get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")

    def used(self, key: str) -> int | None:
        row = self.row(key)
        return int(row["used"]["N"]) if row else None

    def under_way(self, key: str) -> int:
        """What the deployment's row counts as held by requests under way."""
        row = self.row(key) or {}
        return int(row.get("under_way", {}).get("N", "0"))

    def held(self, key: str) -> list[str]:
        """The row's holds of requests under way ("deadline:tokens:id")."""
        row = self.row(key) or {}
        return sorted(row.get("held", {}).get("SS", []))


Configure = Callable[..., None]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """Set the budget settings as the template would, then start from a fresh process's caches."""
    for name, value in BASE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)

    def apply(per_user: int = 0, total: int = 0, table: str = TABLE) -> None:
        monkeypatch.setenv("BUDGET_TABLE_NAME", table)
        monkeypatch.setenv("DAILY_TOKENS_PER_USER", str(per_user))
        monkeypatch.setenv("DAILY_TOKENS_TOTAL", str(total))
        llm_core.reset_caches()

    yield apply
    llm_core.reset_caches()


@pytest.fixture
def table(configure: Configure, dynamodb_one_request_at_a_time: None) -> Iterator[BudgetTable]:
    """moto's DynamoDB with the budget table."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_budget_table(client, TABLE)
        yield BudgetTable(client)


# ------------------------------------------------------------------ the worst-case estimate


def spend(caller: str, tokens: int) -> None:
    """Use ``tokens`` of the caller's day this afternoon with requests that have ended (none still under way)."""
    budget.reserve(caller, tokens, now=AFTERNOON).settle(tokens)


def refusal(
    caller: str,
    tokens: int,
    *,
    now: datetime = AFTERNOON,
    text: token_estimate.TextSize | None = None,
    error: type[QuotaExceeded | TooLarge] = QuotaExceeded,
) -> QuotaExceeded | TooLarge:
    """The error a reservation of ``tokens`` by ``caller`` must raise."""
    with pytest.raises(error) as refused:
        budget.reserve(caller, tokens, text=text, now=now)
    return refused.value


def test_estimate_counts_a_token_per_character_plus_instructions_and_the_whole_output():
    assert (
        token_estimate.estimate_tokens(2_000, 1_024)
        == 2_000 + token_estimate.MESSAGE_OVERHEAD_TOKENS + token_estimate.INSTRUCTION_OVERHEAD_TOKENS + 1_024
    )


def test_estimate_counts_the_framing_of_every_message():
    one = token_estimate.estimate_tokens(1_000, 512, messages=1)
    assert token_estimate.estimate_tokens(1_000, 512, messages=20) - one == 19 * token_estimate.MESSAGE_OVERHEAD_TOKENS


# ------------------------------------------------------------------ reservation and settlement arithmetic


def test_reservation_adds_the_tokens_to_the_callers_row_and_the_deployments_row(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 1_200, now=AFTERNOON)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (1_200, 1_200)


def test_a_caller_id_too_long_for_a_key_is_counted_under_its_hash(configure, table):
    configure(per_user=10_000, total=100_000)
    # A token's sub or an ARN is the caller's to choose; DynamoDB refuses a key of more than 2,048 bytes.
    caller = "é" * 700  # 700 characters, 1,400 bytes
    budget.reserve(caller, 1_200, now=AFTERNOON)
    hashed = f"caller#sha256:{hashlib.sha256(caller.encode()).hexdigest()}#{DAY}"
    assert (table.used(hashed), table.used(TOTAL_ROW)) == (1_200, 1_200)


def test_reservations_of_two_callers_share_the_deployments_row(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 1_200, now=AFTERNOON)
    budget.reserve("bob", 800, now=AFTERNOON)
    assert (table.used(ALICE_ROW), table.used(BOB_ROW), table.used(TOTAL_ROW)) == (1_200, 800, 2_000)


def test_remaining_is_what_the_callers_budget_leaves_when_it_is_the_tighter(configure, table):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 1_200, now=AFTERNOON)
    assert reservation.remaining == 8_800


def test_remaining_is_what_the_deployments_budget_leaves_when_it_is_the_tighter(configure, table):
    configure(per_user=10_000, total=5_000)
    budget.reserve("bob", 3_000, now=AFTERNOON)
    reservation = budget.reserve("alice", 1_500, now=AFTERNOON)
    assert reservation.remaining == 500


def test_settlement_replaces_the_reservation_with_the_reported_usage(configure, table):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 5_000, now=AFTERNOON)
    reservation.settle(1_234)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (1_234, 1_234)
    assert reservation.remaining == 10_000 - 1_234


def test_settlement_records_usage_above_the_reservation(configure, table):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 1_000, now=AFTERNOON)
    reservation.settle(1_300)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (1_300, 1_300)


def test_usage_past_the_cap_leaves_none_not_a_negative_figure(configure, table):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 1_000, now=AFTERNOON)
    reservation.settle(10_500)  # a model that used more than the reservation
    assert (reservation.remaining, table.used(ALICE_ROW)) == (0, 10_500)


def test_settling_twice_changes_nothing_the_second_time(configure, table):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 5_000, now=AFTERNOON)
    reservation.settle(1_000)
    reservation.settle(200)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (1_000, 1_000)


def test_unknown_usage_keeps_the_whole_reservation(configure, table):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 5_000, now=AFTERNOON)
    reservation.settle(None)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (5_000, 5_000)
    assert reservation.remaining == 5_000


def test_abandoned_stream_settles_to_what_was_produced(configure, table):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 5_000, now=AFTERNOON)
    # The caller hung up after 40 output tokens of a 300-token prompt.
    reservation.settle(340)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (340, 340)


def test_negative_usage_keeps_the_reservation(configure, table):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 5_000, now=AFTERNOON)
    reservation.settle(-4_000)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (5_000, 5_000)


def test_a_reservation_holds_its_tokens_on_the_callers_row_until_the_longest_function_timeout(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 1_200, now=AFTERNOON)
    deadline = int(AFTERNOON.timestamp()) + budget.HOLD_SECONDS
    [hold] = table.held(ALICE_ROW)
    assert hold.startswith(f"{deadline}:1200:")


def test_the_deployments_row_counts_what_requests_under_way_hold_rather_than_each_request(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 1_200, now=AFTERNOON)
    budget.reserve("bob", 800, now=AFTERNOON)
    assert (table.under_way(TOTAL_ROW), table.held(TOTAL_ROW)) == (2_000, [])


def test_settlement_takes_the_request_from_the_deployments_requests_under_way(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("bob", 800, now=AFTERNOON)
    budget.reserve("alice", 1_200, now=AFTERNOON).settle(1_200)  # no difference to write, and still ended
    assert (table.under_way(TOTAL_ROW), table.used(TOTAL_ROW)) == (800, 2_000)


def test_settlement_ends_the_requests_hold(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 1_200, now=AFTERNOON).settle(300)
    assert (table.held(ALICE_ROW), table.used(ALICE_ROW)) == ([], 300)


def test_settlement_with_unknown_usage_ends_the_hold_and_keeps_the_tokens(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 1_200, now=AFTERNOON).settle(None)
    assert (table.held(ALICE_ROW), table.used(ALICE_ROW)) == ([], 1_200)


def test_rows_expire_two_days_after_their_day(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 1, now=AFTERNOON)
    expected = int(datetime(2026, 11, 24, tzinfo=UTC).timestamp())
    assert int(table.row(ALICE_ROW)["expires_at"]["N"]) == expected
    assert int(table.row(TOTAL_ROW)["expires_at"]["N"]) == expected


# ------------------------------------------------------------------ which caps apply


def test_without_caps_nothing_is_reserved_and_nothing_is_left_to_report(configure, monkeypatch):
    configure(per_user=0, total=0)
    # No table and no moto: any DynamoDB call would fail.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", closed_port_url())
    reservation = budget.reserve("alice", 1_000_000, now=AFTERNOON)
    reservation.settle(10)
    assert reservation.remaining is None


def test_only_a_per_person_cap_leaves_the_deployments_row_alone(configure, table):
    configure(per_user=10_000, total=0)
    reservation = budget.reserve("alice", 1_000, now=AFTERNOON)
    assert (table.used(ALICE_ROW), table.row(TOTAL_ROW)) == (1_000, None)
    assert reservation.remaining == 9_000


def test_only_a_total_cap_leaves_the_callers_row_alone(configure, table):
    configure(per_user=0, total=50_000)
    reservation = budget.reserve("alice", 1_000, now=AFTERNOON)
    assert (table.row(ALICE_ROW), table.used(TOTAL_ROW)) == (None, 1_000)
    assert reservation.remaining == 49_000


def test_an_empty_caller_id_is_a_programming_error(configure, table):
    configure(per_user=10_000, total=100_000)
    with pytest.raises(ValueError, match="caller_id"):
        budget.reserve("", 1_000, now=AFTERNOON)


# ------------------------------------------------------------------ refusals


def test_a_caller_past_their_cap_is_refused_with_a_message_about_their_budget(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 10_000)
    refused = refusal("alice", 600)
    assert refused.message == (
        "Your daily budget of 10,000 tokens is spent. It resets at midnight UTC (2026-11-23 00:00 UTC), "
        "in 9 h 00 min; the model was not called."
    )


def test_a_request_larger_than_what_is_left_says_how_much_is_left_not_spent(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 8_000)
    refused = refusal("alice", 2_500)
    assert refused.message == (
        "This request could use up to 2,500 tokens, and your daily budget has 2,000 of 10,000 left: make it at "
        "least 500 characters shorter, or wait for the reset at midnight UTC (2026-11-23 00:00 UTC), in 9 h 00 "
        "min. The model was not called."
    )


def test_a_budget_with_less_left_than_the_shortest_request_here_says_how_much_is_left(configure, table):
    configure(per_user=10_000, total=100_000)  # the shortest request may use 1,021 tokens (MAX_OUTPUT_TOKENS 512)
    spend("alice", 9_500)
    refused = refusal("alice", 1_100)
    assert refused.message == (
        "Your daily budget has 500 of 10,000 left, less than the 1,021 the shortest request here may use. "
        "It resets at midnight UTC (2026-11-23 00:00 UTC), in 9 h 00 min; the model was not called."
    )


def test_a_refused_caller_leaves_both_rows_as_they_were(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 9_500)
    with pytest.raises(QuotaExceeded):
        budget.reserve("alice", 600, now=AFTERNOON)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (9_500, 9_500)


def test_a_request_refused_by_one_row_leaves_no_hold_on_the_other(configure, table):
    configure(per_user=10_000, total=5_000)
    spend("bob", 4_500)
    with pytest.raises(QuotaExceeded):
        budget.reserve("alice", 1_100, now=AFTERNOON)
    assert table.held(ALICE_ROW) == []


def test_a_request_refused_by_one_row_leaves_nothing_under_way_on_the_other(configure, table):
    configure(per_user=1_000, total=100_000)
    spend("alice", 900)
    with pytest.raises(QuotaExceeded):
        budget.reserve("alice", 200, now=AFTERNOON)  # the deployment's row took it, then gave it back
    assert table.under_way(TOTAL_ROW) == 0


def test_a_refusal_while_requests_are_under_way_says_what_they_hold_and_that_it_comes_back(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 3_000)
    budget.reserve("alice", 5_000, now=AFTERNOON)  # an answer still streaming
    refused = refusal("alice", 2_500)
    assert refused.message == (
        "This request could use up to 2,500 tokens, and your daily budget has 2,000 of 10,000 left: make it at "
        "least 500 characters shorter, or wait for the reset at midnight UTC (2026-11-23 00:00 UTC), in 9 h 00 "
        "min. Your requests still under way hold 5,000 tokens of your daily budget until they end; what they do "
        "not use comes back then, so trying again when they finish may fit. The model was not called."
    )


def test_a_budget_out_of_reach_while_requests_are_under_way_says_what_they_hold(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 9_500, now=AFTERNOON)
    refused = refusal("alice", 1_100)
    assert refused.message == (
        "Your daily budget has 500 of 10,000 left, less than the 1,021 the shortest request here may use. Your "
        "requests still under way hold 9,500 tokens of your daily budget until they end; what they do not use "
        "comes back then, so trying again when they finish may fit. It resets at midnight UTC (2026-11-23 00:00 "
        "UTC), in 9 h 00 min; the model was not called."
    )


def test_a_refusal_leaves_out_requests_under_way_that_could_not_make_room_for_it(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 8_000)
    budget.reserve("alice", 1_100, now=AFTERNOON)  # under way: 3,100 at most would be free when it ends
    refused = refusal("alice", 5_000)
    assert "under way" not in refused.message


def test_a_refusal_leaves_out_requests_under_way_when_the_row_is_past_its_cap(configure, table):
    configure(per_user=1_000, total=100_000)
    budget.reserve("alice", 300, now=AFTERNOON)  # under way
    budget.reserve("alice", 600, now=AFTERNOON).settle(900)  # used more than its estimate: 1,200 in all
    refused = refusal("alice", 250)  # 100 at most would be free when the first ends
    assert "under way" not in refused.message


def test_a_refusal_by_the_deployments_budget_says_what_everyones_requests_under_way_hold(configure, table):
    configure(per_user=100_000, total=10_000)
    spend("bob", 8_000)
    budget.reserve("carol", 1_500, now=AFTERNOON)  # another person's answer, still streaming
    refused = refusal("alice", 1_100)
    assert (
        " Requests still under way hold 1,500 tokens of this deployment's daily budget until they end; what they "
        "do not use comes back then, so trying again when they finish may fit."
    ) in refused.message


def test_a_refusal_by_both_budgets_does_not_call_everyones_requests_under_way_the_callers(configure, table):
    configure(per_user=10_000, total=12_000)
    spend("alice", 3_000)
    budget.reserve("alice", 5_000, now=AFTERNOON)  # alice's answer, still streaming
    budget.reserve("carol", 2_000, now=AFTERNOON)  # another person's, held by the deployment's budget only
    refused = refusal("alice", 2_500)
    assert (
        " Requests still under way hold 5,000 tokens of your daily budget and 7,000 tokens of this deployment's "
        "daily budget until they end;"
    ) in refused.message


def test_a_refusal_by_the_deployments_budget_leaves_out_requests_under_way_that_could_not_make_room(configure, table):
    configure(per_user=100_000, total=10_000)
    spend("bob", 9_800)
    budget.reserve("carol", 100, now=AFTERNOON)
    refused = refusal("alice", 1_000)  # 100 left, and 100 more once carol's request ends: still short
    assert "under way" not in refused.message


def test_a_retry_when_the_requests_under_way_have_ended_fits_as_the_refusal_says(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 3_000)
    under_way = budget.reserve("alice", 5_000, now=AFTERNOON)
    with pytest.raises(QuotaExceeded):
        budget.reserve("alice", 2_500, now=AFTERNOON)
    under_way.settle(600)
    assert budget.reserve("alice", 2_500, now=AFTERNOON).remaining == 3_900


def test_a_hold_past_its_deadline_is_not_counted_as_under_way(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 9_000, now=AFTERNOON)  # its function was killed: it never settles
    later = AFTERNOON + timedelta(seconds=budget.HOLD_SECONDS)
    refused = refusal("alice", 2_000, now=later)
    assert "under way" not in refused.message


def test_other_callers_go_on_when_one_caller_is_refused(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 10_000)
    assert budget.reserve("bob", 10_000, now=AFTERNOON).remaining == 0


def test_the_deployments_cap_refuses_a_caller_with_budget_left(configure, table):
    configure(per_user=10_000, total=12_000)
    spend("bob", 9_000)
    spend("carol", 3_000)
    refused = refusal("alice", 4_000)
    assert refused.message.startswith("This deployment's daily token budget, shared by everyone who uses it")
    assert (table.used(ALICE_ROW) or 0, table.used(TOTAL_ROW)) == (0, 12_000)


def test_the_deployments_cap_with_a_little_left_says_how_much(configure, table):
    configure(per_user=10_000, total=12_000)
    spend("bob", 9_000)
    refused = refusal("alice", 4_000)
    assert refused.message.startswith(
        "This request could use up to 4,000 tokens, and this deployment's daily budget has 3,000 of 12,000 left:"
    )
    # Alice's own row gave back the tokens the deployment refused (it may stay behind at 0 until its TTL).
    assert (table.used(ALICE_ROW) or 0, table.used(TOTAL_ROW)) == (0, 9_000)


def test_a_refusal_with_tokens_left_says_how_many_in_the_remaining_header(configure, table):
    configure(per_user=10_000, total=12_000)
    spend("bob", 9_000)
    refused = refusal("alice", 4_000)
    assert refused.headers[budget.REMAINING_HEADER] == "3000"


def test_tokens_too_few_for_any_request_here_are_still_counted_in_the_remaining_header(configure, table):
    # Another function, with a smaller output allowance, may still use them.
    configure(per_user=10_000, total=0)
    smallest = token_estimate.estimate_tokens(1, llm_core.settings.get_settings().max_output_tokens)
    spend("alice", 10_000 - smallest + 1)
    refused = refusal("alice", smallest)
    assert refused.headers[budget.REMAINING_HEADER] == str(smallest - 1)


def test_a_spent_budget_leaves_none_in_the_remaining_header(configure, table):
    configure(per_user=10_000, total=0)
    spend("alice", 10_000)
    refused = refusal("alice", 1)
    assert refused.headers[budget.REMAINING_HEADER] == "0"


def test_one_budget_spent_and_one_too_low_for_any_request_here_each_say_so(configure, table):
    configure(per_user=10_000, total=12_500)  # the shortest request may use 1,021 tokens (MAX_OUTPUT_TOKENS 512)
    spend("bob", 2_000)
    spend("alice", 10_000)
    refused = refusal("alice", 1_021)
    assert refused.message.startswith(
        "Your daily budget of 10,000 tokens is spent and this deployment's daily budget has 500 of 12,500 left, "
        "less than the 1,021 the shortest request here may use. It resets at midnight UTC"
    )


def test_both_caps_spent_names_both_budgets(configure, table):
    configure(per_user=10_000, total=10_000)
    spend("alice", 10_000)
    refused = refusal("alice", 1)
    assert refused.message.startswith(
        "Your daily budget of 10,000 tokens and this deployment's daily budget are both spent."
    )


def test_a_settled_reservation_frees_what_it_did_not_use(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 9_000, now=AFTERNOON).settle(2_000)
    assert budget.reserve("alice", 8_000, now=AFTERNOON).remaining == 0


def test_retry_after_counts_the_seconds_to_utc_midnight(configure, table):
    configure(per_user=1_000, total=0)
    late = datetime(2026, 11, 22, 21, 59, 29, 250_000, tzinfo=UTC)
    budget.reserve("alice", 1_000, now=late)
    refused = refusal("alice", 1, now=late)
    assert refused.headers["retry-after"] == str(2 * 3600 + 31)


def test_refusal_says_when_the_budget_resets(configure, table):
    configure(per_user=1_000, total=0)
    late = datetime(2026, 11, 22, 21, 59, 29, tzinfo=UTC)
    budget.reserve("alice", 1_000, now=late)
    refused = refusal("alice", 1, now=late)
    assert "It resets at midnight UTC (2026-11-23 00:00 UTC), in 2 h 01 min;" in refused.message


def test_a_request_shortened_as_the_refusal_says_fits(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 8_000)
    refused = refusal("alice", 2_777)
    shorter = int(re.search(r"at least ([\d,]+) characters? shorter", refused.message)[1].replace(",", ""))
    spend("alice", 2_777 - shorter)
    assert table.used(ALICE_ROW) == 10_000


def refusal_of_chat(spent: int, tokens: int, chat: token_estimate.TextSize) -> str:
    """The refusal Alice gets for ``tokens`` of ``chat`` with ``spent`` of her 10,000 used today."""
    spend("alice", spent)
    return refusal("alice", tokens, text=chat).message


def test_a_chat_whose_newest_message_cannot_give_back_enough_is_told_a_new_chat_would_fit(configure, table):
    configure(per_user=10_000, total=100_000)
    # 2,400 characters of earlier turns and a 30-character question; alone, the question would reserve 2,000.
    chat = token_estimate.TextSize(2_430, newest_chars=30, new_chat_tokens=2_000)
    assert "6,000 of 10,000 left: start a new chat, as the earlier turns count too, or wait for the reset" in (
        refusal_of_chat(4_000, 7_000, chat)
    )
    budget.reserve("alice", 2_000, now=AFTERNOON)  # the new chat fits


def test_a_chat_whose_newest_message_can_give_back_enough_is_told_to_shorten_it(configure, table):
    configure(per_user=10_000, total=100_000)
    chat = token_estimate.TextSize(4_000, newest_chars=1_500, new_chat_tokens=7_000)
    assert "left: make your message at least 1,000 characters shorter, or wait" in refusal_of_chat(4_000, 7_000, chat)


def test_a_chat_that_could_shorten_its_message_is_also_told_a_new_chat_would_keep_it_whole(configure, table):
    configure(per_user=10_000, total=100_000)
    chat = token_estimate.TextSize(4_000, newest_chars=1_500, new_chat_tokens=3_600)
    assert "left: make your message at least 1,000 characters shorter, or start a new chat, or wait" in (
        refusal_of_chat(4_000, 7_000, chat)
    )


def test_a_chat_whose_new_chat_would_use_exactly_what_is_left_is_also_told_to_start_one(configure, table):
    configure(per_user=10_000, total=100_000)
    # 6,000 left: the newest message alone, in a new chat, would reserve exactly that.
    chat = token_estimate.TextSize(4_000, newest_chars=1_500, new_chat_tokens=6_000)
    assert "left: make your message at least 1,000 characters shorter, or start a new chat, or wait" in (
        refusal_of_chat(4_000, 7_000, chat)
    )
    budget.reserve("alice", 6_000, now=AFTERNOON)  # the new chat fits


def test_a_first_message_shorter_than_the_cut_is_told_to_shorten_it_with_the_instructions(configure, table):
    configure(per_user=10_000, total=100_000)
    chat = token_estimate.TextSize(4_300, newest_chars=2)
    assert "left: make your message and the instructions at least 1,000 characters shorter together, or wait" in (
        refusal_of_chat(4_000, 7_000, chat)
    )


def test_a_chat_that_fits_in_a_new_chat_only_with_a_shorter_message_says_by_how_much(configure, table):
    configure(per_user=10_000, total=100_000)
    # 2,000 left: the whole chat would pass it by 1,500, its newest message alone by 500.
    chat = token_estimate.TextSize(3_000, newest_chars=1_000, new_chat_tokens=2_500)
    assert (
        "left: start a new chat, as the earlier turns count too, with your message at least 500 characters shorter, "
        "or wait" in refusal_of_chat(8_000, 3_500, chat)
    )
    budget.reserve("alice", 2_500 - 500, now=AFTERNOON)  # that new chat fits


def test_a_chat_whose_instructions_leave_no_room_in_a_new_chat_says_to_shorten_them(configure, table):
    configure(per_user=10_000, total=100_000)
    chat = token_estimate.TextSize(3_000, newest_chars=100, new_chat_tokens=2_500)
    assert (
        "left: start a new chat, as the earlier turns count too, with your message and the instructions at least "
        "500 characters shorter together, or wait" in refusal_of_chat(8_000, 3_500, chat)
    )


def test_a_request_larger_than_both_caps_is_measured_against_the_smaller_first(configure, table):
    configure(per_user=3_000, total=2_600)
    refused = refusal("alice", 3_070, error=TooLarge)
    assert refused.message == (
        "This request could use up to 3,070 tokens, more than this deployment's whole daily budget of 2,600: "
        "make it at least 470 characters shorter."
    )


def test_a_request_larger_than_the_day_is_told_to_shorten_to_what_is_left_today(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 4_000)
    refused = refusal("alice", 10_500, error=TooLarge)
    assert refused.message == (
        "This request could use up to 10,500 tokens, more than your whole daily budget of 10,000, of which 6,000 "
        "are left today: make it at least 4,500 characters shorter."
    )
    assert refused.headers == {"x-tokens-remaining": "6000"}
    budget.reserve("alice", 10_500 - 4_500, now=AFTERNOON)  # shortened as told, it fits
    assert table.used(ALICE_ROW) == 10_000


def test_a_request_larger_than_the_day_when_too_little_is_left_today_says_so(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 9_000)
    refused = refusal("alice", 10_500, error=TooLarge)
    assert refused.message == (
        "This request could use up to 10,500 tokens, more than your whole daily budget of 10,000: make it at least "
        "500 characters shorter, after the reset at midnight UTC (2026-11-23 00:00 UTC), in 9 h 00 min. The "
        "1,000 left of it today are fewer than the 1,021 even the shortest request here may use."
    )
    # No Retry-After: this request itself will not fit after the reset either.
    assert refused.headers == {"x-tokens-remaining": "1000"}
    budget.reserve("alice", 10_500 - 500, now=AFTERNOON + timedelta(hours=9))  # shortened, after the reset


def test_a_request_larger_than_the_day_with_one_token_left_today_says_it_is_fewer(configure, table):
    configure(per_user=10_000, total=100_000)
    spend("alice", 9_999)
    refused = refusal("alice", 10_500, error=TooLarge)
    assert refused.message.endswith(
        "The 1 left of it today is fewer than the 1,021 even the shortest request here may use."
    )


def test_a_request_larger_than_the_day_after_the_row_passed_its_cap_says_none_are_left(configure, table):
    configure(per_user=10_000, total=100_000)
    budget.reserve("alice", 1_000, now=AFTERNOON).settle(10_400)
    refused = refusal("alice", 10_500, error=TooLarge)
    assert refused.headers == {"x-tokens-remaining": "0"}


def test_a_request_larger_than_a_whole_days_budget_is_too_large(configure, table):
    configure(per_user=10_000, total=100_000)
    refused = refusal("alice", 10_001, error=TooLarge)
    assert refused.message == (
        "This request could use up to 10,001 tokens, more than your whole daily budget of 10,000: "
        "make it at least 1 character shorter."
    )
    assert table.row(TOTAL_ROW) is None


def test_a_budget_smaller_than_any_request_names_the_settings_to_change(configure, table, monkeypatch):
    configure(per_user=3_000, total=100_000)
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "4096")
    llm_core.reset_caches()
    refused = refusal("alice", 4_200, error=TooLarge)
    assert refused.message == (
        "Even the shortest request to this function may use up to 4,605 tokens (4,096 of them output), more than "
        "your whole daily budget of 3,000: the deployment's owner must raise DailyTokensPerUser "
        "(DAILY_TOKENS_PER_USER) or lower this function's MAX_OUTPUT_TOKENS."
    )
    assert refused.headers == {"x-tokens-remaining": "3000"}


def test_a_budget_exactly_the_size_of_the_shortest_request_asks_for_a_shorter_request_not_a_larger_cap(
    configure, table
):
    # The shortest request here may use 1,021 tokens: a cap of 1,021 holds it, so the owner need change nothing.
    configure(per_user=1_021, total=100_000)
    refused = refusal("alice", 1_100, error=TooLarge)
    assert refused.message == (
        "This request could use up to 1,100 tokens, more than your whole daily budget of 1,021: "
        "make it at least 79 characters shorter."
    )
    budget.reserve("alice", 1_100 - 79, now=AFTERNOON)  # shortened as told, it fits


def test_a_budget_above_the_output_allowance_but_below_the_shortest_request_names_the_settings(
    configure, table, monkeypatch
):
    # 4,500 holds 4,096 output tokens, not the instructions and framing every request adds to them.
    configure(per_user=4_500, total=100_000)
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "4096")
    llm_core.reset_caches()
    refused = refusal("alice", 4_700, error=TooLarge)
    assert refused.message.startswith(
        "Even the shortest request to this function may use up to 4,605 tokens (4,096 of them output), more than "
        "your whole daily budget of 4,500:"
    )


def test_a_request_larger_than_the_day_whose_row_cannot_be_read_counts_the_whole_day_and_logs(
    configure, table, monkeypatch, caplog
):
    configure(per_user=10_000, total=100_000)
    spend("alice", 4_000)

    def denied(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> None:
        raise DynamodbException("AccessDeniedException", "Not authorized to perform dynamodb:GetItem.")

    monkeypatch.setattr(DynamoDBBackend, "get_item", denied)
    with caplog.at_level(logging.WARNING), pytest.raises(TooLarge) as refused:
        budget.reserve("alice", 10_500, now=AFTERNOON)
    # Read, the 6,000 left today would be the measure (a shortening by 4,500).
    assert refused.value.message.endswith(
        "more than your whole daily budget of 10,000: make it at least 500 characters shorter."
    )
    assert "x-tokens-remaining" not in refused.value.headers  # unknown, so not said
    records = [r for r in caplog.records if r.getMessage().startswith("budget row could not be read")]
    assert sorted((r.budget, r.error, r.table) for r in records) == [
        ("caller", "AccessDeniedException", TABLE),
        ("deployment", "AccessDeniedException", TABLE),
    ]


def test_a_request_larger_than_the_day_is_measured_against_the_least_any_budget_leaves(configure, table):
    configure(per_user=7_000, total=9_000)
    spend("bob", 6_000)
    refused = refusal("alice", 7_604, error=TooLarge)
    assert refused.message == (
        "This request could use up to 7,604 tokens, more than your whole daily budget of 7,000, and this "
        "deployment's daily budget has 3,000 left today: make it at least 4,604 characters shorter."
    )
    budget.reserve("alice", 7_604 - 4_604, now=AFTERNOON)  # shortened as told, it fits


# ------------------------------------------------------------------ the UTC day


def test_the_budget_comes_back_at_utc_midnight(configure, table):
    configure(per_user=10_000, total=100_000)
    last_second = datetime(2026, 11, 22, 23, 59, 59, 999_000, tzinfo=UTC)
    budget.reserve("alice", 10_000, now=last_second)
    with pytest.raises(QuotaExceeded):
        budget.reserve("alice", 1, now=last_second)
    reservation = budget.reserve("alice", 1, now=last_second + timedelta(milliseconds=1))
    assert reservation.remaining == 9_999
    assert table.used("caller#alice#2026-11-23") == 1


def test_the_day_is_the_utc_day_whatever_the_clocks_zone(configure, table):
    configure(per_user=10_000, total=0)
    from zoneinfo import ZoneInfo

    # 01:00 in Paris on the 23rd is still the 22nd in UTC.
    budget.reserve("alice", 7, now=datetime(2026, 11, 23, 0, 30, tzinfo=ZoneInfo("Europe/Paris")))
    assert table.used(ALICE_ROW) == 7


def test_settlement_after_midnight_corrects_the_day_that_was_reserved(configure, table):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 5_000, now=datetime(2026, 11, 22, 23, 59, 50, tzinfo=UTC))
    reservation.settle(700)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (700, 700)
    assert table.row("caller#alice#2026-11-23") is None


# ------------------------------------------------------------------ concurrency


def in_parallel(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) on count threads released together."""
    start = threading.Barrier(count)

    def run(index: int) -> Any:
        start.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def reserve_or_none(caller: str, tokens: int) -> budget.Reservation | None:
    try:
        return budget.reserve(caller, tokens, now=AFTERNOON)
    except QuotaExceeded:
        return None


def test_fifty_parallel_reservations_never_pass_the_deployments_cap(configure, table):
    configure(per_user=0, total=10_000)
    granted = [r for r in in_parallel(50, lambda i: reserve_or_none(f"caller-{i}", 700)) if r]
    # 14 x 700 = 9,800 fit; a 15th would pass 10,000.
    assert len(granted) == 14
    assert table.used(TOTAL_ROW) == 9_800


def test_fifty_parallel_reservations_of_one_caller_never_pass_their_cap(configure, table):
    configure(per_user=5_000, total=1_000_000)
    granted = [r for r in in_parallel(50, lambda i: reserve_or_none("alice", 300)) if r]
    assert len(granted) == 16
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (4_800, 4_800)


def test_fifty_parallel_requests_with_settlement_spend_no_more_than_the_cap(configure, table):
    configure(per_user=0, total=10_000)

    def request(index: int) -> int:
        reservation = reserve_or_none(f"caller-{index}", 700)
        if reservation is None:
            return 0
        used = 150 + 37 * (index % 10)  # never more than reserved, as the model's max_output_tokens ensures
        reservation.settle(used)
        return used

    spent = sum(in_parallel(50, request))
    assert table.used(TOTAL_ROW) == spent
    assert spent <= 10_000
    # Settlement gave tokens back, so more requests got through than the 14 worst cases that fit at once.
    assert spent > 14 * 150


# ------------------------------------------------------------------ the table fails


def test_an_unreachable_table_refuses_the_request_quickly(configure, monkeypatch, caplog):
    configure(per_user=10_000, total=100_000)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", closed_port_url())
    started = time.monotonic()
    with pytest.raises(Unavailable) as refused:
        budget.reserve("alice", 1_000, now=AFTERNOON)
    assert time.monotonic() - started < 3
    assert refused.value.message == (
        "The budget table cannot be reached; no model call was made. Try again in a moment."
    )


def test_an_unreachable_table_is_logged(configure, monkeypatch, caplog):
    configure(per_user=10_000, total=100_000)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", closed_port_url())
    with caplog.at_level(logging.ERROR), pytest.raises(Unavailable):
        budget.reserve("alice", 1_000, now=AFTERNOON)
    (record,) = [r for r in caplog.records if r.getMessage() == "budget table failed; the request was refused"]
    assert record.error == "EndpointConnectionError"


def test_a_throttled_table_refuses_the_request(configure, table, monkeypatch):
    configure(per_user=10_000, total=100_000)

    def throttled(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> None:
        raise DynamodbException("ThrottlingException", "Rate of requests exceeds the allowed throughput.")

    monkeypatch.setattr(DynamoDBBackend, "update_item", throttled)
    with pytest.raises(Unavailable, match="cannot be reached; no model call was made"):
        budget.reserve("alice", 1_000, now=AFTERNOON)


def refusing_to_give_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """An update_item that fails whenever a row would give tokens back (a negative ADD)."""
    real = DynamoDBBackend.update_item

    def update(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        values = kwargs.get("expression_attribute_values") or args[3]
        if int(values.get(":difference", {}).get("N", "0")) < 0:
            raise DynamodbException("ThrottlingException", "Rate of requests exceeds the allowed throughput.")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update)


def test_a_row_that_cannot_give_back_a_refused_reservation_keeps_it_and_logs(configure, table, monkeypatch, caplog):
    configure(per_user=10_000, total=12_000)
    budget.reserve("bob", 9_000, now=AFTERNOON)
    refusing_to_give_back(monkeypatch)
    with caplog.at_level(logging.ERROR), pytest.raises(QuotaExceeded):
        budget.reserve("alice", 4_000, now=AFTERNOON)
    # The safe side: Alice's row holds tokens no model call used, and the deployment's cap still held.
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (4_000, 9_000)
    (record,) = [r for r in caplog.records if r.getMessage().startswith("budget reservation could not be given back")]
    assert (record.budget, record.tokens, record.error) == ("caller", 4_000, "ThrottlingException")


def test_a_give_back_answered_without_the_rows_total_is_logged_and_the_refusal_stands(
    configure, table, monkeypatch, caplog
):
    configure(per_user=10_000, total=12_000)
    budget.reserve("bob", 9_000, now=AFTERNOON)
    real = budget._update_item

    def answered_without_attributes(**request: Any) -> dict[str, Any]:
        answer = real(**request)
        return {} if int(request["ExpressionAttributeValues"].get(":difference", {}).get("N", "0")) < 0 else answer

    monkeypatch.setattr(budget, "_update_item", answered_without_attributes)
    with caplog.at_level(logging.ERROR), pytest.raises(QuotaExceeded):
        budget.reserve("alice", 4_000, now=AFTERNOON)
    (record,) = [r for r in caplog.records if r.getMessage().startswith("budget reservation could not be given back")]
    assert (record.budget, record.error) == ("caller", "KeyError")


def test_a_missing_table_names_the_setting_to_fix(configure, table):
    configure(per_user=10_000, total=100_000, table="no-such-table")
    with pytest.raises(NotConfigured) as refused:
        budget.reserve("alice", 1_000, now=AFTERNOON)
    assert refused.value.message == ("The budget table (BUDGET_TABLE_NAME) does not exist; no model call was made.")


def test_a_missing_table_is_logged_with_its_name_for_the_owner(configure, table, caplog):
    configure(per_user=10_000, total=100_000, table="no-such-table")
    with caplog.at_level(logging.ERROR), pytest.raises(NotConfigured):
        budget.reserve("alice", 1_000, now=AFTERNOON)
    (record,) = [r for r in caplog.records if r.getMessage() == "budget table failed; the request was refused"]
    assert (record.error, record.table) == ("ResourceNotFoundException", "no-such-table")


def lose_the_answers_of_updates() -> list[str]:
    """From now on every UpdateItem of the budget's clients is applied, but its answer is lost on the way: the
    call times out reading it. The tables each lost answer was for, in order."""
    lost: list[str] = []

    def applied_then_lost(request: AWSPreparedRequest, **_: Any) -> None:
        if request.headers["X-Amz-Target"] != b"DynamoDB_20120810.UpdateItem":
            return
        # moto's handler, registered for every "before-send" (a handler for a narrower name would run before
        # it), has applied the request by now.
        lost.append(json.loads(request.body)["TableName"])
        raise ReadTimeoutError(endpoint_url=request.url)

    for client in (budget._client(), budget._client_once()):
        client.meta.events.register_last("before-send", applied_then_lost)
    return lost


def test_a_settlement_whose_answer_was_lost_is_not_written_again(configure, table, caplog):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 1_200, now=AFTERNOON)
    lost = lose_the_answers_of_updates()
    reservation.settle(300)
    # Written twice, the 900 given back would be given back twice, and the day could pass its cap.
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW), lost) == (300, 300, [TABLE, TABLE])


def test_a_reservation_whose_answer_was_lost_is_not_written_again(configure, table):
    configure(per_user=10_000, total=100_000)
    lost = lose_the_answers_of_updates()
    with pytest.raises(Unavailable):
        budget.reserve("alice", 1_200, now=AFTERNOON)
    # Written twice, each row would count 2,400 for a request that never reached the model. Once, each keeps
    # the one reservation it applied (the safe side: its answer never said it was applied).
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW), lost) == (1_200, 1_200, [TABLE, TABLE])


def throttle_each_rows_first_update(monkeypatch: pytest.MonkeyPatch, code: str = "ThrottlingException") -> list[str]:
    """DynamoDB refuses the first UpdateItem of each row with ``code``, applying nothing. The rows refused, in
    order."""
    real = DynamoDBBackend.update_item
    throttled: list[str] = []

    def update(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        key = (kwargs.get("key") or args[1])["pk"]["S"]
        if key not in throttled:
            throttled.append(key)
            raise DynamodbException(code, "Rate of requests exceeds the allowed throughput.")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", update)
    return throttled


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"]
)
def test_a_throttled_reservation_is_tried_again_and_counted_once(configure, table, monkeypatch, code):
    configure(per_user=10_000, total=100_000)
    throttled = throttle_each_rows_first_update(monkeypatch, code)
    reservation = budget.reserve("alice", 1_200, now=AFTERNOON)
    assert sorted(throttled) == sorted([ALICE_ROW, TOTAL_ROW])
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW), reservation.remaining) == (1_200, 1_200, 8_800)


def test_a_throttled_settlement_is_tried_again(configure, table, monkeypatch):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 1_200, now=AFTERNOON)
    throttle_each_rows_first_update(monkeypatch)
    reservation.settle(300)
    assert (table.used(ALICE_ROW), table.used(TOTAL_ROW), table.under_way(TOTAL_ROW)) == (300, 300, 0)


@pytest.mark.parametrize("failure", [EndpointConnectionError, ConnectTimeoutError])
def test_a_reservation_that_could_not_connect_is_tried_again(configure, table, failure):
    configure(per_user=10_000, total=100_000)
    unsent: list[str] = []

    def no_connection_the_first_time(request: AWSPreparedRequest, **_: Any) -> None:
        key = json.loads(request.body)["Key"]["pk"]["S"]
        if key not in unsent:
            unsent.append(key)
            raise failure(endpoint_url=request.url)

    # On the operation's own name, this runs before moto's handler (on every "before-send"): nothing is applied.
    budget._client_once().meta.events.register("before-send.dynamodb.UpdateItem", no_connection_the_first_time)
    budget.reserve("alice", 1_200, now=AFTERNOON)
    assert (sorted(unsent), table.used(ALICE_ROW), table.used(TOTAL_ROW)) == (
        sorted([ALICE_ROW, TOTAL_ROW]),
        1_200,
        1_200,
    )


def test_a_row_whose_answer_lacks_its_total_refuses_the_request_and_the_other_row_gives_back(configure, table):
    configure(per_user=10_000, total=100_000)

    def without_the_total(parsed: dict[str, Any], **_: Any) -> None:
        if "under_way" in parsed.get("Attributes", {}):  # the deployment's row
            del parsed["Attributes"]

    budget._client_once().meta.events.register("after-call.dynamodb.UpdateItem", without_the_total)
    with pytest.raises(Unavailable):
        budget.reserve("alice", 1_200, now=AFTERNOON)
    assert (table.used(ALICE_ROW), table.held(ALICE_ROW)) == (0, [])


def test_a_failed_settlement_is_logged_and_not_raised(configure, table, caplog):
    configure(per_user=10_000, total=100_000)
    reservation = budget.reserve("alice", 5_000, now=AFTERNOON)
    table.client.delete_table(TableName=TABLE)
    with caplog.at_level(logging.ERROR):
        reservation.settle(100)
    message = "budget settlement failed; the row keeps the reservation"
    failures = [r for r in caplog.records if r.getMessage() == message]
    assert [(r.budget, r.error) for r in failures] == [
        ("caller", "ResourceNotFoundException"),
        ("deployment", "ResourceNotFoundException"),
    ]
    # Written before the answer (no extension), what the caller is told stays what the table holds.
    assert reservation.remaining == 5_000


# ------------------------------------------------------------------ the metric behind the alarm


def test_settlement_reports_the_deployments_tokens_today(configure, table, capsys):
    configure(per_user=10_000, total=100_000)
    budget.metrics.clear_metrics()
    budget.reserve("bob", 2_000, now=AFTERNOON).settle(1_500, now=AFTERNOON)
    budget.reserve("alice", 3_000, now=AFTERNOON).settle(500, now=AFTERNOON)
    capsys.readouterr()
    budget.metrics.flush_metrics()
    emitted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert emitted[budget.DEPLOYMENT_TOKENS_METRIC] == [1_500.0, 2_000.0]


def test_a_request_settled_after_midnight_does_not_report_yesterdays_total_as_todays(configure, table, capsys):
    configure(per_user=10_000, total=100_000)
    budget.metrics.clear_metrics()
    before_midnight = datetime(2026, 11, 22, 23, 59, 50, tzinfo=UTC)
    budget.reserve("bob", 2_000, now=before_midnight).settle(1_500, now=before_midnight + timedelta(seconds=30))
    budget.reserve("alice", 3_000, now=before_midnight + timedelta(seconds=30)).settle(
        500, now=before_midnight + timedelta(seconds=31)
    )
    capsys.readouterr()
    budget.metrics.flush_metrics()
    emitted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Only the request of the new day: the alarm reads the maximum, and yesterday's total would set it off.
    assert emitted[budget.DEPLOYMENT_TOKENS_METRIC] == [500.0]

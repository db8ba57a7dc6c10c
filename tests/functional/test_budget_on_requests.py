"""Budgets on the request path: a spent budget stops the model call, every answer says what is left, an
unreachable table fails closed, and streams settle what they used."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

import llm_core
from infra.emulator.budget_table import create_budget_table
from infra.emulator.runtime import LambdaContext
from infra.emulator.server import BUFFERED_FUNCTIONS
from infra.fake_openai import FakeReply
from llm_core import after_response, budget, service, token_estimate
from llm_core.contract import StreamRequest
from llm_core.identity import Caller
from tests.functional.test_stream import CONVERSATION, post, sse_events, stream_url  # noqa: F401 - the fixture
from tests.support import BASE_ENVIRONMENT, SECRET_ID, closed_port_url, event_with_body

TABLE = "budgets"
TODAY_TOTAL_PREFIX = "total#"


@pytest.fixture
def budgets(configured, monkeypatch: pytest.MonkeyPatch):
    """The budget table in moto (inside the same in-process moto as the secret); caps set per test."""
    create_budget_table(boto3.client("dynamodb", region_name=BASE_ENVIRONMENT["AWS_DEFAULT_REGION"]), TABLE)

    def caps(per_user: int, total: int = 0) -> None:
        monkeypatch.setenv("BUDGET_TABLE_NAME", TABLE)
        monkeypatch.setenv("DAILY_TOKENS_PER_USER", str(per_user))
        monkeypatch.setenv("DAILY_TOKENS_TOTAL", str(total))
        llm_core.reset_caches()

    return caps


def used_in_rows(prefix: str) -> int:
    """The tokens used in the rows whose key starts with ``prefix``: "total#" (the deployment's day), "caller#"."""
    client = boto3.client("dynamodb", region_name=BASE_ENVIRONMENT["AWS_DEFAULT_REGION"])
    rows = client.scan(TableName=TABLE)["Items"]
    return sum(int(row["used"]["N"]) for row in rows if row["pk"]["S"].startswith(prefix))


def total_used() -> int:
    return used_in_rows(TODAY_TOTAL_PREFIX)


def caller_used() -> int:
    return used_in_rows("caller#")


SUMMARIZED_TEXT = "Lambda runs code without servers."


def summarize_event(text: str = SUMMARIZED_TEXT) -> dict:
    return event_with_body("function_url_summarize", {"text": text})


def test_answer_says_how_many_tokens_are_left_today(budgets, fake_model, invoke):
    budgets(per_user=100_000)
    result = invoke("summarize", summarize_event())
    usage = result["json"]["usage"]
    assert result["statusCode"] == 200
    assert int(result["headers"]["x-tokens-remaining"]) == 100_000 - usage["input_tokens"] - usage["output_tokens"]


def spend_today(tokens: int) -> None:
    """What earlier requests of the local caller used today."""
    budget.reserve("local", tokens).settle(tokens)


def test_spent_personal_budget_is_429_with_retry_after_and_the_model_is_not_called(budgets, fake_model, invoke):
    budgets(per_user=10_000)
    spend_today(10_000)
    result = invoke("summarize", summarize_event())
    assert (result["statusCode"], result["json"]["error"]["type"]) == (429, "quota_exceeded")
    assert result["json"]["error"]["message"].startswith("Your daily budget of 10,000 tokens is spent. It resets at")
    assert 0 < int(result["headers"]["retry-after"]) <= 86_400
    assert fake_model.requests == []


def test_failed_model_call_that_generated_nothing_gives_the_reservation_back(budgets, fake_model, invoke):
    budgets(per_user=100_000, total=1_000_000)
    fake_model.enqueue(*[FakeReply(status=500) for _ in range(3)])
    assert invoke("summarize", summarize_event())["statusCode"] == 502
    assert total_used() == 0


def test_model_call_that_timed_out_keeps_its_reservation(budgets, fake_model, invoke):
    budgets(per_user=100_000, total=1_000_000)
    fake_model.enqueue(*[FakeReply(delay_seconds=6) for _ in range(3)])  # past the function's time
    result = invoke("summarize", summarize_event(), LambdaContext(timeout_seconds=3))
    assert (result["statusCode"], result["json"]["error"]["type"]) == (504, "upstream_timeout")
    assert total_used() == token_estimate.estimate_tokens(
        len(SUMMARIZED_TEXT), int(BASE_ENVIRONMENT["MAX_OUTPUT_TOKENS"])
    )


def test_model_call_whose_time_ran_out_before_it_was_sent_gives_the_reservation_back(budgets, fake_model, invoke):
    budgets(per_user=100_000, total=1_000_000)
    # Lambda's whole second goes to the response margin: no time is left to send the call.
    result = invoke("summarize", summarize_event(), LambdaContext(timeout_seconds=1))
    assert (result["statusCode"], result["json"]["error"]["type"]) == (504, "upstream_timeout")
    assert (total_used(), fake_model.requests) == (0, [])


def test_a_stream_cancelled_while_its_reservation_is_written_gives_it_back(budgets, fake_model, monkeypatch):
    budgets(per_user=100_000)
    writing, written, given_back = threading.Event(), threading.Event(), threading.Event()
    reserve, settle = service.reserve_budget, budget.Reservation.settle

    def reserve_once_cancelled(*args: Any, **kwargs: Any) -> budget.Reservation:
        writing.set()
        written.wait(timeout=10)
        return reserve(*args, **kwargs)

    def settle_and_say(reservation: budget.Reservation, used: int | None) -> None:
        settle(reservation, used)
        given_back.set()

    monkeypatch.setattr(service, "reserve_budget", reserve_once_cancelled)
    monkeypatch.setattr(budget.Reservation, "settle", settle_and_say)

    async def leave_while_reserving() -> None:
        opening = asyncio.ensure_future(
            service.open_answer_stream(StreamRequest(prompt="Hi"), Caller("local", "local"))
        )
        await asyncio.to_thread(writing.wait, 10)
        opening.cancel()  # as when the caller leaves
        written.set()
        with pytest.raises(asyncio.CancelledError):
            await opening
        await asyncio.to_thread(given_back.wait, 10)

    asyncio.run(leave_while_reserving())
    assert (caller_used(), fake_model.requests) == (0, [])


def test_a_failed_model_call_says_what_is_left_after_keeping_its_reservation(budgets, fake_model, invoke):
    budgets(per_user=100_000)
    fake_model.enqueue(*[FakeReply(delay_seconds=6) for _ in range(3)])  # past the function's time
    result = invoke("summarize", summarize_event(), LambdaContext(timeout_seconds=3))
    worst_case = token_estimate.estimate_tokens(len(SUMMARIZED_TEXT), int(BASE_ENVIRONMENT["MAX_OUTPUT_TOKENS"]))
    assert (result["statusCode"], result["headers"]["x-tokens-remaining"]) == (504, str(100_000 - worst_case))


def test_a_failed_model_call_that_generated_nothing_says_all_is_left(budgets, fake_model, invoke):
    budgets(per_user=100_000)
    fake_model.enqueue(*[FakeReply(status=500) for _ in range(3)])
    result = invoke("summarize", summarize_event())
    assert (result["statusCode"], result["headers"]["x-tokens-remaining"]) == (502, "100000")


def test_a_model_call_stopped_before_it_left_gives_the_reservation_back(budgets, fake_model, invoke):
    budgets(per_user=100_000)
    boto3.client("secretsmanager", region_name=BASE_ENVIRONMENT["AWS_DEFAULT_REGION"]).delete_secret(
        SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True
    )
    result = invoke("summarize", summarize_event())
    assert (result["statusCode"], result["headers"]["x-tokens-remaining"]) == (503, "100000")
    assert (caller_used(), fake_model.requests) == (0, [])


def test_an_answer_that_breaks_off_after_its_usage_says_what_is_left(budgets, fake_model, invoke):
    budgets(per_user=100_000)
    fake_model.enqueue(FakeReply(incomplete=True))
    result = invoke("summarize", summarize_event())
    assert (result["statusCode"], result["headers"]["x-tokens-remaining"]) == (502, str(100_000 - caller_used()))
    assert caller_used() > 0


def test_unreachable_budget_table_is_503_unavailable_and_the_model_is_not_called(
    budgets, fake_model, invoke, monkeypatch
):
    budgets(per_user=100_000)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", closed_port_url())
    llm_core.reset_caches()
    result = invoke("todo", event_with_body("function_url_todo", {"text": "Call Ana"}))
    assert (result["statusCode"], result["json"]["error"]) == (
        503,
        {
            "type": "unavailable",
            "message": budget.UNAVAILABLE_MESSAGE,
            "request_id": result["json"]["error"]["request_id"],
        },
    )
    assert fake_model.requests == []


def test_missing_budget_table_is_503_not_configured_and_the_model_is_not_called(
    budgets, fake_model, invoke, monkeypatch
):
    budgets(per_user=100_000)
    monkeypatch.setenv("BUDGET_TABLE_NAME", "no-such-table")
    llm_core.reset_caches()
    result = invoke("todo", event_with_body("function_url_todo", {"text": "Call Ana"}))
    assert (result["statusCode"], result["json"]["error"]["type"]) == (503, "not_configured")
    assert result["json"]["error"]["message"] == (
        "The budget table (BUDGET_TABLE_NAME) does not exist; no model call was made."
    )
    assert fake_model.requests == []


def test_parallel_requests_never_spend_past_the_total_cap(
    budgets, fake_model, invoke, dynamodb_one_request_at_a_time, metrics_flushed_one_at_a_time
):
    budgets(per_user=0, total=5_000)
    worst_case = token_estimate.estimate_tokens(len(SUMMARIZED_TEXT), int(BASE_ENVIRONMENT["MAX_OUTPUT_TOKENS"]))
    fits = 5_000 // worst_case
    # The model holds every granted request, so its reservation stands while the others arrive.
    answering = threading.Event()
    fake_model.enqueue(*[FakeReply(hold=answering, output={"bullets": ["Held."]}) for _ in range(12)])
    statuses: list[int] = []
    answered = threading.Condition()

    def one() -> None:
        status = invoke("summarize", summarize_event())["statusCode"]
        with answered:
            statuses.append(status)
            answered.notify_all()

    threads = [threading.Thread(target=one) for _ in range(12)]
    try:
        for thread in threads:
            thread.start()
        with answered:
            assert answered.wait_for(lambda: len(statuses) == 12 - fits, timeout=30), statuses
        assert statuses == [429] * (12 - fits)
        assert total_used() == fits * worst_case <= 5_000
    finally:
        answering.set()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [200] * fits + [429] * (12 - fits)


def test_stream_done_event_says_what_is_left_after_settling(budgets, fake_model, stream_url):  # noqa: F811
    budgets(per_user=100_000)
    fake_model.enqueue(FakeReply(tokens=["Hi", " there."]))
    response = post(stream_url, CONVERSATION)
    remaining_at_start = int(response.getheader("x-tokens-remaining"))
    done = next(data for kind, data in sse_events(response) if kind == "done")
    used = done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    assert done["tokens_remaining"] == 100_000 - used > remaining_at_start


def test_a_stream_the_caller_left_settles_and_ends_its_hold(budgets, fake_model, stream_url, monkeypatch):  # noqa: F811
    budgets(per_user=100_000)
    settled = threading.Event()
    settle = budget.Reservation.settle

    def settling(reservation: budget.Reservation, used_tokens: int | None) -> None:
        settle(reservation, used_tokens)
        settled.set()

    monkeypatch.setattr(budget.Reservation, "settle", settling)
    release = threading.Event()
    fake_model.enqueue(FakeReply(tokens=["first", " never sent"], hold_last_token=release))
    response = post(stream_url, CONVERSATION)
    assert next(sse_events(response)) == ("delta", {"text": "first"})
    response.close()  # the caller goes away mid-answer
    assert settled.wait(10)
    client = boto3.client("dynamodb", region_name=BASE_ENVIRONMENT["AWS_DEFAULT_REGION"])
    rows = client.scan(TableName=TABLE)["Items"]
    assert [row["pk"]["S"] for row in rows if "held" in row] == []
    release.set()


def test_a_stream_whose_time_ran_out_before_its_first_read_ends_its_hold(budgets, fake_model, stream_url, monkeypatch):  # noqa: F811
    budgets(per_user=100_000)
    from llm_core import streaming

    with_keepalives = streaming.with_keepalives
    monkeypatch.setattr(
        streaming,
        "with_keepalives",
        lambda source, interval, deadline: with_keepalives(source, interval, time.monotonic() - 1),
    )
    fake_model.enqueue(FakeReply(tokens=["Never read."]))
    response = post(stream_url, CONVERSATION)
    assert [event for event, _ in sse_events(response)] == ["error"]
    client = boto3.client("dynamodb", region_name=BASE_ENVIRONMENT["AWS_DEFAULT_REGION"])
    (row,) = client.scan(TableName=TABLE)["Items"]
    # The reservation stands (what the model produced is unknown), and the request is no longer under way.
    assert "held" not in row and int(row["used"]["N"]) > 1_000


def test_spent_budget_on_stream_is_429_before_any_event(budgets, fake_model, stream_url):  # noqa: F811
    budgets(per_user=10_000)
    spend_today(9_500)
    response = post(stream_url, CONVERSATION)
    assert (response.status, json.loads(response.read())["error"]["type"]) == (429, "quota_exceeded")
    assert fake_model.requests == []


def test_a_chat_refused_for_its_earlier_turns_is_told_to_start_a_new_chat(budgets, fake_model, stream_url):  # noqa: F811
    budgets(per_user=5_000)
    spend_today(3_000)
    earlier = [{"role": "user", "content": "x" * 900}, {"role": "assistant", "content": "y" * 900}]
    response = post(stream_url, {"messages": [*earlier, {"role": "user", "content": "And in one sentence?"}]})
    error = json.loads(response.read())["error"]
    assert (response.status, error["type"]) == (429, "quota_exceeded")
    assert (
        "2,000 of 5,000 left: start a new chat, as the earlier turns count too, or wait for the reset"
        in (error["message"])
    )
    assert fake_model.requests == []


def test_a_first_message_refused_for_its_instructions_fits_once_shortened_as_told(budgets, fake_model, stream_url):  # noqa: F811
    budgets(per_user=5_000)
    spend_today(3_000)
    asked = {"messages": [{"role": "user", "content": "hi"}], "system": "Answer in haiku. " * 88}
    response = post(stream_url, asked)
    error = json.loads(response.read())["error"]
    assert (response.status, error["type"]) == (429, "quota_exceeded")
    cut = int(re.search(r"message and the instructions at least ([\d,]+) characters shorter", error["message"])[1])
    fake_model.enqueue(FakeReply(tokens=["Short."]))
    response = post(stream_url, {**asked, "system": asked["system"][:-cut]})
    assert response.status == 200
    response.read()


def test_abandoned_stream_keeps_its_reservation(budgets, fake_model, stream_url):  # noqa: F811
    budgets(per_user=0, total=1_000_000)
    release = threading.Event()
    fake_model.enqueue(FakeReply(tokens=["first", " never sent"], hold_last_token=release))
    response = post(stream_url, CONVERSATION)
    assert next(sse_events(response)) == ("delta", {"text": "first"})
    reserved = total_used()
    response.close()
    assert fake_model.requests[-1].finished.wait(10)
    release.set()
    assert reserved > 500 and total_used() == reserved


def test_the_settlement_is_written_after_the_response_and_the_answer_already_counts_it(
    budgets, fake_model, invoke, extensions, monkeypatch: pytest.MonkeyPatch
):
    budgets(per_user=100_000, total=1_000_000)
    writers: list[str] = []
    release = budget._release
    monkeypatch.setattr(
        budget, "_release", lambda *args: writers.append(threading.current_thread().name) or release(*args)
    )
    extensions.begin_invocation("r-1", int((time.time() + 30) * 1000))
    result = invoke("summarize", summarize_event())
    assert extensions.wait_until_done(timeout=30)
    used = result["json"]["usage"]["input_tokens"] + result["json"]["usage"]["output_tokens"]
    assert int(result["headers"]["x-tokens-remaining"]) == 100_000 - used
    assert total_used() == used
    # One row on the extension's thread, the other on the budget's pool: none before the response.
    assert "after-response" in writers and threading.main_thread().name not in writers


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_the_handler_hands_over_its_work_only_after_writing_its_metrics(
    function, budgets, fake_model, invoke, extensions, monkeypatch: pytest.MonkeyPatch
):
    # The extension's thread would otherwise contend with the metrics' writing (and the response's posting).
    budgets(per_user=100_000, total=1_000_000)
    deferred_while_flushing_ran_on: list[str] = []
    flush = AmazonCloudWatchEMFProvider.flush_metrics

    def flushing(provider: AmazonCloudWatchEMFProvider, raise_on_empty_metrics: bool = False) -> None:
        after_response.defer(lambda: deferred_while_flushing_ran_on.append(threading.current_thread().name))
        flush(provider, raise_on_empty_metrics)

    monkeypatch.setattr(AmazonCloudWatchEMFProvider, "flush_metrics", flushing)
    extensions.begin_invocation("r-1", int((time.time() + 30) * 1000))
    invoke(function, f"function_url_{function}")
    assert extensions.wait_until_done(timeout=30)
    assert deferred_while_flushing_ran_on == ["after-response"]

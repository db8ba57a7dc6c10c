"""Faults drawn at random: reproducible from a seed, each shaped like the failure it names. Pure logic."""

from __future__ import annotations

import json

import pytest

from infra.fake_openai import FAULTS, FakeReply, Faults

TEXT = FakeReply(text="One two three four five six.")
STRUCTURED = FakeReply(output={"bullets": ["One.", "Two."]})


def draws(faults: Faults, count: int, structured: bool = True) -> list[str | None]:
    return [faults.draw(structured) for _ in range(count)]


def test_same_seed_draws_the_same_faults() -> None:
    assert draws(Faults(0.5, seed=7), 50) == draws(Faults(0.5, seed=7), 50)


def test_another_seed_draws_other_faults() -> None:
    assert draws(Faults(0.5, seed=7), 50) != draws(Faults(0.5, seed=8), 50)


def test_rate_is_the_share_of_requests_with_a_fault() -> None:
    drawn = draws(Faults(0.3, seed=1), 2000)
    assert 0.25 < sum(fault is not None for fault in drawn) / len(drawn) < 0.35


def test_rate_zero_never_draws_a_fault() -> None:
    assert set(draws(Faults(0.0, seed=1), 200)) == {None}


def test_every_fault_of_the_menu_is_drawn() -> None:
    assert set(draws(Faults(1.0, seed=1), 500)) == set(FAULTS)


def test_only_the_faults_named_are_drawn() -> None:
    assert set(draws(Faults(1.0, seed=1, menu=["429", "drop"]), 200)) == {"429", "drop"}


def test_output_that_breaks_the_schema_is_drawn_only_for_structured_output() -> None:
    assert "schema" not in draws(Faults(1.0, seed=1), 500, structured=False)


def test_unknown_fault_is_refused_naming_the_menu() -> None:
    with pytest.raises(ValueError, match="unknown fault 418; choose from 429, 500, 401, slow, drop"):
        Faults(0.5, menu=["418"])


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_rate_outside_zero_to_one_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="the fault rate is a probability from 0 to 1"):
        Faults(rate)


def test_rate_limit_says_when_to_retry() -> None:
    reply = Faults(1.0, retry_after_seconds=12).inflict("429", TEXT)
    assert (reply.status, reply.headers, reply.error_code) == (429, {"retry-after": "12"}, "rate_limit_exceeded")


@pytest.mark.parametrize(("fault", "status", "code"), [("500", 500, "server_error"), ("401", 401, "invalid_api_key")])
def test_error_fault_has_the_apis_status_and_code(fault: str, status: int, code: str) -> None:
    reply = Faults(1.0).inflict(fault, TEXT)
    assert (reply.status, reply.error_code) == (status, code)


def test_slow_answer_waits_before_answering() -> None:
    reply = Faults(1.0, slow_seconds=7).inflict("slow", TEXT)
    assert (reply.delay_seconds, reply.answer_text) == (7, TEXT.answer_text)


def test_drop_cuts_the_answer_halfway() -> None:
    assert Faults(1.0).inflict("drop", TEXT).drop_after_tokens == 3


def test_refusal_replaces_the_answer() -> None:
    reply = Faults(1.0).inflict("refusal", STRUCTURED)
    assert reply.refusal is not None
    assert reply.output is None


def test_output_that_breaks_the_schema_is_json_without_the_schemas_fields() -> None:
    output = json.loads(Faults(1.0).inflict("schema", STRUCTURED).answer_text)
    assert "bullets" not in output


def test_incomplete_structured_output_is_unfinished_json() -> None:
    reply = Faults(1.0).inflict("incomplete", STRUCTURED)
    assert reply.incomplete
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.answer_text)


def test_incomplete_text_is_its_first_half() -> None:
    reply = Faults(1.0).inflict("incomplete", TEXT)
    assert (reply.incomplete, reply.answer_text) == (True, "One two three")


def test_incomplete_answer_of_one_word_keeps_that_word() -> None:
    # An incomplete answer was cut off after some output: never after none.
    reply = Faults(1.0).inflict("incomplete", FakeReply(text="Hello."))
    assert (reply.incomplete, reply.answer_text) == (True, "Hello.")

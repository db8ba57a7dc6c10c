"""The work behind the three endpoints, independent of how the request arrived (Lambda event or ASGI)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, TypeVar

import openai
from openai.lib._parsing._responses import type_to_text_format_param
from openai.types.responses import Response
from pydantic import BaseModel

from llm_core import budget
from llm_core.budget import REMAINING_HEADER, Reservation
from llm_core.contract import StreamRequest, SummarizeRequest, SummarizeResponse, TodoRequest, TodoResponse, Usage
from llm_core.errors import ApiError, InternalError, TooLarge, UpstreamError, is_gateway_timeout, to_api_error
from llm_core.identity import Caller
from llm_core.model_client import (
    get_async_client,
    get_client,
    was_never_sent,
    with_key_refresh,
    with_key_refresh_async,
)
from llm_core.prompts import Todo, summary_instructions, summary_schema, todo_instructions
from llm_core.settings import get_settings
from llm_core.timeouts import ANSWER_BODY_END_SECONDS
from llm_core.token_estimate import TextSize, estimate_tokens


def check_input_size(chars: int, messages: int = 1, *, instructions: bool = False) -> None:
    limit = get_settings().max_input_chars
    if chars > limit:
        # The setting's name is for the deployment's owner, who reads docs/api.md; the caller needs the numbers,
        # and to know what counts: in a chat the whole conversation, not the last message; the instructions too.
        if messages > 1:
            what = "The conversation (its messages and instructions together)"
        elif instructions:
            what = "The input (the message and its instructions together)"
        else:
            what = "The input"
        raise TooLarge(f"{what} is {chars:,} characters; the limit is {limit:,}.")


def usage_of(response: Response) -> dict[str, int]:
    usage = response.usage
    return {
        "input_tokens": usage.input_tokens if usage else 0,
        "output_tokens": usage.output_tokens if usage else 0,
    }


def tokens_used(usage: dict[str, int]) -> int:
    """What a response counts against the budgets: its input and its output (reasoning included)."""
    return usage["input_tokens"] + usage["output_tokens"]


def _common_request_options(caller: Caller) -> dict[str, Any]:
    settings = get_settings()
    # store=False: nothing our users send is kept on OpenAI's side for later retrieval.
    options: dict[str, Any] = {
        "model": settings.openai_model,
        "max_output_tokens": settings.max_output_tokens,
        "store": False,
        # OpenAI's abuse monitoring can tell one user from another without learning who they are.
        "safety_identifier": caller.safety_identifier,
    }
    if settings.openai_reasoning_effort:
        options["reasoning"] = {"effort": settings.openai_reasoning_effort}
    return options


M = TypeVar("M", bound=BaseModel)

# The first halves of a character written as two UTF-16 units, and what stands in for a half left alone.
HIGH_SURROGATES = ("\ud800", "\udbff")
REPLACEMENT_CHARACTER = "\ufffd"
CONTENT_FILTER_MESSAGE = "The provider's content filter stopped the model's answer: rephrase the request."
# A structured answer stopped at max_output_tokens is broken JSON: nothing in the caller's text can fix that.
OUTPUT_LIMIT_MESSAGE = (
    "The model's answer reached the output limit before it was complete: try again, or ask the deployment's "
    "owner to raise MAX_OUTPUT_TOKENS."
)


@lru_cache(maxsize=16)
def text_format_for(model: type[BaseModel]) -> Any:
    """The strict JSON-schema format the SDK's ``responses.parse`` would send for ``model``."""
    return type_to_text_format_param(model)


def structured_output(response: Response, model: type[M]) -> M:
    """The structured answer, or a 502 for a refusal, a cut-off answer, an answer that is missing or one that
    does not validate (pydantic's ValidationError, mapped in errors.py).

    Validated here rather than by ``responses.parse``: the SDK's parse first builds a ParsedResponse class for
    the model, about 0.1 s of every cold start's first answer, to hold what one model_validate_json returns.
    """
    final_text: list[str] = []
    for item in response.output:
        if item.type != "message":
            continue
        for part in item.content:
            if part.type == "refusal":
                raise UpstreamError("The model refused to answer this request: rephrase it.")
        # As the SDK reads it: text in another phase (commentary before the answer) is not the answer.
        if getattr(item, "phase", None) in (None, "final_answer"):
            final_text.extend(part.text for part in item.content if part.type == "output_text")
    if response.status == "incomplete":
        reason = response.incomplete_details.reason if response.incomplete_details else None
        if reason == "content_filter":
            raise UpstreamError(CONTENT_FILTER_MESSAGE)
        raise UpstreamError(OUTPUT_LIMIT_MESSAGE)
    if not final_text:
        raise UpstreamError("The model returned no structured answer: try again.")
    return model.model_validate_json("".join(final_text))


@dataclass(frozen=True)
class Answer:
    """A buffered endpoint's 200: its body, and what is left of the caller's daily budget (None: no cap)."""

    body: dict[str, Any]
    tokens_remaining: int | None


def reserve_budget(caller: Caller, text: TextSize, messages: int = 1, *, instructions: bool = False) -> Reservation:
    """Check the size, then reserve the request's worst case against the caller's and the deployment's day
    (a 429 or 503 here means the model is never called). ``instructions``: the caller sent some (a system
    prompt), counted in ``text``."""
    check_input_size(text.chars, messages, instructions=instructions)
    worst_case = estimate_tokens(text.chars, get_settings().max_output_tokens, messages=messages)
    return budget.reserve(caller.id, worst_case, text=text)


def conversation_size(request: StreamRequest) -> TextSize:
    """A conversation's characters, its newest message's and, with earlier turns, what that message would
    reserve alone in a new chat."""
    conversation = request.conversation
    newest = len(conversation[-1].content)
    instructions = len(request.system or "")
    alone = estimate_tokens(newest + instructions, get_settings().max_output_tokens)
    return TextSize(request.input_chars(), newest, alone if len(conversation) > 1 else None)


def settle_failure(reservation: Reservation, exc: BaseException) -> None:
    """After a failed model call: an error answer from the provider generated nothing, and neither did a call
    that never left (the key could not be read: an ApiError of ours; the function's time ran out first);
    anything else may have, so the reservation stands: a timeout, a dropped connection, a gateway's 504."""
    generated_nothing = (
        isinstance(exc, ApiError)
        or was_never_sent(exc)
        or (isinstance(exc, openai.APIStatusError) and not is_gateway_timeout(exc))
    )
    reservation.settle(0 if generated_nothing else None)


def _structured(reservation: Reservation, caller: Caller, model: type[M], **request: Any) -> tuple[M, Response]:
    """One structured answer and its response, the real usage settled against the reservation, whatever came
    of it. A failure's answer says what is left after that settlement, as a 200 does."""
    options = {**request, **_common_request_options(caller), "text": {"format": text_format_for(model)}}
    try:
        try:
            response = with_key_refresh(lambda: get_client().responses.create(**options))
        except BaseException as exc:
            settle_failure(reservation, exc)
            raise
        usage = usage_of(response)
        reservation.settle(tokens_used(usage))
        return structured_output(response, model), response
    except Exception as exc:
        error = to_api_error(exc)
        # An unexpected failure is raised as it is, for its log line and traceback.
        if reservation.remaining is None or isinstance(error, InternalError):
            raise
        error.headers = {**error.headers, REMAINING_HEADER: str(reservation.remaining)}
        if error is exc:
            raise
        raise error from exc


def summarize(request: SummarizeRequest, caller: Caller) -> Answer:
    reservation = reserve_budget(caller, TextSize(len(request.text)))
    summary, response = _structured(
        reservation,
        caller,
        summary_schema(request.max_bullets),
        instructions=summary_instructions(request.max_bullets),
        input=[{"role": "user", "content": request.text}],
    )
    usage = Usage(**usage_of(response))
    body = SummarizeResponse(bullets=summary.bullets, model=response.model, usage=usage)
    return Answer(body.model_dump(mode="json"), reservation.remaining)


def make_todo(request: TodoRequest, caller: Caller) -> Answer:
    reservation = reserve_budget(caller, TextSize(len(request.text)))
    todo, response = _structured(
        reservation,
        caller,
        Todo,
        instructions=todo_instructions(request.timezone),
        input=[{"role": "user", "content": request.text}],
    )
    usage = Usage(**usage_of(response))
    body = TodoResponse(todo=todo, model=response.model, usage=usage)
    return Answer(body.model_dump(mode="json"), reservation.remaining)


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Done:
    model: str
    usage: dict[str, int]
    finish_reason: str
    tokens_remaining: int | None = None


@dataclass(frozen=True)
class AnswerStream:
    """An answer the provider has accepted: its events, the caller's budget left after the reservation, and
    ``close``, which ends the model's request and settles what is not yet settled (again: nothing). The events
    do both when they end, but an answer whose events were never read has to be closed with ``close``."""

    events: AsyncGenerator[Delta | Done]
    tokens_remaining: int | None
    close: Callable[[], Awaitable[None]]


async def open_answer_stream(request: StreamRequest, caller: Caller) -> AnswerStream:
    """Start the model's answer. Returns once OpenAI accepted the request, so HTTP-level failures
    (429, 5xx, a bad key, a spent budget) raise here, before the caller has committed to a 200."""
    size = conversation_size(request), len(request.conversation)
    reserving = asyncio.ensure_future(
        asyncio.to_thread(reserve_budget, caller, *size, instructions=bool(request.system))
    )
    try:
        # Shielded: cancelling the await leaves the thread writing the reservation, and nothing to settle it.
        reservation = await asyncio.shield(reserving)
    except asyncio.CancelledError:
        # The caller left, or the time ran out: no model call follows, so what the thread writes is given back.
        reserving.add_done_callback(_give_back_once_written)
        raise
    try:
        events = await with_key_refresh_async(
            lambda: get_async_client().responses.create(
                instructions=request.system or openai.omit,
                input=[{"role": message.role, "content": message.content} for message in request.conversation],
                stream=True,
                truncation="auto",
                **_common_request_options(caller),
            )
        )
    except BaseException as exc:
        await asyncio.to_thread(settle_failure, reservation, exc)
        raise
    answer = _settled(answer_events(events), reservation)

    async def close() -> None:
        await answer.aclose()
        # Events never read ran none of their own closing: the model's request ends, the reservation stands.
        await events.close()
        await asyncio.to_thread(reservation.settle, None)

    return AnswerStream(answer, reservation.remaining, close)


def _give_back_once_written(reserving: asyncio.Future[Reservation]) -> None:
    if not reserving.cancelled() and reserving.exception() is None:
        asyncio.get_running_loop().run_in_executor(None, reserving.result().settle, 0)


async def _settled(events: AsyncGenerator[Delta | Done], reservation: Reservation) -> AsyncGenerator[Delta | Done]:
    """The events, with the reservation settled to the real usage when the answer completes. An answer that
    ends any other way (the caller left, the stream broke) keeps its reservation: what it cost is unknown."""
    try:
        async for item in events:
            if isinstance(item, Done):
                await asyncio.to_thread(reservation.settle, tokens_used(item.usage))
                item = replace(item, tokens_remaining=reservation.remaining)
            yield item
    except _StoppedEarly as stopped:
        if stopped.used_tokens is not None:
            await asyncio.to_thread(reservation.settle, stopped.used_tokens)
        raise
    finally:
        await events.aclose()  # closes the request to the model, so a caller who left stops the bill
        await asyncio.to_thread(reservation.settle, None)


class _StoppedEarly(UpstreamError):
    """The model ended its answer before it was whole, for a reason other than its output limit (a content
    filter, say), in a last event that says what it used: the reservation settles to that, as a buffered
    answer's does. None: the event did not say, and the reservation stands."""

    def __init__(self, message: str, used_tokens: int | None) -> None:
        super().__init__(message)
        self.used_tokens = used_tokens


async def answer_events(events: openai.AsyncStream[Any]) -> AsyncGenerator[Delta | Done]:
    held = ""  # the first half of a character whose second half is in the next delta
    async with events:
        answer = aiter(events)
        async for event in answer:
            if event.type in ("response.output_text.delta", "response.refusal.delta"):
                text, held = _whole_characters(held + event.delta)
                if text:
                    yield Delta(text)
            elif event.type in ("response.completed", "response.incomplete"):
                if held:
                    yield Delta(REPLACEMENT_CHARACTER)
                response = event.response
                reason = response.incomplete_details.reason if response.incomplete_details else None
                if response.status == "incomplete" and reason != "max_output_tokens":
                    stopped = f"The model stopped early ({reason or 'unknown reason'}): try again."
                    message = CONTENT_FILTER_MESSAGE if reason == "content_filter" else stopped
                    raise _StoppedEarly(message, tokens_used(usage_of(response)) if response.usage else None)
                yield Done(response.model, usage_of(response), reason or "completed")
                await _read_to_the_body_end(answer)
                return
            elif event.type in ("response.failed", "error"):
                raise UpstreamError("The model failed while answering: try again.")
    raise UpstreamError("The model's stream ended before the answer was complete: try again.")


def _whole_characters(text: str) -> tuple[str, str]:
    """``text`` as whole characters, and a first half held back for the next delta: a server that cuts text
    in UTF-16 units (as JavaScript's strings count) can split one character, such as an emoji, across two
    deltas, and half of one cannot be encoded. Any other lone half becomes U+FFFD."""
    held = text[-1] if text and HIGH_SURROGATES[0] <= text[-1] <= HIGH_SURROGATES[1] else ""
    whole = text[: len(text) - len(held)]
    # Through UTF-16, where a pair of halves is one character again and a lone half is replaced.
    return whole.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace"), held


async def _read_to_the_body_end(answer: AsyncIterator[Any]) -> None:
    """Read past the answer's last event to the end of the model's HTTP body: only a response read whole
    lets its connection go back to the pool for the next answer. The answer is complete already, so a body
    that fails or lingers is just closed."""
    with contextlib.suppress(openai.APIError, TimeoutError):
        async with asyncio.timeout(ANSWER_BODY_END_SECONDS):
            async for _ in answer:
                pass

"""The work behind the three endpoints, independent of how the request arrived (Lambda event or ASGI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.responses import ParsedResponse, Response

from llm_core.contract import StreamRequest, SummarizeRequest, SummarizeResponse, TodoRequest, TodoResponse, Usage
from llm_core.errors import TooLarge, UpstreamError
from llm_core.identity import Caller
from llm_core.model_client import get_async_client, get_client, with_key_refresh, with_key_refresh_async
from llm_core.prompts import Todo, summary_instructions, summary_schema, todo_instructions
from llm_core.settings import get_settings


def check_input_size(chars: int) -> None:
    limit = get_settings().max_input_chars
    if chars > limit:
        raise TooLarge(f"The input is {chars} characters; the limit is {limit} (MAX_INPUT_CHARS).")


def usage_of(response: Response) -> dict[str, int]:
    usage = response.usage
    return {
        "input_tokens": usage.input_tokens if usage else 0,
        "output_tokens": usage.output_tokens if usage else 0,
    }


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


def _parsed_output(response: ParsedResponse[Any]) -> Any:
    """The structured answer, or a 502 for a refusal, a cut-off answer or an answer that is missing."""
    for item in response.output:
        for part in getattr(item, "content", None) or []:
            if part.type == "refusal":
                raise UpstreamError("The model refused to answer this request.")
    if response.status == "incomplete":
        raise UpstreamError("The model's answer was cut off before it was complete.")
    if response.output_parsed is None:
        raise UpstreamError("The model returned no structured answer.")
    return response.output_parsed


def summarize(request: SummarizeRequest, caller: Caller) -> dict[str, Any]:
    check_input_size(len(request.text))
    schema = summary_schema(request.max_bullets)
    response = with_key_refresh(
        lambda: get_client().responses.parse(
            instructions=summary_instructions(request.max_bullets),
            input=[{"role": "user", "content": request.text}],
            text_format=schema,
            **_common_request_options(caller),
        )
    )
    summary = _parsed_output(response)
    usage = Usage(**usage_of(response))
    return SummarizeResponse(bullets=summary.bullets, model=response.model, usage=usage).model_dump(mode="json")


def make_todo(request: TodoRequest, caller: Caller) -> dict[str, Any]:
    check_input_size(len(request.text))
    response = with_key_refresh(
        lambda: get_client().responses.parse(
            instructions=todo_instructions(request.timezone),
            input=[{"role": "user", "content": request.text}],
            text_format=Todo,
            **_common_request_options(caller),
        )
    )
    # The SDK parsed the answer with Todo itself (pydantic validation), so its validators have run.
    todo: Todo = _parsed_output(response)
    usage = Usage(**usage_of(response))
    return TodoResponse(todo=todo, model=response.model, usage=usage).model_dump(mode="json")


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Done:
    model: str
    usage: dict[str, int]
    finish_reason: str


async def open_answer_stream(request: StreamRequest, caller: Caller) -> AsyncIterator[Delta | Done]:
    """Start the model's answer. Returns once OpenAI accepted the request, so HTTP-level failures
    (429, 5xx, a bad key) raise here, before the caller has committed to a 200."""
    check_input_size(request.input_chars())
    events = await with_key_refresh_async(
        lambda: get_async_client().responses.create(
            instructions=request.system or openai.omit,
            input=[{"role": message.role, "content": message.content} for message in request.conversation],
            stream=True,
            truncation="auto",
            **_common_request_options(caller),
        )
    )
    return answer_events(events)


async def answer_events(events: openai.AsyncStream[Any]) -> AsyncIterator[Delta | Done]:
    async with events:
        async for event in events:
            if event.type in ("response.output_text.delta", "response.refusal.delta"):
                yield Delta(event.delta)
            elif event.type in ("response.completed", "response.incomplete"):
                response = event.response
                reason = response.incomplete_details.reason if response.incomplete_details else None
                if response.status == "incomplete" and reason != "max_output_tokens":
                    raise UpstreamError(f"The model stopped early ({reason or 'unknown reason'}).")
                yield Done(response.model, usage_of(response), reason or "completed")
                return
            elif event.type in ("response.failed", "error"):
                raise UpstreamError("The model failed while answering.")
    raise UpstreamError("The model's stream ended before the answer was complete.")

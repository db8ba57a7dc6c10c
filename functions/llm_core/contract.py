"""The request bodies of the public API (docs/api.md), validated strictly.

Unknown fields are refused rather than ignored, so nothing the caller sent is dropped silently. Each field's
``description`` says what a valid value looks like: error messages quote it, so it is written for the caller.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, field_validator, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from llm_core.json_values import not_blank, shows_something, whole_number
from llm_core.prompts import DEFAULT_BULLETS, MAX_BULLETS, Todo

# The time zone a TODO request's dates are worked out in when it names none (the page says so too).
DEFAULT_TIMEZONE = "UTC"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    example: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _null_is_not_given(cls, data: Any) -> Any:
        """An optional field sent as ``null`` takes its default, as if left out: clients that serialise an
        unset option as null (Python's None, JavaScript's null) then work on every endpoint alike. A required
        field sent as null is still refused, with what a valid value looks like."""
        if not isinstance(data, dict):
            return data
        return {
            name: value
            for name, value in data.items()
            if value is not None or name not in cls.model_fields or cls.model_fields[name].is_required()
        }

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The published schema says what _null_is_not_given accepts: null for every optional field."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        required = set(schema.get("required", ()))
        for name, field_schema in schema.get("properties", {}).items():
            if name not in required and isinstance(field_schema.get("type"), str):
                field_schema["type"] = [field_schema["type"], "null"]
        return schema


@functools.cache
def _time_zone_names() -> frozenset[str]:
    """The IANA names the tzdata package knows: the same on every machine, unlike the host's zoneinfo
    directory, which also holds files such as "localtime", "posixrules" and "right/UTC"."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


class SummarizeRequest(_Request):
    example: ClassVar[dict[str, Any]] = {"text": "Lambda runs code without servers.", "max_bullets": DEFAULT_BULLETS}

    text: str = Field(description="a non-empty string, the text to summarize")
    max_bullets: int = Field(DEFAULT_BULLETS, ge=1, le=MAX_BULLETS, description=f"an integer from 1 to {MAX_BULLETS}")

    _text_not_blank = field_validator("text")(not_blank)

    _max_bullets_whole = field_validator("max_bullets", mode="before")(whole_number)


class TodoRequest(_Request):
    example: ClassVar[dict[str, Any]] = {"text": "Call the dentist next Friday", "timezone": "Europe/Paris"}

    text: str = Field(description="a non-empty string, the request in plain words")
    timezone: str = Field(DEFAULT_TIMEZONE, description="an IANA time zone name such as Europe/Paris")

    _text_not_blank = field_validator("text")(not_blank)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if value not in _time_zone_names():
            raise ValueError("must be an IANA time zone name such as Europe/Paris")
        return value


class ChatMessage(_Request):
    role: Literal["user", "assistant"] = Field(description='"user" or "assistant"')
    content: str = Field(description="a non-empty string")

    _content_not_blank = field_validator("content")(not_blank)


ONE_CONVERSATION = 'send either "messages" or "prompt", not both and not neither'


class StreamRequest(_Request):
    example: ClassVar[dict[str, Any]] = {"prompt": "Write a haiku about Lambda"}

    messages: list[ChatMessage] | None = Field(
        None,
        description='a non-empty list of {"role": "user" | "assistant", "content": "..."} objects',
        # The first message that is wrong ends the check: a body of 200,000 empty objects would otherwise
        # make 400,000 errors and, with them, more memory than a function has.
        fail_fast=True,
    )
    prompt: str | None = Field(None, description="a non-empty string (shorthand for one user message)")
    system: str | None = Field(None, description="a string of instructions for the model (blank: none)")

    _prompt_not_blank = field_validator("prompt")(lambda value: value if value is None else not_blank(value))
    # Instructions that show nothing are none, however they are written ("", spaces, a zero-width space): the
    # model gets none, and they count no characters.
    _blank_system_is_none = field_validator("system")(
        lambda value: value if value is not None and shows_something(value) else None
    )

    @field_validator("messages")
    @classmethod
    def _ends_with_the_users_turn(cls, messages: list[ChatMessage] | None) -> list[ChatMessage] | None:
        if messages is not None and not messages:
            raise ValueError("must hold at least one message")
        if messages and messages[-1].role != "user":
            raise ValueError('must end with a message of role "user"')
        return messages

    @model_validator(mode="before")
    @classmethod
    def _not_both(cls, data: Any) -> Any:
        # Before the fields' own checks: a blank prompt beside messages is first of all a request sending both.
        if isinstance(data, dict) and data.get("messages") is not None and data.get("prompt") is not None:
            raise ValueError(ONE_CONVERSATION)
        return data

    @model_validator(mode="after")
    def _one_conversation(self) -> StreamRequest:
        if self.messages is None and self.prompt is None:  # both: _not_both
            raise ValueError(ONE_CONVERSATION)
        if self.prompt is not None:
            self.messages = [ChatMessage(role="user", content=self.prompt)]
            self.prompt = None
        return self

    @property
    def conversation(self) -> list[ChatMessage]:
        return self.messages or []

    def input_chars(self) -> int:
        return sum(len(message.content) for message in self.conversation) + len(self.system or "")


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int


class SummarizeResponse(BaseModel):
    bullets: list[str]
    model: str
    usage: Usage


class TodoResponse(BaseModel):
    todo: Todo
    model: str
    usage: Usage


class ErrorDetail(BaseModel):
    type: str = Field(description="one of the error table's types (docs/api.md)")
    message: str = Field(description="what went wrong and what to do; never a stack trace or a secret")
    request_id: str = Field(description="the same as the x-request-id header and the logs")


class ErrorEnvelope(BaseModel):
    error: ErrorDetail


def json_text(body: dict[str, Any]) -> str:
    """A response body or an event's data as every endpoint writes it: JSON with the usual ", " and ": "
    separators, and characters beyond ASCII as they are (the bodies are UTF-8)."""
    return json.dumps(body, ensure_ascii=False)


def example_body(model: type[BaseModel]) -> str:
    example = getattr(model, "example", None) or {}
    return json.dumps(example) if example else "{...}"


def nested_model(model: type[BaseModel], location: list[Any]) -> type[BaseModel]:
    """The model that holds the field at ``location`` (list indexes skipped): ``messages.0`` -> ChatMessage."""
    current = model
    for part in location:
        if not isinstance(part, str) or part not in current.model_fields:
            continue
        inner = _model_inside(current.model_fields[part].annotation)
        if inner is None:
            break
        current = inner
    return current


def _model_inside(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_inside(argument)
        if found is not None:
            return found
    return None


def field_description(model: type[BaseModel], location: list[Any]) -> str:
    """What a valid value at ``location`` looks like, from the field's description."""
    names = [part for part in location if isinstance(part, str)]
    if not names:
        return f"a JSON object such as {example_body(model)}"
    if isinstance(location[-1], int):
        return f"a JSON object with the fields {field_names(nested_model(model, location))}"
    owner = nested_model(model, location[: location.index(names[-1])])
    field = owner.model_fields.get(names[-1])
    return field.description if field is not None and field.description else "a valid value"


def field_names(model: type[BaseModel]) -> str:
    return ", ".join(f'"{name}"' for name in model.model_fields)

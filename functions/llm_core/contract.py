"""The request bodies of the public API (docs/api.md), validated strictly.

Unknown fields are refused rather than ignored, so nothing the caller sent is dropped silently.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_BULLETS = 10


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class SummarizeRequest(_Request):
    text: str
    max_bullets: int = Field(3, ge=1, le=MAX_BULLETS)

    _text_not_blank = field_validator("text")(_not_blank)


class TodoRequest(_Request):
    text: str
    timezone: str = "UTC"

    _text_not_blank = field_validator("text")(_not_blank)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        # OSError: zoneinfo opens the name as a path; too long a name or a directory name fails there.
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError("must be an IANA time zone name such as Europe/Paris") from None
        return value


class ChatMessage(_Request):
    role: Literal["user", "assistant"]
    content: str

    _content_not_blank = field_validator("content")(_not_blank)


class StreamRequest(_Request):
    messages: list[ChatMessage] | None = None
    prompt: str | None = None
    system: str | None = None

    @model_validator(mode="after")
    def _one_conversation(self) -> StreamRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError('send either "messages" or "prompt", not both and not neither')
        if self.prompt is not None:
            _not_blank(self.prompt)
            self.messages = [ChatMessage(role="user", content=self.prompt)]
            self.prompt = None
        if not self.messages:
            raise ValueError('"messages" must hold at least one message')
        if self.messages[-1].role != "user":
            raise ValueError('the last message must have role "user"')
        return self

    @property
    def conversation(self) -> list[ChatMessage]:
        return self.messages or []

    def input_chars(self) -> int:
        return sum(len(message.content) for message in self.conversation) + len(self.system or "")

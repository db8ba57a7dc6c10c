"""The one reader of server-sent events for the tools and the tests (docs/api.md, "stream").

It reads line by line, so a caller sees each event the moment its blank line arrives: the bench
times first deltas with it and the SigV4 client prints deltas as they come.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

COMMENT = ":"
"""The event name given to a comment line (the stream's keep-alives) when comments are asked for."""


class ServerSentEvent(NamedTuple):
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def iter_sse(lines: Iterable[bytes], *, comments: bool = False) -> Iterator[ServerSentEvent]:
    """Events from an SSE byte stream, one line per item; comments only when ``comments`` is set."""
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event, "\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            if comments:
                yield ServerSentEvent(COMMENT, line[1:].strip())
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
    if data:
        yield ServerSentEvent(event, "\n".join(data))


def response_events(response: http.client.HTTPResponse, *, comments: bool = False) -> Iterator[ServerSentEvent]:
    """Events of an HTTP response, each as soon as it is complete."""
    return iter_sse(iter(response.readline, b""), comments=comments)


def text_events(text: str) -> list[ServerSentEvent]:
    """Events of a stream already read whole (a browser's response body)."""
    return list(iter_sse(line.encode() for line in text.splitlines(keepends=True)))

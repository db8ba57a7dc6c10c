"""What the Lambda Web Adapter does for the streaming function: pass one invocation to the web app in its
execution environment as an HTTP request, and stream the app's response back as the app writes it.

Each chunk goes out when it arrives (no buffering, no compression). When the caller hangs up, the connection
to the app closes too, so the app stops and closes its own request to the model, as it does in Lambda.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import anyio
import h11
from starlette.types import Receive, Send

# Headers about one hop of a connection, never forwarded (RFC 9110, section 7.6.1).
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
# The adapter frames the request it sends itself; the caller's framing and host stay with the caller.
NOT_FORWARDED_TO_APP = HOP_BY_HOP | {b"host", b"content-length", b"expect"}
# The emulator's own server adds date and server; a streamed function URL response is always chunked.
NOT_RETURNED_TO_CALLER = HOP_BY_HOP | {b"date", b"server", b"content-length"}
READ_SIZE = 64 * 1024


class AppUnreachable(Exception):
    """The app's connection failed or ended before a whole response head (the environment is broken)."""


def forwarded_headers(event: Mapping[str, Any], added: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers of the Function URL event, as the app gets them: the adapter makes its request from the
    event, not from the caller's, so a header the caller repeated arrives once, its values comma-joined as in
    the event, and the cookies as one ``cookie`` header. Without hop-by-hop headers, and without any the caller
    sent under the names the adapter sets itself."""
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in event["headers"].items()]
    if event.get("cookies"):
        headers.append((b"cookie", "; ".join(event["cookies"]).encode("latin-1")))
    replaced = {name for name, _ in added}
    return [
        (name, value) for name, value in headers if name not in NOT_FORWARDED_TO_APP and name not in replaced
    ] + added


class Exchange:
    """One invocation passed to the app; ``started`` once the response's status went to the caller."""

    def __init__(self, send: Send, extra_response_headers: list[tuple[bytes, bytes]]) -> None:
        self.send = send
        self.extra_response_headers = extra_response_headers
        self.started = False
        self.finished = False

    async def forward(
        self, port: int, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes, receive: Receive
    ) -> None:
        """Send the request to the app on ``127.0.0.1:port`` and relay its response to the caller.

        Raises AppUnreachable when the app gave no response head. A caller who leaves ends the exchange
        quietly; a response the app cuts short ends there for the caller too.
        """
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            raise AppUnreachable(str(exc)) from None
        connection = h11.Connection(our_role=h11.CLIENT)
        try:
            head = [(b"host", f"127.0.0.1:{port}".encode()), (b"content-length", str(len(body)).encode())]
            writer.write(
                connection.send(h11.Request(method=method, target=target, headers=head + headers))
                + connection.send(h11.Data(data=body))
                + connection.send(h11.EndOfMessage())
            )
            async with anyio.create_task_group() as group:

                async def stop_when_the_caller_leaves() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(stop_when_the_caller_leaves)
                await self._relay_response(connection, reader)
                group.cancel_scope.cancel()
        except (OSError, h11.ProtocolError) as exc:
            if not self.started:
                raise AppUnreachable(str(exc)) from None
            await self.end()
        finally:
            writer.close()

    async def end(self, last: bytes = b"") -> None:
        """End a started response where it is, after ``last``."""
        self.finished = True
        await self.send({"type": "http.response.body", "body": last, "more_body": False})

    async def _relay_response(self, connection: h11.Connection, reader: asyncio.StreamReader) -> None:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(READ_SIZE)
                if not data and not self.started:
                    raise AppUnreachable("the app closed the connection without a response")
                connection.receive_data(data)
            elif isinstance(event, h11.Response):
                headers = [(name, value) for name, value in event.headers if name.lower() not in NOT_RETURNED_TO_CALLER]
                await self.send(
                    {
                        "type": "http.response.start",
                        "status": event.status_code,
                        "headers": headers + self.extra_response_headers,
                    }
                )
                self.started = True
            elif isinstance(event, h11.Data):
                await self.send({"type": "http.response.body", "body": bytes(event.data), "more_body": True})
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                await self.end()
                return
            # An InformationalResponse (100 Continue) means nothing to the caller.

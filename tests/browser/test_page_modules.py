"""The page's own building blocks (SSE parser, SHA-256 fallback) run inside Chromium, the engine that uses them."""

from __future__ import annotations

import hashlib

from playwright.sync_api import Page

# Every line-ending style, a CRLF, comments (keep-alives), multi-line data, a field without the optional space,
# an event with no data (never dispatched) and a last event cut off before its blank line (dropped).
STREAM = (
    ": keep-alive\n\n"
    'event: delta\r\ndata: {"text": "Hel"}\r\n\r\n'
    'event: delta\rdata:{"text": "lo"}\r\r'
    ": keep-alive\n"
    "data: line one\ndata: line two\n\n"
    "event: ping\n\n"
    'event: done\ndata: {"finish_reason": "completed"}\n\n'
    'event: delta\ndata: {"text": "cut'
)
EXPECTED = [
    {"event": "delta", "data": '{"text": "Hel"}', "id": ""},
    {"event": "delta", "data": '{"text": "lo"}', "id": ""},
    {"event": "message", "data": "line one\nline two", "id": ""},
    {"event": "done", "data": '{"finish_reason": "completed"}', "id": ""},
]


def test_sse_parser_reads_a_whole_stream_in_one_chunk(page: Page) -> None:
    events = page.evaluate(
        """async (stream) => {
            const { SseParser } = await import('/js/sse.js');
            return new SseParser().push(stream);
        }""",
        STREAM,
    )
    assert events == EXPECTED


def test_sse_parser_gives_the_same_events_wherever_the_network_cuts_the_stream(page: Page) -> None:
    result = page.evaluate(
        """async (stream) => {
            const { SseParser } = await import('/js/sse.js');
            const parse = (chunks) => { const p = new SseParser(); return chunks.flatMap((c) => p.push(c)); };
            const splits = [];
            for (let i = 0; i <= stream.length; i++) splits.push(parse([stream.slice(0, i), stream.slice(i)]));
            return { splits, oneCharAtATime: parse([...stream]) };
        }""",
        STREAM,
    )
    assert all(events == EXPECTED for events in result["splits"])
    assert result["oneCharAtATime"] == EXPECTED


def test_event_stream_reader_keeps_characters_split_across_byte_chunks(page: Page) -> None:
    events = page.evaluate(
        """async () => {
            const { readEventStream } = await import('/js/sse.js');
            const bytes = new TextEncoder().encode('event: delta\\ndata: {"text": "héllo 🚀"}\\n\\n');
            const body = new ReadableStream({
                start(controller) {
                    for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
                    controller.close();
                },
            });
            const events = [];
            await readEventStream(new Response(body), (event) => events.push(event));
            return events;
        }"""
    )
    assert events == [{"event": "delta", "data": '{"text": "héllo 🚀"}', "id": ""}]


def test_sha256_fallback_matches_hashlib_at_every_padding_edge(page: Page) -> None:
    sizes = [0, 1, 3, 55, 56, 63, 64, 65, 119, 120, 1000, 100_000]
    digests = page.evaluate(
        """async (sizes) => {
            const { sha256HexSync } = await import('/js/sha256.js');
            return sizes.map((n) => sha256HexSync(Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255)));
        }""",
        sizes,
    )
    assert digests == [hashlib.sha256(bytes((i * 31 + 7) & 255 for i in range(n))).hexdigest() for n in sizes]

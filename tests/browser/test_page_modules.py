"""The page's own building blocks (SSE parser, request signing) run inside Chromium, the engine that uses them."""

from __future__ import annotations

from playwright.sync_api import Page, Request, Route

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


def test_sse_parser_reads_a_whole_stream_in_one_chunk(module_page: Page) -> None:
    events = module_page.evaluate(
        """async (stream) => {
            const { SseParser } = await import('/js/sse.js');
            return new SseParser().push(stream);
        }""",
        STREAM,
    )
    assert events == EXPECTED


def test_sse_parser_gives_the_same_events_wherever_the_network_cuts_the_stream(module_page: Page) -> None:
    result = module_page.evaluate(
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


def test_event_stream_reader_keeps_characters_split_across_byte_chunks(module_page: Page) -> None:
    events = module_page.evaluate(
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


def test_a_post_goes_unsigned_where_the_page_has_no_crypto_subtle(page: Page) -> None:
    sent: list[Request] = []

    def answer(route: Route) -> None:
        sent.append(route.request)
        route.fulfill(json={"ok": True})

    page.route("**/api/echo", answer)
    # What a page served over plain http from another machine sees: no SubtleCrypto at all.
    page.evaluate("Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined })")
    result = page.evaluate(
        """async () => {
            const { callJson } = await import('/js/api.js');
            return (await callJson('/api/echo', { text: 'hi' })).data;
        }"""
    )
    assert result == {"ok": True}
    assert "x-amz-content-sha256" not in sent[0].headers
    assert sent[0].post_data_json == {"text": "hi"}

"""The page's own building blocks (SSE parser, request signing) run inside Chromium, the engine that uses them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, Request, Route

from infra.emulator import Emulator

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


def test_a_call_without_a_valid_sign_in_is_not_sent_and_says_why(page: Page) -> None:
    sent: list[Request] = []
    page.route("**/api/echo", lambda route: (sent.append(route.request), route.fulfill(json={"ok": True})))
    result = page.evaluate(
        """async () => {
            const { UNAUTHENTICATED_EVENT, callJson, setAuthorization } = await import('/js/api.js');
            const heard = [];
            document.addEventListener(UNAUTHENTICATED_EVENT, (event) => heard.push(event.detail.message));
            setAuthorization(async () => { throw new Error('Sign in to use the tools.'); });
            const error = await callJson('/api/echo', { text: 'hi' }).then(() => null, (e) => e);
            return { status: error.status, type: error.type, message: error.serverMessage, heard };
        }"""
    )
    assert result == {
        "status": 401,
        "type": "unauthenticated",
        "message": "Sign in to use the tools.",
        "heard": ["Sign in to use the tools."],
    }
    assert sent == []


def test_only_a_whole_number_of_tokens_left_is_reported(page: Page) -> None:
    reported = page.evaluate(
        """async () => {
            const { TOKENS_EVENT, reportTokensRemaining } = await import('/js/api.js');
            const heard = [];
            document.addEventListener(TOKENS_EVENT, (event) => heard.push(event.detail.remaining));
            for (const value of ['12400', 12400, ' 7 ', null, undefined, '', '-3', -3, '1e3', '12.5', 12.5, 'many']) {
                reportTokensRemaining(value);
            }
            return heard;
        }"""
    )
    assert reported == [12400, 12400, 7]


def test_tokens_left_read_as_a_sentence(module_page: Page) -> None:
    lines = module_page.evaluate(
        """async () => {
            const { describeTokensLeft } = await import('/js/budget.js');
            return [0, 1, 12400].map(describeTokensLeft);
        }"""
    )
    assert lines == ["No tokens left today", "1 token left today", "12,400 tokens left today"]


def test_reset_time_says_today_tomorrow_or_the_day(module_page: Page) -> None:
    said = module_page.evaluate(
        """async () => {
            const { describeResetTime } = await import('/js/api.js');
            const evening = new Date(2026, 10, 22, 20, 0);  // 22 Nov, 20:00 in the browser's time zone
            return [3, 5, 50].map((hours) => describeResetTime(hours * 3600, evening));
        }"""
    )
    assert said[0].endswith(" today")
    assert said[1].endswith(" tomorrow")
    assert "24" in said[2]
    assert not said[2].endswith(("today", "tomorrow"))


@pytest.mark.parametrize(("time_zone", "hinted"), [("UTC", False), ("Europe/London", True), ("Asia/Tokyo", True)])
def test_a_spent_budget_adds_the_local_reset_time_only_where_it_is_not_midnight(
    browser: Browser, emulator: Emulator, time_zone: str, hinted: bool
) -> None:
    # Europe/London in June is an hour ahead of UTC, so its reset is at 01:00.
    context = browser.new_context(timezone_id=time_zone, locale="en-GB")
    page = context.new_page()
    page.clock.install(time=datetime(2026, 6, 10, 18, 0, tzinfo=UTC))
    page.goto(emulator.url + "/")
    hint = page.evaluate(
        """async () => {
            const { ApiError, describeError } = await import('/js/api.js');
            const spent = new ApiError({
                status: 429, type: 'quota_exceeded', message: 'Spent.', retryAfterSeconds: 6 * 3600,
            });
            return describeError(spent).hint || '';
        }"""
    )
    context.close()
    assert hint.startswith("The reset is at ") == hinted, hint


@pytest.mark.parametrize(("locale", "said"), [("en-US", "1:00 AM tomorrow"), ("en-GB", "01:00 tomorrow")])
def test_a_reset_time_reads_as_the_persons_clock_writes_it(
    browser: Browser, emulator: Emulator, locale: str, said: str
) -> None:
    context = browser.new_context(timezone_id="Europe/Paris", locale=locale)
    page = context.new_page()
    page.goto(emulator.url + "/")
    reset = page.evaluate(
        """async () => {
            const { describeResetTime } = await import('/js/api.js');
            // Midnight UTC is 01:00 in Paris.
            return describeResetTime(4 * 3600, new Date(Date.UTC(2026, 10, 24, 20, 0)));
        }"""
    )
    context.close()
    assert reset.replace("\u202f", " ") == said


def test_a_time_zone_chromium_could_not_tell_is_not_sent(page: Page) -> None:
    zone = page.evaluate(
        """async () => {
            const resolved = Intl.DateTimeFormat.prototype.resolvedOptions;
            Intl.DateTimeFormat.prototype.resolvedOptions = function () {
                return { ...resolved.call(this), timeZone: 'Etc/Unknown' };
            };
            const { browserTimeZone } = await import('/js/todo.js');
            return browserTimeZone();
        }"""
    )
    assert zone is None


def test_a_413_suggests_shortening_only_when_what_was_sent_was_over_the_limit(module_page: Page) -> None:
    hints = module_page.evaluate(
        """async () => {
            const { ApiError, describeError } = await import('/js/api.js');
            const error = new ApiError({ status: 413, type: 'too_large', message: 'from the server' });
            return [
                describeError(error, { overLimit: true }).hint,
                describeError(error, { overLimit: false }).hint,
                describeError(error, { context: 'chat', overLimit: false }).hint,
                describeError(error).hint,  // the limit was never learned
            ];
        }"""
    )
    shorten = "Shorten the text and try again."
    assert hints == [shorten, "", "", shorten]


# The chat's parts in characters, against the page's limit of 20,000, and the ways that would bring it within.
CHAT_413_HINTS = [
    ({"earlier": 0, "instructions": 0, "message": 20_500}, "Send a shorter message."),
    ({"earlier": 100, "instructions": 0, "message": 19_950}, "Start a new chat or send a shorter message."),
    ({"earlier": 100, "instructions": 0, "message": 20_500}, "Send a shorter message."),
    ({"earlier": 0, "instructions": 15_000, "message": 21_000}, "Send a shorter message."),
    ({"earlier": 0, "instructions": 15_000, "message": 6_000}, "Shorten the instructions or send a shorter message."),
    (
        {"earlier": 10_000, "instructions": 9, "message": 10_500},
        "Start a new chat (it keeps the instructions) or send a shorter message.",
    ),
    (
        {"earlier": 12_000, "instructions": 9_000, "message": 500},
        "Start a new chat (it keeps the instructions) or shorten the instructions.",
    ),
    ({"earlier": 0, "instructions": 20_500, "message": 20_500}, "Shorten the instructions and send a shorter message."),
]


@pytest.mark.parametrize(("sent", "hint"), CHAT_413_HINTS)
def test_a_chats_413_names_only_the_ways_that_would_bring_it_within_the_limit(module_page: Page, sent, hint) -> None:
    given = module_page.evaluate(
        """async (sent) => {
            const { ApiError, describeError } = await import('/js/api.js');
            const error = new ApiError({ status: 413, type: 'too_large', message: 'from the server' });
            return describeError(error, { context: 'chat', overLimit: true, sent }).hint;
        }""",
        sent,
    )
    assert given == hint

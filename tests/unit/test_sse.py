from __future__ import annotations

from infra.sse import COMMENT, ServerSentEvent, iter_sse, text_events


def lines(text: str) -> list[bytes]:
    return [line.encode() for line in text.splitlines(keepends=True)]


def test_event_name_and_data_come_together_at_the_blank_line() -> None:
    events = list(iter_sse(lines('event: delta\ndata: {"text": "x"}\n\n')))
    assert events == [ServerSentEvent("delta", '{"text": "x"}')]
    assert events[0].json() == {"text": "x"}


def test_keep_alive_comments_are_skipped_unless_asked_for() -> None:
    stream = lines(': keep-alive\n\nevent: delta\ndata: {"text": "x"}\n\n')
    assert [event.event for event in iter_sse(stream)] == ["delta"]
    assert next(iter_sse(stream, comments=True)) == ServerSentEvent(COMMENT, "keep-alive")


def test_several_data_lines_join_with_newlines() -> None:
    assert list(iter_sse(lines("data: one\ndata: two\n\n"))) == [ServerSentEvent("message", "one\ntwo")]


def test_crlf_line_ends_and_a_missing_space_after_the_colon_are_read_alike() -> None:
    assert list(iter_sse(lines("event:done\r\ndata:{}\r\n\r\n"))) == [ServerSentEvent("done", "{}")]


def test_an_event_is_yielded_before_the_next_line_is_read() -> None:
    def one_event_then_fail():
        yield from lines("event: delta\ndata: 1\n\n")
        raise AssertionError("read past the first event")

    assert next(iter_sse(one_event_then_fail())) == ServerSentEvent("delta", "1")


def test_an_unterminated_last_event_is_still_read() -> None:
    assert text_events("event: done\ndata: {}") == [ServerSentEvent("done", "{}")]

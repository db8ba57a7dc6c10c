"""The chat view (static/js/chat.js) in Chromium, against the emulator and the fake model: streaming, Stop, errors,
history, reload, instructions, regenerate, edit, copy."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import Page, expect

from infra.fake_openai import FakeReply
from tests.browser.support import (
    XSS_TOKENS,
    ask_and_hold_the_last_word,
    assistant_messages,
    error_message_of,
    open_tab,
    send_chat,
    user_messages,
    wait_until_answered,
)

LENGTH_NOTE = "This answer reached its length limit and was cut short."

# Records every render of the answer being written: the length of its text each time its children change.
WATCH_THE_ANSWER = """() => {
    window.answerRenders = [];
    new MutationObserver((records) => {
        for (const record of records) {
            if (record.type === 'childList' && record.target.matches('.msg-assistant.is-streaming .msg-text')) {
                window.answerRenders.push(record.target.textContent.length);
            }
        }
    }).observe(document.getElementById('chat-log'), { childList: true, subtree: true });
}"""


def chat_with(page: Page, emulator_fake_model, *exchanges: tuple[str, str]) -> None:
    """Ask each question and wait for its scripted answer."""
    emulator_fake_model.enqueue(*(FakeReply(tokens=[answer]) for _, answer in exchanges))
    open_tab(page, "Chat")
    for question, _ in exchanges:
        send_chat(page, question)
        wait_until_answered(page)


def test_chat_answer_appears_while_the_model_still_holds_the_rest(page, emulator_fake_model, screenshot):
    release = ask_and_hold_the_last_word(
        page, emulator_fake_model, "Write a haiku about Lambda", ["Cold starts", " fade", " away."]
    )
    expect(assistant_messages(page).first).to_contain_text("Cold starts fade")
    assert not release.is_set()
    expect(page.locator("#chat-stop")).to_be_enabled()
    release.set()
    expect(assistant_messages(page).first).to_have_text("Cold starts fade away.")
    expect(page.locator("#chat-send")).to_be_enabled()
    screenshot("chat")


def test_answer_grows_in_many_steps_while_it_streams(page, emulator_fake_model):
    words = [f"word{i} " for i in range(40)]
    emulator_fake_model.enqueue(FakeReply(tokens=words, token_delay_seconds=0.05))
    open_tab(page, "Chat")
    page.evaluate(WATCH_THE_ANSWER)
    send_chat(page, "Count to forty")
    expect(assistant_messages(page).first).to_have_text("".join(words).strip())
    renders = page.evaluate("window.answerRenders")
    assert len(set(renders)) >= 10, renders
    assert renders == sorted(renders)


def test_answer_is_rendered_at_most_once_per_animation_frame(page, emulator_fake_model):
    tokens = ["x "] * 300
    emulator_fake_model.enqueue(FakeReply(tokens=tokens))
    open_tab(page, "Chat")
    page.evaluate(WATCH_THE_ANSWER)
    send_chat(page, "Be quick")
    wait_until_answered(page)
    expect(assistant_messages(page).first).to_have_text(" ".join(["x"] * 300))
    assert len(page.evaluate("window.answerRenders")) < len(tokens) / 5


def test_stop_keeps_the_partial_answer_and_ends_the_upstream_request(page, emulator_fake_model):
    release = ask_and_hold_the_last_word(
        page, emulator_fake_model, "Tell me a long story", ["Partial", " answer", " never"]
    )
    expect(assistant_messages(page).first).to_contain_text("Partial answer")
    page.locator("#chat-stop").click()
    expect(page.locator("#chat-log .msg-note.is-stopped")).to_be_visible()
    expect(assistant_messages(page).first).to_contain_text("Partial answer")
    upstream = emulator_fake_model.requests[-1]
    assert upstream.finished.wait(10) and upstream.client_gone
    release.set()


def test_escape_stops_the_answer(page, emulator_fake_model):
    release = ask_and_hold_the_last_word(
        page, emulator_fake_model, "Tell me everything", ["Started", " but", " never finished"]
    )
    expect(assistant_messages(page).first).to_contain_text("Started but")
    page.locator("#chat-input").press("Escape")
    expect(page.locator("#chat-log .msg-note.is-stopped")).to_be_visible()
    expect(page.locator("#chat-send")).to_be_enabled()
    release.set()


def test_escape_stops_the_answer_after_send_was_clicked(page, emulator_fake_model):
    release = ask_and_hold_the_last_word(page, emulator_fake_model, "Tell me everything", ["Started", " never"])
    expect(assistant_messages(page).first).to_contain_text("Started")
    page.keyboard.press("Escape")  # wherever the click on Send left the focus
    expect(page.locator("#chat-log .msg-note.is-stopped")).to_be_visible()
    release.set()


def test_escape_stops_the_answer_after_a_click_outside_the_chat(page, emulator_fake_model):
    release = ask_and_hold_the_last_word(page, emulator_fake_model, "Tell me everything", ["Started", " never"])
    expect(assistant_messages(page).first).to_contain_text("Started")
    page.locator("h1").click()  # nothing there takes the focus: it is on the page itself
    page.keyboard.press("Escape")
    expect(page.locator("#chat-log .msg-note.is-stopped")).to_be_visible()
    release.set()


def test_escape_stops_a_regenerated_answer(page, emulator_fake_model):
    chat_with(page, emulator_fake_model, ("First?", "One."))
    release = threading.Event()
    emulator_fake_model.enqueue(FakeReply(tokens=["Another", " never"], hold_last_token=release))
    page.get_by_role("button", name="Regenerate").click()
    expect(assistant_messages(page).first).to_contain_text("Another")
    expect(page.locator("#chat-stop")).to_be_focused()  # Regenerate is gone with the answer it stood under
    page.keyboard.press("Escape")
    expect(page.locator("#chat-log .msg-note.is-stopped")).to_be_visible()
    release.set()


def test_clicking_send_leaves_the_focus_on_stop_while_the_answer_streams(page, emulator_fake_model):
    release = ask_and_hold_the_last_word(page, emulator_fake_model, "Tell me everything", ["Started", " never"])
    expect(assistant_messages(page).first).to_contain_text("Started")
    expect(page.locator("#chat-stop")).to_be_focused()
    release.set()
    wait_until_answered(page)
    expect(page.locator("#chat-input")).to_be_focused()


# How far the chat log is from showing its end, in CSS pixels; whether that is at least `distance`.
DISTANCE_FROM_THE_END = (
    "() => { const l = document.getElementById('chat-log'); return l.scrollHeight - l.scrollTop - l.clientHeight; }"
)
AT_LEAST = f"(distance) => ({DISTANCE_FROM_THE_END})() >= distance"


def wait_until_the_log_shows_its_end(page: Page) -> None:
    page.wait_for_function(f"() => ({DISTANCE_FROM_THE_END})() < 40")


def long_chat(page: Page, emulator_fake_model) -> None:
    chat_with(
        page, emulator_fake_model, *[(f"Question {turn}? " + "Say more. " * 20, "word " * 150) for turn in range(3)]
    )


def test_the_chat_log_follows_the_answers_to_the_end(page, emulator_fake_model):
    long_chat(page, emulator_fake_model)
    wait_until_the_log_shows_its_end(page)


def test_the_chat_log_still_shows_its_end_after_the_window_narrows(page, emulator_fake_model):
    long_chat(page, emulator_fake_model)
    wait_until_the_log_shows_its_end(page)
    page.set_viewport_size({"width": 375, "height": 800})  # every line wraps anew, the log grows
    wait_until_the_log_shows_its_end(page)


def test_scrolling_up_while_an_answer_streams_keeps_the_log_where_the_person_put_it(page, emulator_fake_model):
    page.emulate_media(reduced_motion="reduce")  # scrolls are instant: one after the answer would be seen at once
    long_chat(page, emulator_fake_model)
    release = ask_and_hold_the_last_word(page, emulator_fake_model, "And then?", ["word " * 150, "The end."])
    expect(assistant_messages(page).last).to_contain_text("word")
    wait_until_the_log_shows_its_end(page)
    page.locator("#chat-log").hover()
    page.mouse.wheel(0, -400)
    page.wait_for_function(AT_LEAST, arg=400)
    release.set()
    wait_until_answered(page)
    expect(assistant_messages(page).last).to_contain_text("The end.")
    assert page.evaluate(AT_LEAST, 400)


def test_stop_stays_on_a_phones_screen_while_a_long_answer_fills_the_log(page, emulator_fake_model):
    page.set_viewport_size({"width": 390, "height": 844})
    release = ask_and_hold_the_last_word(page, emulator_fake_model, "Tell me everything.", ["word " * 400, "The end."])
    expect(assistant_messages(page).last).to_contain_text("word")
    log_height = page.locator("#chat-log").evaluate("(log) => log.getBoundingClientRect().height")
    stop = page.locator("#chat-stop").bounding_box()
    release.set()
    wait_until_answered(page)
    # The log grew to its limit (55 % of the screen's height), and Stop stayed within the screen's 844 px.
    assert log_height > 0.5 * 844
    assert stop is not None and 0 <= stop["y"] and stop["y"] + stop["height"] <= 844


def test_scrolling_the_page_up_while_an_answer_streams_keeps_it_where_the_person_put_it(page, emulator_fake_model):
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(reduced_motion="reduce")
    release = ask_and_hold_the_last_word(page, emulator_fake_model, "And then?", ["Short start. ", "word " * 400])
    expect(assistant_messages(page).last).to_contain_text("Short start.")
    page.locator("header").hover()
    page.mouse.wheel(0, -2000)
    page.wait_for_function("() => window.scrollY === 0")
    release.set()
    wait_until_answered(page)
    expect(assistant_messages(page).last).to_contain_text("word word")
    assert page.evaluate("window.scrollY") == 0


def test_a_finger_scrolling_the_log_up_while_an_answer_streams_keeps_it_there(phone_page, emulator_fake_model):
    page = phone_page
    emulator_fake_model.enqueue(FakeReply(tokens=["word "] * 300, token_delay_seconds=0.02))
    open_tab(page, "Chat")
    send_chat(page, "Tell me everything.")
    # Streaming, and followed: the log has scrolled a good way down and shows its end.
    page.wait_for_function(
        f"() => document.getElementById('chat-log').scrollTop > 300 && ({DISTANCE_FROM_THE_END})() < 40"
    )
    box = page.locator("#chat-log").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + 40
    touch = page.context.new_cdp_session(page)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 31):  # a finger drawn down the log, 10 px at a time
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y + 10 * step}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    wait_until_answered(page)
    assert page.evaluate(AT_LEAST, 200)


def type_lines_joined_by(page: Page, key: str, first: str, second: str) -> None:
    """Type two lines into the message box with ``key`` between them, and check it made a line break."""
    box = page.locator("#chat-input")
    box.press_sequentially(first)
    box.press(key)
    box.press_sequentially(second)
    expect(box).to_have_value(f"{first}\n{second}")


def test_enter_sends_the_message(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(tokens=["Sent."]))
    open_tab(page, "Chat")
    page.locator("#chat-input").fill("Is Enter enough?")
    page.locator("#chat-input").press("Enter")
    wait_until_answered(page)
    assert emulator_fake_model.requests[-1].body["input"] == [{"role": "user", "content": "Is Enter enough?"}]
    expect(page.locator("#chat-input")).to_have_value("")


def test_shift_enter_starts_a_new_line_instead_of_sending(page, emulator_fake_model):
    open_tab(page, "Chat")
    type_lines_joined_by(page, "Shift+Enter", "First line", "second line")
    assert emulator_fake_model.requests == []


def test_enter_on_a_touch_screen_starts_a_new_line(phone_page, emulator_fake_model):
    # A phone's keyboard has no Shift+Enter: there Enter must stay the way to a new line.
    open_tab(phone_page, "Chat")
    type_lines_joined_by(phone_page, "Enter", "One", "two")
    assert emulator_fake_model.requests == []


def test_second_turn_sends_the_first_turns_history(page, emulator_fake_model):
    chat_with(
        page,
        emulator_fake_model,
        ("What is the capital of France?", "Paris."),
        ("How many people live there?", "About 2M."),
    )
    expect(assistant_messages(page).nth(1)).to_have_text("About 2M.")
    assert emulator_fake_model.requests[-1].body["input"] == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "How many people live there?"},
    ]


def test_new_chat_clears_the_history(page, emulator_fake_model):
    chat_with(page, emulator_fake_model, ("What is the capital of France?", "Paris."))
    page.locator("#chat-new").click()
    expect(assistant_messages(page)).to_have_count(0)
    emulator_fake_model.enqueue(FakeReply(tokens=["Hello."]))
    send_chat(page, "Hi")
    expect(assistant_messages(page).first).to_have_text("Hello.")
    assert emulator_fake_model.requests[-1].body["input"] == [{"role": "user", "content": "Hi"}]


def test_error_event_mid_stream_shows_under_the_partial_answer(page, emulator_fake_model, screenshot):
    emulator_fake_model.enqueue(FakeReply(tokens=["Half", " an", " answer", " lost"], drop_after_tokens=2))
    open_tab(page, "Chat")
    send_chat(page, "Explain cold starts")
    expect(page.locator("#chat-log .msg-note.is-error")).to_be_visible()
    expect(assistant_messages(page).first).to_contain_text("Half an")
    screenshot("chat-error")


def test_rate_limit_in_chat_shows_the_servers_message_and_gives_the_message_back(page, emulator_fake_model):
    # Longer than the function has left, so the SDK does not retry and the 429 reaches the page.
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "600"}))
    open_tab(page, "Chat")
    with page.expect_response("**/api/stream") as answer:
        send_chat(page, "Are you there?")
    note = page.locator("#chat-log .msg-note.is-error")
    expect(note.locator(".note-title")).to_have_text(error_message_of(answer.value.json()))
    expect(note).to_contain_text("Try again in about 10 minutes")
    expect(page.locator("#chat-input")).to_have_value("Are you there?")


def test_a_turn_that_got_no_answer_is_labelled_so_not_as_the_assistants(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "600"}))
    open_tab(page, "Chat")
    send_chat(page, "Are you there?")
    unanswered = page.locator("#chat-log .msg.is-empty")
    expect(unanswered.locator(".msg-role")).to_have_text("No answer")
    expect(page.get_by_role("article", name="No answer")).to_be_visible()


def test_a_first_message_over_the_limit_shows_the_servers_413_and_suggests_a_shorter_one(page, emulator_fake_model):
    open_tab(page, "Chat")
    with page.expect_response("**/api/stream") as answer:
        send_chat(page, "x" * 20_001)
    assert answer.value.status == 413
    note = page.locator("#chat-log .msg-note.is-error")
    expect(note.locator(".note-title")).to_have_text(error_message_of(answer.value.json()))
    expect(note.locator(".note-hint")).to_have_text("Send a shorter message. Your message is back in the box.")
    assert emulator_fake_model.requests == []


def test_a_turn_refused_before_any_answer_leaves_no_answering_status_behind(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "600"}))
    open_tab(page, "Chat")
    send_chat(page, "Are you there?")
    expect(page.locator("#chat-log .msg-note.is-error")).to_be_visible()
    expect(page.locator("#status")).to_have_text("")


def test_a_first_message_that_failed_does_not_bring_back_the_empty_chat_text(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "600"}))
    open_tab(page, "Chat")
    send_chat(page, "Are you there?")
    expect(page.locator("#chat-log .msg-note.is-error")).to_be_visible()
    expect(page.locator("#chat-empty")).to_be_hidden()


def test_a_turn_that_got_no_answer_is_not_sent_as_history(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "600"}), FakeReply(tokens=["Yes."]))
    open_tab(page, "Chat")
    send_chat(page, "Are you there?")
    expect(page.locator("#chat-input")).to_have_value("Are you there?")
    page.locator("#chat-send").click()
    expect(assistant_messages(page).last).to_have_text("Yes.")
    assert emulator_fake_model.requests[-1].body["input"] == [{"role": "user", "content": "Are you there?"}]


def test_model_output_is_shown_as_text_never_run_as_html(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(tokens=XSS_TOKENS))
    open_tab(page, "Chat")
    send_chat(page, "Say something dangerous")
    answer = assistant_messages(page).first
    expect(answer).to_contain_text("<script>alert(2)</script>")
    expect(answer).to_contain_text("<img src=x onerror=alert(1)>")
    expect(answer).to_contain_text('<a href="javascript:alert(3)">link</a>')
    assert page.locator("#chat-log img, #chat-log script, #chat-log a[href^='javascript']").count() == 0
    assert page.dialogs == []


def button_spans(page: Page) -> list[tuple[float, float]]:
    """Where Stop and Send start and end across the page (the page may scroll down as the answer grows)."""
    boxes = [page.locator(selector).bounding_box() for selector in ("#chat-stop", "#chat-send")]
    return [(box["x"], box["x"] + box["width"]) for box in boxes if box]


def test_send_and_stop_keep_their_places_while_an_answer_streams(page, emulator_fake_model):
    open_tab(page, "Chat")
    idle = button_spans(page)
    release = ask_and_hold_the_last_word(page, emulator_fake_model, "Where is Stop?", ["Right", " here."])
    expect(page.locator("#chat-send")).to_have_text("Answering…")
    answering = button_spans(page)
    release.set()
    wait_until_answered(page)
    # Stop under a finger or a pointer stays where it was when Send's label changed beside it.
    assert answering == idle != []


def test_on_a_phone_stop_and_send_share_their_row_evenly(phone_page):
    open_tab(phone_page, "Chat")
    stop, send = (phone_page.locator(selector).bounding_box() for selector in ("#chat-stop", "#chat-send"))
    assert stop and send
    # Two equal targets for a thumb; Send's label, however long while busy, does not take more of the row.
    assert (stop["y"], stop["width"]) == (send["y"], pytest.approx(send["width"], abs=1))


def test_streaming_is_announced_once_per_turn_not_per_token(page, emulator_fake_model):
    release = ask_and_hold_the_last_word(
        page, emulator_fake_model, "Can a screen reader follow this?", ["Heard", " you", " loud and clear."]
    )
    expect(assistant_messages(page).first).to_contain_text("Heard you")
    status = page.locator("#status")
    expect(status).to_have_text("Answering…")
    release.set()
    expect(status).to_have_text("Answer complete: Heard you loud and clear.")
    expect(status).to_have_attribute("role", "status")
    log = page.locator("#chat-log")
    assert log.get_attribute("aria-live") is None and log.get_attribute("role") != "log"


def test_reload_keeps_the_chat(page, emulator_fake_model):
    chat_with(page, emulator_fake_model, ("What is the capital of France?", "**Paris**."))
    page.reload()
    expect(user_messages(page)).to_have_text(["What is the capital of France?"])
    expect(assistant_messages(page)).to_have_text(["Paris."])
    expect(assistant_messages(page).first.locator("strong")).to_have_text("Paris")
    emulator_fake_model.enqueue(FakeReply(tokens=["About 2M."]))
    send_chat(page, "How many people live there?")
    wait_until_answered(page)
    assert emulator_fake_model.requests[-1].body["input"] == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "**Paris**."},
        {"role": "user", "content": "How many people live there?"},
    ]


def test_a_reloaded_chat_opens_at_its_latest_answer(page, emulator_fake_model):
    long_answer = "\n\n".join(f"Paragraph {number} of a long answer." for number in range(40))
    chat_with(page, emulator_fake_model, ("Tell me a lot.", long_answer), ("And in short?", "The latest answer."))
    page.reload()
    latest = assistant_messages(page).last
    expect(latest).to_have_text("The latest answer.")
    expect(latest).to_be_in_viewport()


def test_reload_mid_answer_keeps_the_question_and_what_arrived(page, emulator_fake_model):
    release = ask_and_hold_the_last_word(
        page, emulator_fake_model, "Will this survive a reload?", ["Half", " an answer", " and the rest"]
    )
    expect(assistant_messages(page).first).to_have_text("Half an answer")
    page.reload()
    release.set()
    expect(user_messages(page)).to_have_text(["Will this survive a reload?"])
    expect(assistant_messages(page)).to_have_text(["Half an answer"])
    expect(page.locator("#chat-log .msg-ending")).to_have_text(["Stopped: this answer is incomplete."])


def test_an_empty_message_is_not_sent_and_says_so_until_something_is_written(page, emulator_fake_model):
    open_tab(page, "Chat")
    page.locator("#chat-input").fill("   ")
    page.locator("#chat-input").press("Enter")
    expect(page.locator("#chat-error")).to_have_text("Nothing to send yet.Write a message first.")
    expect(page.locator("#chat-input")).to_be_focused()
    assert emulator_fake_model.requests == []
    page.locator("#chat-input").press_sequentially("Hi")
    expect(page.locator("#chat-error")).to_be_hidden()


def test_the_empty_message_note_goes_when_a_turn_starts_another_way(page, emulator_fake_model):
    chat_with(page, emulator_fake_model, ("Hello?", "Hello."))
    page.locator("#chat-input").press("Enter")
    expect(page.locator("#chat-error")).to_be_visible()
    emulator_fake_model.enqueue(FakeReply(tokens=["Hello again."]))
    page.get_by_role("button", name="Regenerate").click()
    expect(assistant_messages(page)).to_have_text(["Hello again."])
    expect(page.locator("#chat-error")).to_be_hidden()


def test_the_empty_message_note_goes_with_a_new_chat(page, emulator_fake_model):
    open_tab(page, "Chat")
    page.locator("#chat-input").press("Enter")
    expect(page.locator("#chat-error")).to_be_visible()
    page.locator("#chat-new").click()
    expect(page.locator("#chat-error")).to_be_hidden()


def test_new_chat_survives_a_reload_empty(page, emulator_fake_model):
    chat_with(page, emulator_fake_model, ("Hello", "Hi."))
    page.locator("#chat-new").click()
    page.reload()
    open_tab(page, "Chat")
    expect(page.locator("#chat-empty")).to_be_visible()
    expect(assistant_messages(page)).to_have_count(0)


def test_instructions_are_sent_as_system_and_kept_over_a_reload(page, emulator_fake_model):
    open_tab(page, "Chat")
    page.locator(".instructions summary").click()
    page.locator("#chat-system").fill("Answer like a pirate.")
    expect(page.locator("#chat-system-state")).to_have_text("on")
    chat_with(page, emulator_fake_model, ("Hello", "Ahoy."))
    assert emulator_fake_model.requests[-1].body["instructions"] == "Answer like a pirate."
    page.reload()
    expect(page.locator("#chat-system")).to_have_value("Answer like a pirate.")
    page.locator("#chat-new").click()
    emulator_fake_model.enqueue(FakeReply(tokens=["Arr."]))
    send_chat(page, "Again")
    wait_until_answered(page)
    assert emulator_fake_model.requests[-1].body["instructions"] == "Answer like a pirate."


def write_instructions_while_an_answer_streams(page: Page, emulator_fake_model) -> threading.Event:
    """Ask, and write instructions while the answer is half there; the event lets the model finish."""
    release = ask_and_hold_the_last_word(page, emulator_fake_model, "Hello", ["Hello", " there."])
    page.locator(".instructions summary").click()
    page.locator("#chat-system").fill("Answer like a pirate.")
    expect(assistant_messages(page).first).to_have_text("Hello")
    return release


def test_instructions_edited_while_an_answer_streams_are_kept_for_the_next_turn(page, emulator_fake_model):
    release = write_instructions_while_an_answer_streams(page, emulator_fake_model)
    release.set()
    wait_until_answered(page)
    emulator_fake_model.enqueue(FakeReply(tokens=["Arr."]))
    send_chat(page, "Again")
    wait_until_answered(page)
    assert emulator_fake_model.requests[-1].body["instructions"] == "Answer like a pirate."


def test_instructions_edited_before_leaving_mid_answer_are_kept_over_the_reload(page, emulator_fake_model):
    release = write_instructions_while_an_answer_streams(page, emulator_fake_model)
    page.reload()
    release.set()
    expect(page.locator("#chat-system")).to_have_value("Answer like a pirate.")


def test_instructions_count_against_the_chat_limit(page):
    open_tab(page, "Chat")
    counter = page.locator("#chat-count")
    expect(counter).to_have_text("0 / 20,000 in this chat")
    page.locator(".instructions summary").click()
    page.locator("#chat-system").fill("Be brief.")
    page.locator("#chat-input").fill("Hi")
    expect(counter).to_have_text("11 / 20,000 in this chat")


def test_regenerate_replaces_only_the_last_answer(page, emulator_fake_model, screenshot):
    chat_with(page, emulator_fake_model, ("First?", "One."), ("Second?", "Two."))
    emulator_fake_model.enqueue(FakeReply(tokens=["Two, again."]))
    page.get_by_role("button", name="Regenerate").click()
    wait_until_answered(page)
    expect(assistant_messages(page)).to_have_text(["One.", "Two, again."])
    expect(user_messages(page)).to_have_text(["First?", "Second?"])
    assert emulator_fake_model.requests[-1].body["input"] == [
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "Second?"},
    ]
    screenshot("chat-regenerated")


def test_regenerate_that_gets_no_answer_keeps_the_previous_one(page, emulator_fake_model):
    chat_with(page, emulator_fake_model, ("First?", "One."))
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "600"}))
    page.get_by_role("button", name="Regenerate").click()
    expect(page.locator("#chat-log .msg-note.is-error")).to_contain_text("The previous answer is kept.")
    expect(assistant_messages(page)).to_have_text(["One."])
    expect(page.locator("#chat-input")).to_have_value("")


def test_regenerate_refused_as_too_long_is_not_blamed_on_an_unsent_draft(page, emulator_fake_model):
    chat_with(page, emulator_fake_model, ("First?", "One."))
    page.locator("#chat-input").fill("x" * 20_001)  # over the limit, but Regenerate does not send it
    emulator_fake_model.enqueue(FakeReply(status=400, error_code="context_length_exceeded"))
    page.get_by_role("button", name="Regenerate").click()
    note = page.locator("#chat-log .msg-note.is-error")
    expect(note.locator(".note-title")).to_have_text(
        "The text or conversation is longer than the model can read: shorten it or start a new chat."
    )
    expect(note.locator(".note-hint")).to_have_text("The previous answer is kept.")


def test_edit_the_last_message_and_resend(page, emulator_fake_model, screenshot):
    chat_with(page, emulator_fake_model, ("First?", "One."), ("Secnd?", "Pardon?"))
    page.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("Secnd?")
    editor.fill("Second?")
    screenshot("chat-editing")
    emulator_fake_model.enqueue(FakeReply(tokens=["Two."]))
    editor.press("Control+Enter")
    wait_until_answered(page)
    expect(user_messages(page)).to_have_text(["First?", "Second?"])
    expect(assistant_messages(page)).to_have_text(["One.", "Two."])
    assert emulator_fake_model.requests[-1].body["input"] == [
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "Second?"},
    ]


def test_an_emptied_edit_is_not_sent_and_says_so_until_something_is_written(page, emulator_fake_model):
    chat_with(page, emulator_fake_model, ("First?", "One."))
    page.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    editor.fill("  ")
    editor.press("Control+Enter")
    note = page.locator("#chat-log .msg-edit .error-box")
    expect(note).to_have_text("Nothing to send yet.Write your message, or Cancel to keep it as it was.")
    expect(editor).to_be_focused()
    assert len(emulator_fake_model.requests) == 1
    editor.fill("First, again?")
    expect(note).to_be_hidden()


def test_escape_cancels_an_edit(page, emulator_fake_model):
    chat_with(page, emulator_fake_model, ("First?", "One."))
    page.get_by_role("button", name="Edit").click()
    page.get_by_role("textbox", name="Edit your message").press("Escape")
    expect(user_messages(page)).to_have_text(["First?"])
    assert len(emulator_fake_model.requests) == 1


@pytest.mark.parametrize("cancel", ["Escape", "Cancel"])
def test_a_cancelled_edit_gives_the_focus_back_to_edit(page, emulator_fake_model, cancel):
    chat_with(page, emulator_fake_model, ("First?", "One."))
    page.get_by_role("button", name="Edit").click()
    if cancel == "Escape":
        page.get_by_role("textbox", name="Edit your message").press("Escape")
    else:
        page.get_by_role("button", name="Cancel").click()
    # Where the person began: a keyboard user goes on from there, not from the message box below the log.
    expect(page.get_by_role("button", name="Edit")).to_be_focused()


def test_copy_chat_puts_the_conversation_on_the_clipboard_as_markdown(page, emulator_fake_model):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_tab(page, "Chat")
    page.locator(".instructions summary").click()
    page.locator("#chat-system").fill("Be brief.")
    chat_with(page, emulator_fake_model, ("List two fruits", "- apple\n- pear"))
    page.locator("#chat-copy").click()
    expect(page.locator("#chat-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == (
        "## Instructions\n\nBe brief.\n\n## You\n\nList two fruits\n\n## Assistant\n\n- apple\n- pear\n"
    )


def test_copy_under_an_answer_copies_its_markdown(page, emulator_fake_model):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    chat_with(page, emulator_fake_model, ("Bold?", "**Bold.**"))
    page.locator("#chat-log .msg-assistant").get_by_role("button", name="Copy", exact=True).click()
    assert page.evaluate("navigator.clipboard.readText()") == "**Bold.**"


def test_a_stopped_answer_stays_marked_under_later_turns_and_after_a_reload(page, emulator_fake_model):
    release = ask_and_hold_the_last_word(page, emulator_fake_model, "Tell me a long story", ["Once", " upon", " never"])
    expect(assistant_messages(page).first).to_contain_text("Once upon")
    page.locator("#chat-stop").click()
    expect(page.locator("#chat-log .msg-note.is-stopped .note-title")).to_have_text(
        ["Stopped. The text above is what arrived."]  # the fuller note, this once, in place of the mark
    )
    release.set()
    emulator_fake_model.enqueue(FakeReply(tokens=["The end."]))
    send_chat(page, "And then?")
    wait_until_answered(page)
    marks = page.locator("#chat-log .msg-assistant .msg-ending")

    expect(marks).to_have_text(["Stopped: this answer is incomplete."])
    expect(page.locator("#chat-log .msg-assistant").first.locator(".msg-ending")).to_have_count(1)
    page.reload()
    open_tab(page, "Chat")
    expect(marks).to_have_text(["Stopped: this answer is incomplete."])
    expect(page.locator("#chat-log .msg-assistant").first.locator(".msg-ending")).to_have_count(1)
    assert emulator_fake_model.requests[-1].body["input"][1] == {"role": "assistant", "content": "Once upon"}


def test_an_answer_cut_off_by_a_dropped_connection_stays_marked_after_a_reload(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(tokens=["Half ", "an answer", " and the rest"], drop_after_tokens=2))
    open_tab(page, "Chat")
    send_chat(page, "Tell me all")
    wait_until_answered(page)
    expect(page.locator("#chat-log .msg-note.is-error")).to_be_visible()

    page.reload()
    open_tab(page, "Chat")

    expect(assistant_messages(page)).to_have_text(["Half an answer"])
    expect(page.locator("#chat-log .msg-ending")).to_have_text(["The answer was cut off: it is incomplete."])


def test_an_answer_cut_at_its_length_limit_stays_marked_after_a_reload(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(tokens=["Too", " long"], incomplete=True))
    open_tab(page, "Chat")
    send_chat(page, "Write a book")
    wait_until_answered(page)
    note = page.locator("#chat-log .msg-note.is-info")
    expect(note.locator(".note-title")).to_have_text(LENGTH_NOTE)
    # What to do, as the buffered endpoints' message says it.
    expect(note.locator(".note-hint")).to_have_text(
        "Ask the model to go on, or the deployment's owner to raise MAX_OUTPUT_TOKENS."
    )

    page.reload()
    open_tab(page, "Chat")

    expect(page.locator("#chat-log .msg-ending")).to_have_text([LENGTH_NOTE])

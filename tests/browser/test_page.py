"""What a person sees and does on the page, in a real browser, against the emulator and the fake model."""

from __future__ import annotations

import hashlib
import json
import threading

from playwright.sync_api import Page, expect

from infra.fake_openai import FakeReply

XSS_TOKENS = ["<img src=x onerror=alert(1)>", " <script>alert(2)</script>", ' <a href="javascript:alert(3)">link</a>']


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def send_chat(page: Page, text: str) -> None:
    page.locator("#chat-input").fill(text)
    page.locator("#chat-send").click()


def assistant_messages(page: Page):
    return page.locator("#chat-log .msg-assistant .msg-text")


def test_summarize_shows_the_bullets(page, emulator_fake_model, screenshot):
    emulator_fake_model.enqueue(
        FakeReply(output={"bullets": ["Trial of cycling lanes from March.", "Final vote in June."]})
    )
    page.locator("#summarize-text").fill("The council met on Tuesday. It agreed a trial. A vote is planned for June.")
    page.locator("#summarize-bullets").select_option("2")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li")).to_have_text(
        ["Trial of cycling lanes from March.", "Final vote in June."]
    )
    assert emulator_fake_model.requests[-1].body["text"]["format"]["schema"]["properties"]["bullets"]["maxItems"] == 2
    expect(page.locator("#demo-banner")).to_be_visible()
    screenshot("summarize")


def test_todo_shows_a_card_and_sends_the_browsers_timezone(page, emulator_fake_model, screenshot):
    emulator_fake_model.enqueue(
        FakeReply(output={"title": "Call the plumber", "due_date": "2026-11-27", "priority": 1})
    )
    open_tab(page, "TODO")
    page.locator("#todo-text").fill("Call the plumber next Friday, it's urgent")
    page.locator("#todo-form button[type=submit]").click()
    expect(page.locator("#todo-result-title")).to_have_text("Call the plumber")
    expect(page.locator("#todo-result-priority")).to_have_text("1 · highest")
    expect(page.locator("#todo-result-due")).not_to_have_text("No date")
    assert json.loads(page.locator("#todo-raw").text_content()) == {
        "title": "Call the plumber",
        "due_date": "2026-11-27",
        "priority": 1,
    }
    assert "in the time zone Europe/Paris" in emulator_fake_model.requests[-1].body["instructions"]
    screenshot("todo")


def test_todo_without_a_date_says_no_date(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(output={"title": "Water the plants", "due_date": None, "priority": 3}))
    open_tab(page, "TODO")
    page.locator("#todo-text").fill("Water the plants")
    page.locator("#todo-form button[type=submit]").click()
    expect(page.locator("#todo-result-due")).to_have_text("No date")


def test_chat_answer_appears_while_the_model_still_holds_the_rest(page, emulator_fake_model, screenshot):
    release = threading.Event()
    emulator_fake_model.enqueue(FakeReply(tokens=["Cold starts", " fade", " away."], hold_last_token=release))
    open_tab(page, "Chat")
    send_chat(page, "Write a haiku about Lambda")
    expect(assistant_messages(page).first).to_contain_text("Cold starts fade")
    assert not release.is_set()
    expect(page.locator("#chat-stop")).to_be_enabled()
    release.set()
    expect(assistant_messages(page).first).to_have_text("Cold starts fade away.")
    expect(page.locator("#chat-send")).to_be_enabled()
    screenshot("chat")


def test_stop_keeps_the_partial_answer_and_ends_the_upstream_request(page, emulator_fake_model):
    release = threading.Event()
    emulator_fake_model.enqueue(FakeReply(tokens=["Partial", " answer", " never"], hold_last_token=release))
    open_tab(page, "Chat")
    send_chat(page, "Tell me a long story")
    expect(assistant_messages(page).first).to_contain_text("Partial answer")
    page.locator("#chat-stop").click()
    expect(page.locator("#chat-log .msg-note.is-stopped")).to_be_visible()
    expect(assistant_messages(page).first).to_contain_text("Partial answer")
    upstream = emulator_fake_model.requests[-1]
    assert upstream.finished.wait(10) and upstream.client_gone
    release.set()


def test_second_turn_sends_the_first_turns_history(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(tokens=["Paris."]), FakeReply(tokens=["About 2 million."]))
    open_tab(page, "Chat")
    send_chat(page, "What is the capital of France?")
    expect(assistant_messages(page).first).to_have_text("Paris.")
    send_chat(page, "How many people live there?")
    expect(assistant_messages(page).nth(1)).to_have_text("About 2 million.")
    assert emulator_fake_model.requests[-1].body["input"] == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "How many people live there?"},
    ]


def test_new_chat_clears_the_history(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(tokens=["Paris."]), FakeReply(tokens=["Hello."]))
    open_tab(page, "Chat")
    send_chat(page, "What is the capital of France?")
    expect(assistant_messages(page).first).to_have_text("Paris.")
    page.locator("#chat-new").click()
    send_chat(page, "Hi")
    expect(assistant_messages(page).first).to_have_text("Hello.")
    assert emulator_fake_model.requests[-1].body["input"] == [{"role": "user", "content": "Hi"}]


def test_text_over_the_limit_shows_the_413_message(page, emulator_fake_model):
    page.locator("#summarize-text").fill("x" * 20_001)
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-error")).to_contain_text("This text is too long")
    assert emulator_fake_model.requests == []


def test_rate_limit_says_when_to_retry(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "60"}))
    page.locator("#summarize-text").fill("Some text to summarize.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-error")).to_contain_text("Too many requests right now")
    expect(page.locator("#summarize-error")).to_contain_text("Try again in 60 seconds.")


def test_refusal_shows_the_502_message(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(refusal="I can't help with that."))
    open_tab(page, "TODO")
    page.locator("#todo-text").fill("Something")
    page.locator("#todo-form button[type=submit]").click()
    expect(page.locator("#todo-error")).to_contain_text("The model could not give an answer")


def test_error_event_mid_stream_shows_under_the_partial_answer(page, emulator_fake_model, screenshot):
    emulator_fake_model.enqueue(FakeReply(tokens=["Half", " an", " answer", " lost"], drop_after_tokens=2))
    open_tab(page, "Chat")
    send_chat(page, "Explain cold starts")
    expect(page.locator("#chat-log .msg-note.is-error")).to_be_visible()
    expect(assistant_messages(page).first).to_contain_text("Half an")
    screenshot("chat-error")


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


def test_summary_bullets_are_shown_as_text_never_run_as_html(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(output={"bullets": XSS_TOKENS}))
    page.locator("#summarize-text").fill("Anything.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li").first).to_have_text(XSS_TOKENS[0])
    assert page.locator("#summarize-result-list img, #summarize-result-list script").count() == 0
    assert page.dialogs == []


def test_every_post_carries_the_sha256_of_its_exact_body(page, emulator_fake_model):
    posts = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    page.locator("#summarize-text").fill("Ünïcödé text — with emoji 🚀.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li").first).to_be_visible()
    open_tab(page, "TODO")
    page.locator("#todo-text").fill("Buy milk")
    page.locator("#todo-form button[type=submit]").click()
    expect(page.locator("#todo-result-title")).to_be_visible()
    open_tab(page, "Chat")
    send_chat(page, "Hello 🚀")
    expect(page.locator("#chat-send")).to_be_enabled()
    assert sorted(request.url.rsplit("/", 1)[-1] for request in posts) == ["stream", "summarize", "todo"]
    for request in posts:
        body = request.post_data_buffer
        assert request.headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()


def test_ctrl_enter_submits(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(output={"bullets": ["Submitted from the keyboard."]}))
    page.locator("#summarize-text").fill("Keyboard users submit with Ctrl+Enter.")
    page.locator("#summarize-text").press("Control+Enter")
    expect(page.locator("#summarize-result-list li")).to_have_text(["Submitted from the keyboard."])


def test_page_fits_a_phone_screen(page, emulator_fake_model, screenshot):
    # A long unbroken token is the usual way a chat bubble pushes a page sideways.
    emulator_fake_model.enqueue(FakeReply(tokens=["See ", "https://example.invalid/" + "a" * 120, " for the details."]))
    page.set_viewport_size({"width": 390, "height": 844})
    open_tab(page, "Chat")
    send_chat(page, "Where can I read more?")
    expect(assistant_messages(page).first).to_contain_text("for the details.")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("phone")


def test_dark_mode_follows_the_system_setting(page, emulator_fake_model, screenshot):
    def background_and_text() -> list[str]:
        return page.evaluate("[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]")

    light = background_and_text()
    page.emulate_media(color_scheme="dark")
    dark = background_and_text()
    assert dark != light
    channels = [int(part) for part in dark[0].removeprefix("rgb(").rstrip(")").split(",")[:3]]
    assert sum(channels) < 3 * 80  # a dark background, so the light text stays readable
    emulator_fake_model.enqueue(FakeReply(tokens=["Dark", " mode", " follows", " the", " system."]))
    open_tab(page, "Chat")
    send_chat(page, "Does this page have a dark mode?")
    expect(assistant_messages(page).first).to_have_text("Dark mode follows the system.")
    screenshot("chat-dark")


def test_buttons_are_disabled_while_a_request_runs(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(delay_seconds=2, output={"bullets": ["Done."]}))  # a slow model, not a wait
    page.locator("#summarize-text").fill("Some text to summarize.")
    page.get_by_role("button", name="Summarize").click()
    busy = page.locator("#summarize-form button[type=submit]")
    expect(busy).to_be_disabled()
    expect(busy).to_have_text("Summarizing…")
    expect(page.locator("#summarize-result-list li")).to_have_text(["Done."])
    expect(busy).to_be_enabled()
    expect(busy).to_have_text("Summarize")


def test_escape_stops_the_answer(page, emulator_fake_model):
    release = threading.Event()
    emulator_fake_model.enqueue(FakeReply(tokens=["Started", " but", " never finished"], hold_last_token=release))
    open_tab(page, "Chat")
    send_chat(page, "Tell me everything")
    expect(assistant_messages(page).first).to_contain_text("Started but")
    page.locator("#chat-input").press("Escape")
    expect(page.locator("#chat-log .msg-note.is-stopped")).to_be_visible()
    expect(page.locator("#chat-send")).to_be_enabled()
    release.set()


def test_rate_limit_in_chat_says_when_to_retry_and_gives_the_message_back(page, emulator_fake_model):
    # Longer than the function has left, so the SDK does not retry and the 429 reaches the page.
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "600"}))
    open_tab(page, "Chat")
    send_chat(page, "Are you there?")
    note = page.locator("#chat-log .msg-note.is-error")
    expect(note).to_contain_text("Too many requests right now")
    expect(note).to_contain_text("Try again in about 10 minutes")
    expect(page.locator("#chat-input")).to_have_value("Are you there?")


def test_a_turn_that_got_no_answer_is_not_sent_as_history(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "600"}), FakeReply(tokens=["Yes."]))
    open_tab(page, "Chat")
    send_chat(page, "Are you there?")
    expect(page.locator("#chat-input")).to_have_value("Are you there?")
    page.locator("#chat-send").click()
    expect(assistant_messages(page).last).to_have_text("Yes.")
    assert emulator_fake_model.requests[-1].body["input"] == [{"role": "user", "content": "Are you there?"}]


def test_streamed_answer_is_announced_by_a_live_region(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(tokens=["Heard", " you."]))
    open_tab(page, "Chat")
    send_chat(page, "Can a screen reader follow this?")
    expect(page.locator("#chat-log")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#chat-log .msg-assistant .msg-text")).to_have_text("Heard you.")


def test_tabs_follow_the_arrow_keys(page):
    page.get_by_role("tab", name="Summarize").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="TODO")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="TODO")).to_be_focused()
    expect(page.locator("#panel-todo")).to_be_visible()
    expect(page.locator("#panel-summarize")).to_be_hidden()
    page.keyboard.press("End")
    expect(page.locator("#panel-chat")).to_be_visible()
    page.keyboard.press("ArrowRight")  # wraps around
    expect(page.locator("#panel-summarize")).to_be_visible()


def test_counter_warns_when_the_text_is_over_the_limit(page):
    counter = page.locator("#summarize-count")
    expect(counter).to_have_text("0 / 20,000")
    page.locator("#summarize-text").fill("é" * 20_001)  # counted in characters, as the server counts them
    expect(counter).to_have_text("20,001 / 20,000 · over the limit")


def test_copy_puts_the_bullets_on_the_clipboard(page, emulator_fake_model):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    emulator_fake_model.enqueue(FakeReply(output={"bullets": ["First point.", "Second point."]}))
    page.locator("#summarize-text").fill("Two points.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li")).to_have_count(2)
    page.locator("#summarize-result .copy").click()
    expect(page.locator("#summarize-result .copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "- First point.\n- Second point."


def test_page_runs_under_its_strict_content_security_policy(page, emulator_fake_model):
    page.evaluate(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective))"
    )
    emulator_fake_model.enqueue(FakeReply(output={"bullets": ["Fine."]}), FakeReply(tokens=["Fine", " too."]))
    page.locator("#summarize-text").fill("Anything.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li")).to_have_text(["Fine."])
    open_tab(page, "Chat")
    send_chat(page, "Anything?")
    expect(assistant_messages(page).first).to_have_text("Fine too.")
    assert "default-src 'self'" in page.locator("meta[http-equiv=Content-Security-Policy]").get_attribute("content")
    assert page.evaluate("window.cspViolations") == []


def test_demo_banner_shows_on_load_before_any_call(page, emulator_fake_model):
    expect(page.locator("#demo-banner")).to_be_visible()
    assert emulator_fake_model.requests == []

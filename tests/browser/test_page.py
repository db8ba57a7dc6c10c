"""What a person sees and does on the page (summarize, TODO, the page as a whole), in a real browser, against the
emulator and the fake model. The chat has its own file (test_chat.py)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from infra.fake_openai import FakeReply
from tests.browser.support import XSS_TOKENS, assistant_messages, error_message_of, make_todo, open_tab, send_chat


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


@pytest.mark.parametrize(
    ("priority", "label", "dots"), [(2, "2 · high", 4), (3, "3 · medium", 3), (5, "5 · lowest", 1)]
)
def test_todo_priority_reads_in_words_beside_its_dots(page, emulator_fake_model, priority, label, dots):
    make_todo(page, emulator_fake_model, {"title": "Water the plants", "due_date": None, "priority": priority})
    expect(page.locator("#todo-result-priority")).to_have_text(label)
    expect(page.locator("#todo-result-priority .dot.on")).to_have_count(dots)


def test_a_browser_in_another_language_writes_dates_and_counts_in_the_pages_english(
    browser, emulator, emulator_fake_model
):
    emulator_fake_model.reset()
    context = browser.new_context(timezone_id="Europe/Paris", locale="fr-FR")
    page = context.new_page()
    page.clock.install(time=datetime(2026, 11, 26, 10, 0, tzinfo=UTC))
    with page.expect_response("**/config.json"):
        page.goto(emulator.url + "/")
    emulator_fake_model.enqueue(
        FakeReply(output={"title": "Call Dana", "due_date": "2026-11-27", "priority": 2}, billed=(1234, 56))
    )
    open_tab(page, "TODO")
    page.locator("#todo-text").fill("x" * 1234)
    expect(page.locator("#todo-count")).to_contain_text("1,234 / ")
    page.locator("#todo-form button[type=submit]").click()
    expect(page.locator("#todo-result-due")).to_have_text("Fri, Nov 27, 2026 (tomorrow)")
    expect(page.locator("#todo-result-meta")).to_contain_text("1,234 tokens in, 56 out")
    context.close()


def test_todo_without_a_date_says_no_date(page, emulator_fake_model):
    make_todo(page, emulator_fake_model, {"title": "Water the plants", "due_date": None, "priority": 3})
    expect(page.locator("#todo-result-due")).to_have_text("No date")


def test_an_empty_box_is_not_sent(page, emulator_fake_model):
    page.locator("#summarize-text").fill("   ")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-error")).to_contain_text("Nothing to summarize yet.")
    expect(page.locator("#summarize-text")).to_be_focused()
    assert emulator_fake_model.requests == []


def test_the_empty_box_message_goes_once_the_box_has_text(page):
    page.locator("#summarize-text").fill("   ")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-error")).to_contain_text("Nothing to summarize yet.")
    page.locator("#panel-summarize").get_by_role("button", name="Try an example").click()
    expect(page.locator("#summarize-error")).to_be_hidden()


def test_an_error_box_holds_only_the_parts_the_error_has(page, emulator_fake_model):
    page.locator("#summarize-text").fill("   ")
    page.get_by_role("button", name="Summarize").click()
    box = page.locator("#summarize-error")
    expect(box.locator("p")).to_have_text(["Nothing to summarize yet.", "Paste or type some text first."])
    expect(box).not_to_contain_text("null")


def test_an_error_hides_the_answer_to_an_earlier_text(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(output={"bullets": ["An earlier answer."]}))
    page.locator("#summarize-text").fill("Some text to summarize.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result")).to_be_visible()
    page.locator("#summarize-text").fill("x" * 20_001)
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-error")).to_be_visible()
    expect(page.locator("#summarize-result")).to_be_hidden()


def test_text_over_the_limit_shows_the_servers_413_message(page, emulator_fake_model):
    page.locator("#summarize-text").fill("x" * 20_001)
    with page.expect_response("**/api/summarize") as answer:
        page.get_by_role("button", name="Summarize").click()
    assert answer.value.status == 413
    expect(page.locator("#summarize-error .error-title")).to_have_text(error_message_of(answer.value.json()))
    expect(page.locator("#summarize-error .error-hint")).to_have_text("Shorten the text and try again.")
    assert emulator_fake_model.requests == []


def test_a_413_for_a_short_text_shows_the_servers_advice_without_the_pages(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(status=400, error_code="context_length_exceeded"))
    page.locator("#summarize-text").fill("Some text to summarize.")
    expect(page.locator("#summarize-count")).to_contain_text("/ 20,000")  # the page has learned the limit
    with page.expect_response("**/api/summarize") as answer:
        page.get_by_role("button", name="Summarize").click()
    assert answer.value.status == 413
    expect(page.locator("#summarize-error .error-title")).to_have_text(error_message_of(answer.value.json()))
    expect(page.locator("#summarize-error .error-hint")).to_have_count(0)


def test_a_short_rate_limit_shows_the_servers_message_which_names_the_wait_once(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "60"}))
    page.locator("#summarize-text").fill("Some text to summarize.")
    with page.expect_response("**/api/summarize") as answer:
        page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-error .error-title")).to_have_text(error_message_of(answer.value.json()))
    expect(page.locator("#summarize-error .error-title")).to_contain_text("Retry after 60 s.")
    expect(page.locator("#summarize-error .error-hint")).to_have_count(0)


def test_refusal_shows_the_servers_502_message_and_request_id(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(refusal="I can't help with that."))
    open_tab(page, "TODO")
    page.locator("#todo-text").fill("Something")
    with page.expect_response("**/api/todo") as answer:
        page.locator("#todo-form button[type=submit]").click()
    assert answer.value.status == 502
    expect(page.locator("#todo-error .error-title")).to_have_text(error_message_of(answer.value.json()))
    expect(page.locator("#todo-error .error-id")).to_have_text(f"Request ID: {answer.value.headers['x-request-id']}")


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


def test_a_forms_button_keeps_its_width_while_busy(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(delay_seconds=2, output={"bullets": ["Done."]}))  # a slow model
    button = page.locator("#summarize-form button[type=submit]")
    idle = button.bounding_box()
    page.locator("#summarize-text").fill("Some text to summarize.")
    button.click()
    expect(button).to_have_text("Summarizing…")
    busy = button.bounding_box()
    expect(button).to_have_text("Summarize")
    assert busy == idle


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


def test_copy_puts_the_bullets_on_the_clipboard(page, emulator_fake_model):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    emulator_fake_model.enqueue(FakeReply(output={"bullets": ["First point.", "Second **point**."]}))
    page.locator("#summarize-text").fill("Two points.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li")).to_have_count(2)
    page.locator("#summarize-result .copy").click()
    expect(page.locator("#summarize-result .copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "- First point.\n- Second **point**."


def test_page_runs_under_its_strict_content_security_policy(page, emulator_fake_model):
    page.evaluate(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective))"
    )
    emulator_fake_model.enqueue(
        FakeReply(output={"bullets": ["Fine, *really*."]}),
        FakeReply(tokens=["Fine", " **too**.\n\n", "```\ncode\n```\n\n| a |\n|---|\n| 1 |"]),
    )
    page.locator("#summarize-text").fill("Anything.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li")).to_have_text(["Fine, really."])
    open_tab(page, "Chat")
    send_chat(page, "Anything?")
    expect(page.locator("#chat-log .code-block")).to_be_visible()
    assert "default-src 'self'" in page.locator("meta[http-equiv=Content-Security-Policy]").get_attribute("content")
    assert page.evaluate("window.cspViolations") == []


def test_demo_banner_shows_on_load_before_any_call(page, emulator_fake_model):
    expect(page.locator("#demo-banner")).to_be_visible()
    assert emulator_fake_model.requests == []

"""The page learns its limits from the server's /config.json (static/js/config.js) and hard-codes none."""

from __future__ import annotations

from playwright.sync_api import Page, Route, expect

from infra.fake_openai import FakeReply
from llm_core.contract import SummarizeRequest
from llm_core.page_config import page_config
from llm_core.prompts import MAX_BULLETS
from tests.browser.support import error_message_of, make_todo, open_tab


def serve(page: Page, handler) -> None:
    """Answer /config.json with `handler` from now on, and load the page again so it asks."""
    page.route("**/config.json", handler)
    page.reload()


def test_counter_shows_the_servers_limit(page):
    counter = page.locator("#summarize-count")
    expect(counter).to_have_text("0 / 20,000")
    page.locator("#summarize-text").fill("é" * 20_001)  # counted in characters, as the server counts them
    expect(counter).to_have_text("20,001 / 20,000 · over the limit")


def test_counters_use_the_limit_from_config_json(page):
    serve(page, lambda route: route.fulfill(json=page_config(500)))
    expect(page.locator("#summarize-count")).to_have_text("0 / 500")
    page.locator("#summarize-text").fill("x" * 501)
    expect(page.locator("#summarize-count")).to_have_text("501 / 500 · over the limit")
    open_tab(page, "Chat")
    expect(page.locator("#chat-count")).to_have_text("0 / 500 in this chat")


def test_the_first_bullet_choice_is_the_contracts_default(page):
    default = SummarizeRequest.model_fields["max_bullets"].default
    expect(page.locator("#summarize-bullets option")).to_have_count(MAX_BULLETS)
    expect(page.locator("#summarize-bullets")).to_have_value(str(default))


def test_bullet_choices_and_the_first_choice_come_from_config_json(page):
    document = page_config(20_000)
    document["limits"]["max_bullets"] = 5
    document["defaults"]["max_bullets"] = 2
    serve(page, lambda route: route.fulfill(json=document))
    options = page.locator("#summarize-bullets option")
    expect(options).to_have_text(["1", "2", "3", "4", "5"])
    expect(page.locator("#summarize-bullets")).to_have_value("2")


def test_without_config_no_bullet_count_is_offered_and_the_servers_default_applies(page, emulator_fake_model):
    serve(page, lambda route: route.fulfill(status=404, body="not here"))
    expect(page.get_by_label("Bullet points")).to_be_hidden()
    emulator_fake_model.enqueue(FakeReply(output={"bullets": ["Sent without a count."]}))
    page.locator("#summarize-text").fill("Some text.")
    with page.expect_request("**/api/summarize") as sent:
        page.get_by_role("button", name="Summarize").click()
    assert sent.value.post_data_json == {"text": "Some text."}
    expect(page.locator("#summarize-result-list li")).to_have_text(["Sent without a count."])


def test_a_todo_priority_is_drawn_on_the_scale_from_config_json(page, emulator_fake_model):
    document = page_config(20_000)
    scale = ["urgent", "soon", "later"]
    document["priorities"] = [{"value": value, "name": name} for value, name in enumerate(scale, start=1)]
    serve(page, lambda route: route.fulfill(json=document))
    make_todo(page, emulator_fake_model, {"title": "Water the plants", "due_date": None, "priority": 2})
    expect(page.locator("#todo-result-priority")).to_have_text("2 · soon")
    expect(page.locator("#todo-result-priority .dot")).to_have_count(3)
    expect(page.locator("#todo-result-priority .dot.on")).to_have_count(2)


def test_without_config_a_todo_priority_shows_as_its_number(page, emulator_fake_model):
    serve(page, lambda route: route.fulfill(status=404, body="not here"))
    make_todo(page, emulator_fake_model, {"title": "Water the plants", "due_date": None, "priority": 4})
    expect(page.locator("#todo-result-priority")).to_have_text("4")
    expect(page.locator("#todo-result-priority .dot")).to_have_count(0)


def test_without_config_the_page_shows_no_limit_and_the_server_still_explains(page, emulator_fake_model):
    serve(page, lambda route: route.fulfill(status=404, body="not here"))
    counter = page.locator("#summarize-count")
    page.locator("#summarize-text").fill("x" * 20_001)
    expect(counter).to_have_text("20,001 characters")
    with page.expect_response("**/api/summarize") as answer:
        page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-error .error-title")).to_have_text(error_message_of(answer.value.json()))
    assert emulator_fake_model.requests == []


def test_the_page_works_while_config_json_has_not_arrived(page, emulator_fake_model):
    held: list[Route] = []
    serve(page, lambda route: held.append(route))  # never answered while the test runs
    expect(page.locator("#summarize-count")).to_have_text("0 characters")
    emulator_fake_model.enqueue(FakeReply(output={"bullets": ["Works without it."]}))
    page.locator("#summarize-text").fill("Some text.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li")).to_have_text(["Works without it."])
    assert held, "the page asked for /config.json"


def test_where_the_browser_has_no_time_zone_the_page_names_the_servers_default(page):
    # As a browser that cannot tell its zone answers (ICU's "Etc/Unknown").
    page.add_init_script(
        "const options = Intl.DateTimeFormat.prototype.resolvedOptions;"
        "Intl.DateTimeFormat.prototype.resolvedOptions = function () {"
        "  return { ...options.call(this), timeZone: 'Etc/Unknown' }; };"
    )
    document = page_config(20_000)
    document["defaults"]["timezone"] = "America/Denver"
    serve(page, lambda route: route.fulfill(json=document))
    open_tab(page, "TODO")
    expect(page.locator("#todo-tz")).to_have_text(
        "Dates are worked out in America/Denver: your browser does not say its time zone."
    )


def test_the_todo_tab_names_the_browsers_time_zone_dates_are_worked_out_in(page):
    open_tab(page, "TODO")
    expect(page.locator("#todo-tz")).to_have_text("Dates are worked out in your time zone: Europe/Paris.")

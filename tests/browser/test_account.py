"""Sign-in on the page (static/js/account.js, access.js) in Chromium, against the emulator as `make dev SIGN_IN=1`
runs it: its functions in cognito mode, checking moto's tokens, and the local stand-in for Cognito's login page on
the emulator's own origin. The page gets its auth config from /config.json, as from a deployed stack's."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cfnlint.decode import decode
from playwright.sync_api import Page, Request, Route, expect

from infra.fake_openai import FakeOpenAI, FakeReply
from tests.browser.conftest import PASSWORD, SignInSite
from tests.browser.support import (
    ask_and_hold_the_last_word,
    assistant_messages,
    audit_every_width_and_colour_scheme,
    error_message_of,
    open_tab,
    send_chat,
    sign_in,
    tool_buttons,
    user_messages,
    wait_until_answered,
)
from tests.template.cfn_values import content_security_policy, stack

TOKEN_HEADER = "x-auth-token"


def api_requests(page: Page) -> list[Request]:
    """Every request the page makes to /api/* from now on."""
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if "/api/" in request.url else None)
    return seen


def serve_auth(page: Page, site: SignInSite, auth: dict[str, Any]) -> None:
    """/config.json with this ``auth`` from now on; the page is loaded again so it reads it."""
    page.route("**/config.json", lambda route: route.fulfill(json=site.page_config(auth)))
    with page.expect_response("**/config.json"):
        page.reload()


def chat_once(page: Page, fake: FakeOpenAI, question: str, answer: str) -> None:
    fake.enqueue(FakeReply(tokens=[answer]))
    send_chat(page, question)
    wait_until_answered(page)


def sign_in_with_a_chat(page: Page, site: SignInSite, fake: FakeOpenAI, answer: str) -> str:
    """A new person signed in, with one question and the model's ``answer`` in the chat; their e-mail."""
    email = site.add_person()
    sign_in(page, email, PASSWORD)
    open_tab(page, "Chat")
    chat_once(page, fake, "Still there?", answer)
    return email


# ------------------------------------------------------------------ signed out


def test_signed_out_page_offers_sign_in_and_locks_the_three_tools(signed_out_page: Page) -> None:
    page = signed_out_page
    expect(page.locator("#account").get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#account-user")).to_be_hidden()
    expect(page.locator("#access-notice .access-title")).to_have_text("Sign in to use the tools.")
    expect(page.locator("#access-notice").get_by_role("button", name="Sign in")).to_be_visible()
    for button in tool_buttons(page).all():
        expect(button).to_be_disabled()


def test_ctrl_enter_while_signed_out_sends_nothing_and_leads_to_sign_in(signed_out_page: Page) -> None:
    page = signed_out_page
    sent = api_requests(page)
    page.locator("#summarize-text").fill("Some text to summarize.")
    page.locator("#summarize-text").press("Control+Enter")
    expect(page.locator("#access-notice").get_by_role("button", name="Sign in")).to_be_focused()
    assert sent == []


def test_text_written_while_signed_out_is_back_in_its_box_after_signing_in(
    signed_out_page: Page, sign_in_site: SignInSite
) -> None:
    page = signed_out_page
    open_tab(page, "Chat")
    page.locator("#chat-input").fill("A question I wrote before signing in")
    sign_in(page, sign_in_site.add_person(), PASSWORD)
    expect(page.get_by_role("tab", name="Chat")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#chat-input")).to_have_value("A question I wrote before signing in")
    assert page.evaluate("Object.keys(sessionStorage)") == ["auth.refresh"]


def test_text_kept_for_a_sign_in_is_still_kept_after_going_back_from_the_login_page_and_reloading(
    signed_out_page: Page,
) -> None:
    page = signed_out_page
    open_tab(page, "Chat")
    page.locator("#chat-input").fill("A question I wrote before signing in")
    page.locator("#account").get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize?*")
    page.go_back()
    page.reload()
    expect(page.get_by_role("tab", name="Chat")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#chat-input")).to_have_value("A question I wrote before signing in")


# ------------------------------------------------------------------ signed in


def test_signed_in_person_uses_the_three_tools_and_signing_out_locks_them_again(
    signed_out_page: Page, sign_in_site: SignInSite, emulator_fake_model: FakeOpenAI
) -> None:
    page = signed_out_page
    local_user = sign_in_site.emulator.sign_in
    assert local_user is not None
    sign_in(page, local_user.email, local_user.password)  # the one the console names
    expect(page.locator("#account-user")).to_have_text(f"Signed in as {local_user.email}")
    expect(page.locator("#access-notice")).to_be_hidden()
    sent = api_requests(page)

    emulator_fake_model.enqueue(FakeReply(output={"bullets": ["Signed in and summarized."]}))
    page.locator("#summarize-text").fill("Some text to summarize.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li")).to_have_text(["Signed in and summarized."])

    emulator_fake_model.enqueue(FakeReply(output={"title": "Call Dana", "due_date": None, "priority": 2}))
    open_tab(page, "TODO")
    page.locator("#todo-text").fill("Call Dana")
    page.get_by_role("button", name="Create TODO").click()
    expect(page.locator("#todo-result-title")).to_have_text("Call Dana")

    open_tab(page, "Chat")
    chat_once(page, emulator_fake_model, "Hello?", "Hello, signed-in person.")
    expect(assistant_messages(page)).to_have_text(["Hello, signed-in person."])

    assert [(request.url.rsplit("/", 1)[1], request.response().status) for request in sent] == [
        ("summarize", 200),
        ("todo", 200),
        ("stream", 200),
    ]
    assert all(request.headers.get(TOKEN_HEADER) for request in sent)

    page.locator("#sign-out").click()
    expect(page.locator("#account").get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#access-notice .access-title")).to_have_text("Sign in to use the tools.")
    for button in tool_buttons(page).all():
        expect(button).to_be_disabled()
    expect(user_messages(page)).to_have_count(0)
    assert page.evaluate("Object.keys(sessionStorage)") == []


def test_renewal_while_an_answer_streams_keeps_the_chat(
    signed_out_page: Page, sign_in_site: SignInSite, emulator_fake_model: FakeOpenAI
) -> None:
    page = signed_out_page
    page.clock.install()
    sign_in(page, sign_in_site.add_person(), PASSWORD)
    sent = api_requests(page)
    open_tab(page, "Chat")
    chat_once(page, emulator_fake_model, "First?", "First answer.")

    release = ask_and_hold_the_last_word(page, emulator_fake_model, "Second?", ["Second ", "answer."])
    expect(page.locator(".msg-assistant.is-streaming")).to_contain_text("Second")
    with page.expect_request(lambda r: "/oauth2/token" in r.url and "grant_type=refresh_token" in (r.post_data or "")):
        page.clock.fast_forward("56:00")  # the token lives 60 minutes; renewal is due 5 minutes before
    release.set()
    wait_until_answered(page)

    chat_once(page, emulator_fake_model, "Third?", "Third answer.")
    expect(assistant_messages(page)).to_have_text(["First answer.", "Second answer.", "Third answer."])
    tokens = [request.headers[TOKEN_HEADER] for request in sent]
    assert tokens[0] == tokens[1] != tokens[2]
    assert sent[2].response().status == 200


def test_call_after_the_token_expired_renews_it_first_and_keeps_the_chat(
    signed_out_page: Page, sign_in_site: SignInSite, emulator_fake_model: FakeOpenAI
) -> None:
    page = signed_out_page
    page.clock.install()
    sign_in(page, sign_in_site.add_person(), PASSWORD)
    sent = api_requests(page)
    open_tab(page, "Chat")
    chat_once(page, emulator_fake_model, "Before the laptop slept?", "Before.")

    page.clock.set_system_time(page.evaluate("Date.now()") + 61 * 60 * 1000)  # asleep: no timer ran
    chat_once(page, emulator_fake_model, "After it woke?", "After.")

    expect(assistant_messages(page)).to_have_text(["Before.", "After."])
    assert sent[0].headers[TOKEN_HEADER] != sent[1].headers[TOKEN_HEADER]
    assert sent[1].response().status == 200


def test_sign_in_that_can_no_longer_be_renewed_locks_the_tools_and_keeps_the_chat(
    signed_out_page: Page, sign_in_site: SignInSite, emulator_fake_model: FakeOpenAI
) -> None:
    page = signed_out_page
    page.clock.install()
    sign_in_with_a_chat(page, sign_in_site, emulator_fake_model, "Yes.")
    sign_in_site.end_sign_in(page)

    page.clock.fast_forward("56:00")
    expect(page.locator("#access-notice .access-title")).to_have_text("Your sign-in has expired: sign in again.")
    expect(page.locator("#chat-send")).to_be_disabled()
    expect(page.locator("#account").get_by_role("button", name="Sign in")).to_be_visible()
    expect(assistant_messages(page)).to_have_text(["Yes."])


def test_refused_token_offers_to_sign_in_again_without_losing_the_chat(
    signed_out_page: Page, sign_in_site: SignInSite, emulator_fake_model: FakeOpenAI
) -> None:
    page = signed_out_page
    email = sign_in_with_a_chat(page, sign_in_site, emulator_fake_model, "Kept.")

    def spoil_token(route: Route) -> None:
        route.continue_(headers={**route.request.headers, TOKEN_HEADER: "not-a-token"})

    page.route("**/api/stream", spoil_token, times=1)
    with page.expect_response("**/api/stream") as refused:
        send_chat(page, "Refused?")
    assert refused.value.status == 401
    message = error_message_of(refused.value.json())
    expect(page.locator("#access-notice .access-title")).to_have_text(message)
    # Said once, above: the turn's note says only what became of the message.
    expect(page.locator("#chat-log .msg-note.is-error .note-title")).to_have_text(
        "Not answered: you are no longer signed in."
    )
    expect(page.locator("#chat-input")).to_have_value("Refused?")
    expect(page.locator("#chat-send")).to_be_disabled()

    page.locator("#access-notice").get_by_role("button", name="Sign in again").click()
    page.wait_for_url("**/oauth2/authorize?*")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-email")).to_have_text(email)
    expect(page.get_by_role("tab", name="Chat")).to_have_attribute("aria-selected", "true")
    expect(user_messages(page)).to_have_text(["Still there?"])
    expect(assistant_messages(page)).to_have_text(["Kept."])
    expect(page.locator("#chat-input")).to_have_value("Refused?")
    expect(page.locator("#chat-send")).to_be_enabled()


def test_a_refused_token_no_longer_shows_who_is_signed_in(
    signed_out_page: Page, sign_in_site: SignInSite, emulator_fake_model: FakeOpenAI
) -> None:
    page = signed_out_page
    show_sign_in_again(page, sign_in_site, emulator_fake_model)
    expect(page.locator("#account-user")).to_be_hidden()
    expect(page.locator("#sign-out")).to_be_hidden()
    expect(page.locator("#account").get_by_role("button", name="Sign in")).to_be_visible()


@pytest.mark.parametrize("failure", ["503", "unreachable"])
def test_a_login_service_failure_at_load_keeps_the_sign_in_and_offers_to_try_again(
    signed_out_page: Page, sign_in_site: SignInSite, emulator_fake_model: FakeOpenAI, failure: str
) -> None:
    page = signed_out_page
    email = sign_in_with_a_chat(page, sign_in_site, emulator_fake_model, "Yes.")

    def fail(route: Route) -> None:
        if failure == "503":
            route.fulfill(status=503, json={"error": "service_unavailable"})
        else:
            route.abort("connectionrefused")

    page.route("**/oauth2/token", fail)
    page.reload()
    notice = page.locator("#access-notice")
    expect(notice.locator(".access-title")).to_have_text(
        "Your sign-in could not be checked: the login service failed or could not be reached."
    )
    expect(page.locator("#account-email")).to_be_hidden()
    expect(page.locator("#chat-send")).to_be_disabled()

    notice.get_by_role("button", name="Try again").press("Enter")
    expect(notice.get_by_role("button", name="Try again")).to_be_focused()  # failed again: ready for another

    page.unroute("**/oauth2/token")
    notice.get_by_role("button", name="Try again").press("Enter")
    expect(page.locator("#account-email")).to_have_text(email)
    expect(page.locator("#panel-chat")).to_be_focused()  # the notice is gone: focus goes to the open tool
    expect(page.locator("#chat-send")).to_be_enabled()
    expect(assistant_messages(page)).to_have_text(["Yes."])


def test_login_page_refusal_is_explained_and_the_tools_stay_locked(
    signed_out_page: Page, sign_in_site: SignInSite
) -> None:
    page = signed_out_page
    page.locator("#account").get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize?*")
    state = parse_qs(urlsplit(page.url).query)["state"][0]
    page.goto(sign_in_site.url + f"?error=access_denied&state={state}")
    expect(page.locator("#access-notice .access-title")).to_have_text("Sign-in failed: access_denied.")
    expect(page.locator("#access-notice").get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#chat-send")).to_be_disabled()
    assert page.url == sign_in_site.url


def test_answer_from_the_login_page_for_another_tab_is_refused(signed_out_page: Page, sign_in_site: SignInSite) -> None:
    page = signed_out_page
    page.goto(sign_in_site.url + "?code=stolen-code&state=forged")
    expect(page.locator("#access-notice .access-title")).to_have_text(
        "The sign-in answer does not belong to this tab: sign in again."
    )
    expect(page.locator("#account-user")).to_be_hidden()


# ------------------------------------------------------------------ other access modes


def test_iam_only_deployment_turns_the_tools_off_without_a_sign_in(
    signed_out_page: Page, sign_in_site: SignInSite
) -> None:
    page = signed_out_page
    serve_auth(page, sign_in_site, {"mode": "iam"})
    expect(page.locator("#access-notice")).to_have_text(
        "The tools are off on this deployment."
        "It has no page API: it admits only AWS SigV4-signed calls made directly to its function URLs."
    )
    expect(page.locator("#access-notice button")).to_have_count(0)
    expect(page.locator("#account")).to_be_hidden()
    for button in tool_buttons(page).all():
        expect(button).to_be_disabled()


def test_without_sign_in_the_page_shows_no_sign_in_at_all(signed_out_page: Page, sign_in_site: SignInSite) -> None:
    page = signed_out_page
    serve_auth(page, sign_in_site, {"mode": "none"})
    expect(page.locator("#summarize-form [type=submit]")).to_be_enabled()
    expect(page.locator("#account")).to_be_hidden()
    expect(page.locator("#access-notice")).to_be_hidden()


# ------------------------------------------------------------------ the Cognito login domain, as on AWS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("cognito_domain", ["https://login-0a1b2c3d.auth.eu-west-1.amazoncognito.com"])
def test_sign_in_at_a_cognito_domain_passes_the_pages_content_security_policy(
    signed_out_page: Page, sign_in_site: SignInSite, cognito_domain: str
) -> None:
    """The login domain on its own origin, as Cognito's is (routed to the stand-in; nothing leaves the machine):
    the token endpoint must be allowed by both the page's meta CSP and the header CloudFront sends for the
    stack whose login domain it is (template.yaml's policy, resolved for that stack)."""
    page = signed_out_page
    template, errors = decode(str(REPO / "template.yaml"))
    assert not errors, errors
    policy = content_security_policy(template, "cognito", stack(guid="0a1b2c3d-1111-2222-3333-444455556666"))

    def login_domain(route: Route) -> None:
        # Playwright routes only the first request of a redirect chain: the stand-in's redirect back to the
        # page becomes a navigation of its own, so the page's document below is served with CloudFront's policy.
        path = route.request.url.split("/", 3)[3]
        answered = route.fetch(url=f"{sign_in_site.emulator.url}/{path}", max_redirects=0)
        if answered.status not in {301, 302, 303, 307}:
            route.fulfill(response=answered)
            return
        target = html.escape(answered.headers["location"], quote=True)
        route.fulfill(content_type="text/html", body=f'<meta http-equiv="refresh" content="0;url={target}">')

    def with_deployed_policy(route: Route) -> None:
        served = route.fetch()
        route.fulfill(response=served, headers={**served.headers, "content-security-policy": policy})

    page.context.route(cognito_domain + "/**", login_domain)
    page.route(lambda url: urlsplit(url).path == "/", with_deployed_policy)
    auth = sign_in_site.pool.page_auth(cognito_domain, sign_in_site.url)
    serve_auth(page, sign_in_site, auth)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Security Policy" in message.text else None)
    email = sign_in_site.add_person()
    sign_in(page, email, PASSWORD)
    expect(page.locator("#summarize-form [type=submit]")).to_be_enabled()
    assert refused == []


# ------------------------------------------------------------------ accessibility of the sign-in's views


def show_signed_in(page: Page, site: SignInSite, fake: FakeOpenAI) -> None:
    sign_in(page, site.add_person(), PASSWORD)
    fake.enqueue(FakeReply(output={"bullets": ["Routes open in *March*.", "A review after six months."]}))
    page.locator("#panel-summarize").get_by_role("button", name="Try an example").click()
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#tokens-left")).to_be_visible()


def show_sign_in_again(page: Page, site: SignInSite, fake: FakeOpenAI) -> None:
    sign_in_with_a_chat(page, site, fake, "Yes.")
    page.route(
        "**/api/stream",
        lambda route: route.continue_(headers={**route.request.headers, TOKEN_HEADER: "not-a-token"}),
    )
    send_chat(page, "And now?")
    expect(page.locator("#access-notice").get_by_role("button", name="Sign in again")).to_be_visible()


ACCOUNT_VIEWS: dict[str, Callable[[Page, SignInSite, FakeOpenAI], None]] = {
    "signed-out": lambda page, site, fake: None,
    "signed-in": show_signed_in,
    "sign-in-again": show_sign_in_again,
    "iam-only": lambda page, site, fake: serve_auth(page, site, {"mode": "iam"}),
}


@pytest.mark.parametrize("view", list(ACCOUNT_VIEWS))
def test_axe_finds_nothing_serious_in_the_sign_in_views(
    signed_out_page: Page, sign_in_site: SignInSite, emulator_fake_model: FakeOpenAI, view: str
) -> None:
    page = signed_out_page
    page.emulate_media(reduced_motion="reduce")
    ACCOUNT_VIEWS[view](page, sign_in_site, emulator_fake_model)
    found = audit_every_width_and_colour_scheme(page, f"a11y-{view}")
    assert found == {key: [] for key in found}


def test_sign_in_starts_from_the_keyboard(signed_out_page: Page) -> None:
    page = signed_out_page
    page.locator("body").focus()
    for _ in range(3):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "sign-in":
            break
    expect(page.locator("#sign-in")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/oauth2/authorize?*")

"""What the browser tests share: moving around the page, reading the chat, signing in, auditing a view."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from infra.fake_openai import FakeReply

ARTIFACTS = Path(__file__).parent / "artifacts"
AXE = Axe()
VIEWPORTS = {"desktop": {"width": 1100, "height": 900}, "phone": {"width": 390, "height": 844}}
SERIOUS = {"serious", "critical"}

# Model output that would run script if it were ever parsed as HTML.
XSS_TOKENS = ["<img src=x onerror=alert(1)>", " <script>alert(2)</script>", ' <a href="javascript:alert(3)">link</a>']


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def send_chat(page: Page, text: str) -> None:
    page.locator("#chat-input").fill(text)
    page.locator("#chat-send").click()


def ask_and_hold_the_last_word(page: Page, fake_model: Any, question: str, tokens: list[str]) -> threading.Event:
    """Ask in the chat; the model writes all but its last token and holds that until the event is set."""
    release = threading.Event()
    fake_model.enqueue(FakeReply(tokens=tokens, hold_last_token=release))
    open_tab(page, "Chat")
    send_chat(page, question)
    return release


def make_todo(page: Page, fake_model: Any, todo: dict[str, Any], request: str = "Water the plants") -> None:
    """Ask for a TODO from its tab; the model answers ``todo``."""
    fake_model.enqueue(FakeReply(output=todo))
    open_tab(page, "TODO")
    page.locator("#todo-text").fill(request)
    page.locator("#todo-form button[type=submit]").click()


def assistant_messages(page: Page) -> Locator:
    return page.locator("#chat-log .msg-assistant .msg-text")


def user_messages(page: Page) -> Locator:
    return page.locator("#chat-log .msg-user .msg-text")


def wait_until_answered(page: Page) -> None:
    """The turn is over: Send is back (its label is "Answering…" while a turn runs)."""
    expect(page.locator("#chat-send")).to_have_text("Send")
    expect(page.locator("#chat-send")).to_be_enabled()


def error_message_of(response_json: dict) -> str:
    """The message in the server's error envelope, which the page shows as it is."""
    return str(response_json["error"]["message"])


def sign_in(page: Page, email: str, password: str) -> None:
    """From the page, through the login page (the local stand-in for Cognito's), and back, signed in."""
    page.locator("#account").get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize?*")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-email")).to_have_text(email)


def tool_buttons(page: Page) -> Locator:
    """The three buttons that call the API: Summarize, Create TODO, Send."""
    return page.locator("#summarize-form [type=submit], #todo-form [type=submit], #chat-send")


def save_screenshot(page: Page, name: str) -> Path:
    """What the page shows now, as tests/browser/artifacts/<name>.png (kept for people to look at)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def serious_violations(page: Page) -> list[str]:
    results = AXE.run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']]}"
        for violation in results.response["violations"]
        if violation["impact"] in SERIOUS
    ]


def audit_every_width_and_colour_scheme(page: Page, name: str) -> dict[str, list[str]]:
    """axe-core's serious findings at desktop and phone widths in light and dark, each view saved as
    <name>-<width>-<scheme>.png."""
    found = {}
    for viewport, size in VIEWPORTS.items():
        for scheme in ("light", "dark"):
            page.set_viewport_size(size)
            page.emulate_media(color_scheme=scheme)
            save_screenshot(page, f"{name}-{viewport}-{scheme}")
            found[f"{viewport}-{scheme}"] = serious_violations(page)
    return found

"""What the browser tests share: moving around the page and reading the chat."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

# Model output that would run script if it were ever parsed as HTML.
XSS_TOKENS = ["<img src=x onerror=alert(1)>", " <script>alert(2)</script>", ' <a href="javascript:alert(3)">link</a>']


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def send_chat(page: Page, text: str) -> None:
    page.locator("#chat-input").fill(text)
    page.locator("#chat-send").click()


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

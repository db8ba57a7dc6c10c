"""The page in Debian's Chromium, driven by Playwright, against the local emulator and the fake model."""

from __future__ import annotations

import json
import shutil
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from infra.emulator import Emulator
from infra.emulator.signin import LocalPool, add_local_user
from infra.fake_openai import FakeOpenAI
from tests.browser.support import save_screenshot

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The contexts' default timeout does not reach expect(), whose own is 5 s: some waits include a cold start or
# a sign-in on a loaded machine.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium when run as root")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, emulator: Emulator, emulator_fake_model: FakeOpenAI) -> Iterator[Page]:
    emulator_fake_model.reset()
    # en-US: a 12-hour clock, the one part of the page's writing that follows the browser's language.
    context = browser.new_context(timezone_id="Europe/Paris", locale="en-US", viewport={"width": 1100, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
    # Ready as a person finds it: the server's limits have arrived (and no fetch is cut off at teardown).
    with page.expect_response("**/config.json"):
        page.goto(emulator.url + "/")
    yield page
    context.close()
    emulator_fake_model.reset()


def opened(context: BrowserContext, url: str, timeout_ms: int = 10_000) -> Page:
    """A new page of ``context`` at ``url``, ready as a person finds it: the server's limits have arrived."""
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    with page.expect_response("**/config.json"):
        page.goto(url)
    return page


@pytest.fixture(scope="module")
def module_page(browser: Browser, emulator: Emulator) -> Iterator[Page]:
    """One page for a module's tests of pure modules, which leave nothing behind in it."""
    context = browser.new_context(locale="en-US")
    yield opened(context, emulator.url + "/")
    context.close()


@pytest.fixture
def phone_page(browser: Browser, emulator: Emulator, emulator_fake_model: FakeOpenAI) -> Iterator[Page]:
    """The page on a phone: a touch screen, 390 x 844."""
    emulator_fake_model.reset()
    context = browser.new_context(has_touch=True, is_mobile=True, viewport={"width": 390, "height": 844})
    yield opened(context, emulator.url + "/", timeout_ms=20_000)
    context.close()


@pytest.fixture
def screenshot(page: Page):
    """Save what the page shows now as tests/browser/artifacts/<name>.png (kept for people to look at)."""
    return lambda name: save_screenshot(page, name)


# ------------------------------------------------------------------ a deployment that signs people in

# Small enough for one long answer to spend most of it (test_budget.py), large enough for every tool.
SIGNED_IN_DAILY_TOKENS = 12_000
PASSWORD = "Browser password 42"


@dataclass(frozen=True)
class SignInSite:
    """The emulator as `make dev SIGN_IN=1` runs it: its functions in cognito mode (tokens checked against
    the stand-in's JWKS), a user pool in moto, and the stand-in for the login domain on the emulator's own
    origin."""

    emulator: Emulator

    @property
    def url(self) -> str:
        return self.emulator.url + "/"

    @property
    def pool(self) -> LocalPool:
        assert self.emulator.sign_in is not None
        return self.emulator.sign_in.pool

    def page_config(self, auth: dict[str, Any]) -> dict[str, Any]:
        """The served config.json with another ``auth``: the page as another deployment would find it."""
        with urllib.request.urlopen(self.emulator.url + "/config.json", timeout=10) as served:
            return {**json.loads(served.read()), "auth": auth}

    def add_person(self) -> str:
        """A new invited person (their own day of budget); returns their e-mail address."""
        email = f"person-{uuid.uuid4().hex[:8]}@example.com"
        add_local_user(self.pool, email, PASSWORD)
        return email

    def end_sign_in(self, page: Page) -> None:
        """Revoke the page's refresh token, as an admin's global sign-out would: its next renewal is refused."""
        refresh_token = page.evaluate("sessionStorage.getItem('auth.refresh')")
        revoke = {"token": refresh_token, "client_id": self.pool.client_id}
        page.request.post(self.emulator.url + "/oauth2/revoke", form=revoke)


@pytest.fixture(scope="module")
def sign_in_site(emulator_fake_model: FakeOpenAI) -> Iterator[SignInSite]:
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("DAILY_TOKENS_PER_USER", str(SIGNED_IN_DAILY_TOKENS))
        with Emulator(fake=emulator_fake_model, sign_in=True) as emulator:
            yield SignInSite(emulator)


def through_stand_in(site: SignInSite) -> Callable[[Route], None]:
    """A route handler for a login domain on another origin: the request, as the emulator's stand-in answers
    it (redirects passed on)."""

    def handle(route: Route) -> None:
        path = route.request.url.split("/", 3)[3]
        route.fulfill(response=route.fetch(url=f"{site.emulator.url}/{path}", max_redirects=0))

    return handle


@pytest.fixture
def signed_out_page(browser: Browser, sign_in_site: SignInSite, emulator_fake_model: FakeOpenAI) -> Iterator[Page]:
    """The sign-in site's page as someone who has not signed in finds it."""
    emulator_fake_model.reset()
    context = browser.new_context(timezone_id="Asia/Kolkata", locale="en-GB", viewport={"width": 1100, "height": 900})
    yield opened(context, sign_in_site.url)
    context.close()
    emulator_fake_model.reset()

"""The page in Debian's Chromium, driven by Playwright, against the local emulator and the fake model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from infra.emulator import Emulator
from infra.fake_openai import FakeOpenAI
from llm_core.page_config import page_config
from llm_core.settings import get_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


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


def serve_page_config(route: Route) -> None:
    """/config.json as the emulator serves it; built here from the emulator's settings while it serves none."""
    response = route.fetch()
    if response.status == 404:
        route.fulfill(json=page_config(get_settings().max_input_chars))
    else:
        route.fulfill(response=response)


@pytest.fixture
def page(browser: Browser, emulator: Emulator, emulator_fake_model: FakeOpenAI) -> Iterator[Page]:
    emulator_fake_model.reset()
    context = browser.new_context(timezone_id="Europe/Paris", viewport={"width": 1100, "height": 900})
    context.set_default_timeout(10_000)
    context.route("**/config.json", serve_page_config)
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
    # Ready as a person finds it: the server's limits have arrived (and no fetch is cut off at teardown).
    with page.expect_response("**/config.json"):
        page.goto(emulator.url + "/")
    yield page
    context.close()
    emulator_fake_model.reset()


@pytest.fixture(scope="module")
def module_page(browser: Browser, emulator: Emulator) -> Iterator[Page]:
    """One page for a module's tests of pure modules, which leave nothing behind in it."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    context.route("**/config.json", serve_page_config)
    page = context.new_page()
    with page.expect_response("**/config.json"):
        page.goto(emulator.url + "/")
    yield page
    context.close()


@pytest.fixture
def screenshot(page: Page):
    """Save what the page shows now as tests/browser/artifacts/<name>.png (kept for people to look at)."""

    def save(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return save

"""static/js/auth.js in Chromium: sign-in with code + PKCE through the local stand-in for Cognito (moto's user
pool behind it), renewal before expiry, sign-out, and what is kept where. The login domain is its own origin,
as Cognito's is, and the harness page runs under a CSP like the deployed one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import llm_core
from infra.emulator.signin import LocalPool, SignInStandIn, add_local_user, create_local_pool
from llm_core.identity import identify
from llm_core.page_config import page_config
from tests.asgi_server import serve

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).parent / "auth_harness"
EMAIL = "katherine@example.com"
PASSWORD = "Browser password 42"


@dataclass
class World:
    site: str
    login: str
    pool: LocalPool
    stand_in: SignInStandIn

    @property
    def harness(self) -> str:
        return f"{self.site}/harness.html"


def site_app(auth: dict[str, Any], csp: dict[str, str]) -> Starlette:
    """static/js and a harness page; config.json says how to sign in (filled in once the login domain runs)."""

    async def config(_: StarletteRequest) -> Response:
        return JSONResponse(page_config(20_000, auth))

    async def harness_page(_: StarletteRequest) -> Response:
        return FileResponse(HARNESS / "harness.html", headers={"content-security-policy": csp["value"]})

    async def harness_script(_: StarletteRequest) -> Response:
        return FileResponse(HARNESS / "harness.js", media_type="text/javascript")

    return Starlette(
        routes=[
            Route("/config.json", config),
            Route("/harness.html", harness_page),
            Route("/harness.js", harness_script),
            Mount("/js", StaticFiles(directory=REPO / "static" / "js")),
        ]
    )


@pytest.fixture(scope="module")
def world(moto_url: str) -> Iterator[World]:
    auth: dict[str, Any] = {}
    csp: dict[str, str] = {}
    with serve(site_app(auth, csp)) as site:
        pool = create_local_pool(moto_url, [f"{site}/harness.html"])
        add_local_user(pool, EMAIL, PASSWORD)
        stand_in = SignInStandIn(pool)
        with serve(stand_in) as login:
            auth.update(pool.page_auth(login, f"{site}/harness.html"))
            csp["value"] = f"default-src 'self'; connect-src 'self' {login}; base-uri 'none'; object-src 'none'"
            yield World(site, login, pool, stand_in)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def functions_trust(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions' settings for this pool, as `make dev` with sign-in sets them."""
    monkeypatch.setenv("OPENAI_SECRET_ID", "unused")
    for name, value in world.stand_in.functions_environment(world.login).items():
        monkeypatch.setenv(name, value)
    llm_core.reset_caches()
    yield
    llm_core.reset_caches()


def open_harness(page: Page, world: World, query: str = "") -> Any:
    page.goto(world.harness + query)
    page.wait_for_function("() => window.ready !== undefined")
    return page.evaluate("window.ready")


def sign_in(page: Page, world: World) -> Any:
    """Through the login page, as a person would; returns what start() resolved to back on the page."""
    open_harness(page, world)
    page.evaluate("() => { window.auth.signIn(); }")
    page.wait_for_url(f"{world.login}/oauth2/authorize?*")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{world.harness}*")
    page.wait_for_function("() => window.ready !== undefined")
    return page.evaluate("window.ready")


def access_token(page: Page) -> str:
    return page.evaluate("async () => (await window.auth.headers())['x-auth-token']")


def token_grant(world: World, form: dict[str, str]) -> dict[str, Any]:
    request = Request(f"{world.login}/oauth2/token", urlencode(form).encode(), method="POST")
    try:
        with urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except HTTPError as refused:  # the 400 that carries the OAuth error
        return json.loads(refused.read())


# ------------------------------------------------------------------ sign-in


def test_sign_in_shows_the_person_and_yields_a_token_the_functions_accept(
    page: Page, world: World, functions_trust: None
) -> None:
    assert sign_in(page, world) == {"email": EMAIL}
    assert identify({"x-auth-token": access_token(page)}, {}).kind == "user"


def test_return_from_the_login_page_leaves_no_code_in_the_address(page: Page, world: World) -> None:
    sign_in(page, world)
    assert page.url == world.harness


def test_only_the_refresh_token_is_kept_and_only_in_this_tab(page: Page, world: World) -> None:
    sign_in(page, world)
    stored = page.evaluate(
        "() => ({local: Object.keys(localStorage), session: Object.keys(sessionStorage), cookies: document.cookie})"
    )
    assert stored == {"local": [], "session": ["auth.refresh"], "cookies": ""}


def test_answer_with_a_forged_state_is_refused(page: Page, world: World) -> None:
    open_harness(page, world)
    page.evaluate("() => { window.auth.signIn(); }")
    page.wait_for_url(f"{world.login}/oauth2/authorize?*")
    exchanges: list[str] = []
    page.on("request", lambda request: exchanges.append(request.url) if "/oauth2/token" in request.url else None)
    result = open_harness(page, world, "?code=stolen-code&state=forged")
    assert result == {
        "error": "SignInFailed",
        "message": "The sign-in answer does not belong to this tab: sign in again.",
    }
    assert exchanges == []
    assert page.evaluate("window.auth.user()") is None


def pending_state(page: Page, world: World) -> str:
    """Start this tab's sign-in and return the state it sent to the login page."""
    open_harness(page, world)
    page.evaluate("() => { window.auth.signIn(); }")
    page.wait_for_url(f"{world.login}/oauth2/authorize?*")
    return parse_qs(urlsplit(page.url).query)["state"][0]


def test_refused_sign_in_reports_the_login_pages_error(page: Page, world: World) -> None:
    state = pending_state(page, world)
    result = open_harness(page, world, f"?error=access_denied&error_description=Account+disabled&state={state}")
    assert result == {"error": "SignInFailed", "message": "Sign-in failed: Account disabled."}


def test_an_error_for_no_sign_in_of_this_tab_shows_none_of_its_text(page: Page, world: World) -> None:
    # Anyone can link to the page with an error and a description of their choosing.
    result = open_harness(page, world, "?error=access_denied&error_description=Visit+evil.example&state=x")
    assert result == {
        "error": "SignInFailed",
        "message": "The sign-in answer does not belong to this tab: sign in again.",
    }


def test_reload_keeps_the_sign_in_of_this_tab(page: Page, world: World) -> None:
    sign_in(page, world)
    page.reload()
    page.wait_for_function("() => window.ready !== undefined")
    assert page.evaluate("window.ready") == {"email": EMAIL}


def test_a_new_tab_is_not_signed_in(page: Page, world: World) -> None:
    sign_in(page, world)
    other = page.context.new_page()
    assert open_harness(other, world) is None


def test_tools_need_a_sign_in_first(page: Page, world: World) -> None:
    open_harness(page, world)
    error = page.evaluate("() => window.auth.headers().then(() => null, (e) => [e.name, e.message])")
    assert error == ["SignInRequired", "Sign in to use the tools."]


# ------------------------------------------------------------------ renewal


def test_token_is_renewed_before_it_expires(page: Page, world: World, functions_trust: None) -> None:
    page.clock.install()
    sign_in(page, world)
    first = access_token(page)
    with page.expect_request(lambda r: "/oauth2/token" in r.url and "grant_type=refresh_token" in (r.post_data or "")):
        page.clock.fast_forward("56:00")  # the token lives 60 minutes; renewal is due 5 minutes before
    page.wait_for_function("() => window.changes.length >= 2")
    renewed = access_token(page)
    assert renewed != first
    assert identify({"x-auth-token": renewed}, {}).kind == "user"
    assert page.evaluate("window.auth.user()") == {"email": EMAIL}


def test_call_after_a_missed_renewal_renews_first(page: Page, world: World) -> None:
    page.clock.install()
    sign_in(page, world)
    first = access_token(page)
    page.clock.set_system_time(page.evaluate("Date.now()") + 58 * 60 * 1000)  # a sleeping laptop: no timer ran
    assert access_token(page) != first


def test_revoked_sign_in_locks_the_tools_at_the_next_renewal(page: Page, world: World) -> None:
    page.clock.install()
    sign_in(page, world)
    refresh_token = page.evaluate("sessionStorage.getItem('auth.refresh')")
    revoke = Request(
        f"{world.login}/oauth2/revoke",
        urlencode({"token": refresh_token, "client_id": world.pool.client_id}).encode(),
        method="POST",
    )
    urlopen(revoke, timeout=10).close()
    page.clock.fast_forward("56:00")
    page.wait_for_function("() => window.changes.at(-1) === null")
    error = page.evaluate("() => window.auth.headers().then(() => null, (e) => [e.name, e.message])")
    assert error == ["SignInRequired", "Sign in to use the tools."]
    assert page.evaluate("Object.keys(sessionStorage)") == []


# ------------------------------------------------------------------ sign-out


def test_sign_out_returns_to_the_page_signed_out(page: Page, world: World) -> None:
    sign_in(page, world)
    # Marks the signed-in page, so the wait below ends only on the page loaded after the sign-out's round trip.
    page.evaluate("() => { window.leaving = true; window.auth.signOut(); }")
    page.wait_for_function("() => window.leaving === undefined && window.ready !== undefined")
    assert page.evaluate("window.ready") is None
    assert page.evaluate("Object.keys(sessionStorage)") == []


def test_sign_out_revokes_the_refresh_token(page: Page, world: World) -> None:
    sign_in(page, world)
    refresh_token = page.evaluate("sessionStorage.getItem('auth.refresh')")
    with page.expect_response(lambda r: "/oauth2/revoke" in r.url):
        page.evaluate("() => { window.auth.signOut(); }")
    page.wait_for_url(world.harness)
    grant = {"grant_type": "refresh_token", "client_id": world.pool.client_id, "refresh_token": refresh_token}
    assert token_grant(world, grant) == {"error": "invalid_grant"}

"""infra.emulator.signin: the local stand-in for Cognito's managed login and OAuth endpoints, over HTTP, on moto's
user pool; the tokens it hands out pass the functions' own check (llm_core.identity)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

import llm_core
from infra.emulator.signin import CODE_LIFETIME_SECONDS, LocalPool, SignInStandIn, add_local_user, create_local_pool
from llm_core.errors import Unauthenticated
from llm_core.identity import Caller, identify
from llm_core.tokens import SIGN_IN_UNKNOWN_KEY
from tests.asgi_server import serve

SITE = "http://127.0.0.1:8000/"
EMAIL = "grace@example.com"
PASSWORD = "Local password 123"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def request(method: str, url: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Answer:
    """One HTTP exchange, redirects not followed."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    body = urlencode(form).encode() if form is not None else None
    sent = {**({"content-type": "application/x-www-form-urlencoded"} if form is not None else {}), **(headers or {})}
    try:
        connection.request(method, f"{parts.path}?{parts.query}" if parts.query else parts.path, body, sent)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def pool(moto_url: str) -> LocalPool:
    created = create_local_pool(moto_url, [SITE])
    add_local_user(created, EMAIL, PASSWORD)
    return created


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stand_in(pool: LocalPool, clock: Clock) -> SignInStandIn:
    return SignInStandIn(pool, clock=clock)


@pytest.fixture
def login(stand_in: SignInStandIn) -> Iterator[str]:
    """The stand-in's base URL: the login domain."""
    with serve(stand_in) as url:
        yield url


@pytest.fixture
def authorize_url(login: str, pool: LocalPool) -> Callable[..., str]:
    def build(verifier: str = "v" * 43, **overrides: str) -> str:
        params = {
            "response_type": "code",
            "client_id": pool.client_id,
            "redirect_uri": SITE,
            "scope": "openid email",
            "state": "state-123",
            "code_challenge": challenge_of(verifier),
            "code_challenge_method": "S256",
            **overrides,
        }
        return f"{login}/oauth2/authorize?{urlencode({k: v for k, v in params.items() if v})}"

    return build


@pytest.fixture
def code_for(authorize_url: Callable[..., str]) -> Callable[[str], str]:
    """Sign in through the form; the code the stand-in redirects back with."""

    def sign_in(verifier: str) -> str:
        answer = request("POST", authorize_url(verifier), {"email": EMAIL, "password": PASSWORD})
        assert answer.status == 302, answer.text
        return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]

    return sign_in


def redeem(login: str, pool: LocalPool, code: str, verifier: str, redirect_uri: str = SITE) -> Answer:
    form = {
        "grant_type": "authorization_code",
        "client_id": pool.client_id,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return request("POST", f"{login}/oauth2/token", form)


@pytest.fixture
def functions_trust(stand_in: SignInStandIn, login: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions' settings in `make dev` with sign-in: moto's pool, the stand-in's JWKS on the login domain."""
    monkeypatch.setenv("OPENAI_SECRET_ID", "unused")
    for name, value in stand_in.functions_environment(login).items():
        monkeypatch.setenv(name, value)
    llm_core.reset_caches()
    yield
    llm_core.reset_caches()


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


# ------------------------------------------------------------------ the whole flow


def test_code_exchange_with_pkce_yields_a_token_the_functions_accept(
    login: str, pool: LocalPool, code_for: Callable[[str], str], functions_trust: None
) -> None:
    verifier = new_verifier()
    tokens = redeem(login, pool, code_for(verifier), verifier).json
    caller = identify({"x-auth-token": tokens["access_token"]}, {})
    sub = claims_of(tokens["access_token"])["sub"]
    assert caller == Caller(f"user:{sub}", "user")


def test_token_response_has_the_oauth_fields(login: str, pool: LocalPool, code_for: Callable[[str], str]) -> None:
    verifier = new_verifier()
    answer = redeem(login, pool, code_for(verifier), verifier)
    assert set(answer.json) == {"access_token", "id_token", "refresh_token", "token_type", "expires_in"}
    assert answer.json["token_type"] == "Bearer"
    assert answer.headers["cache-control"] == "no-store"


def test_redirect_back_carries_the_state(authorize_url: Callable[..., str]) -> None:
    answer = request("POST", authorize_url(state="xyz-789"), {"email": EMAIL, "password": PASSWORD})
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == SITE
    assert parse_qs(location.query)["state"] == ["xyz-789"]


def test_refresh_grant_renews_the_access_token(
    login: str, pool: LocalPool, code_for: Callable[[str], str], functions_trust: None
) -> None:
    verifier = new_verifier()
    first = redeem(login, pool, code_for(verifier), verifier).json
    form = {"grant_type": "refresh_token", "client_id": pool.client_id, "refresh_token": first["refresh_token"]}
    renewed = request("POST", f"{login}/oauth2/token", form).json
    assert "refresh_token" not in renewed  # no rotation, as the template's app client
    assert renewed["access_token"] != first["access_token"]
    assert identify({"x-auth-token": renewed["access_token"]}, {}).kind == "user"


# ------------------------------------------------------------------ the signing key


def test_a_token_moto_signed_is_refused_by_the_functions(pool: LocalPool, functions_trust: None) -> None:
    # moto signs with a private key that ships with moto, so anyone could have made this token.
    straight_from_moto = pool.client().initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": EMAIL, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    with pytest.raises(Unauthenticated) as refused:
        identify({"x-auth-token": straight_from_moto}, {})
    assert refused.value.message == SIGN_IN_UNKNOWN_KEY


def test_tokens_keep_the_claims_moto_gave_them(login: str, pool: LocalPool, code_for: Callable[[str], str]) -> None:
    verifier = new_verifier()
    tokens = redeem(login, pool, code_for(verifier), verifier).json
    access, id_token = (claims_of(tokens[name]) for name in ("access_token", "id_token"))
    assert (access["client_id"], access["token_use"]) == (pool.client_id, "access")
    assert (id_token["email"], id_token["token_use"]) == (EMAIL, "id")
    assert access["iss"] == f"https://cognito-idp.{pool.region}.amazonaws.com/{pool.user_pool_id}"


def test_the_public_key_is_served_where_the_functions_look(login: str, stand_in: SignInStandIn) -> None:
    answer = request("GET", stand_in.functions_environment(login)["COGNITO_JWKS_URL"])
    [key] = answer.json["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # the private half stays in the stand-in


def test_each_stand_in_signs_with_a_key_of_its_own(pool: LocalPool) -> None:
    first, second = SignInStandIn(pool), SignInStandIn(pool)
    with serve(first) as first_url, serve(second) as second_url:
        keys = [
            request("GET", url + app.jwks_path).json["keys"][0]
            for url, app in ((first_url, first), (second_url, second))
        ]
    assert keys[0]["n"] != keys[1]["n"]
    assert keys[0]["kid"] != keys[1]["kid"]


# ------------------------------------------------------------------ the form


def test_authorize_shows_a_form_without_script(authorize_url: Callable[..., str]) -> None:
    answer = request("GET", authorize_url())
    assert answer.status == 200
    assert re.search(r"<form [^>]*method='post'>", answer.text)  # no action: it posts back to this URL
    assert "name='email'" in answer.text
    assert "name='password'" in answer.text
    assert "<script" not in answer.text
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")


def test_login_page_is_styled_by_the_pages_stylesheet_alone(authorize_url: Callable[..., str]) -> None:
    answer = request("GET", authorize_url())
    assert "<link rel='stylesheet' href='/css/app.css'>" in answer.text
    assert " style=" not in answer.text
    policy = answer.headers["content-security-policy"]
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_login_page_names_the_pages_icon_so_the_browser_asks_for_no_other(authorize_url: Callable[..., str]) -> None:
    answer = request("GET", authorize_url())
    assert "<link rel='icon' href='/favicon.svg' type='image/svg+xml'>" in answer.text
    assert "img-src 'self'" in answer.headers["content-security-policy"]


def test_wrong_password_shows_the_form_again_with_an_error(authorize_url: Callable[..., str]) -> None:
    answer = request("POST", authorize_url(), {"email": EMAIL, "password": "Not the password 1"})
    assert answer.status == 200
    assert "Incorrect username or password." in answer.text
    assert f"value='{EMAIL}'" in answer.text


def test_the_address_signs_in_in_any_mix_of_cases(authorize_url: Callable[..., str]) -> None:
    answer = request("POST", authorize_url(), {"email": EMAIL.upper(), "password": PASSWORD})
    assert answer.status == 302, answer.text


def test_email_is_escaped_in_the_form(authorize_url: Callable[..., str]) -> None:
    answer = request("POST", authorize_url(), {"email": "'><b>x@example.com", "password": "whatever 12"})
    assert "'><b>" not in answer.text


def test_unknown_redirect_uri_is_refused_without_redirecting(authorize_url: Callable[..., str]) -> None:
    answer = request("GET", authorize_url(redirect_uri="https://evil.example/"))
    assert answer.status == 400
    assert "location" not in answer.headers
    assert "redirect_uri is not a callback URL of this app client." in answer.text


def test_authorize_without_pkce_is_refused(authorize_url: Callable[..., str]) -> None:
    answer = request("GET", authorize_url(code_challenge="", code_challenge_method=""))
    assert answer.status == 400
    assert "PKCE is required here" in answer.text


def test_unknown_client_is_refused_saying_a_page_from_an_earlier_run_needs_a_reload(
    authorize_url: Callable[..., str],
) -> None:
    answer = request("GET", authorize_url(client_id="nosuchclient"))
    assert answer.status == 400
    assert "the page that sent you here is from an earlier run of make dev" in answer.text
    assert f"<a href='{SITE}'>Open the page</a>" in answer.text


# ------------------------------------------------------------------ the token endpoint


def test_wrong_code_verifier_is_invalid_grant(login: str, pool: LocalPool, code_for: Callable[[str], str]) -> None:
    code = code_for(new_verifier())
    answer = redeem(login, pool, code, new_verifier())
    assert (answer.status, answer.json) == (400, {"error": "invalid_grant"})


@pytest.mark.parametrize(
    "verifier",
    ["v" * 42, "v" * 129, "v" * 42 + "+", "v" * 42 + "/", "v" * 42 + "="],
    ids=["42 characters", "129 characters", "plus", "slash", "padding"],
)
def test_code_verifier_outside_rfc_7636_is_invalid_grant_even_when_it_matches_the_challenge(
    login: str, pool: LocalPool, code_for: Callable[[str], str], verifier: str
) -> None:
    # Cognito refuses such a verifier: a page that sent one would sign in locally and fail when deployed.
    answer = redeem(login, pool, code_for(verifier), verifier)
    assert (answer.status, answer.json) == (400, {"error": "invalid_grant"})


def test_code_works_once(login: str, pool: LocalPool, code_for: Callable[[str], str]) -> None:
    verifier = new_verifier()
    code = code_for(verifier)
    assert redeem(login, pool, code, verifier).status == 200
    assert redeem(login, pool, code, verifier).json == {"error": "invalid_grant"}


def test_code_expires(login: str, pool: LocalPool, code_for: Callable[[str], str], clock: Clock) -> None:
    verifier = new_verifier()
    code = code_for(verifier)
    clock.now += CODE_LIFETIME_SECONDS + 1
    assert redeem(login, pool, code, verifier).json == {"error": "invalid_grant"}


def test_code_is_bound_to_its_redirect_uri(login: str, pool: LocalPool, code_for: Callable[[str], str]) -> None:
    verifier = new_verifier()
    answer = redeem(login, pool, code_for(verifier), verifier, redirect_uri="http://127.0.0.1:8000/other")
    assert answer.json == {"error": "invalid_grant"}


def test_other_client_id_is_invalid_client(login: str, pool: LocalPool, code_for: Callable[[str], str]) -> None:
    verifier = new_verifier()
    form = {"grant_type": "authorization_code", "client_id": "nosuchclient", "code": code_for(verifier)}
    assert request("POST", f"{login}/oauth2/token", form).json == {"error": "invalid_client"}


def test_unknown_grant_type_is_refused(login: str, pool: LocalPool) -> None:
    form = {"grant_type": "password", "client_id": pool.client_id}
    assert request("POST", f"{login}/oauth2/token", form).json == {"error": "unsupported_grant_type"}


def test_revoked_refresh_token_is_invalid_grant(login: str, pool: LocalPool, code_for: Callable[[str], str]) -> None:
    verifier = new_verifier()
    refresh_token = redeem(login, pool, code_for(verifier), verifier).json["refresh_token"]
    revoked = request("POST", f"{login}/oauth2/revoke", {"token": refresh_token, "client_id": pool.client_id})
    assert revoked.status == 200
    form = {"grant_type": "refresh_token", "client_id": pool.client_id, "refresh_token": refresh_token}
    assert request("POST", f"{login}/oauth2/token", form).json == {"error": "invalid_grant"}


def test_made_up_refresh_token_is_invalid_grant(login: str, pool: LocalPool) -> None:
    form = {"grant_type": "refresh_token", "client_id": pool.client_id, "refresh_token": "made-up"}
    assert request("POST", f"{login}/oauth2/token", form).json == {"error": "invalid_grant"}


def test_token_endpoint_answers_the_page_origin_only(login: str, pool: LocalPool) -> None:
    form = {"grant_type": "refresh_token", "client_id": pool.client_id, "refresh_token": "x"}
    page = request("POST", f"{login}/oauth2/token", form, {"origin": "http://127.0.0.1:8000"})
    stranger = request("POST", f"{login}/oauth2/token", form, {"origin": "https://evil.example"})
    assert page.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    assert "access-control-allow-origin" not in stranger.headers


# ------------------------------------------------------------------ sign-out


def test_logout_returns_to_the_sign_out_url(login: str, pool: LocalPool) -> None:
    answer = request("GET", f"{login}/logout?{urlencode({'client_id': pool.client_id, 'logout_uri': SITE})}")
    assert (answer.status, answer.headers["location"]) == (302, SITE)


def test_logout_to_an_unknown_url_is_refused(login: str, pool: LocalPool) -> None:
    query = urlencode({"client_id": pool.client_id, "logout_uri": "https://evil.example/"})
    answer = request("GET", f"{login}/logout?{query}")
    assert answer.status == 400
    assert "location" not in answer.headers

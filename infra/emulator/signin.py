"""A local stand-in for Cognito's managed login and its OAuth 2.0 endpoints, on top of moto's user pool.

The page signs in locally exactly as it does on AWS: authorization code with PKCE (S256) against a login
domain, tokens from ``/oauth2/token``, renewal with the refresh token, ``/logout``. Here the login domain is
this ASGI app and the user pool is moto's. moto checks the password and issues the tokens; this app signs
their claims again with a key made for the run (token_signing.py), because moto signs with a key anyone can
have, and serves that key as the pool's JWKS at ``/<pool id>/.well-known/jwks.json``. The functions check the
tokens against it through the same code as on AWS (llm_core.identity). Only the login page, the code exchange
and the signing key are stood in for.

``make dev SIGN_IN=1`` (``python -m infra.emulator --sign-in``) does all of it with ``create_local_sign_in``:
the emulator serves the stand-in on its own origin, which is the page's login domain. By hand::

    pool = create_local_pool(moto_url, [site_url])      # callback and sign-out URL
    add_local_user(pool, "you@example.com", "A long local password 1")
    app = SignInStandIn(pool)                           # serve at the login domain's root
    app.functions_environment(login_url)                # ACCESS_MODE=cognito, the pool, this app's JWKS URL
    pool.page_auth(login_url, site_url)                 # the "auth" of the page's config.json

Endpoints, as Cognito names them: ``GET|POST /oauth2/authorize`` (a sign-in form; no script),
``POST /oauth2/token`` (``authorization_code`` with PKCE, ``refresh_token``), ``POST /oauth2/revoke``,
``GET /logout``; and ``GET /<pool id>/.well-known/jwks.json``, where Cognito serves a pool's keys below its
issuer.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, Router

from infra.emulator.aws import CREDENTIALS
from infra.emulator.runtime import REGION
from infra.emulator.token_signing import RunSigningKey
from llm_core.page_config import cognito_auth

CODE_LIFETIME_SECONDS = 300
LOCAL_EMAIL = "you@example.com"
# A second person with the same password, so the caps two people share can be tried locally.
SECOND_LOCAL_EMAIL = "friend@example.com"
# RFC 7636: 43 to 128 characters from the unreserved set.
CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# The template's policy, so a password that works here works there.
PASSWORD_POLICY = {
    "MinimumLength": 12,
    "RequireLowercase": True,
    "RequireUppercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
}
# The page's own stylesheet (same origin) and nothing else: no script, no inline style.
FORM_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
# moto answers some refusals (an unknown refresh token) with a 500, which botocore would retry.
MOTO_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1})


@dataclass(frozen=True)
class LocalPool:
    """A user pool and its public app client in moto's Cognito."""

    endpoint_url: str
    region: str
    user_pool_id: str
    client_id: str
    redirect_uris: tuple[str, ...]

    def client(self) -> Any:
        return _cognito(self.endpoint_url, self.region)

    def page_auth(self, login_url: str, site_url: str) -> dict[str, Any]:
        """The ``auth`` part of the page's config.json, as the publish step writes it for a stack."""
        return cognito_auth(self.user_pool_id, self.client_id, login_url, site_url)


def _cognito(endpoint_url: str, region: str) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=endpoint_url,
        region_name=region,
        config=MOTO_CLIENT_CONFIG,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def create_local_pool(endpoint_url: str, redirect_uris: Sequence[str], region: str = REGION) -> LocalPool:
    """A pool that signs in by e-mail, with a public client (no secret) whose callback and sign-out URLs
    are ``redirect_uris``, as the template creates on AWS."""
    cognito = _cognito(endpoint_url, region)
    pool_id = cognito.create_user_pool(
        PoolName="llm-endpoints-local",
        UsernameAttributes=["email"],
        UsernameConfiguration={"CaseSensitive": False},
        AutoVerifiedAttributes=["email"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
        Policies={"PasswordPolicy": PASSWORD_POLICY},
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="page",
        GenerateSecret=False,
        # USER_PASSWORD_AUTH is how this stand-in checks the password; the page never uses it.
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email"],
        CallbackURLs=list(redirect_uris),
        LogoutURLs=list(redirect_uris),
        SupportedIdentityProviders=["COGNITO"],
    )["UserPoolClient"]["ClientId"]
    return LocalPool(endpoint_url, region, pool_id, client_id, tuple(redirect_uris))


def local_password() -> str:
    """A new password for each run. A fixed one, written in the README, would let anyone who can reach the
    emulator (``--host 0.0.0.0``) sign in and spend the owner's OpenAI key; the pool lives only as long as
    the run anyway. The prefix meets the pool's policy (upper case, lower case, a digit) whatever follows."""
    return f"Local1-{secrets.token_hex(8)}"


def add_local_user(pool: LocalPool, email: str, password: str) -> None:
    """A confirmed user with a permanent password, as after the owner's ``admin-create-user`` and the
    person's first sign-in. Kept in lower case, as the sign-in looks addresses up (see _password_sign_in)."""
    email = email.lower()
    cognito = pool.client()
    cognito.admin_create_user(
        UserPoolId=pool.user_pool_id,
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(UserPoolId=pool.user_pool_id, Username=email, Password=password, Permanent=True)


@dataclass(frozen=True)
class LocalSignIn:
    """The sign-in of ``make dev SIGN_IN=1``: a pool whose callback and sign-out URL is the emulator's page,
    two users with one password, and the login domain (``stand_in``) on the emulator's own origin (the page's
    CSP allows no other locally)."""

    pool: LocalPool
    site_url: str
    email: str
    second_email: str
    password: str = field(repr=False)
    stand_in: SignInStandIn = field(repr=False)

    @property
    def login_url(self) -> str:
        return _origin(self.site_url)

    def page_auth(self) -> dict[str, Any]:
        return self.pool.page_auth(self.login_url, self.site_url)

    def functions_environment(self) -> dict[str, str]:
        return self.stand_in.functions_environment(self.login_url)


def create_local_sign_in(endpoint_url: str, site_url: str, region: str) -> LocalSignIn:
    """A pool in moto's Cognito at ``endpoint_url`` that comes back to ``site_url``, with the local users."""
    pool = create_local_pool(endpoint_url, [site_url], region)
    password = local_password()
    for email in (LOCAL_EMAIL, SECOND_LOCAL_EMAIL):
        add_local_user(pool, email, password)
    return LocalSignIn(pool, site_url, LOCAL_EMAIL, SECOND_LOCAL_EMAIL, password, SignInStandIn(pool))


@dataclass
class _Grant:
    """What an authorization code stands for until the page redeems it, once."""

    redirect_uri: str
    code_challenge: str
    tokens: dict[str, Any]
    issued_at: float


@dataclass
class _State:
    grants: dict[str, _Grant] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return urlunsplit(parts._replace(query=query))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# Cognito's own page says only "Unknown client_id"; here the likely cause is a page from an earlier run of
# make dev SIGN_IN=1, since each run makes a new pool and app client.
UNKNOWN_CLIENT = (
    "Unknown client_id: the page that sent you here is from an earlier run of make dev (each run makes a new "
    "user pool). Open the page again, and sign in from there."
)


def _alert(message: str) -> str:
    return f"<div class='error-box' role='alert'><p class='error-title'>{html.escape(message)}</p></div>"


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the only kind OAuth uses); the last value of a name wins."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


class SignInStandIn:
    """The ASGI app. ``clock`` is for tests that need a code to expire."""

    def __init__(self, pool: LocalPool, clock: Callable[[], float] = time.time) -> None:
        self.pool = pool
        self._clock = clock
        self._cognito = pool.client()
        self._state = _State()
        self._signing_key = RunSigningKey()
        # Where Cognito serves a pool's keys, below its issuer; here on the login domain's origin.
        self.jwks_path = f"/{pool.user_pool_id}/.well-known/jwks.json"
        routes = [
            Route(self.jwks_path, self._jwks, methods=["GET"]),
            Route("/oauth2/authorize", self._authorize, methods=["GET", "POST"]),
            Route("/oauth2/token", self._token, methods=["POST", "OPTIONS"]),
            Route("/oauth2/revoke", self._revoke, methods=["POST", "OPTIONS"]),
            Route("/logout", self._logout, methods=["GET"]),
        ]
        self.paths = frozenset(route.path for route in routes)
        """What a server that also serves other things (the emulator) passes to this app."""
        self._router = Router(routes=routes)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._router(scope, receive, send)

    def functions_environment(self, login_url: str) -> dict[str, str]:
        """What the functions need to accept the tokens this app hands out when it is served at ``login_url``:
        the pool, and this app's keys rather than moto's."""
        return {
            "ACCESS_MODE": "cognito",
            "COGNITO_USER_POOL_ID": self.pool.user_pool_id,
            "COGNITO_CLIENT_ID": self.pool.client_id,
            "COGNITO_JWKS_URL": login_url + self.jwks_path,
        }

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse(self._signing_key.jwks(), headers={"cache-control": "no-store"})

    def _signed_again(self, result: dict[str, Any]) -> dict[str, Any]:
        """moto's AuthenticationResult with its tokens signed by this run's key (token_signing.py)."""
        tokens = {name: self._signing_key.sign_again(result[name]) for name in ("AccessToken", "IdToken")}
        return {**result, **tokens}

    # ------------------------------------------------------------------ login page

    def _authorize_problem(self, params: dict[str, str]) -> str | None:
        """Why these authorize parameters cannot be served; None when they can. Cognito shows an error page
        rather than redirect to a URL it does not know, and so does this."""
        if params.get("client_id") != self.pool.client_id:
            return UNKNOWN_CLIENT
        if params.get("redirect_uri") not in self.pool.redirect_uris:
            return "redirect_uri is not a callback URL of this app client."
        if params.get("response_type") != "code":
            return "response_type must be code."
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "PKCE is required here: send code_challenge with code_challenge_method=S256."
        return None

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        problem = self._authorize_problem(params)
        if problem:
            return self._page("Sign-in cannot start", self._with_way_back(problem), 400)
        if request.method == "GET":
            return self._login_form(params.get("login_hint", ""), None)
        form = await _form(request)
        email, password = form.get("email", "").strip(), form.get("password", "")
        try:
            tokens = await run_in_threadpool(self._password_sign_in, email, password)
        except ClientError:
            return self._login_form(email, "Incorrect username or password.")
        code = secrets.token_urlsafe(32)
        self._state.grants[code] = _Grant(params["redirect_uri"], params["code_challenge"], tokens, self._clock())
        back = {"code": code, **({"state": params["state"]} if "state" in params else {})}
        return RedirectResponse(_with_query(params["redirect_uri"], back), status_code=302)

    def _password_sign_in(self, email: str, password: str) -> dict[str, Any]:
        # The pool's addresses are not case-sensitive (CaseSensitive false, as in the template); moto's always
        # are, so the address goes to it in lower case, as the local users are made.
        result = self._cognito.initiate_auth(
            ClientId=self.pool.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email.lower(), "PASSWORD": password},
        )
        return self._signed_again(result["AuthenticationResult"])

    def _login_form(self, email: str, error: str | None) -> Response:
        # No action attribute: the form posts back to this very URL, OAuth parameters included.
        body = (
            f"{_alert(error) if error else ''}<form class='card login-form' method='post'>"
            "<p class='hint'>The local stand-in for Cognito's sign-in page: <code>make dev SIGN_IN=1</code> printed "
            "the e-mail and password.</p>"
            "<div class='field'><label for='email'>E-mail</label><input id='email' name='email' type='email' "
            f"autocomplete='username' required value='{html.escape(email, quote=True)}'></div>"
            "<div class='field'><label for='password'>Password</label><input id='password' name='password' "
            "type='password' autocomplete='current-password' required></div>"
            "<div class='actions'><button class='button primary' type='submit'>Sign in</button></div></form>"
        )
        return self._page("Sign in (local stand-in for Cognito)", body, 200)

    def _with_way_back(self, problem: str) -> str:
        """The problem, and for a page from an earlier run a link to this run's page (its text kept for the
        sign-in comes back there)."""
        if problem != UNKNOWN_CLIENT:
            return _alert(problem)
        page = html.escape(self.pool.redirect_uris[0], quote=True)
        return f"{_alert(problem)}<p><a href='{page}'>Open the page</a></p>"

    @staticmethod
    def _page(title: str, body: str, status: int) -> Response:
        document = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><link rel='icon' href='/favicon.svg' type='image/svg+xml'>"
            "<link rel='stylesheet' href='/css/app.css'></head><body>"
            "<header class='site-header'><div class='wrap'><p class='brand'><span class='brand-mark'></span>"
            f"LLM on Lambda</p><h1 class='tagline'>{html.escape(title)}</h1></div></header>"
            f"<main class='wrap login-page'>{body}</main></body></html>"
        )
        return HTMLResponse(
            document, status, headers={"content-security-policy": FORM_CSP, "cache-control": "no-store"}
        )

    # ------------------------------------------------------------------ token endpoint

    def _cors(self, request: Request) -> dict[str, str]:
        """The page calls the token endpoint from its own origin, as it does Cognito's."""
        origin = request.headers.get("origin")
        if origin and origin in {_origin(uri) for uri in self.pool.redirect_uris}:
            return {"access-control-allow-origin": origin, "vary": "Origin"}
        return {}

    def _oauth_error(self, request: Request, error: str, status: int = 400) -> Response:
        return JSONResponse({"error": error}, status, headers={**self._cors(request), "cache-control": "no-store"})

    async def _token(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={**self._cors(request), "access-control-allow-methods": "POST"})
        form = await _form(request)
        if form.get("client_id") != self.pool.client_id:
            return self._oauth_error(request, "invalid_client")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            tokens = self._redeem_code(form)
        elif grant_type == "refresh_token":
            tokens = await run_in_threadpool(self._refresh, form.get("refresh_token", ""))
        else:
            return self._oauth_error(request, "unsupported_grant_type")
        if tokens is None:
            return self._oauth_error(request, "invalid_grant")
        return JSONResponse(tokens, headers={**self._cors(request), "cache-control": "no-store"})

    def _redeem_code(self, form: dict[str, str]) -> dict[str, Any] | None:
        grant = self._state.grants.pop(form.get("code", ""), None)  # a code works once, right or wrong
        verifier = form.get("code_verifier", "")
        if (
            grant is None
            or self._clock() - grant.issued_at > CODE_LIFETIME_SECONDS
            or form.get("redirect_uri") != grant.redirect_uri
            or not CODE_VERIFIER.fullmatch(verifier)
            or not secrets.compare_digest(_pkce_challenge(verifier), grant.code_challenge)
        ):
            return None
        return {
            "access_token": grant.tokens["AccessToken"],
            "id_token": grant.tokens["IdToken"],
            "refresh_token": grant.tokens["RefreshToken"],
            "token_type": "Bearer",
            "expires_in": grant.tokens["ExpiresIn"],
        }

    def _refresh(self, refresh_token: str) -> dict[str, Any] | None:
        if not refresh_token or refresh_token in self._state.revoked:
            return None
        try:
            result = self._signed_again(
                self._cognito.initiate_auth(
                    ClientId=self.pool.client_id,
                    AuthFlow="REFRESH_TOKEN_AUTH",
                    AuthParameters={"REFRESH_TOKEN": refresh_token},
                )["AuthenticationResult"]
            )
        except ClientError:
            return None
        # Without refresh token rotation, as the template's app client: no new refresh token.
        return {
            "access_token": result["AccessToken"],
            "id_token": result["IdToken"],
            "token_type": "Bearer",
            "expires_in": result["ExpiresIn"],
        }

    async def _revoke(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={**self._cors(request), "access-control-allow-methods": "POST"})
        form = await _form(request)
        if form.get("client_id") != self.pool.client_id:
            return self._oauth_error(request, "invalid_client")
        # moto has no RevokeToken; the stand-in remembers the revoked refresh tokens itself.
        self._state.revoked.add(form.get("token", ""))
        return Response(status_code=200, headers=self._cors(request))

    # ------------------------------------------------------------------ sign-out

    async def _logout(self, request: Request) -> Response:
        params = dict(request.query_params)
        if params.get("client_id") != self.pool.client_id:
            return self._page("Sign-out failed", self._with_way_back(UNKNOWN_CLIENT), 400)
        if params.get("logout_uri") not in self.pool.redirect_uris:
            return self._page("Sign-out failed", _alert("logout_uri is not a sign-out URL of this app client."), 400)
        return RedirectResponse(params["logout_uri"], status_code=302)

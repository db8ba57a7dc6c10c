"""Who is calling: one identity per request, for the access decision, logs, metrics, budgets and OpenAI's
``safety_identifier``.

Requests reach a function two ways. Through CloudFront (``/api/*``), where the origin access control signs
the origin request with SigV4 in ``Authorization`` and so overwrites whatever the viewer put there
(OriginAccessControlConfig.SigningBehavior ``always``: "CloudFront signs all origin requests, overwriting the
Authorization header from the viewer request if one exists", CloudFront API reference): a viewer's sign-in
token therefore travels in its own header, ``x-auth-token``, which the origin request policy forwards. Or
straight to the function URL, signed by an IAM principal of the account (``AuthType: AWS_IAM``), which the
function URL puts in ``requestContext.authorizer.iam``.

ACCESS_MODE decides who is admitted through CloudFront: ``cognito`` (a valid access token of the stack's user
pool), ``iam`` (nobody: direct SigV4 calls only), ``public`` (everyone, known by the address CloudFront saw),
``none`` (one person on their own machine; never a deployment). A direct SigV4 call is admitted in every mode:
the account's IAM policy already decided it may invoke the URL.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import jwt
from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.config import Config

from llm_core.errors import Forbidden, NotConfigured, Unauthenticated, Unavailable
from llm_core.settings import Settings, get_settings

logger = logging.getLogger(__name__)

TOKEN_HEADER = "x-auth-token"  # noqa: S105 - a header name
# Added by CloudFront when the origin request policy names it: "<address>:<port>", IPv6 unbracketed.
VIEWER_ADDRESS_HEADER = "cloudfront-viewer-address"
# CloudFront puts this on every origin request; a viewer cannot remove it.
CLOUDFRONT_REQUEST_ID_HEADER = "x-amz-cf-id"
# The role CloudFront's origin access control signs with, as function URLs report it in
# requestContext.authorizer.iam.userArn ("arn:aws:sts::<account>:assumed-role/OriginAccessControlRole/...").
OAC_ROLE_MARKER = ":assumed-role/OriginAccessControlRole/"

JWKS_TIMEOUT_SECONDS = 2.0  # per connect and per read; Cognito answers in milliseconds
JWKS_REFETCH_FLOOR_SECONDS = 30.0  # so a flood of made-up key ids costs at most one fetch per floor
JWKS_MAX_BYTES = 64 * 1024
TOKEN_MAX_CHARS = 8 * 1024  # Cognito access tokens are about 1 KB
LEEWAY_SECONDS = 30
CLIENT_ID_MAX_AGE_SECONDS = 900
SSM_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})

SIGN_IN_MISSING = f"Sign-in required: send your access token in the {TOKEN_HEADER} header. Sign in and try again."
SIGN_IN_EXPIRED = "Your sign-in has expired: sign in again."
SIGN_IN_INVALID = "The access token is invalid: sign in again."
SIGN_IN_NOT_RS256 = "The access token is not signed with RS256: sign in again."
SIGN_IN_UNKNOWN_KEY = "The access token is signed with a key this user pool does not have: sign in again."
SIGN_IN_WRONG_ISSUER = "The access token was not issued by this deployment's user pool: sign in again."
SIGN_IN_WRONG_CLIENT = "The access token was issued to another app client: sign in again."
SIGN_IN_NOT_ACCESS_TOKEN = "Send the access token, not the ID token: sign in again."  # noqa: S105
IAM_ONLY = (
    "This deployment admits only AWS SigV4-signed calls made directly to the function URLs "
    "(ACCESS_MODE=iam); the page's API is turned off."
)
JWKS_UNREACHABLE = "The user pool's signing keys could not be fetched, so no sign-in can be checked: try again shortly."

CallerKind = Literal["user", "iam", "ip", "local"]


@dataclass(frozen=True)
class Caller:
    """``id`` is stable per person: ``user:<sub>``, ``iam:<principal ARN>``, ``ip:<viewer address>`` or
    ``local``. It goes to logs, metrics and budgets; OpenAI gets only ``safety_identifier``."""

    id: str
    kind: CallerKind
    salt: str = field(default="", repr=False, compare=False)

    @property
    def safety_identifier(self) -> str:
        """HMAC-SHA256 of the id keyed with the deployment's salt, as 64 hex characters (the API's limit). The
        salt keeps a viewer's address from being found by hashing every address, and keeps one person's
        identifier different across deployments."""
        return hmac.new(self.salt.encode(), self.id.encode(), hashlib.sha256).hexdigest()


def identify(headers: Mapping[str, str], request_context: Mapping[str, Any]) -> Caller:
    """The caller of one request, or the error that refuses it.

    ``headers`` have lower-case names; ``request_context`` is the Function URL event's ``requestContext``.
    Raises Unauthenticated (no, expired or invalid token), Forbidden (the mode admits nobody through
    CloudFront), Unavailable (the user pool's keys cannot be fetched) or NotConfigured.
    """
    settings = get_settings()
    salt = settings.safety_identifier_salt
    if settings.access_mode == "none":
        return Caller("local", "local", salt)
    principal = _direct_iam_principal(headers, request_context)
    if principal is not None:
        return Caller(f"iam:{principal}", "iam", salt)
    if settings.access_mode == "iam":
        raise Forbidden(IAM_ONLY)
    if settings.access_mode == "public":
        return Caller(f"ip:{_viewer_address(headers, request_context)}", "ip", salt)
    claims = _verifier().verify(headers.get(TOKEN_HEADER))
    return Caller(f"user:{claims['sub']}", "user", salt)


def _direct_iam_principal(headers: Mapping[str, str], request_context: Mapping[str, Any]) -> str | None:
    """The IAM principal of a SigV4 call made straight to the function URL; None for a request CloudFront
    signed on a viewer's behalf, or one without IAM context (the local emulator). Either sign of CloudFront
    is enough: a viewer's request could pass for a direct call only if CloudFront stopped sending its request
    id and renamed the OAC's role at once."""
    authorizer = request_context.get("authorizer")
    iam = authorizer.get("iam") if isinstance(authorizer, Mapping) else None
    if not isinstance(iam, Mapping):
        return None
    principal = iam.get("userArn") or iam.get("userId")
    if not isinstance(principal, str) or not principal:
        return None
    if CLOUDFRONT_REQUEST_ID_HEADER in headers or OAC_ROLE_MARKER in principal:
        return None
    return principal


def _viewer_address(headers: Mapping[str, str], request_context: Mapping[str, Any]) -> str:
    """The viewer's IP address as CloudFront saw it, else the connection's source address."""
    host, _, _port = headers.get(VIEWER_ADDRESS_HEADER, "").strip().rpartition(":")
    source = (request_context.get("http") or {}).get("sourceIp")
    for candidate in (host.strip("[]"), source if isinstance(source, str) else ""):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return "unknown"


class KeySet:
    """A user pool's signing keys (JWKS), fetched once per execution environment and again only for a key id
    it does not know, at most once per ``refetch_floor_seconds``."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = JWKS_TIMEOUT_SECONDS,
        refetch_floor_seconds: float = JWKS_REFETCH_FLOOR_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._timeout = timeout_seconds
        self._floor = refetch_floor_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._last_fetch_failed = False

    def get(self, kid: str) -> jwt.PyJWK | None:
        """The key with this id; None if the pool has none. Raises Unavailable when the keys cannot be fetched."""
        with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            if self._fetched_at is not None and self._clock() - self._fetched_at < self._floor:
                if self._last_fetch_failed:
                    raise Unavailable(JWKS_UNREACHABLE)
                return None
            self._fetched_at = self._clock()
            try:
                self._keys = self._fetch()
            except Unavailable:
                self._last_fetch_failed = True
                raise
            self._last_fetch_failed = False
            return self._keys.get(kid)

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only, checked in Settings
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                body = response.read(JWKS_MAX_BYTES + 1)
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts and resets are all OSError
            logger.warning("JWKS fetch from %s failed: %s", self.url, type(exc).__name__)
            raise Unavailable(JWKS_UNREACHABLE) from None
        try:
            if len(body) > JWKS_MAX_BYTES:
                raise jwt.PyJWKSetError("larger than any key set")
            keys = jwt.PyJWKSet.from_json(body.decode("utf-8")).keys
        except (jwt.PyJWKSetError, jwt.PyJWKError, UnicodeDecodeError, ValueError) as exc:
            logger.warning("JWKS from %s is not a usable key set: %s", self.url, exc)
            raise Unavailable(JWKS_UNREACHABLE) from None
        return {key.key_id: key for key in keys if key.key_id}


def cognito_issuer(user_pool_id: str) -> str:
    """The ``iss`` of the pool's tokens; the pool id starts with its region (``eu-west-1_AbC123``)."""
    region = user_pool_id.split("_", 1)[0]
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class TokenVerifier:
    """Checks a Cognito access token: RS256 signature by one of the pool's keys, issuer, ``token_use``,
    client id, expiry. Access tokens, not ID tokens: an access token is the one meant for a resource server
    (an ID token's audience is the app itself), and it names its app client in ``client_id``."""

    def __init__(self, issuer: str, client_id: Callable[[], str], keys: KeySet) -> None:
        self.issuer = issuer
        self._client_id = client_id
        self.keys = keys

    def verify(self, token: str | None) -> dict[str, Any]:
        """The token's claims. Raises Unauthenticated, whose message never quotes the token."""
        if not token:
            raise Unauthenticated(SIGN_IN_MISSING)
        if len(token) > TOKEN_MAX_CHARS:
            raise Unauthenticated(SIGN_IN_INVALID)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated(SIGN_IN_INVALID) from None
        # Decided before any key is chosen, so neither "none" nor an HMAC keyed with the public key can pass.
        if header.get("alg") != "RS256":
            raise Unauthenticated(SIGN_IN_NOT_RS256)
        kid = header.get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated(SIGN_IN_UNKNOWN_KEY)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated(SIGN_IN_EXPIRED) from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated(SIGN_IN_WRONG_ISSUER) from None
        except jwt.InvalidTokenError:
            raise Unauthenticated(SIGN_IN_INVALID) from None
        if claims["token_use"] != "access":  # noqa: S105 - a claim value
            raise Unauthenticated(SIGN_IN_NOT_ACCESS_TOKEN)
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise Unauthenticated(SIGN_IN_INVALID)
        if claims.get("client_id") != self._client_id():
            raise Unauthenticated(SIGN_IN_WRONG_CLIENT)
        return claims


@lru_cache(maxsize=1)
def _verifier() -> TokenVerifier:
    """One verifier, with its key cache, per execution environment."""
    settings = get_settings()
    pool_id = settings.cognito_user_pool_id
    if not pool_id:
        raise NotConfigured("ACCESS_MODE=cognito needs COGNITO_USER_POOL_ID: set the user pool's id.")
    issuer = cognito_issuer(pool_id)
    keys = KeySet(settings.cognito_jwks_url or f"{issuer}/.well-known/jwks.json")
    return TokenVerifier(issuer, _client_id_source(settings), keys)


def _client_id_source(settings: Settings) -> Callable[[], str]:
    literal, parameter = settings.cognito_client_id, settings.cognito_client_id_parameter
    if literal:
        return lambda: literal
    if parameter:
        return lambda: _client_id_from_ssm(parameter)
    raise NotConfigured(
        "ACCESS_MODE=cognito needs COGNITO_CLIENT_ID, or COGNITO_CLIENT_ID_PARAMETER naming the SSM parameter "
        "that holds it."
    )


@lru_cache(maxsize=1)
def _ssm() -> SSMProvider:
    return SSMProvider(boto_config=SSM_CLIENT_CONFIG)


def _client_id_from_ssm(name: str) -> str:
    try:
        value = _ssm().get(name, max_age=CLIENT_ID_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        cause = exc.__context__
        code = getattr(cause, "response", {}).get("Error", {}).get("Code", "") if cause else ""
        if code in {"ParameterNotFound", "AccessDeniedException"}:
            raise NotConfigured(
                f"SSM parameter {name!r} (COGNITO_CLIENT_ID_PARAMETER) is missing or this function may not read it."
            ) from None
        raise Unavailable("The app client id could not be read from SSM: try again shortly.") from None
    if not isinstance(value, str) or not value.strip():
        raise NotConfigured(f"SSM parameter {name!r} (COGNITO_CLIENT_ID_PARAMETER) is empty.")
    return value.strip()

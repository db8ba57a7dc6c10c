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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from llm_core.errors import Forbidden, InvalidRequest, NotConfigured, Unavailable
from llm_core.observability import logger
from llm_core.settings import Settings, get_settings
from llm_core.timeouts import AWS_CLIENT_CONFIG

if TYPE_CHECKING:
    from llm_core.tokens import TokenVerifier


TOKEN_HEADER = "x-auth-token"  # noqa: S105 - a header name
# Added by CloudFront when the origin request policy names it: "<address>:<port>", IPv6 unbracketed.
VIEWER_ADDRESS_HEADER = "cloudfront-viewer-address"
# An IPv6 viewer is known by its network: providers hand a subscriber (and clouds a host) at least a /64.
IPV6_CALLER_PREFIX = 64
# CloudFront puts this on every origin request; a viewer cannot remove it.
CLOUDFRONT_REQUEST_ID_HEADER = "x-amz-cf-id"
# The role CloudFront's origin access control signs with, as function URLs report it in
# requestContext.authorizer.iam.userArn ("arn:aws:sts::<account>:assumed-role/OriginAccessControlRole/...").
OAC_ROLE_MARKER = ":assumed-role/OriginAccessControlRole/"

CLIENT_ID_MAX_AGE_SECONDS = 900

IAM_ONLY = (
    "This deployment admits only AWS SigV4-signed calls made directly to the function URLs "
    "(ACCESS_MODE=iam); the page's API is turned off."
)

# Public mode through CloudFront: what a viewer's budget is keyed on must be there and readable.
VIEWER_ADDRESS_NOT_FORWARDED = (
    "CloudFront did not forward CloudFront-Viewer-Address, which public mode keys each viewer's budget on: "
    "the distribution's origin request policy must include it. No model call was made."
)
VIEWER_ADDRESS_UNREADABLE = (
    "The CloudFront-Viewer-Address header is not one address and port, so this request's budget is unknown. "
    "No model call was made."
)

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
    CloudFront), InvalidRequest (a public caller's viewer address cannot be read), Unavailable (the user
    pool's keys cannot be fetched) or NotConfigured.
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
    """The viewer's IP address as CloudFront saw it; for IPv6, its /64 network, since one subscriber or host is
    given at least a whole /64 and could take a budget per address. Without CloudFront (the local emulator),
    the connection's source address.

    A request through CloudFront without a readable address is refused: falling back to the connection's
    address would put every viewer of one CloudFront edge in one budget, which one of them could spend."""
    stated = headers.get(VIEWER_ADDRESS_HEADER)
    if stated is None and CLOUDFRONT_REQUEST_ID_HEADER not in headers:
        source = (request_context.get("http") or {}).get("sourceIp")
        address = _ip_address(source if isinstance(source, str) else "")
        return _budget_key(address) if address else "unknown"
    if stated is None:
        raise NotConfigured(VIEWER_ADDRESS_NOT_FORWARDED)
    host, _, _port = stated.strip().rpartition(":")
    address = _ip_address(host.strip("[]"))
    if address is None:
        raise InvalidRequest(VIEWER_ADDRESS_UNREADABLE)
    return _budget_key(address)


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _budget_key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_CALLER_PREFIX), strict=False))
    return str(address)


def cognito_issuer(user_pool_id: str) -> str:
    """The ``iss`` of the pool's tokens; the pool id starts with its region (``eu-west-1_AbC123``)."""
    region = user_pool_id.split("_", 1)[0]
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


@lru_cache(maxsize=1)
def _verifier() -> TokenVerifier:
    """One verifier, with its key cache, per execution environment."""
    # Imported here, on the first request with a token: only this mode needs PyJWT and rsa.
    from llm_core.tokens import KeySet, TokenVerifier

    settings = get_settings()
    pool_id = settings.cognito_user_pool_id
    if not pool_id:
        raise NotConfigured("ACCESS_MODE=cognito needs COGNITO_USER_POOL_ID: set the user pool's id.")
    issuer = cognito_issuer(pool_id)
    keys = KeySet(settings.cognito_jwks_url or f"{issuer}/.well-known/jwks.json")
    return TokenVerifier(issuer, _client_id_source(settings), keys)


def forget_verifier() -> None:
    """Drop the verifier, its keys and the cached client id, as a new execution environment would."""
    global _client_id_cache
    _verifier.cache_clear()
    _ssm.cache_clear()
    _client_id_cache = None


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
def _ssm() -> Any:
    return boto3.client("ssm", config=AWS_CLIENT_CONFIG)


# Replaced whole, never changed in place: a reader on another thread sees the old value or the new one.
_client_id_cache: tuple[str, float] | None = None


def _client_id_from_ssm(name: str) -> str:
    """The app client id from SSM, cached for CLIENT_ID_MAX_AGE_SECONDS."""
    global _client_id_cache
    cached = _client_id_cache
    if cached is not None and time.monotonic() - cached[1] < CLIENT_ID_MAX_AGE_SECONDS:
        return cached[0]
    # The answers name the variable, not the parameter, whose path holds the stack's name: they may go to anyone
    # the deployment lets in. The log has the path.
    try:
        value = _ssm().get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        logger.error("the app client id could not be read from SSM", extra={"parameter": name, "error": code})
        if code in {"ParameterNotFound", "AccessDeniedException"}:
            raise NotConfigured(
                "The SSM parameter named by COGNITO_CLIENT_ID_PARAMETER is missing, or this function may not read it."
            ) from None
        raise Unavailable("The app client id could not be read from SSM: try again shortly.") from None
    except BotoCoreError as exc:
        logger.error(
            "the app client id could not be read from SSM", extra={"parameter": name, "error": type(exc).__name__}
        )
        raise Unavailable("The app client id could not be read from SSM: try again shortly.") from None
    if not isinstance(value, str) or not value.strip():
        logger.error("the app client id's SSM parameter is empty", extra={"parameter": name})
        raise NotConfigured("The SSM parameter named by COGNITO_CLIENT_ID_PARAMETER is empty.")
    _client_id_cache = (value.strip(), time.monotonic())
    return value.strip()

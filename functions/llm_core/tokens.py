"""Verifying a Cognito access token: the pool's signing keys (JWKS), the RS256 signature, and the claims.

PyJWT checks the claims. Its own RS256 needs ``cryptography`` (15 MB of the 40 MB the layer may hold), so the
signature is verified here with ``rsa``, pure Python: verification uses only the public key, so the timing
side channels that matter when signing or decrypting do not apply. A module of its own, loaded on first use
(llm_core.identity), because only ACCESS_MODE=cognito needs it.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any, NoReturn

import jwt
import rsa
from jwt.algorithms import Algorithm

from llm_core.errors import Unauthenticated, Unavailable
from llm_core.identity import TOKEN_HEADER
from llm_core.observability import logger
from llm_core.timeouts import JWKS_TIMEOUT_SECONDS

JWKS_REFETCH_FLOOR_SECONDS = 30.0  # so a flood of made-up key ids costs at most one fetch per floor
JWKS_MAX_BYTES = 64 * 1024
TOKEN_MAX_CHARS = 8 * 1024  # Cognito access tokens are about 1 KB
LEEWAY_SECONDS = 30
SIGN_IN_MISSING = f"Sign-in required: send your access token in the {TOKEN_HEADER} header. Sign in and try again."
SIGN_IN_EXPIRED = "Your sign-in has expired: sign in again."
SIGN_IN_INVALID = "The access token is invalid: sign in again."
SIGN_IN_WITH_SCHEME = f'Send the access token alone in the {TOKEN_HEADER} header, without "Bearer " before it.'
SIGN_IN_REPEATED = f"The {TOKEN_HEADER} header was sent more than once: send one access token."
SIGN_IN_NOT_RS256 = "The access token is not signed with RS256: sign in again."
SIGN_IN_UNKNOWN_KEY = "The access token is signed with a key this user pool does not have: sign in again."
SIGN_IN_WRONG_ISSUER = "The access token was not issued by this deployment's user pool: sign in again."
SIGN_IN_WRONG_CLIENT = "The access token was issued to another app client: sign in again."
SIGN_IN_NOT_ACCESS_TOKEN = "Send the access token, not the ID token: sign in again."  # noqa: S105
# HTTP asks every 401 to say how to authenticate (RFC 9110, 15.5.2). The scheme is this project's own, so no
# browser offers its password prompt: the token goes in TOKEN_HEADER, not in Authorization.
CHALLENGE = f'AccessToken header="{TOKEN_HEADER}"'
JWKS_UNREACHABLE = "The user pool's signing keys could not be fetched, so no sign-in can be checked: try again shortly."


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
        self._keys: dict[str, rsa.PublicKey] = {}
        self._fetched_at: float | None = None
        self._last_fetch_failed = False

    def get(self, kid: str) -> rsa.PublicKey | None:
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

    def _fetch(self) -> dict[str, rsa.PublicKey]:
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310 - http(s) only, checked in Settings
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                body = response.read(JWKS_MAX_BYTES + 1)
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts and resets are all OSError
            logger.warning(
                "the user pool's keys could not be fetched", extra={"url": self.url, "error": type(exc).__name__}
            )
            raise Unavailable(JWKS_UNREACHABLE) from None
        try:
            if len(body) > JWKS_MAX_BYTES:
                raise ValueError("larger than any key set")
            return rs256_keys(json.loads(body))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("the user pool's keys are not a usable key set", extra={"url": self.url, "error": str(exc)})
            raise Unavailable(JWKS_UNREACHABLE) from None


def rs256_keys(jwks: Any) -> dict[str, rsa.PublicKey]:
    """The RSA signing keys of a JWKS document by key id (RFC 7517; RFC 7518 section 6.3.1). Raises ValueError
    when it holds none."""
    keys = {}
    for jwk in jwks["keys"]:
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue
        if isinstance(jwk.get("kid"), str) and jwk["kid"]:
            keys[jwk["kid"]] = rsa.PublicKey(_base64url_int(jwk["n"]), _base64url_int(jwk["e"]))
    if not keys:
        raise ValueError("no RS256 signing key")
    return keys


def _base64url_int(value: str) -> int:
    try:
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")
    except binascii.Error:
        raise ValueError("a key number is not base64url") from None


class RsaSha256(Algorithm):
    """RS256 (RSASSA-PKCS1-v1_5 with SHA-256) for PyJWT, verification only, by ``rsa``."""

    def prepare_key(self, key: Any) -> rsa.PublicKey:
        if not isinstance(key, rsa.PublicKey):
            raise jwt.InvalidKeyError("RS256 verification needs an rsa.PublicKey")
        return key

    def verify(self, msg: bytes, key: rsa.PublicKey, sig: bytes) -> bool:
        try:
            # rsa.verify accepts whichever hash the signature's padding names; SHA-1 or SHA-512 is not RS256.
            return bool(rsa.verify(msg, sig, key) == "SHA-256")
        except rsa.VerificationError:
            return False

    def sign(self, msg: bytes, key: Any) -> NoReturn:
        raise NotImplementedError("the functions only verify tokens")

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> NoReturn:
        raise NotImplementedError("keys come from the pool's JWKS")

    @staticmethod
    def from_jwk(jwk: str | dict[str, Any]) -> NoReturn:
        raise NotImplementedError("keys come from rs256_keys")


class _Rs256Jwt(jwt.PyJWT):
    """PyJWT's claim checks over a signature layer that knows RS256 by ``rsa`` and nothing else, whether or not
    ``cryptography`` is installed (the tests have it, to sign)."""

    def __init__(self) -> None:
        super().__init__()
        self._jws = jwt.PyJWS(algorithms=[], options=self._get_sig_options())
        self._jws.register_algorithm("RS256", RsaSha256())


_jwt = _Rs256Jwt()


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
        if not token or not token.strip():  # a header with nothing in it is no token sent
            raise _refused(SIGN_IN_MISSING)
        if token[:7].lower() == "bearer ":  # the Authorization header's habit, which this header does not take
            raise _refused(SIGN_IN_WITH_SCHEME)
        # A JWT has no comma; a header sent twice arrives as one value, joined with commas (as Function URLs
        # join them).
        if "," in token:
            raise _refused(SIGN_IN_REPEATED)
        if len(token) > TOKEN_MAX_CHARS:
            raise _refused(SIGN_IN_INVALID)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _refused(SIGN_IN_INVALID) from None
        # Decided before any key is chosen, so neither "none" nor an HMAC keyed with the public key can pass.
        if header.get("alg") != "RS256":
            raise _refused(SIGN_IN_NOT_RS256)
        kid = header.get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise _refused(SIGN_IN_UNKNOWN_KEY)
        try:
            claims: dict[str, Any] = _jwt.decode(
                token,
                key,  # type: ignore[arg-type]  # PyJWT annotates only the key types of its own algorithms
                algorithms=["RS256"],
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise _refused(SIGN_IN_EXPIRED) from None
        except jwt.InvalidIssuerError:
            raise _refused(SIGN_IN_WRONG_ISSUER) from None
        except jwt.InvalidTokenError:
            raise _refused(SIGN_IN_INVALID) from None
        if claims["token_use"] != "access":  # noqa: S105 - a claim value
            raise _refused(SIGN_IN_NOT_ACCESS_TOKEN)
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise _refused(SIGN_IN_INVALID)
        if claims.get("client_id") != self._client_id():
            raise _refused(SIGN_IN_WRONG_CLIENT)
        return claims


def _refused(message: str) -> Unauthenticated:
    return Unauthenticated(message, {"www-authenticate": CHALLENGE})

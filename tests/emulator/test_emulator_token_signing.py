"""infra.emulator.token_signing: moto's tokens signed again with a key made for the run."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from infra.emulator.token_signing import RunSigningKey

CLAIMS = {
    "sub": "4a1f0c2e-0000-4000-8000-000000000001",
    "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
    "client_id": "page-client",
    "token_use": "access",
    "scope": "openid email",
    "exp": int(time.time()) + 3600,
}


@pytest.fixture(scope="module")
def key() -> RunSigningKey:
    return RunSigningKey()


@pytest.fixture(scope="module")
def moto_token() -> str:
    """A token as moto hands it out: signed by another key, which the signing key never checks."""
    other = RunSigningKey()
    return other.sign_again(jwt.encode(CLAIMS, "an HMAC secret of at least 32 bytes", algorithm="HS256"))


def published_key(key: RunSigningKey) -> Any:
    [jwk] = key.jwks()["keys"]
    return jwt.PyJWK(jwk).key


def test_signed_again_the_token_verifies_with_the_published_key(key: RunSigningKey, moto_token: str) -> None:
    claims = jwt.decode(key.sign_again(moto_token), published_key(key), algorithms=["RS256"])
    assert claims == CLAIMS


def test_signed_again_the_token_names_the_published_key_id(key: RunSigningKey, moto_token: str) -> None:
    header = jwt.get_unverified_header(key.sign_again(moto_token))
    assert (header["alg"], header["kid"]) == ("RS256", key.jwks()["keys"][0]["kid"])


def test_the_token_as_moto_signed_it_does_not_verify_with_the_published_key(
    key: RunSigningKey, moto_token: str
) -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(moto_token, published_key(key), algorithms=["RS256"])


def test_the_repr_names_only_the_key_id(key: RunSigningKey) -> None:
    assert repr(key) == f"RunSigningKey(key_id={key.key_id!r})"

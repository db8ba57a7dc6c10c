"""infra.emulator.token_signing: moto's tokens signed again with a key made for the run."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.emulator.token_signing import RunSigningKey

NOW = int(time.time())
# The claims of an access token as moto issues it.
CLAIMS = {
    "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
    "sub": "4a1f0c2e-0000-4000-8000-000000000001",
    "client_id": "page-client",
    "token_use": "access",
    "auth_time": NOW,
    "exp": NOW + 3600,
    "iat": NOW,
    "jti": "0b9e6c1a-0000-4000-8000-000000000002",
    "origin_jti": "0b9e6c1a-0000-4000-8000-000000000003",
    "scope": "openid email",
    "username": "4a1f0c2e-0000-4000-8000-000000000001",
}


@pytest.fixture(scope="module")
def key() -> RunSigningKey:
    return RunSigningKey()


@pytest.fixture(scope="module")
def moto_token() -> str:
    """A token as moto hands it out: signed by moto's own key, under its key id."""
    motos_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(CLAIMS, motos_key, algorithm="RS256", headers={"kid": "dummy"})


def published_key(key: RunSigningKey) -> Any:
    [jwk] = key.jwks()["keys"]
    return jwt.PyJWK(jwk).key


def test_signed_again_the_token_verifies_with_the_published_key(key: RunSigningKey, moto_token: str) -> None:
    claims = jwt.decode(key.sign_again(moto_token), published_key(key), algorithms=["RS256"])
    assert claims == CLAIMS


def test_signed_again_the_token_names_the_published_key_id(key: RunSigningKey, moto_token: str) -> None:
    header = jwt.get_unverified_header(key.sign_again(moto_token))
    assert (header["alg"], header["kid"]) == ("RS256", key.jwks()["keys"][0]["kid"])


def test_a_token_signed_with_another_key_does_not_verify_with_the_published_key(
    key: RunSigningKey, moto_token: str
) -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(moto_token, published_key(key), algorithms=["RS256"])


def test_the_repr_names_only_the_key_id(key: RunSigningKey) -> None:
    assert repr(key) == f"RunSigningKey(key_id={key.key_id!r})"

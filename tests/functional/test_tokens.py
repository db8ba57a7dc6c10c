"""llm_core.tokens' RS256 by ``rsa``: the layer ships no ``cryptography``, and only SHA-256 signatures pass."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import rsa as pure_rsa
from cryptography.hazmat.primitives.asymmetric import rsa

from llm_core import tokens
from llm_core.errors import Unauthenticated

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1"
CLIENT_ID = "testclient0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "ada", "iss": ISSUER, "token_use": "access", "client_id": CLIENT_ID, "iat": now, "exp": now + 600}


def jwks_of(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    return {
        "keys": [{**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "alg": "RS256"}]
    }


class FixedKeys(tokens.KeySet):
    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__("http://127.0.0.1:9/unused")
        self._jwks = jwks

    def _fetch(self) -> dict[str, pure_rsa.PublicKey]:
        return tokens.rs256_keys(self._jwks)


def test_a_token_verifies_where_cryptography_cannot_be_imported(private_key):
    token = jwt.encode(claims(), private_key, "RS256", headers={"kid": "k1"})
    script = f"""
import json, sys
sys.modules["cryptography"] = None  # as in the layer, which does not ship it
from llm_core import tokens
keys = tokens.rs256_keys(json.loads({json.dumps(jwks_of(private_key))!r}))
class FixedKeys(tokens.KeySet):
    def _fetch(self):
        return keys
verifier = tokens.TokenVerifier({ISSUER!r}, lambda: {CLIENT_ID!r}, FixedKeys("http://127.0.0.1:9/unused"))
print(verifier.verify({token!r})["sub"])
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(REPO / "functions"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ada"), result.stderr


def test_a_signature_over_another_hash_is_not_rs256(private_key):
    header = jwt.utils.base64url_encode(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode()).decode()
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode()).decode()
    numbers = private_key.private_numbers()
    legacy = pure_rsa.PrivateKey(numbers.public_numbers.n, numbers.public_numbers.e, numbers.d, numbers.p, numbers.q)
    signature = pure_rsa.sign(f"{header}.{payload}".encode(), legacy, "SHA-1")
    token = f"{header}.{payload}.{jwt.utils.base64url_encode(signature).decode()}"
    verifier = tokens.TokenVerifier(ISSUER, lambda: CLIENT_ID, FixedKeys(jwks_of(private_key)))
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(token)
    assert refused.value.message == tokens.SIGN_IN_INVALID


def test_a_jwks_without_an_rs256_signing_key_is_not_usable():
    with pytest.raises(ValueError, match="no RS256 signing key"):
        tokens.rs256_keys({"keys": [{"kty": "EC", "kid": "k1", "crv": "P-256", "x": "AA", "y": "AA"}]})


def test_a_key_marked_for_encryption_does_not_verify_signatures(private_key):
    encryption_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = jwks_of(private_key)
    jwks["keys"].append({**jwks_of(encryption_key)["keys"][0], "kid": "k-enc", "use": "enc"})
    verifier = tokens.TokenVerifier(ISSUER, lambda: CLIENT_ID, FixedKeys(jwks))
    token = jwt.encode(claims(), encryption_key, "RS256", headers={"kid": "k-enc"})
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(token)
    assert refused.value.message == tokens.SIGN_IN_UNKNOWN_KEY

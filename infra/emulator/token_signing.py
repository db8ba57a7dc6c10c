"""A signing key made for each run, for the local sign-in's tokens.

moto signs every user pool's tokens with one private key that ships with moto, so a function that trusted
moto's JWKS would accept a token anyone can make. The sign-in stand-in (signin.py) therefore signs the
claims of moto's tokens again with a key that exists only in this process, and serves that key's public half
as the pool's JWKS; the functions fetch it from there (``COGNITO_JWKS_URL``) and check tokens with the same
code as on AWS.
"""

from __future__ import annotations

import secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

# Cognito's key size and exponent.
KEY_SIZE_BITS = 2048
PUBLIC_EXPONENT = 65537


class RunSigningKey:
    """An RS256 key pair and its key id, new for each instance. The private half never leaves this object."""

    def __init__(self) -> None:
        self._private_key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_SIZE_BITS)
        self.key_id = secrets.token_hex(16)

    def __repr__(self) -> str:
        return f"RunSigningKey(key_id={self.key_id!r})"

    def sign_again(self, token: str) -> str:
        """``token``'s claims, unchanged, signed with this key. Only for a token this process received from
        moto itself: its own signature is not checked."""
        claims = jwt.decode(token, options={"verify_signature": False})
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self.key_id})

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS document, in the shape Cognito serves."""
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        key = {"kty": "RSA", "e": public["e"], "n": public["n"], "kid": self.key_id, "alg": "RS256", "use": "sig"}
        return {"keys": [key]}

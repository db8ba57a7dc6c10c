"""llm_core.identity: who may call in each access mode, and the Cognito access-token check.

Real tokens come from moto's Cognito (served by moto on a loopback port, JWKS included); the refusals use
tokens signed with a test RSA key whose JWKS a loopback server serves, so every claim can be bent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws

import llm_core
from infra.emulator.signin import LocalPool
from llm_core import identity, observability, timeouts, tokens
from llm_core.errors import Forbidden, InvalidRequest, NotConfigured, Unauthenticated, Unavailable
from llm_core.identity import VIEWER_ADDRESS_NOT_FORWARDED, VIEWER_ADDRESS_UNREADABLE, Caller, identify
from llm_core.tokens import KeySet
from tests.functional.conftest import trusting_motos_key
from tests.support import closed_port_url

POOL_ID = "eu-west-1_TestPool1"
ISSUER = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}"
CLIENT_ID = "testclient0123456789abcdef"
KID = "test-key-1"
OAC_ARN = "arn:aws:sts::111122223333:assumed-role/OriginAccessControlRole/EdgeCredentialsProxy+EdgeHostAuth-NRT12-P2"
OWNER_ARN = "arn:aws:iam::123456789012:user/owner"


# ------------------------------------------------------------------ key material and servers


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk_of(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256"}


class JwksServer:
    """A loopback JWKS endpoint that counts its requests; ``status`` and ``body`` can be changed."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.hits = 0
        self.status = 200
        self.body = json.dumps({"keys": keys}).encode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def jwks(private_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    server = JwksServer([jwk_of(private_key, KID)])
    yield server
    server.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


# ------------------------------------------------------------------ settings


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set the access settings (and nothing else that matters here) as the template would."""
    names = [
        "ACCESS_MODE",
        "COGNITO_USER_POOL_ID",
        "COGNITO_CLIENT_ID",
        "COGNITO_CLIENT_ID_PARAMETER",
        "COGNITO_JWKS_URL",
        "SAFETY_IDENTIFIER_SALT",
    ]

    def apply(**values: str) -> None:
        for name in names:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("OPENAI_SECRET_ID", "unused")
        for name, value in values.items():
            monkeypatch.setenv(name.upper(), value)
        llm_core.reset_caches()

    yield apply
    llm_core.reset_caches()


@pytest.fixture
def own_pool(configure: Callable[..., None], jwks: JwksServer) -> JwksServer:
    """Cognito mode for POOL_ID/CLIENT_ID, whose keys are the test key served by ``jwks``."""
    configure(
        access_mode="cognito", cognito_user_pool_id=POOL_ID, cognito_client_id=CLIENT_ID, cognito_jwks_url=jwks.url
    )
    return jwks


@pytest.fixture
def moto_pool(configure: Callable[..., None], local_pool: LocalPool) -> LocalPool:
    trusted = trusting_motos_key(local_pool)
    configure(
        access_mode="cognito",
        cognito_user_pool_id=local_pool.user_pool_id,
        cognito_client_id=local_pool.client_id,
        cognito_jwks_url=trusted["COGNITO_JWKS_URL"],
    )
    return local_pool


# ------------------------------------------------------------------ tokens and requests


def sign(key: rsa.RSAPrivateKey, kid: str = KID, algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "sub": "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f",
        "client_id": CLIENT_ID,
        "token_use": "access",
        "scope": "openid email",
        "iat": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm, headers={"kid": kid})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def viewer_request(token: str | None = None, **extra_headers: str) -> tuple[dict[str, str], dict[str, Any]]:
    """A request that came through CloudFront: the OAC's principal, CloudFront's request id."""
    headers = {
        "content-type": "application/json",
        "x-amz-cf-id": "I4dTycKJLRkZu38qc81iCUKwe4Sn1ZfpdiHZnPUpQs6NZzwb3t==",
        **extra_headers,
    }
    if token is not None:
        headers["x-auth-token"] = token
    context = {
        "authorizer": {"iam": {"userArn": OAC_ARN, "accountId": "111122223333"}},
        "http": {"sourceIp": "3.172.8.69"},
    }
    return headers, context


def refusal(headers: dict[str, str], context: dict[str, Any]) -> str:
    with pytest.raises(Unauthenticated) as caught:
        identify(headers, context)
    return caught.value.message


# ------------------------------------------------------------------ valid tokens


def test_moto_access_token_identifies_the_user_by_sub(moto_pool: LocalPool, local_tokens: dict[str, Any]) -> None:
    sub = jwt.decode(local_tokens["AccessToken"], options={"verify_signature": False})["sub"]
    caller = identify(*viewer_request(local_tokens["AccessToken"]))
    assert caller == Caller(f"user:{sub}", "user")


def test_token_expired_within_the_leeway_is_accepted(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    token = sign(private_key, exp=int(time.time()) - 10)
    assert identify(*viewer_request(token)).kind == "user"


def test_jwks_is_fetched_once_across_many_requests(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    for index in range(50):
        identify(*viewer_request(sign(private_key, sub=f"user-{index}")))
    assert own_pool.hits == 1


# ------------------------------------------------------------------ refused tokens


def test_missing_token_asks_to_sign_in(own_pool: JwksServer) -> None:
    assert refusal(*viewer_request()) == tokens.SIGN_IN_MISSING


@pytest.mark.parametrize("token", ["", " ", "\t "], ids=["empty", "a space", "white space"])
def test_empty_token_asks_to_sign_in(own_pool: JwksServer, token: str) -> None:
    assert refusal(*viewer_request(token)) == tokens.SIGN_IN_MISSING


def test_expired_token_says_the_sign_in_expired(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    token = sign(private_key, iat=int(time.time()) - 7200, exp=int(time.time()) - 120)
    assert refusal(*viewer_request(token)) == tokens.SIGN_IN_EXPIRED


def test_token_sent_with_bearer_before_it_is_told_to_send_it_alone(
    own_pool: JwksServer, private_key: rsa.RSAPrivateKey
) -> None:
    assert refusal(*viewer_request(f"Bearer {sign(private_key)}")) == tokens.SIGN_IN_WITH_SCHEME


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_bearer_before_the_token_is_recognised_in_any_case(
    own_pool: JwksServer, private_key: rsa.RSAPrivateKey, scheme: str
) -> None:
    # Authentication schemes are case-insensitive (RFC 9110, 11.1), and clients write them each their own way.
    assert refusal(*viewer_request(f"{scheme} {sign(private_key)}")) == tokens.SIGN_IN_WITH_SCHEME


def test_the_token_header_sent_twice_is_told_to_send_one_token(
    own_pool: JwksServer, private_key: rsa.RSAPrivateKey
) -> None:
    # A Function URL joins a repeated header's values with commas, as here.
    token = sign(private_key)
    assert refusal(*viewer_request(f"{token},{token}")) == tokens.SIGN_IN_REPEATED


def test_token_from_another_pool_is_refused_as_wrong_issuer(
    own_pool: JwksServer, private_key: rsa.RSAPrivateKey
) -> None:
    token = sign(private_key, iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_OtherPool")
    assert refusal(*viewer_request(token)) == tokens.SIGN_IN_WRONG_ISSUER


def test_token_for_another_app_client_is_refused(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    token = sign(private_key, client_id="someotherclient000000000")
    assert refusal(*viewer_request(token)) == tokens.SIGN_IN_WRONG_CLIENT


def test_moto_id_token_is_refused_as_not_an_access_token(moto_pool: LocalPool, local_tokens: dict[str, Any]) -> None:
    assert refusal(*viewer_request(local_tokens["IdToken"])) == tokens.SIGN_IN_NOT_ACCESS_TOKEN


def test_token_without_token_use_is_invalid(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    assert refusal(*viewer_request(sign(private_key, token_use=None))) == tokens.SIGN_IN_INVALID


def test_token_without_an_expiry_is_invalid(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    # One that never expires would outlive a sign-out and a deleted user.
    assert refusal(*viewer_request(sign(private_key, exp=None))) == tokens.SIGN_IN_INVALID


def test_token_without_an_issue_time_is_invalid(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    assert refusal(*viewer_request(sign(private_key, iat=None))) == tokens.SIGN_IN_INVALID


def test_token_with_an_empty_subject_is_invalid(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    # Every such token would otherwise be the one caller "user:", sharing one budget.
    assert refusal(*viewer_request(sign(private_key, sub=""))) == tokens.SIGN_IN_INVALID


def test_tampered_payload_fails_the_signature(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    header, _payload, signature = sign(private_key).split(".")
    forged_claims = jwt.decode(sign(private_key, sub="someone-else"), options={"verify_signature": False})
    forged = f"{header}.{b64url(json.dumps(forged_claims).encode())}.{signature}"
    assert refusal(*viewer_request(forged)) == tokens.SIGN_IN_INVALID


def test_token_signed_by_another_key_with_our_key_id_is_invalid(own_pool: JwksServer) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refusal(*viewer_request(sign(stranger))) == tokens.SIGN_IN_INVALID


def test_unknown_key_id_is_refused(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    assert refusal(*viewer_request(sign(private_key, kid="not-in-the-pool"))) == tokens.SIGN_IN_UNKNOWN_KEY


def test_alg_none_is_refused(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    claims = jwt.decode(sign(private_key), options={"verify_signature": False})
    unsigned = f"{b64url(json.dumps({'alg': 'none', 'kid': KID}).encode())}.{b64url(json.dumps(claims).encode())}."
    assert refusal(*viewer_request(unsigned)) == tokens.SIGN_IN_NOT_RS256


def test_hs256_keyed_with_the_public_key_is_refused(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(sign(private_key), options={"verify_signature": False})
    header = b64url(json.dumps({"alg": "HS256", "kid": KID, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert refusal(*viewer_request(f"{header}.{body}.{b64url(mac)}")) == tokens.SIGN_IN_NOT_RS256


def test_garbage_token_is_invalid(own_pool: JwksServer) -> None:
    assert refusal(*viewer_request("not.a.jwt")) == tokens.SIGN_IN_INVALID


def test_oversized_token_is_refused_before_parsing(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    # Validly signed, and refused for its size alone: no key is fetched and no signature is checked.
    token = sign(private_key, padding="x" * tokens.TOKEN_MAX_CHARS)
    assert len(token) > tokens.TOKEN_MAX_CHARS
    assert refusal(*viewer_request(token)) == tokens.SIGN_IN_INVALID
    assert own_pool.hits == 0


def test_refusal_never_quotes_the_token(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    token = sign(private_key, client_id="someotherclient000000000", sub="canary-sub-7f3e9b")
    with pytest.raises(Unauthenticated) as caught:
        identify(*viewer_request(token))
    rendered = f"{caught.value} {caught.value.message} {caught.value!r}"
    for fragment in (*token.split("."), "canary-sub-7f3e9b", "someotherclient"):
        assert fragment not in rendered


def test_flood_of_made_up_key_ids_fetches_the_keys_once(own_pool: JwksServer, private_key: rsa.RSAPrivateKey) -> None:
    for _ in range(30):
        refusal(*viewer_request(sign(private_key, kid=str(uuid.uuid4()))))
    assert own_pool.hits == 1


# ------------------------------------------------------------------ the key set


def test_rotated_key_is_found_by_one_refetch_after_the_floor(private_key: rsa.RSAPrivateKey, jwks: JwksServer) -> None:
    now = [1000.0]
    keys = KeySet(jwks.url, refetch_floor_seconds=30, clock=lambda: now[0])
    assert keys.get(KID) is not None
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.body = json.dumps({"keys": [jwk_of(private_key, KID), jwk_of(new_key, "rotated")]}).encode()
    assert keys.get("rotated") is None  # inside the floor: no second fetch
    now[0] += 31
    assert keys.get("rotated") is not None
    assert jwks.hits == 2


def test_unreachable_jwks_is_unavailable_at_once(
    configure: Callable[..., None], private_key: rsa.RSAPrivateKey
) -> None:
    configure(
        access_mode="cognito",
        cognito_user_pool_id=POOL_ID,
        cognito_client_id=CLIENT_ID,
        cognito_jwks_url=f"{closed_port_url()}/.well-known/jwks.json",
    )
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        identify(*viewer_request(sign(private_key)))
    assert caught.value.message == tokens.JWKS_UNREACHABLE
    assert caught.value.status == 503
    assert time.monotonic() - started < timeouts.JWKS_TIMEOUT_SECONDS


def test_an_unreachable_jwks_is_logged_by_the_functions_logger(caplog: pytest.LogCaptureFixture) -> None:
    url = f"{closed_port_url()}/.well-known/jwks.json"
    with pytest.raises(Unavailable):
        KeySet(url).get(KID)
    [record] = [record for record in caplog.records if record.levelname == "WARNING"]
    # The function's Powertools logger, whose JSON lines carry the service, the request id and the caller.
    assert (record.name, record.getMessage(), record.url) == (
        observability.logger.name,
        "the user pool's keys could not be fetched",
        url,
    )


def test_silent_jwks_endpoint_times_out_instead_of_hanging(silent_port: int) -> None:
    keys = KeySet(f"http://127.0.0.1:{silent_port}/.well-known/jwks.json", timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        keys.get(KID)
    assert time.monotonic() - started < 2


def test_default_jwks_timeout_is_explicit_and_short() -> None:
    assert 0 < timeouts.JWKS_TIMEOUT_SECONDS <= 3


def test_after_a_failed_fetch_requests_fail_fast_until_the_floor(jwks: JwksServer) -> None:
    jwks.status = 500
    now = [0.0]
    keys = KeySet(jwks.url, refetch_floor_seconds=30, clock=lambda: now[0])
    for _ in range(5):
        with pytest.raises(Unavailable):
            keys.get(KID)
    assert jwks.hits == 1
    jwks.status = 200
    now[0] += 31
    assert keys.get(KID) is not None


def test_jwks_that_is_not_a_key_set_is_unavailable(jwks: JwksServer) -> None:
    jwks.body = b"<html>maintenance</html>"
    with pytest.raises(Unavailable):
        KeySet(jwks.url).get(KID)


def test_jwks_larger_than_its_limit_is_unavailable(jwks: JwksServer, caplog: pytest.LogCaptureFixture) -> None:
    # A usable key set followed by white space (which JSON allows): only its size is wrong, and a read cut at the
    # limit would still parse.
    usable = jwks.body
    jwks.body = usable + b" " * (tokens.JWKS_MAX_BYTES + 1 - len(usable) + 1000)
    with pytest.raises(Unavailable) as caught:
        KeySet(jwks.url).get(KID)
    assert caught.value.message == tokens.JWKS_UNREACHABLE
    (record,) = [r for r in caplog.records if r.getMessage() == "the user pool's keys are not a usable key set"]
    assert record.error == "larger than any key set"


# ------------------------------------------------------------------ configuration


def test_cognito_mode_without_pool_names_the_variable(configure: Callable[..., None]) -> None:
    configure(access_mode="cognito", cognito_client_id=CLIENT_ID)
    with pytest.raises(NotConfigured, match="COGNITO_USER_POOL_ID"):
        identify(*viewer_request("x.y.z"))


def test_cognito_mode_without_client_id_names_both_variables(configure: Callable[..., None]) -> None:
    configure(access_mode="cognito", cognito_user_pool_id=POOL_ID)
    with pytest.raises(NotConfigured) as caught:
        identify(*viewer_request("x.y.z"))
    assert "COGNITO_CLIENT_ID" in caught.value.message
    assert "COGNITO_CLIENT_ID_PARAMETER" in caught.value.message


@pytest.fixture
def client_id_in_ssm(configure: Callable[..., None], jwks: JwksServer) -> None:
    """Cognito mode with the client id named by an SSM parameter (the template's way), in-process moto's region."""
    configure(
        access_mode="cognito",
        cognito_user_pool_id=POOL_ID,
        cognito_client_id_parameter="/stack/cognito-client-id",
        cognito_jwks_url=jwks.url,
        aws_default_region="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_client_id_is_read_from_the_ssm_parameter(client_id_in_ssm: None, private_key: rsa.RSAPrivateKey) -> None:
    with mock_aws():
        boto3.client("ssm", region_name="eu-west-1").put_parameter(
            Name="/stack/cognito-client-id", Value=CLIENT_ID, Type="String"
        )
        assert identify(*viewer_request(sign(private_key))).kind == "user"
        assert (
            refusal(*viewer_request(sign(private_key, client_id="other0000000000000000000")))
            == tokens.SIGN_IN_WRONG_CLIENT
        )


def test_missing_ssm_parameter_is_not_configured_and_named_only_in_the_log(
    client_id_in_ssm: None, private_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    with mock_aws(), caplog.at_level(logging.ERROR), pytest.raises(NotConfigured) as caught:
        identify(*viewer_request(sign(private_key)))
    assert caught.value.message == (
        "The SSM parameter named by COGNITO_CLIENT_ID_PARAMETER is missing, or this function may not read it."
    )
    (record,) = [r for r in caplog.records if r.getMessage() == "the app client id could not be read from SSM"]
    assert (record.parameter, record.error) == ("/stack/cognito-client-id", "ParameterNotFound")


def ssm_answering(code: str) -> Callable[[], Any]:
    """In place of the module's cached SSM client: one that answers every read with the error ``code``."""

    class Client:
        def get_parameter(self, Name: str) -> dict[str, Any]:  # noqa: N803 - boto3's argument name
            raise ClientError({"Error": {"Code": code, "Message": "no"}}, "GetParameter")

    return lru_cache(maxsize=1)(Client)


def test_ssm_parameter_the_function_may_not_read_is_not_configured(
    client_id_in_ssm: None, private_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity, "_ssm", ssm_answering("AccessDeniedException"))
    with pytest.raises(NotConfigured) as caught:
        identify(*viewer_request(sign(private_key)))
    assert caught.value.message == (
        "The SSM parameter named by COGNITO_CLIENT_ID_PARAMETER is missing, or this function may not read it."
    )


def test_empty_ssm_parameter_is_not_configured(client_id_in_ssm: None, private_key: rsa.RSAPrivateKey) -> None:
    with mock_aws():
        boto3.client("ssm", region_name="eu-west-1").put_parameter(
            Name="/stack/cognito-client-id", Value=" ", Type="String"
        )
        with pytest.raises(NotConfigured) as caught:
            identify(*viewer_request(sign(private_key)))
    assert caught.value.message == "The SSM parameter named by COGNITO_CLIENT_ID_PARAMETER is empty."


@pytest.fixture
def identity_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """llm_core.identity's monotonic clock, moved forward by changing ``[0]``."""
    now = [1000.0]
    monkeypatch.setattr(identity, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


ROTATED_CLIENT_ID = "rotatedclient0123456789ab"


def store_client_id_in_ssm(client_id: str) -> None:
    boto3.client("ssm", region_name="eu-west-1").put_parameter(
        Name="/stack/cognito-client-id", Value=client_id, Type="String", Overwrite=True
    )


@pytest.fixture
def signed_in_once(client_id_in_ssm: None, private_key: rsa.RSAPrivateKey) -> Iterator[None]:
    """One sign-in checked against the client id in SSM (now cached), then the id rotated there."""
    with mock_aws():
        store_client_id_in_ssm(CLIENT_ID)
        assert identify(*viewer_request(sign(private_key))).kind == "user"
        store_client_id_in_ssm(ROTATED_CLIENT_ID)
        yield


def test_client_id_from_ssm_is_kept_for_its_max_age(
    identity_clock: list[float], signed_in_once: None, private_key: rsa.RSAPrivateKey
) -> None:
    identity_clock[0] += identity.CLIENT_ID_MAX_AGE_SECONDS - 1
    assert identify(*viewer_request(sign(private_key))).kind == "user"


def test_rotated_client_id_is_read_again_after_its_max_age(
    identity_clock: list[float], signed_in_once: None, private_key: rsa.RSAPrivateKey
) -> None:
    identity_clock[0] += identity.CLIENT_ID_MAX_AGE_SECONDS + 1
    assert identify(*viewer_request(sign(private_key, client_id=ROTATED_CLIENT_ID))).kind == "user"
    assert refusal(*viewer_request(sign(private_key))) == tokens.SIGN_IN_WRONG_CLIENT


# ------------------------------------------------------------------ modes


def test_none_mode_is_the_one_local_person(configure: Callable[..., None]) -> None:
    configure(access_mode="none")
    assert identify({}, {"http": {"sourceIp": "127.0.0.1"}}) == Caller("local", "local")


def test_direct_sigv4_call_is_its_iam_principal_in_cognito_mode(own_pool: JwksServer) -> None:
    context = {"authorizer": {"iam": {"userArn": OWNER_ARN, "accountId": "123456789012"}}}
    assert identify({"content-type": "application/json"}, context) == Caller(f"iam:{OWNER_ARN}", "iam")


def test_oac_signed_request_without_cloudfront_header_still_needs_a_token(own_pool: JwksServer) -> None:
    headers, context = viewer_request()
    del headers["x-amz-cf-id"]
    assert refusal(headers, context) == tokens.SIGN_IN_MISSING


def test_request_with_cloudfront_header_is_a_viewer_whoever_signed_it(own_pool: JwksServer) -> None:
    headers, _ = viewer_request()
    context = {"authorizer": {"iam": {"userArn": OWNER_ARN}}}
    assert refusal(headers, context) == tokens.SIGN_IN_MISSING


def test_iam_mode_refuses_viewers(configure: Callable[..., None]) -> None:
    configure(access_mode="iam")
    with pytest.raises(Forbidden) as caught:
        identify(*viewer_request())
    assert caught.value.message == identity.IAM_ONLY
    assert caught.value.status == 403


def test_iam_mode_admits_direct_sigv4_calls(configure: Callable[..., None]) -> None:
    configure(access_mode="iam")
    assert identify({}, {"authorizer": {"iam": {"userArn": OWNER_ARN}}}).id == f"iam:{OWNER_ARN}"


@pytest.mark.parametrize(
    ("viewer_address", "expected"),
    [
        ("198.51.100.10:46532", "ip:198.51.100.10"),
        ("2001:db8:0:0::1:46532", "ip:2001:db8::/64"),
        ("[2001:db8::7]:443", "ip:2001:db8::/64"),
        ("[::ffff:198.51.100.10]:443", "ip:198.51.100.10"),
    ],
)
def test_public_mode_knows_a_viewer_by_the_address_cloudfront_saw(
    configure: Callable[..., None], viewer_address: str, expected: str
) -> None:
    configure(access_mode="public")
    assert identify(*viewer_request(**{"cloudfront-viewer-address": viewer_address})) == Caller(expected, "ip")


def test_public_mode_gives_one_ipv6_network_one_budget(configure: Callable[..., None]) -> None:
    # A host given a /64 could otherwise take a new per-caller budget with each of its addresses.
    configure(access_mode="public")
    one, same_network, other_network = (
        identify(*viewer_request(**{"cloudfront-viewer-address": f"[{address}]:443"})).id
        for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:3::1")
    )
    assert one == same_network == "ip:2001:db8:1:2::/64"
    assert other_network == "ip:2001:db8:1:3::/64"


def test_public_mode_without_cloudfront_knows_a_caller_by_the_source_address(configure: Callable[..., None]) -> None:
    # The local emulator: no CloudFront, so the connection's own address.
    configure(access_mode="public")
    assert identify({"content-type": "application/json"}, {"http": {"sourceIp": "127.0.0.1"}}).id == "ip:127.0.0.1"


def test_public_mode_refuses_a_cloudfront_request_without_the_viewer_address(configure: Callable[..., None]) -> None:
    # The edge's address instead would put every viewer of that edge in one budget.
    configure(access_mode="public")
    with pytest.raises(NotConfigured) as caught:
        identify(*viewer_request())
    assert caught.value.message == VIEWER_ADDRESS_NOT_FORWARDED


@pytest.mark.parametrize("viewer_address", ["", "not-an-address:80", "198.51.100.10:1, 203.0.113.7:2"])
def test_public_mode_refuses_a_viewer_address_it_cannot_read(
    configure: Callable[..., None], viewer_address: str
) -> None:
    configure(access_mode="public")
    with pytest.raises(InvalidRequest) as caught:
        identify(*viewer_request(**{"cloudfront-viewer-address": viewer_address}))
    assert caught.value.message == VIEWER_ADDRESS_UNREADABLE


# ------------------------------------------------------------------ safety identifier


def test_safety_identifier_is_a_64_character_digest_without_the_identity() -> None:
    value = Caller("ip:198.51.100.10", "ip", "salt").safety_identifier
    assert len(value) == 64
    assert int(value, 16) >= 0
    assert "198.51.100.10" not in value


def test_safety_identifier_is_stable_for_one_caller() -> None:
    assert Caller("user:a", "user", "s").safety_identifier == Caller("user:a", "user", "s").safety_identifier


def test_safety_identifier_differs_between_callers() -> None:
    assert Caller("user:a", "user", "s").safety_identifier != Caller("user:b", "user", "s").safety_identifier


def test_safety_identifier_differs_between_deployments() -> None:
    assert Caller("user:a", "user", "one").safety_identifier != Caller("user:a", "user", "two").safety_identifier


def test_identify_salts_with_the_deployment_setting(configure: Callable[..., None]) -> None:
    configure(access_mode="none", safety_identifier_salt="stack-guid")
    assert identify({}, {}).safety_identifier == Caller("local", "local", "stack-guid").safety_identifier

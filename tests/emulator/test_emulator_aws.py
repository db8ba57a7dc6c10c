"""The emulator's moto server holds the OpenAI key: it answers the functions' AWS calls, never a browser."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infra.emulator.aws import (
    CREDENTIALS,
    FOR_THIS_RUN_ONLY,
    SECRET_ID,
    MotoServer,
    dynamodb_directly,
    moto_client,
    seed_secret,
)
from infra.emulator.budget_table import create_budget_table
from llm_core.budget import KEY_ATTRIBUTE

KEY = "sk-local-key-a-page-must-not-read"
# What the guard reads of a SigV4 Authorization header: the access key id (moto checks no signature).
SIGNED_FOR_THIS_RUN = (
    f"AWS4-HMAC-SHA256 Credential={CREDENTIALS['AWS_ACCESS_KEY_ID']}/20261124/eu-west-1/dynamodb/aws4_request"
)
GET_SECRET = json.dumps({"SecretId": SECRET_ID})


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer("127.0.0.1", 0).start()
    seed_secret(server.url, SECRET_ID, KEY)
    yield server
    server.stop()


def ask_for_the_secret(moto: MotoServer, method: str, headers: dict[str, str]) -> tuple[int, bytes]:
    port = int(moto.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    aws_json = {"X-Amz-Target": "secretsmanager.GetSecretValue", "Content-Type": "application/x-amz-json-1.1"}
    connection.request(method, "/", GET_SECRET, {**aws_json, **headers})
    response = connection.getresponse()
    return response.status, response.read()


def test_the_functions_read_the_secret(moto: MotoServer) -> None:
    client = moto_client("secretsmanager", moto.url)
    assert client.get_secret_value(SecretId=SECRET_ID)["SecretString"] == KEY


@pytest.mark.parametrize("method", ["POST", "OPTIONS"])  # the call itself, and a CORS preflight
def test_a_page_on_another_site_cannot_read_the_secret(moto: MotoServer, method: str) -> None:
    status, body = ask_for_the_secret(moto, method, {"Origin": "https://attacker.example"})
    assert (status, body) == (403, b"moto here serves the functions' AWS calls only, not browsers.\n")


def test_a_dns_rebinding_page_cannot_read_the_secret(moto: MotoServer) -> None:
    port = moto.url.rsplit(":", 1)[1]
    status, body = ask_for_the_secret(moto, "POST", {"Host": f"attacker.example:{port}"})
    assert status == 403 and KEY.encode() not in body


def test_a_call_signed_with_other_credentials_cannot_read_the_secret(moto: MotoServer) -> None:
    # Another user of the machine can reach the port; moto itself would take any credentials.
    other = SIGNED_FOR_THIS_RUN.replace(CREDENTIALS["AWS_ACCESS_KEY_ID"], "AKIAOTHERUSER0000000")
    assert ask_for_the_secret(moto, "POST", {"Authorization": other}) == (403, FOR_THIS_RUN_ONLY)


SIGN_IN = {"X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"}


def unsigned(operation: str) -> dict[str, str]:
    return {"X-Amz-Target": f"AWSCognitoIdentityProviderService.{operation}"}


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/moto-api/data.json", {}),
        # An operation AWS serves unsigned names only itself, POSTed to / with no query.
        ("GET", "/moto-api/data.json", SIGN_IN),
        ("POST", "/moto-api/reset", SIGN_IN),
        ("POST", "/?Action=AdminCreateUser", SIGN_IN),
        ("POST", "/", {**SIGN_IN, "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAOTHERUSER0000000/x"}),
        # moto's key ships with moto; the functions trust the sign-in stand-in's JWKS, never this one.
        ("GET", "/eu-west-1_AbCdEf123/.well-known/jwks.json", {}),
        # Served unsigned by AWS, but moto checks no confirmation code: a new user, or the local one taken over.
        ("POST", "/", unsigned("SignUp")),
        ("POST", "/", unsigned("ConfirmSignUp")),
        ("POST", "/", unsigned("ConfirmForgotPassword")),
    ],
    ids=[
        "state dump",
        "state dump naming a public operation",
        "reset",
        "admin action",
        "other credentials",
        "moto's signing key",
        "sign-up",
        "sign-up confirmed with any code",
        "password reset with any code",
    ],
)
def test_an_unsigned_call_cannot_reach_moto_s_state(
    moto: MotoServer, method: str, path: str, headers: dict[str, str]
) -> None:
    port = int(moto.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, "{}", headers)
    response = connection.getresponse()
    assert (response.status, response.read()) == (403, FOR_THIS_RUN_ONLY)
    connection.close()
    assert moto_client("secretsmanager", moto.url).get_secret_value(SecretId=SECRET_ID)["SecretString"] == KEY


def answering(name: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [name.encode()]

    return app


@pytest.mark.parametrize(
    ("target", "answered_by"),
    [("DynamoDB_20120810.UpdateItem", "dynamodb"), ("secretsmanager.GetSecretValue", "dispatcher"), ("", "dispatcher")],
)
def test_only_dynamodb_calls_skip_motos_dispatcher(target: str, answered_by: str) -> None:
    route = dynamodb_directly(answering("dynamodb"), answering("dispatcher"))
    environ = {"HTTP_X_AMZ_TARGET": target} if target else {}
    assert route(environ, lambda status, headers: None) == [answered_by.encode()]


def test_the_functions_update_the_budget_table(moto: MotoServer) -> None:
    client = moto_client("dynamodb", moto.url)
    create_budget_table(client, "counts")
    key = {KEY_ATTRIBUTE: {"S": "today"}}
    for _ in range(2):
        client.update_item(
            TableName="counts",
            Key=key,
            UpdateExpression="ADD used :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    assert client.get_item(TableName="counts", Key=key)["Item"]["used"] == {"N": "2"}


def test_concurrent_updates_of_one_item_are_each_applied_as_dynamodb_applies_them(moto: MotoServer) -> None:
    client = moto_client("dynamodb", moto.url)
    create_budget_table(client, "concurrent")
    key = {KEY_ATTRIBUTE: {"S": "today"}}

    def add_one(number: int) -> None:
        # As a reservation's update: a count and an element of a set, so moto's work on the item takes a while.
        client.update_item(
            TableName="concurrent",
            Key=key,
            UpdateExpression="ADD used :one, held :hold",
            ExpressionAttributeValues={":one": {"N": "1"}, ":hold": {"SS": [f"hold-{number}"]}},
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(add_one, range(640)))
    assert client.get_item(TableName="concurrent", Key=key)["Item"]["used"] == {"N": "640"}


def test_a_page_on_another_site_cannot_call_dynamodb(moto: MotoServer) -> None:
    port = int(moto.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}
    connection.request("POST", "/", "{}", {**headers, "Origin": "https://attacker.example"})
    response = connection.getresponse()
    assert (response.status, response.read()) == (
        403,
        b"moto here serves the functions' AWS calls only, not browsers.\n",
    )


def test_the_emulators_moto_answers_dynamodb_without_its_dispatcher(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    dispatched: list[str] = []
    find_service = DomainDispatcherApplication.get_application

    def recording(self: Any, environ: dict[str, Any]) -> Any:
        dispatched.append(str(environ.get("HTTP_X_AMZ_TARGET", "")))
        return find_service(self, environ)

    monkeypatch.setattr(DomainDispatcherApplication, "get_application", recording)
    server = MotoServer("127.0.0.1", 0).start()
    try:
        moto_client("dynamodb", server.url).list_tables()
        moto_client("secretsmanager", server.url).list_secrets()
    finally:
        server.stop()
    assert dispatched == ["secretsmanager.ListSecrets"]


def test_one_connection_carries_a_functions_calls_one_after_another(moto: MotoServer) -> None:
    port = int(moto.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": SIGNED_FOR_THIS_RUN,
    }
    answers = []
    sockets = []
    for _ in range(2):
        connection.request("POST", "/", "{}", headers)
        response = connection.getresponse()
        answers.append((response.status, "TableNames" in json.loads(response.read())))
        sockets.append(connection.sock)
    # http.client drops a socket the server said it would close, and opens another for the next request.
    assert answers == [(200, True), (200, True)]
    assert sockets[0] is not None and sockets[1] is sockets[0]
    connection.close()

"""The emulator's moto server holds the OpenAI key: it answers the functions' AWS calls, never a browser."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from infra.emulator.aws import SECRET_ID, MotoServer, moto_client, seed_secret

KEY = "sk-local-key-a-page-must-not-read"
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

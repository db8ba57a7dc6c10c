"""Which requests to /api/ the emulator answers: its own page's and local programs', not other sites'."""

from __future__ import annotations

import pytest

from infra.emulator.guard import ApiGuard

SITE = "http://127.0.0.1:3000"
GUARD = ApiGuard(SITE)


def refusal(host: str | None, origin: str | None = None, local_address: str | None = "127.0.0.1") -> str | None:
    headers = [(b"content-type", b"application/json")]
    if host is not None:
        headers.append((b"Host", host.encode()))
    if origin is not None:
        headers.append((b"Origin", origin.encode()))
    return GUARD.refusal(headers, local_address)


@pytest.mark.parametrize("host", ["127.0.0.1:3000", "localhost:3000", "LocalHost:3000", "[::1]:3000"])
def test_a_program_on_this_machine_is_answered_at_every_loopback_name(host: str) -> None:
    assert refusal(host) is None


@pytest.mark.parametrize("host", ["127.0.0.1:3000", "localhost:3000", "[::1]:3000"])
def test_the_page_is_answered_from_the_origin_it_was_opened_at(host: str) -> None:
    assert refusal(host, origin=f"http://{host}") is None


def test_the_address_a_connection_reached_is_the_emulators_own() -> None:
    # Listening on 0.0.0.0, reached from another machine at the LAN address.
    assert refusal("192.168.1.20:3000", "http://192.168.1.20:3000", local_address="192.168.1.20") is None


def test_the_address_the_emulator_was_told_to_listen_on_is_its_own() -> None:
    # `--host 0.0.0.0` prints http://0.0.0.0:3000; a browser sent there reaches loopback.
    guard = ApiGuard("http://0.0.0.0:3000")

    assert guard.refusal([(b"host", b"0.0.0.0:3000")], "127.0.0.1") is None


def test_an_emulator_listening_on_ipv6_loopback_is_answered_there() -> None:
    guard = ApiGuard("http://[::1]:3000")

    assert guard.refusal([(b"host", b"[::1]:3000"), (b"origin", b"http://[::1]:3000")], "::1") is None


@pytest.mark.parametrize(
    ("host", "origin"),
    [("LocalHost:3000", "http://localhost:3000"), ("localhost:3000", "http://LocalHost:3000")],
)
def test_the_page_is_answered_whatever_the_case_of_its_host_and_origin(host: str, origin: str) -> None:
    # Names are case-insensitive: the same page, however a client wrote them.
    assert refusal(host, origin) is None


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:3000",  # DNS rebinding: the attacker's name, resolved to 127.0.0.1
        "127.0.0.1:3001",  # another port: another server's origin
        "127.0.0.1",  # port 80
        "localhost.:3000",
        "user@127.0.0.1:3000",
        "127.0.0.1:3000/path",
        "127.0.0.1:port",
        "[::1:3000",
        "",
    ],
)
def test_any_other_host_is_refused_telling_where_to_open_the_page(host: str) -> None:
    assert refusal(host) == GUARD.wrong_host
    assert "Open the page at http://127.0.0.1:3000/ (the address `make dev` printed)" in GUARD.wrong_host


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",  # a page on another site, fetch in no-cors mode or a form
        "null",  # a sandboxed frame, a file:// page
        "http://localhost:3000",  # the page opened at one name, calling the other
        "https://127.0.0.1:3000",
        "http://127.0.0.1:3001",
    ],
)
def test_a_request_from_another_origin_is_refused_telling_where_to_open_the_page(origin: str) -> None:
    assert refusal("127.0.0.1:3000", origin) == GUARD.wrong_origin
    assert "a page on another site" in GUARD.wrong_origin
    assert "Open the page at http://127.0.0.1:3000/" in GUARD.wrong_origin


def test_a_request_naming_no_host_is_refused_saying_it_named_none() -> None:
    # HTTP/1.0 lets a client leave Host out.
    assert refusal(None) == GUARD.no_host
    assert "named none or more than one" in GUARD.no_host


def test_a_second_host_cannot_vouch_for_a_foreign_first_one() -> None:
    headers = [(b"host", b"evil.example:3000"), (b"host", b"127.0.0.1:3000")]
    assert GUARD.refusal(headers, "127.0.0.1") == GUARD.no_host


def test_a_second_origin_cannot_vouch_for_a_foreign_first_one() -> None:
    headers = [(b"host", b"127.0.0.1:3000"), (b"origin", b"https://attacker.example"), (b"origin", SITE.encode())]
    assert GUARD.refusal(headers, "127.0.0.1") == GUARD.wrong_origin


def test_a_foreign_origin_after_the_pages_own_is_refused() -> None:
    headers = [(b"host", b"127.0.0.1:3000"), (b"origin", SITE.encode()), (b"origin", b"https://attacker.example")]
    assert GUARD.refusal(headers, "127.0.0.1") == GUARD.wrong_origin

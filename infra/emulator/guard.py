"""Which requests to ``/api/`` the emulator answers: those its own page makes, and those of programs on this
machine (curl, the tests), never those a page on another site makes a browser send.

Deployed, the page and the API share CloudFront's origin and sign-in guards the key. On a developer's machine
with sign-in off, every call spends the owner's OpenAI key, and a browser lets any site send a POST to
``http://127.0.0.1:3000`` (a form, or ``fetch`` in ``no-cors`` mode: no preflight, the function still runs).
Two checks shut that out:

- the ``Host`` must be one of the emulator's own names at its own port: a DNS-rebinding page (a name of the
  attacker's pointed at 127.0.0.1) sends its own name, so it cannot pass for the emulator's page;
- an ``Origin``, which browsers send on every POST, must be the origin of that very address; programs send
  none.

The page, ``/config.json`` and the sign-in stand-in are not guarded: they spend nothing and hold nothing that
is not in the repository (the stand-in's token endpoint checks the origin itself).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

# A loopback address is the machine itself under any of these names.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _site_message(site_url: str) -> str:
    return f"Open the page at {site_url}/ (the address `make dev` printed) and use it there."


class ApiGuard:
    """The emulator's own addresses: loopback names, the address it was told to listen on (the one its URL
    shows), and the address each connection reached, all at the port it listens on."""

    def __init__(self, site_url: str) -> None:
        site = urlsplit(site_url)
        assert site.hostname is not None and site.port is not None, site_url
        self.site_url = site_url
        self.port = site.port
        self.names = LOOPBACK_NAMES | {site.hostname}
        self.wrong_host = (
            "This local emulator answers /api/ only at its own address, and this request named another host "
            "(as a page on another site does when it points a name of its own at this machine). "
            + _site_message(site_url)
        )
        self.no_host = (
            "This local emulator answers /api/ only at its own address, named in one Host header, and this "
            "request named none or more than one (HTTP/1.1 clients send one). " + _site_message(site_url)
        )
        self.wrong_origin = (
            "This local emulator answers /api/ only for its own page, and this request came from a page on "
            "another site (or another address of this one). " + _site_message(site_url)
        )

    def refusal(self, headers: Iterable[tuple[bytes, bytes]], local_address: str | None) -> str | None:
        """Why a request to ``/api/`` with these headers, arriving at ``local_address``, is refused; None
        when it is answered."""
        hosts, origins = [], []
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"host":
                hosts.append(value.decode("latin-1"))
            elif lowered == b"origin":
                origins.append(value.decode("latin-1"))
        # One of each at most: a browser never repeats them, and a second one must not vouch for the first.
        if len(hosts) != 1:
            return self.no_host
        if not self._is_own_host(hosts[0], local_address):
            return self.wrong_host
        # Browsers write an origin in lower case and leave out port 80, as they write the Host header.
        if len(origins) > 1 or (origins and origins[0].lower() != f"http://{hosts[0].lower()}"):
            return self.wrong_origin
        return None

    def _is_own_host(self, host: str, local_address: str | None) -> bool:
        address = split_host(host)
        names = self.names | ({local_address.lower()} if local_address else set())
        return address is not None and address[0] in names and address[1] == self.port


def split_host(host: str) -> tuple[str, int] | None:
    """A ``Host`` header's name (lower case, IPv6 without brackets) and port (80 when absent); None when it is
    anything but a name and a port."""
    try:
        parts = urlsplit(f"//{host}")
        name, port = parts.hostname, parts.port or 80
    except ValueError:  # a port that is not a number, an unclosed bracket
        return None
    if name is None or "@" in host or parts.path or parts.query or parts.fragment:
        return None
    return name, port

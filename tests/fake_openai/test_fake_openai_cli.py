"""``python -m infra.fake_openai`` as a person runs it: in its own process, stopped with Ctrl-C."""

from __future__ import annotations

import http.client
import json
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from infra.fake_openai import Faults

REPO = Path(__file__).resolve().parents[2]
# Bounds every wait on the child, so a broken command line fails the test instead of hanging it.
WAIT_SECONDS = 15
JSON_REQUEST = json.dumps({"model": "m", "input": "Hello."}).encode()


class Running:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, banner: str) -> None:
        self.process = process
        self.base_url = base_url
        self.banner = banner

    def post(self) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=WAIT_SECONDS)
        try:
            connection.request("POST", "/v1/responses", JSON_REQUEST, {"content-type": "application/json"})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def interrupt(self) -> tuple[int, str, str]:
        """Ctrl-C; the exit code and what the process wrote after its banner (too little to fill a pipe)."""
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=WAIT_SECONDS)
        return code, self.process.stdout.read().decode(), self.process.stderr.read().decode()


def read_banner(process: subprocess.Popen[bytes]) -> str:
    """What the fake prints on start, up to its last line, after which Ctrl-C is handled."""
    assert process.stdout is not None
    printed = b""
    deadline = time.monotonic() + WAIT_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"Ctrl-C stops it\n" not in printed:
            assert selector.select(deadline - time.monotonic()), f"no banner in {WAIT_SECONDS} s: {printed!r}"
            chunk = process.stdout.read(4096)  # unbuffered: returns what is there, leaves nothing behind
            assert chunk, f"the fake exited on start: {printed!r}"
            printed += chunk
    return printed.decode()


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "infra.fake_openai", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )


@pytest.fixture
def faulty() -> Iterator[Running]:
    """The fake on a free port, failing half its requests with a 429 or a 500, from seed 7."""
    process = start("--port", "0", "--fault-rate", "0.5", "--seed", "7", "--faults", "429,500")
    try:
        banner = read_banner(process)
        url = re.search(r"^Fake OpenAI model on (http://127\.0\.0\.1:\d+/v1)$", banner, re.MULTILINE)
        assert url, banner
        yield Running(process, url.group(1), banner)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_faults_follow_the_seed(faulty: Running) -> None:
    expected = Faults(0.5, seed=7, menu=["429", "500"])
    statuses = [faulty.post()[0] for _ in range(12)]
    assert statuses == [int(expected.draw(structured=False) or 200) for _ in range(12)]
    assert {429, 500, 200} <= set(statuses)


def test_rate_limit_fault_says_when_to_retry(faulty: Running) -> None:
    answers = [faulty.post() for _ in range(12)]
    _, headers, body = next(answer for answer in answers if answer[0] == 429)
    assert headers["retry-after"] == "30"
    assert json.loads(body)["error"]["code"] == "rate_limit_exceeded"


def test_each_fault_is_logged_as_it_happens(faulty: Running) -> None:
    statuses = [faulty.post()[0] for _ in range(12)]
    _, out, _ = faulty.interrupt()
    logged = re.findall(r"json /v1/responses: (fault 429|fault 500|answered)", out)
    assert logged == [{429: "fault 429", 500: "fault 500", 200: "answered"}[status] for status in statuses]


def test_ctrl_c_stops_it_cleanly(faulty: Running) -> None:
    faulty.post()
    code, out, err = faulty.interrupt()
    assert (code, err) == (0, "")
    assert out.rstrip().endswith("stopped")


def test_prints_how_to_point_make_dev_at_it(faulty: Running) -> None:
    assert f"OPENAI_BASE_URL={faulty.base_url} make dev" in faulty.banner


def test_unknown_fault_is_a_usage_error_naming_the_menu() -> None:
    process = start("--faults", "429,teapot")
    _, err = process.communicate(timeout=WAIT_SECONDS)
    assert process.returncode == 2
    assert b"unknown fault teapot; choose from 429, 500, 401, slow, drop, refusal, schema, incomplete" in err


def test_negative_pace_is_a_usage_error_not_a_traceback() -> None:
    process = start("--port", "0", "--pace", "-1")
    try:
        _, err = process.communicate(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 2
    assert err.decode().strip().endswith("error: --pace must not be negative, not -1")


def test_taken_port_is_a_one_line_error(faulty: Running) -> None:
    port = str(urlsplit(faulty.base_url).port)
    process = start("--port", port)
    _, err = process.communicate(timeout=WAIT_SECONDS)
    assert process.returncode == 1
    assert err.decode().strip() == f"cannot listen on 127.0.0.1:{port}: Address already in use"

"""`python -m infra.emulator` as `make dev` runs it: what it says on the console, and how it refuses to start."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra.emulator.__main__ import describe_access
from infra.emulator.server import STOPPING_MESSAGE
from infra.fake_openai import FakeOpenAI, FakeReply
from llm_core.settings import DAILY_CAP_VARIABLES
from tests.emulator.conftest import Client, read_sse_event, sign_in_over_http

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "Ctrl-C stops."
# Bounds a test whose emulator never gets ready, instead of hanging the suite.
STARTUP_LIMIT_SECONDS = 60


def emulator_environment(**extra: str) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", *DAILY_CAP_VARIABLES}
    }
    environment["PYTHONUNBUFFERED"] = "1"
    environment.update(extra)
    return environment


def run_to_exit(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.emulator", *args],
        cwd=REPO,
        env=emulator_environment(**extra_env),
        capture_output=True,
        text=True,
        timeout=STARTUP_LIMIT_SECONDS,
        check=False,
    )


class RunningEmulator:
    """`python -m infra.emulator --port 0` in a child process, started until it says it is ready."""

    def __init__(self, *args: str, **extra_env: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.emulator", "--port", "0", *args],
            cwd=REPO,
            env=emulator_environment(**extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        watchdog = threading.Timer(STARTUP_LIMIT_SECONDS, self.process.kill)
        watchdog.start()
        self.lines: list[str] = []
        try:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line)
                if line.strip() == READY_LINE:
                    break
        finally:
            watchdog.cancel()
        if not self.lines or self.lines[-1].strip() != READY_LINE:
            self.process.kill()
            pytest.fail(f"the emulator never got ready:\n{''.join(self.lines)}{self.process.communicate()[0]}")

    def printed(self, pattern: str) -> str:
        match = re.search(pattern, "".join(self.lines))
        assert match, f"the console never said {pattern!r}"
        return match.group(1)

    @property
    def url(self) -> str:
        return self.printed(r"on (http://127\.0\.0\.1:\d+)\n")

    @property
    def secrets_url(self) -> str:
        return self.printed(r"moto at (http://127\.0\.0\.1:\d+),")

    def stop(self, signum: int = signal.SIGINT) -> str:
        """Send ``signum``; everything the emulator printed, once it has exited."""
        self.process.send_signal(signum)
        rest, _ = self.process.communicate(timeout=STARTUP_LIMIT_SECONDS)
        return "".join(self.lines) + rest


def environments_of(secrets_url: str) -> list[int]:
    """The processes wired to this emulator's moto (its execution environments), from Linux's /proc."""
    wanted = f"AWS_ENDPOINT_URL_SECRETS_MANAGER={secrets_url}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def wait_for_exit(pids: list[int], timeout: float) -> list[int]:
    """The pids still running after ``timeout`` seconds (waits on each process's pidfd, no polling)."""
    still_running = []
    for pid in pids:
        try:
            descriptor = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        with os.fdopen(descriptor) as pidfd:
            if not select.select([pidfd], [], [], timeout)[0]:
                still_running.append(pid)
    return still_running


@pytest.fixture
def running() -> Iterator[Callable[..., RunningEmulator]]:
    started: list[RunningEmulator] = []

    def start(*args: str, **extra_env: str) -> RunningEmulator:
        started.append(RunningEmulator(*args, **extra_env))
        return started[-1]

    yield start
    for emulator in started:
        if emulator.process.poll() is None:
            emulator.process.kill()
            emulator.process.wait()


@pytest.fixture
def console(running: Callable[..., RunningEmulator]) -> Callable[..., str]:
    """Start the emulator, collect its console until it says it is ready, then stop it with Ctrl-C."""
    return lambda *args, **extra_env: running(*args, **extra_env).stop()


def test_console_says_the_key_came_from_the_env_file_and_never_shows_it(console, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-never-print-me-0123456789\nOPENAI_BASE_URL=http://127.0.0.1:9/v1\n")

    output = console("--env-file", str(env_file))

    assert "OpenAI key: from .env" in output
    assert "sk-never-print-me" not in output


def test_console_names_the_secret_the_functions_messages_mean_and_the_key_it_holds(console, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-never-print-me-0123456789\nOPENAI_BASE_URL=http://127.0.0.1:9/v1\n")

    output = console("--env-file", str(env_file))

    assert "secret 'local/openai-api-key' (the functions' OPENAI_SECRET_ID), holding OPENAI_API_KEY from .env" in output


def test_console_notes_a_functions_setting_in_the_env_file_is_not_read_from_it(console, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    # ACCESS_MODE is the emulator's to set (no sign-in, or --sign-in), from .env or the shell alike.
    env_file.write_text("DAILY_TOKENS_PER_USER=5000\nDATABASE_URL=postgres://elsewhere\nACCESS_MODE=public\n")

    output = console("--env-file", str(env_file))

    assert "Note: DAILY_TOKENS_PER_USER in .env is not read: only OPENAI_API_KEY, OPENAI_BASE_URL," in output
    assert "DATABASE_URL" not in output and "ACCESS_MODE" not in output
    assert re.search(r"Budgets: [\d,]+ tokens a day per person \(template.yaml's default\)", output)


def test_console_says_the_key_came_from_the_environment(console, tmp_path: Path) -> None:
    output = console(
        "--env-file",
        str(tmp_path / "absent.env"),
        OPENAI_API_KEY="sk-from-shell-0123456789",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )

    assert "OpenAI key: from environment" in output
    assert "sk-from-shell" not in output


def test_console_announces_the_offline_demo_without_a_key(console, tmp_path: Path) -> None:
    output = console("--env-file", str(tmp_path / "absent.env"))

    assert "OpenAI key: none: offline demo with the fake model" in output


def test_console_says_sign_in_is_off_by_default(console, tmp_path: Path) -> None:
    output = console("--env-file", str(tmp_path / "absent.env"))

    assert "Sign-in: off, one person on their own machine" in output


@pytest.mark.parametrize(
    ("shell", "per_person"),
    [
        ({}, r"[\d,]+ tokens a day per person \(template.yaml's default\)"),
        ({"DAILY_TOKENS_PER_USER": "4700"}, r"4,700 tokens a day per person \(set in the shell\)"),
    ],
)
def test_console_names_each_daily_budget_and_where_it_came_from(console, tmp_path: Path, shell, per_person) -> None:
    output = console("--env-file", str(tmp_path / "absent.env"), **shell)

    assert re.search(rf"Budgets: {per_person} and [\d,]+ tokens a day in all \(template.yaml's default\)", output)


def test_console_says_the_budgets_are_off_when_both_caps_are_zero(console, tmp_path: Path) -> None:
    output = console("--env-file", str(tmp_path / "absent.env"), DAILY_TOKENS_PER_USER="0", DAILY_TOKENS_TOTAL="0")

    assert "Budgets: off, no cap per person (set in the shell) and no cap in all (set in the shell)" in output


def test_console_names_a_cap_set_to_zero_as_none(console, tmp_path: Path) -> None:
    output = console("--env-file", str(tmp_path / "absent.env"), DAILY_TOKENS_PER_USER="0")

    assert re.search(r"Budgets: no cap per person \(set in the shell\) and [\d,]+ tokens a day in all", output)


def test_console_warns_of_a_cap_below_a_functions_smallest_request(console, tmp_path: Path) -> None:
    output = console("--env-file", str(tmp_path / "absent.env"), DAILY_TOKENS_TOTAL="2600")

    assert "WARNING /api/stream: its shortest request may use 4,605 tokens, more than a daily cap of 2,600" in output
    assert "WARNING /api/summarize" not in output


def test_console_warns_of_a_setting_every_call_would_fail_on(console, tmp_path: Path) -> None:
    output = console("--env-file", str(tmp_path / "absent.env"), MAX_OUTPUT_TOKENS="lots")

    warnings = [line.strip() for line in output.splitlines() if "WARNING" in line]
    assert len(warnings) == 3  # the shell's value overrides the template's in every function
    assert warnings[0].startswith("WARNING /api/summarize: Function configuration: MAX_OUTPUT_TOKENS is invalid:")
    assert warnings[0].endswith("Every call will answer 503 until it is fixed.")


def test_console_has_no_warning_when_every_setting_is_valid(console, tmp_path: Path) -> None:
    assert "WARNING" not in console("--env-file", str(tmp_path / "absent.env"))


def test_console_with_sign_in_names_a_user_and_password_that_sign_in(running, tmp_path: Path) -> None:
    emulator = running("--sign-in", "--env-file", str(tmp_path / "absent.env"))
    email, password = emulator.printed(r"e-mail: +(\S+)\n"), emulator.printed(r"password: +(\S+) ")
    client = Client(emulator.url)

    tokens = sign_in_over_http(client, email, password)
    answer = client.post_json(
        "/api/summarize", {"text": "One thing. Another."}, {"x-auth-token": tokens["access_token"]}
    )

    assert (email, answer.status) == ("you@example.com", 200)


def test_console_with_sign_in_names_a_second_person_who_signs_in_with_the_same_password(
    running, tmp_path: Path
) -> None:
    emulator = running("--sign-in", "--env-file", str(tmp_path / "absent.env"))
    second, password = (
        emulator.printed(r"second person .*: +(\S+), same password"),
        emulator.printed(r"password: +(\S+) "),
    )

    tokens = sign_in_over_http(Client(emulator.url), second, password)

    assert (second, tokens["token_type"]) == ("friend@example.com", "Bearer")


def test_ctrl_c_stops_a_running_emulator_and_its_environments(running, tmp_path: Path) -> None:
    emulator = running("--env-file", str(tmp_path / "absent.env"))
    client = Client(emulator.url)
    page = client.request("GET", "/")
    answer = client.post_json("/api/summarize", {"text": "One thing. Another thing."})
    environments = environments_of(emulator.secrets_url)

    output = emulator.stop(signal.SIGINT)

    assert (page.status, answer.status) == (200, 200)
    assert len(environments) >= 1
    assert (emulator.process.returncode, "Traceback" in output) == (0, False), output
    assert wait_for_exit(environments, timeout=5) == []


def test_ctrl_c_answers_a_request_still_waiting_for_the_model_in_the_error_envelope(running, tmp_path: Path) -> None:
    release = threading.Event()
    with FakeOpenAI() as fake:
        emulator = running(
            "--env-file", str(tmp_path / "absent.env"), OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.base_url
        )
        fake.enqueue(FakeReply(hold=release, output={"bullets": ["late"]}))
        waiting = Client(emulator.url).connection()
        waiting.request("POST", "/api/summarize", b'{"text": "a"}', {"content-type": "application/json"})
        assert fake.wait_for_requests(1, timeout=30)
        try:
            output = emulator.stop()
        finally:
            release.set()
        answer = waiting.getresponse()
        body = json.loads(answer.read())

    assert (answer.status, body["error"]["type"]) == (503, "unavailable")
    assert body["error"]["message"] == STOPPING_MESSAGE
    assert body["error"]["request_id"] == answer.getheader("x-request-id")
    assert "Traceback" not in output, output


def test_ctrl_c_ends_a_stream_under_way_with_an_error_event(running, tmp_path: Path) -> None:
    release = threading.Event()
    with FakeOpenAI() as fake:
        emulator = running(
            "--env-file", str(tmp_path / "absent.env"), OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.base_url
        )
        fake.enqueue(FakeReply(tokens=["a", " b"], hold_last_token=release))
        streaming = Client(emulator.url).connection()
        streaming.request("POST", "/api/stream", b'{"prompt": "Hi"}', {"content-type": "application/json"})
        response = streaming.getresponse()
        first = read_sse_event(response)
        try:
            output = emulator.stop()
        finally:
            release.set()
        event, data = read_sse_event(response)

    assert first[0] == "delta"
    assert (event, json.loads(data)["error"]["message"]) == ("error", STOPPING_MESSAGE)
    assert "Traceback" not in output, output


def test_a_killed_emulator_leaves_no_environment_behind(running, tmp_path: Path) -> None:
    emulator = running("--env-file", str(tmp_path / "absent.env"))
    Client(emulator.url).post_json("/api/todo", {"text": "Water the plants today"})
    environments = environments_of(emulator.secrets_url)

    emulator.stop(signal.SIGKILL)

    assert len(environments) >= 1
    assert wait_for_exit(environments, timeout=10) == []


def hang_up(connection: socket.socket) -> None:
    """Leave the way a closed tab or a killed curl does: a reset, not a polite close."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def test_callers_who_hang_up_leave_the_console_quiet(running, tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        # The model is this test's fake, so the console holds only what the emulator and its functions print.
        emulator = running(
            "--env-file", str(tmp_path / "absent.env"), OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.base_url
        )
        client = Client(emulator.url)
        # Mid-stream, while the model is still answering.
        release = threading.Event()
        fake.enqueue(FakeReply(tokens=["a", " b", " c"], hold_last_token=release))
        streaming = client.connection()
        streaming.request("POST", "/api/stream", b'{"prompt": "Hi"}', {"content-type": "application/json"})
        response = streaming.getresponse()
        read_sse_event(response)
        response.close()  # the socket itself closes only with the last file that reads it
        hang_up(streaming.sock)
        assert fake.requests[-1].finished.wait(10)
        # Before a buffered answer is ready.
        fake.enqueue(FakeReply(delay_seconds=1, output={"bullets": ["late"]}))
        host = f"Host: {client.host}:{client.port}\r\n".encode()  # any other host would be refused first
        json_type = b"Content-Type: application/json\r\n"
        waiting = socket.create_connection((client.host, client.port))
        head = b"POST /api/summarize HTTP/1.1\r\n" + host + json_type
        waiting.sendall(head + b'Content-Length: 13\r\n\r\n{"text": "a"}')
        hang_up(waiting)
        # Halfway through sending a body.
        uploading = socket.create_connection((client.host, client.port))
        uploading.sendall(b"POST /api/todo HTTP/1.1\r\n" + host + json_type + b'Content-Length: 5000\r\n\r\n{"text": ')
        hang_up(uploading)
        client.post_json("/api/summarize", {"text": "One more thing."})

        output = emulator.stop()

    after_start = output.split(READY_LINE, 1)[1]
    assert "Traceback" not in after_start and "Error" not in after_start, after_start


def test_taken_port_ends_with_one_line_and_exit_code_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_to_exit("--port", str(port))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"emulator: port {port} on 127.0.0.1 is taken; choose another: make dev PORT=3001 "
        "(or --port when running python -m infra.emulator)"
    ]


def test_unreadable_env_file_ends_with_one_line_and_exit_code_1(tmp_path: Path) -> None:
    unreadable = tmp_path / ".env"
    unreadable.mkdir()  # a directory: unreadable as a file even for root

    result = run_to_exit("--port", "0", "--env-file", str(unreadable))

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"emulator: cannot read {unreadable}:")


def test_env_file_that_is_not_utf8_ends_with_one_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"OPENAI_API_KEY=\xff\xfe\n")

    result = run_to_exit("--port", "0", "--env-file", str(env_file))

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_openai_base_url_ends_with_one_line(tmp_path: Path) -> None:
    result = run_to_exit(
        "--port",
        "0",
        "--env-file",
        str(tmp_path / "absent.env"),
        OPENAI_API_KEY="sk-x",
        OPENAI_BASE_URL="localhost:8080",
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "emulator: OPENAI_BASE_URL must start with http:// or https://, not 'localhost:8080'"
    ]


@pytest.mark.parametrize(
    ("sign_in", "guard"),
    [(None, "nothing asks them to sign in"), ("a stand-in", "only the password above keeps them out")],
)
def test_listening_beyond_loopback_warns_that_anyone_there_can_spend_the_key(sign_in: object, guard: str) -> None:
    stand_in = SimpleNamespace(
        pool=SimpleNamespace(user_pool_id="pool"),
        site_url="http://x/",
        email="you@example.com",
        second_email="friend@example.com",
        password="p",
    )
    emulator: Any = SimpleNamespace(sign_in=stand_in if sign_in else None)
    (warning,) = [line for line in describe_access(emulator, "0.0.0.0") if "Warning" in line]
    assert "others on the network can reach these endpoints and spend the key" in warning
    assert guard in warning
    assert not [line for line in describe_access(emulator, "127.0.0.1") if "Warning" in line]
    assert not [line for line in describe_access(emulator, "0.0.0.0") if "one person" in line]

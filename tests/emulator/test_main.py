"""`python -m infra.emulator` as `make dev` runs it: what it says on the console, and how it refuses to start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "Ctrl-C stops."
# Bounds a test whose emulator never gets ready, instead of hanging the suite.
STARTUP_LIMIT_SECONDS = 60


def emulator_environment(**extra: str) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"}
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


@pytest.fixture
def console():
    """Start the emulator, collect its console until it says it is ready, then stop it with Ctrl-C."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, **extra_env: str) -> str:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.emulator", "--port", "0", *args],
            cwd=REPO,
            env=emulator_environment(**extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        watchdog = threading.Timer(STARTUP_LIMIT_SECONDS, process.kill)
        watchdog.start()
        lines = []
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if line.strip() == READY_LINE:
                    break
        finally:
            watchdog.cancel()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=STARTUP_LIMIT_SECONDS)
        return "".join(lines) + rest

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_console_says_the_key_came_from_the_env_file_and_never_shows_it(console, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=sk-never-print-me-0123456789\nOPENAI_BASE_URL=http://127.0.0.1:9/v1\n")

    output = console("--env-file", str(env_file))

    assert "OpenAI key: from .env" in output
    assert "sk-never-print-me" not in output


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


def test_ctrl_c_stops_the_emulator_cleanly(console, tmp_path: Path) -> None:
    output = console("--env-file", str(tmp_path / "absent.env"))

    assert "Traceback" not in output


def test_taken_port_ends_with_one_line_and_exit_code_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_to_exit("--port", str(port))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"emulator: port {port} on 127.0.0.1 is taken; choose another with --port"
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

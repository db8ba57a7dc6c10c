"""What every measurement runs against, all on 127.0.0.1: the fake model, and moto (the key's secret, the budget
table) with each function's environment as the local emulator builds it.

The emulator's pieces are imported here and nowhere else in the bench process, so a piece that moves is one
edit (warm_runner.py, which runs inside a function's process, takes the runtime's LambdaContext itself).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from infra.bench.paths import EVENTS, PYTHONPATH, REPO
from infra.emulator import Emulator
from infra.emulator.aws import SECRET_ID
from infra.emulator.runtime import REGION, LambdaContext, build_event, web_adapter_headers
from infra.emulator.server import BUFFERED_FUNCTIONS, FUNCTIONS
from infra.fake_openai import FakeOpenAI, FakeReply
from llm_core.settings import DAILY_CAP_VARIABLES, METRICS_NAMESPACE

__all__ = [
    "BUFFERED_FUNCTIONS",
    "EVENTS",
    "REPO",
    "FakeOpenAI",
    "FakeReply",
    "LambdaContext",
    "World",
    "build_event",
    "web_adapter_headers",
]

MODULES = {function.route: function.module for function in FUNCTIONS}
EVENT_FILES = {function: EVENTS / f"function_url_{function}.json" for function in BUFFERED_FUNCTIONS}
# The caps that turn the budget check off (docs/budgets.md: 0 is no limit).
BUDGETS_OFF = dict.fromkeys(DAILY_CAP_VARIABLES, "0")


def with_bytecode_caches(environment: dict[str, str]) -> dict[str, str]:
    """Every process of the bench reads and writes ``__pycache__``, as an installed Python does, whatever the
    shell says: a shell with PYTHONDONTWRITEBYTECODE would otherwise time the compiler on every fresh import."""
    return {name: value for name, value in environment.items() if name != "PYTHONDONTWRITEBYTECODE"}


def import_environment() -> dict[str, str]:
    """For the cold import row, which needs no AWS: what a handler reads at import, and the path to it."""
    return {
        **with_bytecode_caches(dict(os.environ)),
        "PYTHONPATH": PYTHONPATH,
        "OPENAI_SECRET_ID": SECRET_ID,
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    }


@dataclass
class World:
    fake: FakeOpenAI
    emulator: Emulator

    def environment(self, function: str, *, budgets: bool = True) -> dict[str, str]:
        """The process environment the emulator gives ``function`` (moto's endpoints, the fake's URL, the
        template's variables: budgets on, as deployed), plus the path Lambda puts the code on."""
        environment = {**with_bytecode_caches(self.emulator.function_environment(function)), "PYTHONPATH": PYTHONPATH}
        if not budgets:
            environment.update(BUDGETS_OFF)
        return environment


@contextlib.contextmanager
def loopback_world() -> Iterator[World]:
    # The emulator keeps one idle environment per function; idle, they take memory but no CPU from the rows.
    with FakeOpenAI() as fake, Emulator(fake=fake, log_level="error") as emulator:
        yield World(fake, emulator)


def free_port() -> int:
    """A loopback port nobody listens on now, for a server process that binds it by number (as the Web
    Adapter's app binds PORT)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port

"""Faults drawn at random, so a person can watch the page and the functions meet each one the real API can produce.

Each request that has no scripted reply draws, with probability ``rate``, one fault from the menu that applies
to it (``schema`` only to structured output); the same seed and the same sequence of requests give the same
faults.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from infra.fake_openai.replies import FakeReply

FAULT_NOTE = "(a fault injected by the fake model)"


@dataclass(frozen=True)
class FaultSettings:
    slow_seconds: float
    retry_after_seconds: int


def _rate_limited(reply: FakeReply, settings: FaultSettings) -> FakeReply:
    return FakeReply(
        status=429,
        headers={"retry-after": str(settings.retry_after_seconds)},
        error_code="rate_limit_exceeded",
        error_message=f"Rate limit reached for requests {FAULT_NOTE}.",
    )


def _server_error(reply: FakeReply, settings: FaultSettings) -> FakeReply:
    return FakeReply(status=500, error_code="server_error", error_message=f"The server had an error {FAULT_NOTE}.")


def _unauthorized(reply: FakeReply, settings: FaultSettings) -> FakeReply:
    return FakeReply(
        status=401, error_code="invalid_api_key", error_message=f"Incorrect API key provided {FAULT_NOTE}."
    )


def _slow(reply: FakeReply, settings: FaultSettings) -> FakeReply:
    return replace(reply, delay_seconds=settings.slow_seconds)


def _drop(reply: FakeReply, settings: FaultSettings) -> FakeReply:
    return replace(reply, drop_after_tokens=len(reply.deltas) // 2)


def _refusal(reply: FakeReply, settings: FaultSettings) -> FakeReply:
    return replace(
        reply, text=None, tokens=None, output=None, refusal=f"I'm sorry, I can't help with that {FAULT_NOTE}."
    )


def _breaks_schema(reply: FakeReply, settings: FaultSettings) -> FakeReply:
    broken = json.dumps({"unexpected": f"output that breaks the schema {FAULT_NOTE}"})
    return replace(reply, output=None, raw_output_text=broken)


def _incomplete(reply: FakeReply, settings: FaultSettings) -> FakeReply:
    """Cut off by max_output_tokens: half the answer, so structured output is unfinished JSON."""
    if reply.output is not None:
        text = reply.answer_text
        return replace(reply, output=None, raw_output_text=text[: len(text) // 2], incomplete=True)
    deltas = reply.deltas
    return replace(reply, text=None, tokens=deltas[: max(1, len(deltas) // 2)], incomplete=True)


FAULTS: dict[str, Callable[[FakeReply, FaultSettings], FakeReply]] = {
    "429": _rate_limited,
    "500": _server_error,
    "401": _unauthorized,
    "slow": _slow,
    "drop": _drop,
    "refusal": _refusal,
    "schema": _breaks_schema,
    "incomplete": _incomplete,
}
"""Each fault, by the name the command line takes, turning the answer the fake would give into the fault."""
STRUCTURED_ONLY = {"schema"}
# Long enough for a caller's own timeout to show: a slow answer's wait, and a 429's Retry-After.
SLOW_SECONDS = 20.0
RETRY_AFTER_SECONDS = 30


class Faults:
    """Draws faults for the fake at ``rate`` (0..1) from ``menu``, reproducibly from ``seed``."""

    def __init__(
        self,
        rate: float,
        *,
        seed: int | None = None,
        menu: Iterable[str] = FAULTS,
        slow_seconds: float = SLOW_SECONDS,
        retry_after_seconds: int = RETRY_AFTER_SECONDS,
    ) -> None:
        self.menu = tuple(menu)
        unknown = [name for name in self.menu if name not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
        if not self.menu:
            raise ValueError(f"name at least one fault from {', '.join(FAULTS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the fault rate is a probability from 0 to 1, not {rate}")
        if slow_seconds < 0 or retry_after_seconds < 0:
            raise ValueError("slow_seconds and retry_after_seconds must not be negative")
        self.rate = rate
        self.settings = FaultSettings(slow_seconds, retry_after_seconds)
        self._random = random.Random(seed)  # noqa: S311 - reproducible faults, not secrets
        self._lock = threading.Lock()

    def draw(self, structured: bool) -> str | None:
        """The fault for the next request, or None for a normal answer."""
        applicable = [name for name in self.menu if structured or name not in STRUCTURED_ONLY]
        with self._lock:
            if self._random.random() >= self.rate or not applicable:
                return None
            return self._random.choice(applicable)

    def inflict(self, fault: str, reply: FakeReply) -> FakeReply:
        return FAULTS[fault](reply, self.settings)

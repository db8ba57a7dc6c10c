"""Rows 4, 5 and 6 for the buffered functions, from one session of warm requests per function.

Two warm processes of the function (warm_runner.py) run side by side: one with the template's budgets, as
deployed, and one with them off. Each round invokes the handler in both and makes the same model call with the
SDK alone in the second, in a rotating order:

- 4. budget check: budgets on minus budgets off, per round, to the handler's response: the reserve before the
  model call against moto's DynamoDB on loopback, as a person waits for it on every request. The settlement
  is written after the response by the function's extension, as on Lambda (llm_core/after_response.py); the
  process takes its next command only once it is written, so it never overlaps the next round;
- 5. warm overhead: the handler (budgets off) against the SDK call alone, per round;
- 6. peak memory of the process with budgets on, after the session.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from types import TracebackType
from typing import Any

from infra.bench.report import Row, Target, median_ms, paired_delta, paired_ratio
from infra.bench.world import EVENT_FILES, MODULES, REPO, World

TARGET_BUDGET = Target(15, "ms", "<")
TARGET_RSS = Target(150, "MB")
DIRECT_BUDGET_CALLS = 50


class WarmRunner:
    """A warm process of one buffered function, driven one command at a time (see warm_runner.py)."""

    def __init__(self, function: str, environment: dict[str, str]) -> None:
        replies, reply_end = os.pipe()
        self._errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "infra.bench.warm_runner", MODULES[function], str(EVENT_FILES[function]),
             str(reply_end)],
            env=environment, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._errors,
            pass_fds=(reply_end,), text=True,
        )  # fmt: skip
        os.close(reply_end)
        self._replies = os.fdopen(replies)

    def __enter__(self) -> WarmRunner:
        return self

    def __exit__(self, *exc_info: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self._replies.readline()
        if not line:
            self.process.wait(timeout=30)
            self._errors.seek(0)
            tail = self._errors.read().decode(errors="replace")[-600:]
            raise RuntimeError(f"the warm runner exited with {self.process.returncode}: {tail}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"the warm runner failed on {command['do']}: {reply['error']}")
        if reply.get("status", 200) != 200:
            raise RuntimeError(f"the handler answered {reply['status']}")
        return reply

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._replies.close()
        self._errors.close()


def measure(world: World, function: str, rounds: int) -> list[Row]:
    with (
        WarmRunner(function, world.environment(function)) as budgets_on,
        WarmRunner(function, world.environment(function, budgets=False)) as budgets_off,
    ):
        budgets_on.ask(do="handler")  # the cold start, the key, the connections
        budgets_off.ask(do="handler")
        body = dict(world.fake.requests[-1].body)
        body.pop("stream", None)
        budgets_off.ask(do="sdk", body=body)
        calls = {
            "on": lambda: budgets_on.ask(do="handler"),
            "off": lambda: budgets_off.ask(do="handler"),
            "sdk": lambda: budgets_off.ask(do="sdk", body=body),
        }
        order = list(calls)
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for index in range(rounds):
            shift = index % len(order)
            for name in order[shift:] + order[:shift]:
                samples[name].append(calls[name]()["seconds"])
        direct = [budgets_on.ask(do="budget") for _ in range(DIRECT_BUDGET_CALLS)]
        rss = budgets_on.ask(do="rss")["mb"]
    reserve_ms = statistics.median(call["reserve"] for call in direct) * 1000
    settle_ms = statistics.median(call["settle"] for call in direct) * 1000
    on, off, sdk = samples["on"], samples["off"], samples["sdk"]
    return [
        Row(
            f"budget check, warm request: {function}",
            f"{median_ms(on):.1f} ms (budgets on)",
            f"{median_ms(off):.1f} ms (budgets off)",
            paired_delta(on, off) * 1000,
            TARGET_BUDGET,
            signed=True,
            note=(
                f"median of {rounds} pairs; called directly: reserve {reserve_ms:.1f} ms, settle {settle_ms:.1f} ms "
                "(each a conditional UpdateItem per cap, in parallel; the settle after the response)"
            ),
        ),
        Row(
            f"warm overhead: {function}",
            f"{median_ms(off):.2f} ms (handler, budgets off)",
            f"{median_ms(sdk):.2f} ms (SDK call alone)",
            paired_ratio(off, sdk),
            None,
            # Context, not a target: against a fake that answers in 4 ms, a real model call takes 100 times that.
            note=f"median of {rounds} pairs; +{paired_delta(off, sdk) * 1000:.2f} ms per request",
            unit="x",
        ),
        Row(
            f"warm peak RSS: {function}",
            f"{rss:.1f} MB",
            f"after {rounds + 1} requests",
            rss,
            TARGET_RSS,
        ),
    ]

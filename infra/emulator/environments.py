"""Execution environments, as Lambda runs them: each function in its own Python processes, each process
serving one invocation at a time.

Lambda never hands an environment a second invocation before the first has finished, and the handlers rely
on it: Powertools keeps the current event, context and request id in module-level objects. So a pool per
function starts environments on demand, up to a small limit; an idle one is reused (a warm start), a new one
pays its cold start (the handler's import) inside the request that needed it, and requests beyond the limit
wait their turn. An environment whose invocation timed out, or that crashed, is discarded, as Lambda does.

Each environment's stdout and stderr are relayed whole line by whole line, so log lines written at the same
time by different environments never run into each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.emulator.runtime import log_stream_name

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
# Lambda's own limit on a cold start; a slow machine gets the function's timeout if that is longer.
INIT_LIMIT_SECONDS = 10.0
# The channel carries whole events (a 6 MB body is 8 MB once base64-encoded) and results on one line each.
CHANNEL_LINE_LIMIT = 64 * 1024 * 1024
# A log "line" longer than this is relayed in pieces rather than held in memory.
LOG_LINE_LIMIT = 256 * 1024


@dataclass(frozen=True)
class FunctionConfig:
    """One function as its environments run it."""

    name: str
    entry_point: str
    """``module.attr`` of a Lambda handler, or ``module:attr`` of an ASGI app behind the Web Adapter."""
    web_adapter: bool
    timeout_seconds: float
    memory_mb: int
    environment: Mapping[str, str]
    """The process environment of its environments (the template's variables and the emulator's wiring)."""


@dataclass(frozen=True)
class LogLine:
    function_name: str
    text: str
    stderr: bool


LogSink = Callable[[LogLine], None]


def print_log_line(line: LogLine) -> None:
    """The console, where Lambda would have CloudWatch Logs."""
    stream = sys.stderr if line.stderr else sys.stdout
    # A console that has gone away (a closed pipe) must not stop the relay: the environment would block on
    # a full pipe in the middle of an invocation.
    with contextlib.suppress(OSError, ValueError):
        stream.write(line.text + "\n")
        stream.flush()


class EnvironmentFailed(Exception):
    """The environment failed its cold start, or ended during an invocation; its own log says why."""


class FunctionError(Exception):
    """The handler raised (or returned what JSON cannot carry); the environment logged it."""


class ExecutionEnvironment:
    """One Python process running one function. Start it with ``await ExecutionEnvironment.start(...)``."""

    def __init__(
        self,
        function: FunctionConfig,
        process: asyncio.subprocess.Process,
        channel: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        relays: list[asyncio.Task[None]],
        log_stream: str,
    ) -> None:
        self.function = function
        self.log_stream = log_stream
        self._process = process
        self._reader, self._writer = channel
        self._relays = relays
        self.port: int | None = None
        """Where the web app listens (a web-adapter function only)."""
        self.token: str | None = None
        """What each request to the web app must carry (worker.py); None for a buffered function."""
        self._invoking = False
        self._answered = False
        # Set at once by kill(): the process is reaped a moment later, and must not be lent in between.
        self._killed = False
        self._deadline_ms = 0

    @classmethod
    async def start(cls, function: FunctionConfig, log_sink: LogSink) -> ExecutionEnvironment:
        """Start the process and wait for its cold start to finish."""
        log_stream = log_stream_name()
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-m", "infra.emulator.worker", "--channel", str(theirs.fileno())]
        command += ["--entry-point", function.entry_point, *(["--web-adapter"] if function.web_adapter else [])]
        with theirs:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=cls._process_environment(function, log_stream),
                cwd=REPO_ROOT,
                pass_fds=(theirs.fileno(),),
                # Its own session: a Ctrl-C in the terminal reaches the emulator, which then ends this process.
                start_new_session=True,
            )
        assert process.stdout is not None and process.stderr is not None
        relays = [
            asyncio.create_task(_relay(process.stdout, function.name, stderr=False, sink=log_sink)),
            asyncio.create_task(_relay(process.stderr, function.name, stderr=True, sink=log_sink)),
        ]
        channel = await asyncio.open_connection(sock=ours, limit=CHANNEL_LINE_LIMIT)
        environment = cls(function, process, channel, relays, log_stream)
        try:
            async with asyncio.timeout(max(INIT_LIMIT_SECONDS, function.timeout_seconds)):
                ready = await environment._receive()
        except TimeoutError:
            await environment.close()
            raise EnvironmentFailed(f"{function.name}: the cold start took too long") from None
        except BaseException:
            await environment.close()
            raise
        environment.port = ready["ready"]["port"]
        environment.token = ready["ready"].get("token")
        return environment

    @staticmethod
    def _process_environment(function: FunctionConfig, log_stream: str) -> dict[str, str]:
        """The function's variables, and the ones Lambda sets in every environment."""
        path = [str(FUNCTIONS_DIR), str(REPO_ROOT)]
        return {
            **function.environment,
            "PYTHONPATH": os.pathsep.join(path),
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        }

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return not self._killed and self._process.returncode is None and not self._reader.at_eof()

    @property
    def finishing(self) -> bool:
        """Answered, with the invocation's extensions still at work."""
        return self.alive and self._invoking and self._answered

    @property
    def reusable(self) -> bool:
        """Alive, and not left with an invocation's answer still on its way (an interrupted invoke)."""
        return self.alive and not self._invoking

    async def invoke(self, event: dict[str, Any], request_id: str, deadline_ms: int) -> Any:
        """Run the handler on one event; its result, as Lambda passes it to the function URL as soon as the
        handler returns. The invocation goes on until its extensions are done (``finish``)."""
        invocation = {"event": event, "request_id": request_id, "deadline_ms": deadline_ms}
        self._invoking, self._answered = True, False
        self._deadline_ms = deadline_ms
        self._writer.write(json.dumps(invocation).encode() + b"\n")
        await self._writer.drain()
        reply = await self._receive()
        self._answered = True
        self._invoking = not reply.get("done")
        if "error" in reply:
            raise FunctionError(reply["error"])
        return reply["result"]

    async def finish(self) -> None:
        """Wait for the end of the invocation's work after the response (the worker's ``done``). One that runs
        past the function's timeout ends the environment, as Lambda's timeout does."""
        if not self.finishing:
            return
        try:
            async with asyncio.timeout(max(self._deadline_ms / 1000 - time.time(), 0)):
                await self._receive()
        except (TimeoutError, EnvironmentFailed):
            self.kill()
            return
        self._invoking = False

    async def _receive(self) -> dict[str, Any]:
        line = await self._reader.readline()
        if not line:
            returncode = await self._process.wait()
            raise EnvironmentFailed(f"{self.function.name}: the environment ended (exit code {returncode})")
        message: dict[str, Any] = json.loads(line)
        return message

    def kill(self) -> None:
        self._killed = True
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()

    async def close(self) -> None:
        """End the process, and relay what it wrote up to then."""
        self.kill()
        await self._process.wait()
        await asyncio.gather(*self._relays)
        self._writer.close()


async def _relay(stream: asyncio.StreamReader, function_name: str, *, stderr: bool, sink: LogSink) -> None:
    pending = b""

    def emit(data: bytes) -> None:
        sink(LogLine(function_name, data.decode("utf-8", "replace").rstrip("\r"), stderr))

    while chunk := await stream.read(LOG_LINE_LIMIT):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            emit(line)
        if len(pending) >= LOG_LINE_LIMIT:
            emit(pending)
            pending = b""
    if pending:
        emit(pending)


# How many invocations of one function run at once locally; Lambda's limit is the account's concurrency.
ENVIRONMENTS_PER_FUNCTION = 10
ALL_BUSY = (
    "emulator: all {limit} environments of {function} are busy; the request waits for one to be free "
    "(Lambda would start another, up to the account's concurrency)"
)


class EnvironmentPool:
    """The execution environments of one function: at most ``limit``, each lent to one invocation at a time."""

    def __init__(
        self, function: FunctionConfig, log_sink: LogSink = print_log_line, limit: int = ENVIRONMENTS_PER_FUNCTION
    ) -> None:
        self.function = function
        self._log_sink = log_sink
        self._limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[ExecutionEnvironment] = []
        self._all: set[ExecutionEnvironment] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._finishing: set[asyncio.Task[None]] = set()
        self._closed = False
        self._warming: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def environment(self) -> AsyncIterator[ExecutionEnvironment]:
        """An environment for one invocation: a warm one if one is idle, else a new one (a cold start).

        Raises EnvironmentFailed when a new one fails its cold start.
        """
        if self._slots.locked():
            # Lambda would start another environment here: say why this request waits instead.
            said = ALL_BUSY.format(limit=self._limit, function=self.function.name)
            self._log_sink(LogLine(self.function.name, said, stderr=True))
        await self._slots.acquire()
        try:
            if not self._idle and self._warming is not None:
                # A cold start is under way already: wait for it rather than pay for a second one.
                await asyncio.wait([self._warming])
            environment = self._take_idle() or await self._start()
        except BaseException:
            self._slots.release()
            raise
        try:
            yield environment
        finally:
            if environment.finishing:
                # The caller answers now; the environment stays busy, and holds its slot, until its invocation
                # is over, as Lambda's does while its extensions finish.
                task = asyncio.create_task(self._give_back(environment))
                self._finishing.add(task)
                task.add_done_callback(self._finishing.discard)
            else:
                self._put_back(environment)
                self._slots.release()

    async def _give_back(self, environment: ExecutionEnvironment) -> None:
        try:
            await environment.finish()
            self._put_back(environment)
        finally:
            self._slots.release()

    def _put_back(self, environment: ExecutionEnvironment) -> None:
        if environment.reusable and not self._closed:
            self._idle.append(environment)
        else:
            self._discard(environment)

    def start_warming(self) -> asyncio.Task[None]:
        """Start one environment ahead of the first request, as provisioned concurrency would."""
        self._warming = asyncio.create_task(self._warm())
        return self._warming

    async def _warm(self) -> None:
        # A failed cold start is only logged (by the environment): the first request tries again, answers 502.
        async with self._slots:
            with contextlib.suppress(EnvironmentFailed):
                self._idle.append(await self._start())
        self._warming = None

    def _take_idle(self) -> ExecutionEnvironment | None:
        while self._idle:
            environment = self._idle.pop()  # the most recently used: the warmest
            if environment.reusable:
                return environment
            self._discard(environment)
        return None

    async def _start(self) -> ExecutionEnvironment:
        environment = await ExecutionEnvironment.start(self.function, self._log_sink)
        if self._closed:  # the emulator stopped during this cold start
            await environment.close()
            raise EnvironmentFailed(f"{self.function.name}: the emulator is stopping")
        self._all.add(environment)
        return environment

    def _discard(self, environment: ExecutionEnvironment) -> None:
        self._all.discard(environment)
        task = asyncio.create_task(environment.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """End every environment, idle or busy; none starts after this."""
        self._closed = True
        warming = self._warming
        if warming is not None:
            warming.cancel()
            # A cancelled cold start ends its own process; it must finish before the loop does.
            with contextlib.suppress(asyncio.CancelledError):
                await warming
        environments, self._all, self._idle = list(self._all), set(), []
        await asyncio.gather(*(environment.close() for environment in environments), *self._finishing)
        await asyncio.gather(*self._closing)

    def kill_all(self) -> None:
        """The last resort when the server's loop is stuck: end the processes without waiting for them. Called
        from another thread than the loop's, which may be changing the set: a copy is walked."""
        for environment in list(self._all):
            environment.kill()

"""Row 2: how long a token the model has written takes to reach the person, on a fresh stream process.

Each round starts the stream function's app in a new process the way run_stream.sh starts it behind the Lambda
Web Adapter, waits for the adapter's readiness check (``/healthz`` answering 200), then sends the first request
at once and a few more after it. The fake model writes its tokens tens of milliseconds apart, as a real model
does, and records when it wrote the first (``first_delta_at``); the client notes when each ``delta`` event
arrives. The fake, the client and that clock are in this process, so the gap needs no clock agreement.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from types import TracebackType

from infra.bench.report import Row, Target, percentile
from infra.bench.world import REPO, FakeReply, LambdaContext, World, build_event, free_port, web_adapter_headers
from infra.sse import response_events
from llm_core.timeouts import ADAPTER_CONNECTION_IDLE_SECONDS

TARGET_FIRST_REQUEST = Target(50, "ms")
TARGET_LATER_REQUEST = Target(20, "ms")
TARGET_COALESCED = Target(0, "coalesced")
TOKENS = [f" word{index}" for index in range(8)]
TOKEN_GAP_SECONDS = 0.075
READY_LIMIT_SECONDS = 60
READY_POLL_SECONDS = 0.01
SOCKET_TIMEOUT_SECONDS = 30
# run_stream.sh's command line, with this interpreter.
UVICORN = ["-m", "uvicorn", "handlers.stream:app", "--host", "127.0.0.1", "--no-access-log", "--timeout-keep-alive"]


class StreamProcess:
    """The stream function's app, served by uvicorn in a process of its own."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.port = free_port()
        self._log = tempfile.TemporaryFile()
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our fixed command
            [sys.executable, *UVICORN, str(ADAPTER_CONNECTION_IDLE_SECONDS), "--port", str(self.port)],
            env=environment, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
        )  # fmt: skip

    def __enter__(self) -> StreamProcess:
        return self

    def __exit__(self, *exc_info: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def wait_until_ready(self) -> float:
        """Poll ``/healthz`` as the adapter does until it answers 200; the seconds since the process started."""
        deadline = time.monotonic() + READY_LIMIT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the stream app exited with {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                try:
                    connection.request("GET", "/healthz")
                    if connection.getresponse().status == 200:
                        return time.perf_counter() - self.started_at
                finally:
                    connection.close()
            time.sleep(READY_POLL_SECONDS)
        raise RuntimeError(f"the stream app was not ready after {READY_LIMIT_SECONDS} s: {self.log_tail()}")

    def peak_rss_mb(self) -> float:
        # VmHWM, not ru_maxrss: Linux carries a forking parent's peak into the child's ru_maxrss.
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc")

    def log_tail(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()[-600:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@dataclass(frozen=True)
class Stream:
    sent_at: float
    upstream_first_at: float
    arrivals: list[float]

    @property
    def gap_ms(self) -> float:
        return (self.arrivals[0] - self.upstream_first_at) * 1000

    @property
    def to_upstream_ms(self) -> float:
        """From the request leaving the client to the model's first token: the secret, the budget, the call."""
        return (self.upstream_first_at - self.sent_at) * 1000


def one_by_one(arrivals: list[float], tokens: int, gap_seconds: float) -> bool:
    """Each token arrived as its own delta: none held back and sent on in one burst with the next. Deltas
    closer than a tenth of the model's spacing came together; a late one that merely narrows the next gap is
    jitter, not coalescing."""
    if len(arrivals) != tokens:
        return False
    return all(later - earlier >= gap_seconds / 10 for earlier, later in itertools.pairwise(arrivals))


def adapter_headers(body: bytes) -> dict[str, str]:
    """The headers the Web Adapter adds to each invocation it passes to the app."""
    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-type", b"application/json")]}
    request_id = str(uuid.uuid4())
    event = build_event(scope, body, request_id=request_id, url_id="bench")
    context = LambdaContext("StreamFunction", request_id, timeout_seconds=120)
    return {name.decode(): value.decode() for name, value in web_adapter_headers(event, context)}


def stream_once(world: World, port: int, tokens: list[str], gap_seconds: float) -> Stream:
    world.fake.enqueue(FakeReply(tokens=tokens, token_delay_seconds=gap_seconds))
    body = json.dumps({"prompt": "Count for me."}).encode()
    headers = {"content-type": "application/json", **adapter_headers(body)}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT_SECONDS)
    try:
        sent_at = time.perf_counter()
        connection.request("POST", "/", body, headers)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"the stream answered {response.status}: {response.read()[:300]!r}")
        arrivals = []
        for event in response_events(response):
            if event.event == "delta":
                arrivals.append(time.perf_counter())
            elif event.event == "error":
                raise RuntimeError(f"the stream failed: {event.data[:300]}")
    finally:
        connection.close()
    upstream_first_at = world.fake.requests[-1].first_delta_at
    if not arrivals or upstream_first_at is None:
        raise RuntimeError("the stream carried no delta")
    return Stream(sent_at, upstream_first_at, arrivals)


def measure(world: World, processes: int, later_requests: int) -> list[Row]:
    environment = world.environment("stream")
    first: list[Stream] = []
    later: list[Stream] = []
    ready_seconds: list[float] = []
    with StreamProcess(environment) as app:  # unmeasured: writes the bytecode caches of what a request imports
        app.wait_until_ready()
        stream_once(world, app.port, TOKENS, 0)
    for _ in range(processes):
        with StreamProcess(environment) as app:
            ready_seconds.append(app.wait_until_ready())
            first.append(stream_once(world, app.port, TOKENS, TOKEN_GAP_SECONDS))
            later.extend(stream_once(world, app.port, TOKENS, TOKEN_GAP_SECONDS) for _ in range(later_requests))
    streams = first + later
    coalesced = sum(not one_by_one(stream.arrivals, len(TOKENS), TOKEN_GAP_SECONDS) for stream in streams)
    closest_ms = min(b - a for stream in streams for a, b in itertools.pairwise(stream.arrivals)) * 1000
    first_gaps = [stream.gap_ms for stream in first]
    later_gaps = [stream.gap_ms for stream in later]
    print(
        f"   {processes} fresh processes, ready (/healthz 200) {statistics.median(ready_seconds):.2f} s after start "
        f"(median); each served 1 + {later_requests} streams of {len(TOKENS)} tokens "
        f"{TOKEN_GAP_SECONDS * 1000:.0f} ms apart"
    )
    print(
        "   request sent -> model's first token (secret, budget, connection; not in the gap): "
        f"first request {statistics.median(s.to_upstream_ms for s in first):.1f} ms, "
        f"later {statistics.median(s.to_upstream_ms for s in later):.1f} ms (medians)"
    )
    baseline = "the model's first token"
    return [
        Row(
            "stream first delta, 1st request",
            f"client +{statistics.median(first_gaps):.1f} ms",
            baseline,
            statistics.median(first_gaps),
            TARGET_FIRST_REQUEST,
            signed=True,
            note=f"median of {processes} fresh processes; worst {max(first_gaps):+.1f} ms",
        ),
        Row(
            "stream first delta, later request",
            f"client +{statistics.median(later_gaps):.1f} ms",
            baseline,
            statistics.median(later_gaps),
            TARGET_LATER_REQUEST,
            signed=True,
            note=f"median of {len(later_gaps)} streams; p95 {percentile(later_gaps, 0.95):+.1f} ms",
        ),
        Row(
            "stream deltas one by one",
            f"{len(streams) - coalesced} of {len(streams)} streams",
            f"{len(TOKENS)} tokens written {TOKEN_GAP_SECONDS * 1000:.0f} ms apart",
            coalesced,
            TARGET_COALESCED,
            note=f"closest two deltas of a stream: {closest_ms:.1f} ms apart",
        ),
    ]

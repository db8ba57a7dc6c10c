"""One benchmark run on this machine, as numbers and ratios against a baseline measured in the same run.

    python -m infra.bench [--quick] [--check]        (what `make bench` runs)

1. Cold import of each handler in a fresh process, against ``import openai, boto3`` (what any handler of
   this job must load). Target <= 1.10x.
2. Warm request overhead of summarize and todo: ``lambda_handler`` called in-process with the sample events
   (moto's Secrets Manager, the fake model on loopback), against a direct SDK call sending the same request
   to the same fake; p50, p95 and their ratios. Target <= 1.10x.
3. Stream first byte: when the client has the first ``delta`` event, against when the fake model wrote its
   first token (both ``time.perf_counter()`` in this process); and no coalescing: as many ``delta`` events
   as tokens sent. Target <= +20 ms.
4. Warm peak RSS of a handler process after a run of requests. Target <= 150 MB.
5. Unzipped size of the built dependencies layer. Target <= 40 MB.

Everything runs on 127.0.0.1 with bounded loops; the handlers' log and metric lines go to /dev/null
during timed loops, as Lambda hands them to its log pipe rather than to a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.sse import response_events

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "tests" / "events"
HANDLERS = {"summarize": "handlers.summarize", "todo": "handlers.todo", "stream": "handlers.stream"}
BUFFERED = {"summarize": "function_url_summarize.json", "todo": "function_url_todo.json"}
TARGET_WARM_RATIO = 1.10
TARGET_IMPORT_RATIO = 1.10
TARGET_FIRST_BYTE_MS = 20.0
TARGET_RSS_MB = 150.0
TARGET_LAYER_MB = 40.0
SOCKET_TIMEOUT_SECONDS = 30
STREAM_TOKENS = [f" token{index}" for index in range(20)]
# The fake's pause between tokens: long enough that each token is its own write, as a real model's are.
TOKEN_GAP_SECONDS = 0.002


@dataclass(frozen=True)
class Sizes:
    import_runs: int
    warm_requests: int
    stream_runs: int
    rss_requests: int


FULL = Sizes(import_runs=7, warm_requests=300, stream_runs=40, rss_requests=200)
QUICK = Sizes(import_runs=3, warm_requests=60, stream_runs=10, rss_requests=40)

results_ok: list[bool] = []


def verdict(ok: bool) -> str:
    results_ok.append(ok)
    return "ok" if ok else "MISSED"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send the handlers' JSON logs and metrics to /dev/null (fd level: Powertools writes to sys.stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            with contextlib.redirect_stdout(devnull):
                yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def handler_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO / "functions"), str(REPO)])
    environment.setdefault("OPENAI_SECRET_ID", "local/openai-api-key")
    environment.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    environment.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    environment.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LlmEndpoints")
    environment.update(extra or {})
    return environment


# ---------------------------------------------------------------------------------------------- 1. cold import


def time_import(module: str, environment: dict[str, str]) -> float:
    """Seconds to import ``module`` in a new interpreter (interpreter start-up excluded)."""
    code = f"import time; started = time.perf_counter(); import {module}; print(time.perf_counter() - started)"
    result = subprocess.run(  # noqa: S603 - our interpreter, our fixed code
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def bench_cold_import(sizes: Sizes) -> None:
    print(f"\n1. Cold import (fresh process each time, median of {sizes.import_runs})")
    environment = handler_environment()
    baseline = statistics.median(time_import("openai, boto3", environment) for _ in range(sizes.import_runs))
    print(f"   {'import openai, boto3':<26}{baseline * 1000:8.1f} ms   1.00x (baseline)")
    for module in HANDLERS.values():
        seconds = statistics.median(time_import(module, environment) for _ in range(sizes.import_runs))
        ratio = seconds / baseline
        ok = verdict(ratio <= TARGET_IMPORT_RATIO)
        print(f"   {'import ' + module:<26}{seconds * 1000:8.1f} ms   {ratio:.2f}x  <= {TARGET_IMPORT_RATIO}x: {ok}")


# ---------------------------------------------------------------------------------------------- 2. warm requests


def structured_output_model(name: str, event: dict[str, Any]) -> Any:
    """The pydantic class the handler passes as ``text_format``, or None if llm_core no longer has it."""
    try:
        from llm_core import prompts

        if name == "summarize":
            return prompts.summary_schema(json.loads(event["body"]).get("max_bullets", 3))
        return prompts.Todo
    except (ImportError, AttributeError):
        return None


def bench_warm(sizes: Sizes, fake: Any) -> None:
    import importlib

    import openai

    from infra.emulator.runtime import LambdaContext

    print(f"\n2. Warm request overhead ({sizes.warm_requests} requests each, interleaved, in-process)")
    direct = openai.OpenAI(api_key="sk-bench", base_url=fake.base_url, max_retries=0)
    for name, event_file in BUFFERED.items():
        handler = importlib.import_module(HANDLERS[name]).lambda_handler
        event = json.loads((EVENTS / event_file).read_text())

        def via_handler(handler: Callable[..., Any] = handler, event: dict[str, Any] = event) -> None:
            result = handler(copy.deepcopy(event), LambdaContext("bench", "bench", timeout_seconds=30, memory_mb=512))
            assert result["statusCode"] == 200, result

        with quiet_stdout():
            via_handler()  # cold start, secret fetch, connection pool
        body = dict(fake.requests[-1].body)
        body.pop("stream", None)
        text_format = structured_output_model(name, event)
        if text_format is not None:
            # The very call the handler makes: responses.parse with the same model class and arguments.
            body.pop("text", None)

            def via_sdk(body: dict[str, Any] = body, text_format: Any = text_format) -> None:
                direct.responses.parse(**body, text_format=text_format)

        else:

            def via_sdk(body: dict[str, Any] = body) -> None:
                json.loads(direct.responses.create(**body).output_text)

        via_sdk()
        handler_times: list[float] = []
        sdk_times: list[float] = []
        with quiet_stdout():
            for index in range(sizes.warm_requests):
                # Alternate which goes first, so neither always runs on the warmer cache.
                pairs = [(via_handler, handler_times), (via_sdk, sdk_times)]
                for call, samples in pairs if index % 2 == 0 else reversed(pairs):
                    started = time.perf_counter()
                    call()
                    samples.append(time.perf_counter() - started)
        h50, h95 = percentile(handler_times, 0.5) * 1000, percentile(handler_times, 0.95) * 1000
        s50, s95 = percentile(sdk_times, 0.5) * 1000, percentile(sdk_times, 0.95) * 1000
        ratio50, ratio95 = h50 / s50, h95 / s95
        print(
            f"   {name:<10} handler p50 {h50:6.2f} ms  p95 {h95:6.2f} ms | direct SDK p50 {s50:6.2f} ms  "
            f"p95 {s95:6.2f} ms | ratio p50 {ratio50:.2f}x  p95 {ratio95:.2f}x  (+{h50 - s50:.2f} ms at p50)  "
            f"target <= {TARGET_WARM_RATIO:.2f}x: {verdict(ratio50 <= TARGET_WARM_RATIO)}"
        )


# ---------------------------------------------------------------------------------------------- 3. stream


def read_first_delta_and_count(response: http.client.HTTPResponse) -> tuple[float | None, int]:
    first_at, deltas = None, 0
    for event in response_events(response):
        if event.event == "delta":
            deltas += 1
            first_at = first_at or time.perf_counter()
    return first_at, deltas


def bench_stream(sizes: Sizes, fake: Any, emulator_url: str) -> list[str]:
    """The report lines (printed by the caller: stdout is muted meanwhile, the app prints its metrics there)."""
    from infra.fake_openai import FakeReply

    host, port = emulator_url.removeprefix("http://").split(":")
    delays: list[float] = []
    coalesced = 0
    body = json.dumps({"prompt": "Count for me."})
    for _ in range(sizes.stream_runs):
        fake.enqueue(FakeReply(tokens=STREAM_TOKENS, token_delay_seconds=TOKEN_GAP_SECONDS))
        connection = http.client.HTTPConnection(host, int(port), timeout=SOCKET_TIMEOUT_SECONDS)
        connection.request("POST", "/api/stream", body, {"content-type": "application/json"})
        first_at, deltas = read_first_delta_and_count(connection.getresponse())
        connection.close()
        upstream_first = fake.requests[-1].first_delta_at
        if first_at is None or upstream_first is None:
            raise RuntimeError("the stream carried no delta")
        delays.append((first_at - upstream_first) * 1000)
        coalesced += deltas != len(STREAM_TOKENS)
    p50, p95 = percentile(delays, 0.5), percentile(delays, 0.95)
    return [
        f"   client's first delta after the fake's first token: p50 +{p50:.2f} ms  p95 +{p95:.2f} ms  "
        f"target <= +{TARGET_FIRST_BYTE_MS:.0f} ms: {verdict(p95 <= TARGET_FIRST_BYTE_MS)}",
        f"   streams whose delta count != tokens sent (coalescing): {coalesced} of {sizes.stream_runs}: "
        f"{verdict(coalesced == 0)}",
    ]


# ---------------------------------------------------------------------------------------------- 4. peak RSS

# Only what the Lambda runtime would have loaded: the handler and a context object of the runtime's shape.
RSS_CHILD = """
import copy, importlib, json, sys, time
class Context:
    function_name, function_version, memory_limit_in_mb = "bench", "$LATEST", "512"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    log_group_name, log_stream_name = "/aws/lambda/bench", "bench"
    def __init__(self, request_id):
        self.aws_request_id, self.deadline = request_id, time.time() + 30
    def get_remaining_time_in_millis(self):
        return int((self.deadline - time.time()) * 1000)
handler = importlib.import_module(sys.argv[1]).lambda_handler
event = json.loads(open(sys.argv[2]).read())
for index in range(int(sys.argv[3])):
    result = handler(copy.deepcopy(event), Context(str(index)))
    assert result["statusCode"] == 200, result
# VmHWM, not ru_maxrss: Linux carries the forking parent's peak into a child's ru_maxrss across exec.
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("MAXRSS_KB", peak, file=sys.stderr)
from llm_core import model_client
model_client.get_client().close()  # a clean goodbye to the fake model, not a reset
"""

STREAM_CHILD = """
import sys, uvicorn
uvicorn.run("handlers.stream:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="auto")
"""


def peak_rss_mb_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def bench_rss(sizes: Sizes, environment: dict[str, str]) -> None:
    print(f"\n4. Warm peak RSS of a handler process (after {sizes.rss_requests} requests)")
    for name, event_file in BUFFERED.items():
        result = subprocess.run(  # noqa: S603 - our interpreter, our fixed code
            [sys.executable, "-c", RSS_CHILD, HANDLERS[name], str(EVENTS / event_file), str(sizes.rss_requests)],
            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300, check=False,
        )  # fmt: skip
        lines = [line for line in result.stderr.splitlines() if line.startswith("MAXRSS_KB")]
        if result.returncode != 0 or not lines:
            print(f"   {name:<10} failed: {result.stderr.strip()[-400:]}")
            results_ok.append(False)
            continue
        megabytes = int(lines[-1].split()[1]) / 1024
        ok = verdict(megabytes <= TARGET_RSS_MB)
        print(f"   {name:<10} {megabytes:7.1f} MB  (Python process, handler imported)  <= {TARGET_RSS_MB:.0f} MB: {ok}")
    bench_stream_rss(sizes, environment)


def wait_until_healthy(server: subprocess.Popen[str], port: int) -> bool:
    for _ in range(300):  # bounded: up to 30 s for the app to import and listen
        if server.poll() is not None:
            return False
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            healthy = connection.getresponse().status == 200
            connection.close()
            if healthy:
                return True
        except OSError:
            pass
        threading.Event().wait(0.1)  # polls a child process's readiness, the adapter's own way
    return False


def bench_stream_rss(sizes: Sizes, environment: dict[str, str]) -> None:
    """The stream function's process is uvicorn serving the app, as the Web Adapter runs it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603 - our interpreter, our fixed code
        [sys.executable, "-c", STREAM_CHILD, str(port)], env=environment,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        if not wait_until_healthy(server, port):
            server.kill()
            print(f"   stream     failed to start: {(server.communicate()[1] or '')[-400:]}")
            results_ok.append(False)
            return
        body = json.dumps({"prompt": "Count for me."})
        for _ in range(sizes.rss_requests):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT_SECONDS)
            connection.request("POST", "/", body, {"content-type": "application/json"})
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status != 200:
                raise RuntimeError(f"stream answered {response.status}")
        megabytes = peak_rss_mb_of(server.pid)
        ok = verdict(megabytes <= TARGET_RSS_MB)
        print(f"   {'stream':<10} {megabytes:7.1f} MB  (uvicorn serving the app)  <= {TARGET_RSS_MB:.0f} MB: {ok}")
    finally:
        if server.poll() is None:
            server.terminate()
            server.communicate(timeout=30)


# ---------------------------------------------------------------------------------------------- 5. layer


def directory_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def bench_layer() -> None:
    print("\n5. Dependencies layer, unzipped")
    candidates = [
        (REPO / ".aws-sam" / "build" / "DependenciesLayer", "sam build"),
        (REPO / ".aws-sam" / "sam-local" / "build" / "DependenciesLayer", "x86_64 build of make sam-local"),
    ]
    for path, origin in candidates:
        if path.is_dir():
            megabytes = directory_bytes(path) / 1_000_000
            print(
                f"   {path.relative_to(REPO)} ({origin}): {megabytes:.1f} MB  "
                f"target <= {TARGET_LAYER_MB:.0f} MB: {verdict(megabytes <= TARGET_LAYER_MB)}"
            )
            return
    print(
        "   not built: run `sam build` (or: make -f infra/layer/Makefile build-DependenciesLayer "
        "ARTIFACTS_DIR=/tmp/layer && du -sh /tmp/layer), then run the benchmark again"
    )


# ---------------------------------------------------------------------------------------------- main


def quiet_client_resets(fake: Any) -> None:
    """The fake's server prints a traceback when a client process exits with a pooled connection open."""
    server = fake._server
    report = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            report(request, client_address)

    server.handle_error = handle_error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    sys.path[:0] = [str(REPO / "functions"), str(REPO)]

    from infra.emulator import Emulator
    from infra.fake_openai import FakeOpenAI

    print(f"Benchmark on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, fake model on 127.0.0.1")
    bench_cold_import(sizes)
    with FakeOpenAI() as fake, Emulator(fake=fake, log_level="error") as emulator:
        # The fake writes a response's headers and body separately; with Nagle's algorithm on its socket,
        # each answer then waits ~40 ms for the client's delayed ACK, which a real API's server does not do
        # and which would swamp what is measured here.
        fake._server.RequestHandlerClass.disable_nagle_algorithm = True
        quiet_client_resets(fake)
        assert emulator.moto is not None
        # The handlers called in-process below get what the emulator gives its functions' environments.
        os.environ.update(emulator.function_environment("summarize"))
        bench_warm(sizes, fake)
        print(
            f"\n3. Stream first byte through the emulator ({sizes.stream_runs} streams of {len(STREAM_TOKENS)} tokens)"
        )
        with quiet_stdout():
            lines = bench_stream(sizes, fake, emulator.url)
        print("\n".join(lines))
        wiring = ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "OPENAI_SECRET_ID", "OPENAI_BASE_URL", "AWS_ACCESS_KEY_ID")
        wiring += ("AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "POWERTOOLS_TRACE_DISABLED")
        child_environment = handler_environment({name: os.environ[name] for name in wiring})
        bench_rss(sizes, child_environment)
    bench_layer()
    missed = results_ok.count(False)
    print(f"\n{len(results_ok) - missed} of {len(results_ok)} targets met")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())

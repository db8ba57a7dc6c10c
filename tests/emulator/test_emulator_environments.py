"""Execution environments: a process each, one invocation at a time, reused when idle, ended when broken."""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import itertools
import json
import os
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from infra.emulator.environments import (
    FUNCTIONS_DIR,
    REPO_ROOT,
    EnvironmentFailed,
    EnvironmentPool,
    FunctionConfig,
    FunctionError,
)
from infra.emulator.worker import INVOCATION_TOKEN_HEADER
from tests.emulator.conftest import LogCollector

SAMPLES = "tests.emulator.sample_functions"
AFTER_RESPONSE = "tests.emulator.sample_after_response"
# Bounds a scenario that never ends (a pool that lends one environment twice can leave callers waiting).
SCENARIO_LIMIT_SECONDS = 60


def config(handler: str, **environment: str) -> FunctionConfig:
    return FunctionConfig(
        name="SampleFunction",
        entry_point=f"{SAMPLES}.{handler}",
        web_adapter=False,
        timeout_seconds=30,
        memory_mb=256,
        environment={"PATH": os.environ.get("PATH", ""), **environment},
    )


def run_with_pool(
    function: FunctionConfig, scenario: Callable[[EnvironmentPool], Awaitable[Any]], limit: int = 4
) -> tuple[Any, LogCollector]:
    logs = LogCollector()

    async def main() -> Any:
        pool = EnvironmentPool(function, logs, limit=limit)
        try:
            async with asyncio.timeout(SCENARIO_LIMIT_SECONDS):
                return await scenario(pool)
        finally:
            await pool.close()

    return asyncio.run(main()), logs


async def invoke(pool: EnvironmentPool, event: dict[str, Any] | None = None) -> Any:
    """The handler's result, with the request id it was sent under as ``sent_as``."""
    async with pool.environment() as environment:
        request_id = str(uuid.uuid4())
        result = await environment.invoke(event or {}, request_id, int(time.time() * 1000) + 30_000)
        return {**result, "sent_as": request_id}


def test_an_environment_serves_one_invocation_at_a_time() -> None:
    async def two_bursts(pool: EnvironmentPool) -> list[dict[str, Any]]:
        # The second burst finds warm environments idle: each must still go to one caller only.
        results = []
        for _ in range(2):
            results += await asyncio.gather(*(invoke(pool, {"seconds": 0.2}) for _ in range(8)))
        return results

    results, _ = run_with_pool(config("describe"), two_bursts, limit=3)

    assert all(result["request_id"] == result["sent_as"] for result in results)
    by_process: dict[int, list[dict[str, Any]]] = {}
    for result in results:
        by_process.setdefault(result["pid"], []).append(result)
    for invocations in by_process.values():
        spans = sorted((result["started"], result["ended"]) for result in invocations)
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_no_more_environments_than_the_limit_however_many_callers_wait() -> None:
    async def eight_at_once(pool: EnvironmentPool) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(invoke(pool, {"seconds": 0.3}) for _ in range(8))))

    results, _ = run_with_pool(config("describe"), eight_at_once, limit=3)

    assert len(results) == 8
    assert len({result["pid"] for result in results}) <= 3


def test_a_request_that_waits_for_a_busy_environment_says_why() -> None:
    async def two_at_once(pool: EnvironmentPool) -> list[dict[str, Any]]:
        return list(await asyncio.gather(invoke(pool, {"seconds": 0.3}), invoke(pool, {"seconds": 0.3})))

    _, logs = run_with_pool(config("describe"), two_at_once, limit=1)

    said = "emulator: all 1 environments of SampleFunction are busy; the request waits for one to be free"
    assert [line.text.startswith(said) for line in logs.lines].count(True) == 1


def test_an_idle_environment_is_reused_warm() -> None:
    async def one_after_another(pool: EnvironmentPool) -> list[dict[str, Any]]:
        return [await invoke(pool), await invoke(pool)]

    (first, second), _ = run_with_pool(config("describe"), one_after_another)

    assert first["pid"] == second["pid"]
    assert (first["invocation"], second["invocation"]) == (1, 2)


def test_a_request_during_warm_up_waits_for_the_warming_environment_rather_than_starting_another() -> None:
    async def request_while_warming(pool: EnvironmentPool) -> tuple[dict[str, Any], set[int]]:
        warming = pool.start_warming()
        result = await invoke(pool)  # sent before the warming environment is ready
        await warming
        return result, {environment.pid for environment in pool._all}

    (result, started), _ = run_with_pool(config("describe"), request_while_warming)

    assert started == {result["pid"]}  # one process, one cold start
    assert result["invocation"] == 1


def test_the_handler_gets_the_deadline_the_emulator_set() -> None:
    async def with_deadline(pool: EnvironmentPool) -> dict[str, Any]:
        async with pool.environment() as environment:
            return await environment.invoke({}, "r-1", int(time.time() * 1000) + 5_000)  # type: ignore[no-any-return]

    result, _ = run_with_pool(config("describe"), with_deadline)

    assert 3_000 < result["remaining_ms"] <= 5_000
    assert (result["request_id"], result["function_name"]) == ("r-1", "SampleFunction")


def test_a_handler_error_is_logged_as_one_json_line_like_lambda() -> None:
    async def crash(pool: EnvironmentPool) -> None:
        with pytest.raises(FunctionError, match="RuntimeError"):
            async with pool.environment() as environment:
                await environment.invoke({}, "r-crash", int(time.time() * 1000) + 30_000)

    _, logs = run_with_pool(config("crash"), crash)

    errors = [json.loads(line.text) for line in logs.lines if line.stderr]
    assert len(errors) == 1
    assert errors[0]["level"] == "ERROR"
    assert errors[0]["requestId"] == "r-crash"
    assert errors[0]["message"]["errorType"] == "RuntimeError"
    assert errors[0]["message"]["errorMessage"] == "boom"


def test_an_environment_stays_warm_after_its_handler_raised() -> None:
    async def crash_twice(pool: EnvironmentPool) -> set[int]:
        pids = set()
        for _ in range(2):
            async with pool.environment() as environment:
                pids.add(environment.pid)
                with pytest.raises(FunctionError):
                    await environment.invoke({}, "r", int(time.time() * 1000) + 30_000)
        return pids

    pids, _ = run_with_pool(config("crash"), crash_twice)

    assert len(pids) == 1


def test_a_result_json_cannot_carry_is_a_marshal_error() -> None:
    async def marshal(pool: EnvironmentPool) -> None:
        with pytest.raises(FunctionError, match=r"Runtime\.MarshalError"):
            await invoke(pool)

    run_with_pool(config("unserializable"), marshal)


def test_an_environment_that_dies_mid_invocation_fails_it_and_is_replaced() -> None:
    async def die_then_retry(pool: EnvironmentPool) -> tuple[int, int]:
        async with pool.environment() as environment:
            first = environment.pid
            with pytest.raises(EnvironmentFailed, match="exit code 3"):
                await environment.invoke({}, "r", int(time.time() * 1000) + 30_000)
        async with pool.environment() as environment:
            return first, environment.pid

    (first, second), _ = run_with_pool(config("exit_abruptly"), die_then_retry)

    assert first != second


def test_an_environment_killed_at_its_timeout_is_not_lent_again_before_its_process_is_reaped() -> None:
    async def kill_then_borrow(pool: EnvironmentPool) -> tuple[int, int]:
        async with pool.environment() as environment:
            first = environment.pid
            environment.kill()
        async with pool.environment() as environment:
            return first, environment.pid

    (first, second), _ = run_with_pool(config("describe"), kill_then_borrow)

    assert first != second


def test_an_idle_environment_whose_process_died_is_not_lent_again() -> None:
    async def die_while_idle_then_borrow(pool: EnvironmentPool) -> tuple[int, dict[str, Any]]:
        first = await invoke(pool)
        os.kill(first["pid"], 9)  # ended while idle (the OOM killer, a stray kill)
        (idle,) = pool._idle
        await idle._process.wait()  # the end as the pool's event loop learns of it
        return first["pid"], await invoke(pool)

    (first, second), _ = run_with_pool(config("describe"), die_while_idle_then_borrow)

    assert second["pid"] != first


def test_a_failed_cold_start_is_logged_and_raised() -> None:
    broken = FunctionConfig(
        name="BrokenFunction",
        entry_point="no_such_module.handler",
        web_adapter=False,
        timeout_seconds=30,
        memory_mb=128,
        environment={},
    )

    async def start(pool: EnvironmentPool) -> None:
        with pytest.raises(EnvironmentFailed):
            await invoke(pool)

    _, logs = run_with_pool(broken, start)

    record = json.loads(next(line.text for line in logs.lines if line.stderr))
    assert record["message"]["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module" in record["message"]["errorMessage"]


def test_an_environment_has_its_functions_variables_and_lambdas_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONLY_IN_THE_EMULATOR", "1")

    variables, _ = run_with_pool(config("environment_variables", SAMPLE_SETTING="only-here"), invoke)
    del variables["sent_as"]

    assert variables["SAMPLE_SETTING"] == "only-here"
    assert (variables["AWS_LAMBDA_FUNCTION_NAME"], variables["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) == (
        "SampleFunction",
        "256",
    )
    assert "ONLY_IN_THE_EMULATOR" not in variables


def test_concurrent_log_lines_reach_the_sink_whole() -> None:
    async def two_at_once(pool: EnvironmentPool) -> list[str]:
        async def one() -> str:
            async with pool.environment() as environment:
                request_id = str(uuid.uuid4())
                await environment.invoke({"lines": 5}, request_id, int(time.time() * 1000) + 30_000)
                return request_id

        return list(await asyncio.gather(one(), one()))

    request_ids, logs = run_with_pool(config("print_long_lines"), two_at_once)

    printed = [line for line in logs.lines if not line.stderr]
    assert len(printed) == 10
    for line in printed:
        request_id, index, filler = line.text.split(" ")
        assert request_id in request_ids and index.isdigit()
        assert filler == "x" * 200_000


def test_log_lines_name_their_function() -> None:
    _, logs = run_with_pool(config("print_long_lines"), lambda pool: invoke(pool, {"lines": 1}))

    assert [line.function_name for line in logs.lines] == ["SampleFunction"]


def post_to_web_app(port: int, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/api/stream", b"{}", headers)
    response = connection.getresponse()
    return response.status, response.read()


def web_app_answers(with_token: bool) -> tuple[int, bytes]:
    function = dataclasses.replace(config("echo_headers"), entry_point=f"{SAMPLES}:echo_headers", web_adapter=True)

    async def call_directly(pool: EnvironmentPool) -> tuple[int, bytes]:
        async with pool.environment() as environment:
            assert environment.port is not None and environment.token is not None
            headers = {INVOCATION_TOKEN_HEADER: environment.token} if with_token else {}
            return await asyncio.to_thread(post_to_web_app, environment.port, headers)

    answer, _logs = run_with_pool(function, call_directly)
    return answer


def test_a_web_apps_port_refuses_a_request_that_did_not_come_through_the_emulator() -> None:
    # A page in the developer's browser that finds the port sends no token: the function never runs.
    status, body = web_app_answers(with_token=False)
    assert (status, body) == (403, b"This port serves the local emulator only: call the address make dev printed.\n")


def test_a_web_app_gets_the_emulators_requests_without_the_token() -> None:
    status, body = web_app_answers(with_token=True)
    assert status == 200
    assert INVOCATION_TOKEN_HEADER not in json.loads(body)


def start_worker(entry_point: str, *options: str) -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """A worker process on its own, as the emulator starts one, and the emulator's end of its channel."""
    ours, theirs = socket.socketpair()
    command = [sys.executable, "-m", "infra.emulator.worker", "--channel", str(theirs.fileno())]
    command += ["--entry-point", entry_point, *options]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR), str(REPO_ROOT)])}
    with theirs:
        worker = subprocess.Popen(command, pass_fds=(theirs.fileno(),), env=environment, cwd=REPO_ROOT)
    return ours, worker


def test_a_web_app_ends_when_the_emulator_dies_with_its_ready_message_unread() -> None:
    # The emulator's end closes with data in it, so the worker's read fails (a reset) rather than ends.
    ours, worker = start_worker(f"{SAMPLES}:echo_headers", "--web-adapter")
    try:
        readable, _, _ = select.select([ours], [], [], SCENARIO_LIMIT_SECONDS)
        assert readable, "the worker never said it was ready"
        ours.close()  # unread: what a killed emulator leaves
        assert worker.wait(timeout=10) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


class AfterResponseWork:
    """The test's end of sample_after_response's deferred work: each connects here after its response and
    waits for the go-ahead."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(SCENARIO_LIMIT_SECONDS)
        self.event = {"port": self.listener.getsockname()[1]}

    def started(self) -> socket.socket:
        work, _ = self.listener.accept()
        work.settimeout(SCENARIO_LIMIT_SECONDS)
        return work

    @staticmethod
    def finish(work: socket.socket) -> float:
        """Let the work end; when it ended."""
        with work:
            work.sendall(b"g")
            return float(work.recv(64).decode())


def test_an_environment_takes_its_next_invocation_once_the_work_after_its_response_is_done() -> None:
    after = AfterResponseWork()
    ours, worker = start_worker(f"{AFTER_RESPONSE}.answer_then_work")
    try:
        ours.settimeout(SCENARIO_LIMIT_SECONDS)
        channel = ours.makefile("rwb")
        assert "ready" in json.loads(channel.readline())
        deadline = int(time.time() * 1000) + 30_000
        for request_id in ("r-1", "r-2"):  # both waiting before the first's work may end
            channel.write(
                json.dumps({"event": after.event, "request_id": request_id, "deadline_ms": deadline}).encode()
            )
            channel.write(b"\n")
        channel.flush()
        first = json.loads(channel.readline())
        ended = after.finish(after.started())
        assert json.loads(channel.readline()) == {"done": True}
        second = json.loads(channel.readline())
        after.finish(after.started())
    finally:
        worker.kill()
        worker.wait()
        after.listener.close()
    assert second["result"]["started"] >= ended > first["result"]["started"]


def test_an_environment_whose_work_after_the_response_goes_on_is_not_lent_to_another_invocation() -> None:
    after = AfterResponseWork()

    async def while_the_first_works(pool: EnvironmentPool) -> tuple[dict[str, Any], dict[str, Any]]:
        first = await invoke(pool, after.event)
        work = await asyncio.to_thread(after.started)
        # The first environment is still at work: the second invocation must get another one.
        second = await invoke(pool, after.event)
        await asyncio.to_thread(after.finish, work)
        await asyncio.to_thread(after.finish, await asyncio.to_thread(after.started))
        return first, second

    function = dataclasses.replace(config("describe"), entry_point=f"{AFTER_RESPONSE}.answer_then_work")
    with after.listener:
        (first, second), _ = run_with_pool(function, while_the_first_works, limit=2)
    assert first["pid"] != second["pid"]

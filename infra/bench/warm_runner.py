"""The inside of a warm buffered function for the bench: one process, one handler, invoked on command.

    python -m infra.bench.warm_runner handlers.summarize EVENT_FILE REPLY_FD

Reads one JSON command a line on stdin and answers one JSON line on file descriptor REPLY_FD, because stdout
is the function's log (Powertools writes its log lines and metrics there, as to Lambda's log pipe). Each timing
is taken in here, around the call alone, so the pipes to the bench are not in it. Commands:

- ``{"do": "handler"}``: invoke the handler with the event; ``{"seconds": s, "status": n}``, where ``s`` ends
  when the handler returns its response, and the reply comes once its extensions are done too;
- ``{"do": "sdk", "body": {...}}``: send ``body`` (the request the handler sent) with the SDK directly, as a
  program without our code would; ``{"seconds": s}``;
- ``{"do": "budget"}``: reserve and settle a request's tokens directly; ``{"reserve": s, "settle": s}``;
- ``{"do": "rss"}``: the process's peak resident memory; ``{"mb": m}``.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from infra.emulator.extensions_api import ExtensionsApi
from infra.emulator.runtime import LambdaContext


class Runner:
    def __init__(self, module: str, event: dict[str, Any]) -> None:
        self.module = module
        # As in Lambda and the emulator's environments: the handler's import may register an extension.
        self.extensions = ExtensionsApi(module)
        os.environ["AWS_LAMBDA_RUNTIME_API"] = self.extensions.address
        self.handler: Callable[[dict[str, Any], LambdaContext], dict[str, Any]] = importlib.import_module(
            module
        ).lambda_handler
        self.extensions.end_init()
        # After the handler's import, which comes first in a function's process, as on Lambda.
        from llm_core.timeouts import BUFFERED_FUNCTION_TIMEOUT_SECONDS

        self.timeout_seconds = BUFFERED_FUNCTION_TIMEOUT_SECONDS
        self.event = event
        self.direct: Callable[[], object] | None = None

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        action = command["do"]
        if action == "handler":
            event = copy.deepcopy(self.event)
            context = LambdaContext(self.module, timeout_seconds=self.timeout_seconds, memory_mb=512)
            self.extensions.begin_invocation(context.aws_request_id, int((time.time() + self.timeout_seconds) * 1000))
            started = time.perf_counter()
            result = self.handler(event, context)
            # The caller has the response now; the next command waits for the invocation's end, as the
            # environment's next invocation would.
            seconds = time.perf_counter() - started
            if not self.extensions.wait_until_done(timeout=self.timeout_seconds):
                raise RuntimeError("the function's extension did not finish the invocation")
            return {"seconds": seconds, "status": result["statusCode"]}
        if action == "sdk":
            if self.direct is None:
                self.direct = direct_call(self.module, command["body"], self.event)
            started = time.perf_counter()
            self.direct()
            return {"seconds": time.perf_counter() - started}
        if action == "budget":
            return measure_budget_calls()
        if action == "rss":
            return {"mb": peak_rss_mb()}
        raise ValueError(f"unknown command {action!r}")

    def close(self) -> None:
        from llm_core import model_client

        model_client.get_client().close()  # a clean goodbye to the fake model, not a reset


def direct_call(module: str, body: dict[str, Any], event: dict[str, Any]) -> Callable[[], object]:
    """The call the handler makes, made with the SDK alone: ``responses.create`` with the request the handler
    sent, and the answer's text validated by the same model class (``json.loads`` when llm_core no longer
    names it)."""
    import openai

    # OPENAI_BASE_URL from the environment: the fake, which takes any key.
    client = openai.OpenAI(api_key="sk-bench-direct", max_retries=0)
    text_format = structured_output_model(module, event)
    if text_format is None:
        return lambda: json.loads(client.responses.create(**body).output_text)
    return lambda: text_format.model_validate_json(client.responses.create(**body).output_text)


def structured_output_model(module: str, event: dict[str, Any]) -> Any:
    try:
        from llm_core import prompts

        if module.endswith("summarize"):
            return prompts.summary_schema(json.loads(event["body"]).get("max_bullets", prompts.DEFAULT_BULLETS))
        return prompts.Todo
    except (ImportError, AttributeError):
        return None


def measure_budget_calls() -> dict[str, Any]:
    from llm_core import budget, token_estimate

    started = time.perf_counter()
    reservation = budget.reserve("bench-direct", token_estimate.estimate_tokens(200, 1024))
    reserved = time.perf_counter()
    reservation.settle(100)
    return {"reserve": reserved - started, "settle": time.perf_counter() - reserved}


def peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into a child's ru_maxrss across exec.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc")


def serve(runner: Runner, commands: TextIO, replies: TextIO) -> None:
    for line in commands:
        try:
            reply = runner.handle(json.loads(line))
        except Exception as exc:  # reported to the bench, which stops with it
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main(argv: list[str]) -> int:
    module, event_file, reply_fd = argv
    with open(event_file) as file:
        event = json.load(file)
    runner = Runner(module, event)
    with open(int(reply_fd), "w") as replies:
        serve(runner, sys.stdin, replies)
    runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Row 3: from a process's start to its first answer, the summarize function against a plain script.

Both are a fresh interpreter with the same environment (moto's endpoints, the region, the fake model's URL) and
are timed from the moment this process starts them to the moment they print the answer. The function's side
imports the handler cold and invokes it once with the sample Function URL event: settings, the key from
Secrets Manager, the budget check against DynamoDB (the template's caps, as the emulator runs it), the model
call. The script reads the same secret with boto3 and sends the same request with ``client.responses.create``:
the least any code doing this job must do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from infra.bench.report import Row, Target, median_ms, ordered_pair, paired_ratio, ratio_note
from infra.bench.world import EVENT_FILES, REPO, World

TARGET = Target(1.15, "x")
ANSWER = "ANSWER"
# What Lambda's runtime hands a handler; the runtime has it loaded before the handler's import starts.
HANDLER_SCRIPT = f"""
import json, sys, time
from handlers.summarize import lambda_handler
class Context:
    function_name, function_version, memory_limit_in_mb = "SummarizeFunction", "$LATEST", "512"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:SummarizeFunction"
    log_group_name, log_stream_name, aws_request_id = "/aws/lambda/bench", "bench", "bench-cold-start"
    deadline = time.time() + 30
    def get_remaining_time_in_millis(self):
        return int((self.deadline - time.time()) * 1000)
with open(sys.argv[1]) as file:
    event = json.load(file)
result = lambda_handler(event, Context())
print("{ANSWER}", result["statusCode"], result["body"], flush=True)
"""
PLAIN_SCRIPT = f"""
import json, os, sys
import boto3, openai
secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["OPENAI_SECRET_ID"])
client = openai.OpenAI(api_key=secret["SecretString"])
response = client.responses.create(**json.loads(sys.argv[1]))
print("{ANSWER}", 200, response.output_text, flush=True)
"""


def time_to_answer(arguments: list[str], environment: dict[str, str]) -> float:
    """Seconds from starting ``python -c <arguments>`` to its answer line; raises unless the answer is a 200."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our fixed code
            [sys.executable, "-c", *arguments],
            env=environment, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        answer = None
        # The function's log lines share its stdout, as they share Lambda's log pipe; the answer is its own line.
        for line in process.stdout:
            if line.startswith(ANSWER):
                answer = line
                break
        elapsed = time.perf_counter() - started
        process.stdout.read()
        returncode = process.wait(timeout=60)
        if answer is None or answer.split(maxsplit=2)[1] != "200":
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-600:]
            raise RuntimeError(f"no answer (exit code {returncode}): {(answer or '')[:300]} {tail}")
    return elapsed


def request_the_function_sends(world: World, environment: dict[str, str]) -> dict[str, Any]:
    """Invoke the function once (which also warms the file cache), and take the request it sent to the model."""
    time_to_answer([HANDLER_SCRIPT, str(EVENT_FILES["summarize"])], environment)
    body = dict(world.fake.requests[-1].body)
    body.pop("stream", None)
    return body


def measure(world: World, rounds: int) -> list[Row]:
    environment = world.environment("summarize")
    runs = {
        "function": [HANDLER_SCRIPT, str(EVENT_FILES["summarize"])],
        "script": [PLAIN_SCRIPT, json.dumps(request_the_function_sends(world, environment))],
    }
    time_to_answer(runs["script"], environment)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for index in range(rounds):
        for name in ordered_pair(index, "function", "script"):
            samples[name].append(time_to_answer(runs[name], environment))
    print(f"   {rounds} pairs, in alternating order; the row's ratio is the median of the per-pair ratios")
    return [
        Row(
            "cold start to first answer: summarize",
            f"{median_ms(samples['function']):.0f} ms",
            f"{median_ms(samples['script']):.0f} ms (boto3 + openai script)",
            paired_ratio(samples["function"], samples["script"]),
            TARGET,
            note=ratio_note(samples["function"], samples["script"]),
        )
    ]

"""`sam local invoke` of the buffered functions in Docker, with the shipped events and env-vars file."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from infra.sam_local import run
from tests.sam_local.conftest import SamLocal

pytestmark = pytest.mark.sam_local

EVENTS = run.REPO / "tests" / "events"


@pytest.fixture(scope="module")
def results(sam_local: SamLocal) -> dict[str, dict[str, Any]]:
    return {name: sam_local.invoke(name, event) for name, event in run.INVOKED.items()}


def test_summarize_returns_bullets(results: dict[str, dict[str, Any]]) -> None:
    result = results["SummarizeFunction"]

    assert result["statusCode"] == 200
    body = json.loads(result["body"])
    assert body["bullets"]
    assert all(isinstance(bullet, str) and bullet for bullet in body["bullets"])


def test_todo_returns_a_schema_valid_item(results: dict[str, dict[str, Any]]) -> None:
    result = results["TodoFunction"]

    assert result["statusCode"] == 200
    todo = json.loads(result["body"])["todo"]
    assert set(todo) == {"title", "due_date", "priority"}
    assert 1 <= todo["priority"] <= 5


def test_results_carry_a_request_id(results: dict[str, dict[str, Any]]) -> None:
    assert all(result["headers"]["x-request-id"] for result in results.values())


def test_functions_call_the_model_with_the_key_from_the_moto_secret(
    results: dict[str, dict[str, Any]], sam_local: SamLocal
) -> None:
    calls = [request for request in sam_local.fake.requests if request.path.startswith("/v1/responses")]

    assert len(calls) == len(results)
    assert {request.headers["authorization"] for request in calls} == {f"Bearer {run.LOCAL_KEY}"}


def test_invalid_json_event_gets_the_error_envelope(sam_local: SamLocal) -> None:
    result = sam_local.invoke("SummarizeFunction", EVENTS / "function_url_summarize_invalid_json.json")

    assert result["statusCode"] == 400
    assert json.loads(result["body"])["error"]["type"] == "invalid_json"


def test_the_printed_hand_run_line_invokes_summarize_whatever_the_shells_aws_settings(sam_local: SamLocal) -> None:
    line = run.hand_invoke_line(sam_local.sam, sam_local.env_vars_file, sam_local.built_template)
    # A person's shell, with AWS settings of their own that must not reach the container.
    shell = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    theirs = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_PROFILE": "someone-elses"}
    finished = subprocess.run(
        ["bash", "-c", line],
        cwd=run.REPO,
        env={**shell, **theirs},
        capture_output=True,
        text=True,
        timeout=run.INVOKE_TIMEOUT_SECONDS,
        check=False,
    )

    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["statusCode"] == 200, finished.stderr[-2000:]
    assert json.loads(result["body"])["bullets"]

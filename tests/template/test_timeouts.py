"""The timeout chain (llm_core.timeouts): template.yaml agrees with it, and each layer gives up before the
layer in front of it, so a caller always gets the function's own answer."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from cfnlint.decode import decode

from llm_core import timeouts

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
STREAM_START_SCRIPT = TEMPLATE_PATH.parent / "functions" / "run_stream.sh"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    data, errors = decode(str(TEMPLATE_PATH))
    assert not errors, errors
    return data


def function_timeout(template: dict[str, Any], logical_id: str) -> int:
    properties = template["Resources"][logical_id]["Properties"]
    return int(properties.get("Timeout", template["Globals"]["Function"]["Timeout"]))


def origin_read_timeouts(template: dict[str, Any]) -> dict[str, int]:
    origins = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["Origins"]
    return {o["Id"]: int(o["CustomOriginConfig"]["OriginReadTimeout"]) for o in origins if "CustomOriginConfig" in o}


@pytest.mark.parametrize("logical_id", ["SummarizeFunction", "TodoFunction"])
def test_buffered_function_timeout_is_the_one_in_timeouts(template, logical_id):
    assert function_timeout(template, logical_id) == timeouts.BUFFERED_FUNCTION_TIMEOUT_SECONDS


def test_stream_function_timeout_and_its_setting_are_the_one_in_timeouts(template):
    variables = template["Resources"]["StreamFunction"]["Properties"]["Environment"]["Variables"]
    assert function_timeout(template, "StreamFunction") == timeouts.STREAM_FUNCTION_TIMEOUT_SECONDS
    assert float(variables["STREAM_TIMEOUT_SECONDS"]) == timeouts.STREAM_FUNCTION_TIMEOUT_SECONDS
    assert float(variables["KEEPALIVE_SECONDS"]) == timeouts.KEEPALIVE_SECONDS


def test_cloudfront_waits_for_every_origin_as_timeouts_says(template):
    assert set(origin_read_timeouts(template).values()) == {timeouts.CLOUDFRONT_ORIGIN_READ_TIMEOUT_SECONDS}


def test_buffered_answer_with_a_cold_start_arrives_before_cloudfront_gives_up():
    worst = timeouts.BUFFERED_FUNCTION_TIMEOUT_SECONDS + timeouts.COLD_START_ALLOWANCE_SECONDS
    assert worst < timeouts.CLOUDFRONT_ORIGIN_READ_TIMEOUT_SECONDS


def test_stream_chunks_come_more_often_than_cloudfront_and_its_viewers_time_out():
    # 30 s: a common idle limit of proxies between a viewer and CloudFront.
    assert timeouts.KEEPALIVE_SECONDS * 2 <= min(30, timeouts.CLOUDFRONT_ORIGIN_READ_TIMEOUT_SECONDS)


def test_a_stuck_secret_read_leaves_time_for_the_model():
    left = timeouts.BUFFERED_FUNCTION_TIMEOUT_SECONDS - timeouts.aws_call_worst_case_seconds()
    assert (
        left
        >= timeouts.OPENAI_CONNECT_TIMEOUT_SECONDS + timeouts.MIN_ATTEMPT_SECONDS + timeouts.RESPONSE_MARGIN_SECONDS
    )


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


def attempts_made_with(config: Any) -> int:
    """How many times a DynamoDB call made with ``config`` is sent when every answer is a 500 (none leaves
    this process: the answer is made up before sending)."""
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )
    sent: list[object] = []

    def answer_500(request: Any, **_: Any) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, 500, {}, _Body(b"{}"))

    client.meta.events.register_first("before-send.dynamodb.UpdateItem", answer_500)
    with pytest.raises(ClientError):
        client.update_item(TableName="t", Key={"pk": {"S": "k"}})
    return len(sent)


def test_an_aws_call_is_attempted_as_many_times_as_the_worst_case_counts():
    assert attempts_made_with(timeouts.AWS_CLIENT_CONFIG) == timeouts.AWS_MAX_ATTEMPTS


def test_the_budget_tables_writes_are_not_retried_by_botocore():
    # A write that surely was not applied is tried again by budget.py itself; botocore would retry lost answers.
    assert attempts_made_with(timeouts.AWS_ONE_ATTEMPT_CONFIG) == 1


def test_every_dependency_before_the_model_stuck_at_once_still_leaves_time_for_our_answer():
    # Otherwise Lambda would end the function and the caller would get its 502, not our envelope.
    left = timeouts.BUFFERED_FUNCTION_TIMEOUT_SECONDS - timeouts.before_the_model_worst_case_seconds()
    assert left >= timeouts.RESPONSE_MARGIN_SECONDS


def test_a_refusal_with_every_dependency_stuck_still_leaves_time_for_our_answer():
    left = timeouts.BUFFERED_FUNCTION_TIMEOUT_SECONDS - timeouts.refused_worst_case_seconds()
    assert left >= timeouts.RESPONSE_MARGIN_SECONDS


def test_the_adapter_closes_its_idle_connection_to_the_app_before_uvicorn_does(template):
    variables = template["Resources"]["StreamFunction"]["Properties"]["Environment"]["Variables"]
    assert int(variables["AWS_LWA_POOL_IDLE_TIMEOUT_SECONDS"]) == timeouts.WEB_ADAPTER_POOL_IDLE_SECONDS
    assert timeouts.WEB_ADAPTER_POOL_IDLE_SECONDS < timeouts.ADAPTER_CONNECTION_IDLE_SECONDS


def test_the_stream_start_script_keeps_the_adapters_idle_connection_as_long_as_timeouts_says():
    match = re.search(r"--timeout-keep-alive (\d+)\b", STREAM_START_SCRIPT.read_text())
    assert match, "run_stream.sh must set uvicorn's --timeout-keep-alive"
    assert int(match.group(1)) == timeouts.ADAPTER_CONNECTION_IDLE_SECONDS

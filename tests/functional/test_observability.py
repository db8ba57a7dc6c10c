"""What a request records for the dashboard and the alarms: the metrics in CloudWatch's embedded format, as
the function writes them to its log."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from infra.fake_openai import FakeReply
from tests.support import call_stream_app


def metric_records(output: str) -> list[dict[str, Any]]:
    """Each embedded-metric line of the function's log: its metric names with their values, and the
    dimensions CloudWatch files them under."""
    records = []
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        names = [metric["Name"] for metric in directive["Metrics"]]
        records.append({"dimensions": directive["Dimensions"], "values": {name: document[name] for name in names}})
    return records


def test_a_failed_request_is_counted_under_its_error_type_for_the_alarms(configured, fake_model, invoke, capsys):
    fake_model.enqueue(FakeReply(status=400, error_message="Unsupported parameter."))
    result = invoke("summarize", "function_url_summarize")
    kind = result["json"]["error"]["type"]
    # The alarms read Error_<type> by the service dimension alone (template.yaml).
    counted = [r for r in metric_records(capsys.readouterr().out) if f"Error_{kind}" in r["values"]]
    assert [(r["dimensions"], r["values"][f"Error_{kind}"]) for r in counted] == [([["service"]], [1.0])]


def test_an_answer_counts_the_tokens_the_model_reported(configured, fake_model, invoke, capsys):
    fake_model.enqueue(FakeReply(output={"bullets": ["One."]}, billed=(321, 45)))
    usage = invoke("summarize", "function_url_summarize")["json"]["usage"]
    (counted,) = [r for r in metric_records(capsys.readouterr().out) if "InputTokens" in r["values"]]
    assert (counted["values"]["InputTokens"], counted["values"]["OutputTokens"]) == ([321.0], [45.0])
    assert (usage["input_tokens"], usage["output_tokens"]) == (321, 45)


def test_a_stream_refused_before_its_first_byte_records_its_latency_as_a_buffered_refusal_does(configured, capsys):
    status, _, _ = asyncio.run(call_stream_app(b"{", "application/json", "POST"))
    (latency,) = [r["values"]["Latency"] for r in metric_records(capsys.readouterr().out) if "Latency" in r["values"]]
    # The dashboard's latency percentiles would otherwise leave out every refused stream.
    assert status == 400 and len(latency) == 1 and latency[0] >= 0

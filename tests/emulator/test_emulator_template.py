"""What the emulator reads from template.yaml, through cfn-lint's decoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.emulator.errors import ConfigError
from infra.emulator.template import DEFAULT_TIMEOUT_SECONDS, load_template, read_template

REPO = Path(__file__).resolve().parents[2]

TWO_FUNCTIONS = (
    "Parameters:\n  Level: {Type: String, Default: INFO}\n"
    "Globals:\n  Function:\n    Timeout: 30\n    Environment:\n      Variables:\n        LOG: !Ref Level\n"
    "Resources:\n"
    "  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      Timeout: 5\n"
    "      Environment: {Variables: {TOKENS: '1', SERVICE: a}}\n"
    "  B:\n    Type: AWS::Serverless::Function\n    Properties:\n"
    "      Environment: {Variables: {TOKENS: '2', ARN: !GetAtt A.Arn}}\n"
)


def write(tmp_path: Path, text: str) -> Path:
    template = tmp_path / "template.yaml"
    template.write_text(text)
    return template


def test_timeouts_are_read_per_function() -> None:
    facts = read_template(REPO / "template.yaml")

    assert facts.function("SummarizeFunction").timeout_seconds == 30
    assert facts.function("StreamFunction").timeout_seconds == 120


def test_a_function_without_a_timeout_gets_the_globals_one(tmp_path: Path) -> None:
    facts = read_template(write(tmp_path, TWO_FUNCTIONS))

    assert (facts.function("A").timeout_seconds, facts.function("B").timeout_seconds) == (5, 30)


def test_missing_template_gives_the_default_timeout(tmp_path: Path) -> None:
    facts = read_template(tmp_path / "none.yaml")

    assert facts.function("SummarizeFunction").timeout_seconds == DEFAULT_TIMEOUT_SECONDS


def test_each_function_keeps_its_own_variables(tmp_path: Path) -> None:
    facts = read_template(write(tmp_path, TWO_FUNCTIONS))

    assert facts.function("A").environment == {"LOG": "INFO", "TOKENS": "1", "SERVICE": "a"}
    assert facts.function("B").environment == {"LOG": "INFO", "TOKENS": "2"}


def test_the_real_template_gives_each_function_its_own_output_limit_and_service() -> None:
    facts = read_template(REPO / "template.yaml")

    tokens = {name: facts.function(name).environment["MAX_OUTPUT_TOKENS"] for name in facts.functions}
    services = {name: facts.function(name).environment["POWERTOOLS_SERVICE_NAME"] for name in facts.functions}
    assert len(set(tokens.values())) == len(tokens)
    assert services == {"SummarizeFunction": "summarize", "TodoFunction": "todo", "StreamFunction": "stream"}


def test_the_web_adapters_wiring_stays_in_lambda() -> None:
    environment = read_template(REPO / "template.yaml").function("StreamFunction").environment

    assert not {"AWS_LAMBDA_EXEC_WRAPPER", "PORT", "OPENAI_SECRET_ID"} & set(environment)
    assert not [name for name in environment if name.startswith("AWS_LWA_")]


def test_short_form_intrinsics_are_read_in_their_long_form(tmp_path: Path) -> None:
    template = load_template(write(tmp_path, TWO_FUNCTIONS))

    variables = template["Resources"]["B"]["Properties"]["Environment"]["Variables"]
    assert variables["ARN"] == {"Fn::GetAtt": ["A", "Arn"]}


def test_a_template_that_is_not_yaml_is_one_config_error(tmp_path: Path) -> None:
    template = write(tmp_path, "Resources: [\n")

    with pytest.raises(ConfigError, match=r"^cannot read .*template\.yaml: ") as raised:
        read_template(template)

    assert "\n" not in str(raised.value)


def test_the_security_headers_come_from_the_cloudfront_policy() -> None:
    headers = dict(read_template(REPO / "template.yaml").response_headers)

    assert headers["content-security-policy"] == (
        "default-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    )
    assert (headers["x-content-type-options"], headers["x-frame-options"]) == ("nosniff", "DENY")


def test_the_policys_custom_headers_are_served_locally_too() -> None:
    headers = dict(read_template(REPO / "template.yaml").response_headers)

    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["permissions-policy"].startswith("camera=()")

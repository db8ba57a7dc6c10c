"""template.yaml: a parameter's new value reaches the function URLs. They call each function's `live` alias,
which moves only when SAM publishes a new version, and SAM hashes the template's text, not the parameters'
values; so each version's description holds the values it runs with (tests/sam_local/test_sam_versions.py
shows SAM's side: a new description, property or layer publishes)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from tests.template.cfn_values import evaluate

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
FUNCTIONS = ["SummarizeFunction", "TodoFunction", "StreamFunction"]
# Lambda's limit for a version's description; a longer one fails the deploy.
DESCRIPTION_LIMIT = 256
# What CloudFormation names the secret it creates when no ExistingSecretArn is given.
CREATED_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:OpenAISecret-Ab12Cd34Ef56-GhIjKl"
# Parameters no published version holds, and whose they are instead.
NOT_IN_A_VERSION = {
    "SelfSignUp": "the user pool's",
    "AllowedEmailDomain": "the sign-up check's, a function of its own",
    "WebAclArn": "the distribution's",
    "PriceClass": "the distribution's",
    "AlarmEmail": "the alarms' topic's",
    "ReservedConcurrency": "the function's, shared by all its versions",
    "LogRetentionDays": "the log groups'",
}
# A valid value other than the default, for the parameters that list none.
OTHER_VALUES = {
    "ModelId": "gpt-5.4",
    "ExistingSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/openai-AbCdEf",
    "DailyTokensPerUser": "100000",
    "DailyTokensTotal": "1000000",
}


def load_template() -> dict[str, Any]:
    data, errors = decode(str(TEMPLATE_PATH))
    assert not errors, errors
    return data


TEMPLATE = load_template()
IN_A_VERSION = [name for name in TEMPLATE["Parameters"] if name not in NOT_IN_A_VERSION]


def version_description(name: str, **parameters: str) -> str:
    node = TEMPLATE["Resources"][name]["Properties"]["VersionDescription"]
    described = evaluate(TEMPLATE, node, parameters, {"OpenAISecret": CREATED_SECRET_ARN})
    assert isinstance(described, str), described
    return described


def other_value(parameter: str) -> str:
    spec = TEMPLATE["Parameters"][parameter]
    default = str(spec.get("Default", ""))
    if "AllowedValues" in spec:
        return next(str(value) for value in spec["AllowedValues"] if str(value) != default)
    if spec["Type"] == "Number":
        return str(int(default) + 1)
    return OTHER_VALUES[parameter]


def parameters_reached(node: Any) -> set[str]:
    """The parameters ``node`` depends on: named by Ref or Fn::Sub, or through a condition."""
    if isinstance(node, list):
        return set().union(*(parameters_reached(item) for item in node))
    if not isinstance(node, dict):
        return set()
    found: set[str] = set()
    for function, arguments in node.items():
        if function == "Ref" and arguments in TEMPLATE["Parameters"]:
            found.add(arguments)
        elif function == "Fn::Sub":
            text, variables = (arguments, {}) if isinstance(arguments, str) else arguments
            found |= {name for name in re.findall(r"\$\{([^}.!]+)\}", text) if name in TEMPLATE["Parameters"]}
            found |= parameters_reached(variables)
        elif function == "Fn::If":
            found |= parameters_reached(TEMPLATE["Conditions"][arguments[0]]) | parameters_reached(arguments[1:])
        elif function == "Condition":
            found |= parameters_reached(TEMPLATE["Conditions"][arguments])
        else:
            found |= parameters_reached(arguments)
    return found


@pytest.mark.parametrize("parameter", IN_A_VERSION)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_new_parameter_value_changes_the_version_description(name: str, parameter: str) -> None:
    changed = {parameter: other_value(parameter)}
    assert version_description(name, **changed) != version_description(name)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_another_existing_secret_changes_the_version_description(name: str) -> None:
    first = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:openai-AbCdEf"
    second = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:openai-2-GhIjKl"
    assert version_description(name, ExistingSecretArn=first) != version_description(name, ExistingSecretArn=second)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_version_description_names_the_model_and_the_secret(name: str) -> None:
    described = version_description(name, ExistingSecretArn=OTHER_VALUES["ExistingSecretArn"])
    assert described.startswith("gpt-5.4-mini ")
    assert described.endswith(" key=team/openai-AbCdEf")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_parameters_left_out_of_the_description_reach_no_version(name: str) -> None:
    # Reserved concurrency is set on the function and applies to every version at once.
    left_out = {"ReservedConcurrentExecutions", "VersionDescription"}
    properties = [
        {key: value for key, value in layer.items() if key not in left_out}
        for layer in (TEMPLATE["Globals"]["Function"], TEMPLATE["Resources"][name]["Properties"])
    ]
    assert parameters_reached(properties) & set(NOT_IN_A_VERSION) == set()


def longest_value(parameter: str) -> str:
    spec = TEMPLATE["Parameters"][parameter]
    if "AllowedValues" in spec:
        return max((str(value) for value in spec["AllowedValues"]), key=len)
    if spec["Type"] == "Number":
        return str(spec["MaxValue"])
    if parameter == "ExistingSecretArn":
        # The shortest prefix the pattern admits leaves the longest name (and its six random characters).
        prefix, suffix = "arn:aws:secretsmanager:a:123456789012:secret:", "-AbCdEf"
        arn = prefix + "n" * (spec["MaxLength"] - len(prefix) - len(suffix)) + suffix
        assert re.fullmatch(spec["AllowedPattern"], arn)
        return arn
    return "m" * spec["MaxLength"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_version_description_fits_lambdas_limit_with_the_longest_values(name: str) -> None:
    longest = {parameter: longest_value(parameter) for parameter in IN_A_VERSION}
    assert len(version_description(name, **longest)) <= DESCRIPTION_LIMIT


def test_every_function_describes_its_version_the_same_way() -> None:
    descriptions = {str(TEMPLATE["Resources"][name]["Properties"]["VersionDescription"]) for name in FUNCTIONS}
    assert len(descriptions) == 1

"""What CloudFormation makes of template.yaml's intrinsic functions for given parameter values: enough of
Ref, Condition, Fn::Equals/Not/And/If, Fn::Sub, Fn::Join, Fn::Select and Fn::Split for the template tests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def evaluate(
    template: dict[str, Any], node: Any, parameters: Mapping[str, str], resources: Mapping[str, str] | None = None
) -> Any:
    """The value of ``node`` for these parameter values (defaults otherwise). A Ref to a resource or a pseudo
    parameter is its value in ``resources`` when given there, else left as it is, as is any function not
    listed above."""
    if not isinstance(node, dict) or len(node) != 1:
        return node
    resources = resources or {}
    ((function, arguments),) = node.items()

    def value(argument: Any) -> Any:
        return evaluate(template, argument, parameters, resources)

    if function == "Ref":
        if arguments == "AWS::NoValue":
            return NO_VALUE
        if arguments in template["Parameters"]:
            return parameters.get(arguments, str(template["Parameters"][arguments].get("Default", "")))
        return resources.get(arguments, node)
    if function == "Condition":
        return value(template["Conditions"][arguments])
    if function == "Fn::Equals":
        left, right = (value(argument) for argument in arguments)
        return str(left) == str(right)
    if function == "Fn::Not":
        return not value(arguments[0])
    if function == "Fn::And":
        return all(value(argument) for argument in arguments)
    if function == "Fn::If":
        condition, when_true, when_false = arguments
        return value(when_true if value(template["Conditions"][condition]) else when_false)
    if function == "Fn::Join":
        separator, items = arguments
        return separator.join(str(value(item)) for item in items)
    if function == "Fn::Select":
        index, items = arguments
        return value(items)[int(index)]
    if function == "Fn::Split":
        separator, text = arguments
        return str(value(text)).split(separator)
    if function == "Fn::Sub":
        text, variables = (arguments, {}) if isinstance(arguments, str) else arguments
        known = {name: value(variable) for name, variable in variables.items()}
        return _SUB_VARIABLE.sub(lambda match: str(known.get(match[1], value({"Ref": match[1]}))), text)
    return node


def stack(guid: str = "1a2b3c4d-5e6f-7a8b-9c0d-112233445566", region: str = "eu-west-1") -> dict[str, str]:
    """What CloudFormation alone knows of a stack, as ``resources`` for ``evaluate``: its id and region."""
    return {"AWS::StackId": f"arn:aws:cloudformation:{region}:123456789012:stack/llm/{guid}", "AWS::Region": region}


def content_security_policy(template: dict[str, Any], access_mode: str, of_stack: Mapping[str, str]) -> str:
    """The Content-Security-Policy CloudFront sends for a stack in this AccessMode."""
    policy = template["Resources"]["SecurityHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    node = policy["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    resolved = evaluate(template, node, {"AccessMode": access_mode}, of_stack)
    assert isinstance(resolved, str), resolved
    return resolved


def deployed(template: dict[str, Any], **parameters: str) -> dict[str, dict[str, Any]]:
    """The resources CloudFormation creates for these parameter values."""
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or evaluate(template, {"Condition": resource["Condition"]}, parameters)
    }

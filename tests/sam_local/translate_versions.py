"""Run with the SAM CLI's Python, which has SAM's translator: the AWS::Lambda::Version resources SAM makes of a
template (a JSON file, argv[1]) for parameter values (JSON, argv[2]), printed as {logical id: properties}."""

import json
import sys
from pathlib import Path

from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no AWS managed policy by name, so SAM needs none looked up."""

    def load(self) -> dict[str, str]:
        return {}


template = json.loads(Path(sys.argv[1]).read_text())
resources = transform(template, json.loads(sys.argv[2]), NoManagedPolicies())["Resources"]
versions = {
    name: resource["Properties"] for name, resource in resources.items() if resource["Type"] == "AWS::Lambda::Version"
}
print(json.dumps(versions))

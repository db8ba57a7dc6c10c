"""SAM's side of publishing what a deploy changes (tests/template/test_template_versions.py has the parameters'
side): the function URLs call the `live` alias, which moves only when SAM makes a new version resource or
CloudFormation replaces one, as it does when the version's description changes. Translated by SAM itself."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from infra.sam_local import run

pytestmark = pytest.mark.sam_local

TRANSLATE = Path(__file__).with_name("translate_versions.py")
FUNCTIONS = ["SummarizeFunction", "TodoFunction", "StreamFunction"]
Edit = Callable[[dict[str, Any]], None]


def packaged_template() -> dict[str, Any]:
    """template.yaml as `sam deploy` hands it to CloudFormation: code and layer uploaded to S3."""
    template, errors = decode(str(run.REPO / "template.yaml"))
    assert not errors, errors
    template["Globals"]["Function"]["CodeUri"] = "s3://artifacts/llm-endpoints/functions-1"
    template["Resources"]["DependenciesLayer"]["Properties"]["ContentUri"] = "s3://artifacts/llm-endpoints/layer-1"
    return template


def versions(sam_python: Path, tmp_path: Path, edit: Edit | None = None) -> dict[str, dict[str, Any]]:
    template = packaged_template()
    if edit:
        edit(template)
    written = tmp_path / "template.json"
    written.write_text(json.dumps(template))
    translated = subprocess.run(
        [str(sam_python), str(TRANSLATE), str(written), "{}"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )  # fmt: skip
    assert translated.returncode == 0, translated.stderr[-2000:]
    found: dict[str, dict[str, Any]] = json.loads(translated.stdout)
    return found


def version_of(found: dict[str, dict[str, Any]], function: str) -> str:
    (name,) = [name for name, properties in found.items() if properties["FunctionName"] == {"Ref": function}]
    return name


def new_layer(template: dict[str, Any]) -> None:
    template["Resources"]["DependenciesLayer"]["Properties"]["ContentUri"] = "s3://artifacts/llm-endpoints/layer-2"


def no_tracing(template: dict[str, Any]) -> None:
    # A property SAM leaves out of a version's name unless told to hash them all (MemorySize it includes).
    template["Globals"]["Function"]["Tracing"] = "PassThrough"


@pytest.mark.parametrize("edit", [new_layer, no_tracing], ids=["new layer content", "an edited property"])
def test_a_deploy_that_changes_what_functions_run_with_publishes_new_versions(
    sam_python: Path, tmp_path: Path, edit: Edit
) -> None:
    before, after = versions(sam_python, tmp_path), versions(sam_python, tmp_path, edit)

    for function in FUNCTIONS:
        assert version_of(after, function) != version_of(before, function)


def test_every_version_carries_its_functions_description_of_the_parameters(sam_python: Path, tmp_path: Path) -> None:
    found = versions(sam_python, tmp_path)
    template = packaged_template()

    for function in FUNCTIONS:
        described = template["Resources"][function]["Properties"]["VersionDescription"]
        assert found[version_of(found, function)]["Description"] == json.loads(json.dumps(described))

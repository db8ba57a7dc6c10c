"""The files `sam local` is run with stay in step with the template, without Docker."""

from __future__ import annotations

import json
from pathlib import Path

from infra.emulator.template import read_template
from infra.sam_local import run


def test_env_vars_cover_every_function_of_the_template() -> None:
    functions = set(read_template(run.REPO / "template.yaml").functions)

    assert set(run.load_env_vars()) == functions


def test_env_vars_point_at_the_docker_bridge_gateway() -> None:
    endpoints = run.Endpoints.from_env_vars(run.load_env_vars())

    assert endpoints.host == "172.17.0.1"


def test_env_vars_wire_the_secret_and_the_model_for_each_function() -> None:
    for variables in run.load_env_vars().values():
        assert set(run.WIRING) | {"OPENAI_SECRET_ID"} <= set(variables)


def test_local_template_declares_the_wiring_variables(tmp_path: Path) -> None:
    written = run.write_local_template(run.REPO / "template.yaml", tmp_path / "template.json")

    variables = json.loads(written.read_text())["Globals"]["Function"]["Environment"]["Variables"]
    assert {name: variables[name] for name in run.WIRING} == {name: "" for name in run.WIRING}


def test_local_template_keeps_intrinsics_in_long_form(tmp_path: Path) -> None:
    written = run.write_local_template(run.REPO / "template.yaml", tmp_path / "template.json")

    architectures = json.loads(written.read_text())["Globals"]["Function"]["Architectures"]
    assert architectures == [{"Ref": "Architecture"}]


def test_retarget_replaces_host_and_port_but_keeps_the_api_path() -> None:
    env_vars = run.retarget(run.load_env_vars(), "http://172.17.0.1:4001", "http://172.17.0.1:4002/v1")

    summarize = env_vars["SummarizeFunction"]
    assert summarize["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == "http://172.17.0.1:4001"
    assert summarize["OPENAI_BASE_URL"] == "http://172.17.0.1:4002/v1"

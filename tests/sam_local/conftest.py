"""The opt-in `sam local` suite: selected with `-m sam_local`, skipped (with the reason) where Docker or the SAM
CLI is missing, unless SAM_LOCAL_REQUIRED=1 (CI), where a missing prerequisite fails the run instead."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.fake_openai import FakeOpenAI
from infra.sam_local import run

OPT_IN = "opt-in: run with `pytest -m sam_local` (needs Docker and the SAM CLI)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "sam_local" in (config.option.markexpr or ""):
        return
    for item in items:
        if item.get_closest_marker("sam_local"):
            item.add_marker(pytest.mark.skip(reason=OPT_IN))


def unavailable(reason: str) -> None:
    if os.environ.get("SAM_LOCAL_REQUIRED") == "1":
        pytest.fail(f"sam local suite required but cannot run: {reason}")
    pytest.skip(reason)


@dataclass
class SamLocal:
    sam: str
    built_template: Path
    env_vars_file: Path
    fake: FakeOpenAI

    def invoke(self, function: str, event: Path) -> dict[str, Any]:
        return run.invoke(self.sam, self.built_template, function, event, self.env_vars_file)


@pytest.fixture(scope="session")
def sam_cli() -> str:
    sam = run.find_sam()
    if sam is None:
        unavailable("no SAM CLI: set SAM_CLI, or run `make test-sam-local`, which installs it into .venv-sam")
    return str(sam)


@pytest.fixture(scope="session")
def sam_python(sam_cli: str) -> Path:
    """The Python the SAM CLI runs on, which has SAM's translator (it pins a pydantic our functions outgrew)."""
    python = Path(sam_cli).parent / "python"
    if not python.is_file():
        unavailable(f"no python next to the SAM CLI at {sam_cli} (install it with `make test-sam-local`)")
    return python


@pytest.fixture(scope="session")
def sam_local(sam_cli: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamLocal]:
    """A fresh x86_64 `sam build`, with moto and the fake model listening on the docker bridge gateway."""
    sam = sam_cli
    if problem := run.docker_problem():
        unavailable(problem)
    work_dir = tmp_path_factory.mktemp("sam-local")
    try:
        built = run.build(sam, work_dir)
        shipped = run.load_env_vars()
        with run.backends(run.Endpoints.from_env_vars(shipped).host) as backends:
            env_vars = run.retarget(shipped, backends.secrets_url, backends.openai_url)
            yield SamLocal(sam, built, run.write_env_vars(env_vars, work_dir), backends.fake)
    except run.SamLocalError as exc:
        pytest.fail(str(exc))

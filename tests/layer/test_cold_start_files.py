"""infra/layer/cold_start_files.py: which layer files a cold start loads, so the layer ships them compiled."""

from __future__ import annotations

import pytest

from infra.layer import cold_start_files


@pytest.fixture(scope="module")
def files() -> list[str]:
    return cold_start_files.cold_start_files()


@pytest.mark.parametrize(
    "loaded",
    [
        "openai/__init__.py",  # every handler
        "aws_lambda_powertools/logging/logger.py",  # every handler
        "uvicorn/main.py",  # the stream's start (run_stream.sh)
        "uvicorn/protocols/http/h11_impl.py",  # the protocol uvicorn loads for it
        "jwt/api_jwt.py",  # token verification, on the first signed-in request
    ],
)
def test_the_list_has_what_a_cold_start_loads(files, loaded):
    assert loaded in files


def test_the_list_has_only_files_of_the_layers_distributions(files):
    # boto3 and its dependencies come with the runtime; llm_core and handlers are the functions' own code.
    assert not [file for file in files if file.split("/")[0] in {"boto3", "botocore", "llm_core", "handlers"}]


def test_the_list_has_only_python_source(files):
    assert files and all(file.endswith(".py") for file in files)

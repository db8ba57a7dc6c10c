"""`sam build` and `sam local invoke` for summarize and todo, offline, against moto and the fake model.

    python -m infra.sam_local.run            (what `make sam-local` runs; needs Docker and the SAM CLI)
    python -m infra.sam_local.run --serve    (`make sam-local SERVE=1`: then keeps the backends up for a
                                             hand-run `sam local invoke`, until Ctrl-C)

The functions run in Docker, so the servers they call listen on the docker bridge gateway (172.17.0.1 on
Linux), the host's own address on that bridge, never on a public interface:

- moto's Secrets Manager, seeded with a dummy key, as AWS_ENDPOINT_URL_SECRETS_MANAGER;
- the fake OpenAI server (infra/fake_openai/) as OPENAI_BASE_URL; it accepts only the seeded key, so a
  200 proves the key travelled secret -> function -> Authorization header.

Addresses and ports come from infra/sam_local/env.json, the file you also pass to a hand-run
`sam local invoke --env-vars`. What this script adds around SAM, and why:

- `sam local` sets only the environment variables a function declares in the template, and the deployed
  template has no reason to declare AWS_ENDPOINT_URL_SECRETS_MANAGER or OPENAI_BASE_URL. So the build uses
  a copy of template.yaml (.aws-sam/sam-local/template.json) that declares both, empty, in Globals.
- The build goes to .aws-sam/sam-local/, for x86_64 (the architecture of the stand-in Lambda image), so it
  never overwrites an arm64 `sam build` waiting for `sam deploy`.
- The invoke image is the Lambda Python image plus Lambda's layer paths (/opt/python) on PYTHONPATH, which
  the real runtime's bootstrap adds and the offline stand-in's does not; on the real image it is a no-op.
- AWS credentials are moto's dummies and SAM telemetry is off: nothing leaves this machine.

The stream function is not invoked here: see README ("sam local").
"""

# ruff: noqa: S603, S607 - docker and the SAM CLI are run by name, with fixed arguments, on purpose

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from infra.emulator.aws import CREDENTIALS, MotoServer, seed_secret
from infra.emulator.runtime import REGION
from infra.emulator.template import load_template
from infra.fake_openai import FakeOpenAI
from infra.stop_signals import StopSignals

REPO = Path(__file__).resolve().parents[2]
ENV_FILE = Path(__file__).resolve().parent / "env.json"
WORK_DIR = REPO / ".aws-sam" / "sam-local"
ARCHITECTURE = "x86_64"
PYTHON_VERSION = "3.13"
BASE_IMAGE = f"public.ecr.aws/lambda/python:{PYTHON_VERSION}-{ARCHITECTURE}"
INVOKE_IMAGE = f"llm-endpoints/sam-local-python:{PYTHON_VERSION}-{ARCHITECTURE}"
INVOKED = {
    "SummarizeFunction": REPO / "tests" / "events" / "function_url_summarize.json",
    "TodoFunction": REPO / "tests" / "events" / "function_url_todo.json",
}
WIRING = ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "OPENAI_BASE_URL")
# Not a key: the fake model accepts only this value, which proves it came from the seeded secret.
LOCAL_KEY = "sk-sam-local-not-a-real-key"
# Bounds for one SAM step: a cold image build plus a function's 30 s timeout fit well inside.
BUILD_TIMEOUT_SECONDS = 600
INVOKE_TIMEOUT_SECONDS = 240


class SamLocalError(Exception):
    """Why `sam local` cannot run here, in one line."""


# ---------------------------------------------------------------------------------------------- prerequisites


def find_sam() -> str | None:
    """The SAM CLI: $SAM_CLI, then .venv-sam/bin/sam (its own venv: it pins boto3 and click), then PATH."""
    candidates = [os.environ.get("SAM_CLI"), str(REPO / ".venv-sam" / "bin" / "sam"), shutil.which("sam")]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def docker_problem() -> str | None:
    """None when a Docker engine answers and the Lambda base image is present, else what to do about it."""
    if shutil.which("docker") is None:
        return "no docker command (install Docker; on Debian: apt-get install docker.io)"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer `docker info` within 30 s"
    if info.returncode != 0:
        return "no Docker engine answers (start it: dockerd, or your Docker Desktop)"
    image = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, timeout=30, check=False)
    if image.returncode != 0:
        return (
            f"image {BASE_IMAGE} is missing: `docker pull {BASE_IMAGE}`, or build a stand-in for the "
            f"Python {PYTHON_VERSION} Lambda base image under that tag where no registry is reachable"
        )
    return None


# ---------------------------------------------------------------------------------------------- files


def load_env_vars(path: Path = ENV_FILE) -> dict[str, dict[str, str]]:
    env_vars: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return env_vars


@dataclass(frozen=True)
class Endpoints:
    """Where the functions' backends listen, as read from (or written to) the env-vars file."""

    host: str
    secrets_port: int
    openai_port: int

    @classmethod
    def from_env_vars(cls, env_vars: dict[str, dict[str, str]]) -> Endpoints:
        first = env_vars[next(iter(INVOKED))]
        secrets, openai = urlsplit(first["AWS_ENDPOINT_URL_SECRETS_MANAGER"]), urlsplit(first["OPENAI_BASE_URL"])
        if secrets.hostname != openai.hostname or secrets.port is None or openai.port is None:
            raise SamLocalError("env.json: both URLs must name the same host and an explicit port")
        return cls(secrets.hostname or "", secrets.port, openai.port)


def retarget(env_vars: dict[str, dict[str, str]], secrets_url: str, openai_url: str) -> dict[str, dict[str, str]]:
    """The env-vars file with both backend URLs replaced, for servers on other ports than the shipped ones."""
    result = {}
    for function, variables in env_vars.items():
        variables = dict(variables)
        variables["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = secrets_url
        old = urlsplit(variables["OPENAI_BASE_URL"])
        new = urlsplit(openai_url)
        variables["OPENAI_BASE_URL"] = urlunsplit((new.scheme, new.netloc, old.path, "", ""))
        result[function] = variables
    return result


def write_local_template(source: Path, destination: Path) -> Path:
    """template.yaml with the wiring variables declared (empty) in Globals, so `--env-vars` can set them."""
    template = load_template(source)
    function_globals = template.setdefault("Globals", {}).setdefault("Function", {})
    variables = function_globals.setdefault("Environment", {}).setdefault("Variables", {})
    for name in WIRING:
        variables.setdefault(name, "")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(template, indent=1), encoding="utf-8")
    return destination


# ---------------------------------------------------------------------------------------------- backends


@dataclass
class Backends:
    secrets_url: str
    openai_url: str
    fake: FakeOpenAI


@contextmanager
def backends(host: str, secrets_port: int = 0, openai_port: int = 0) -> Iterator[Backends]:
    """moto and the fake model on ``host`` (the docker bridge gateway), the secret seeded."""
    try:
        moto = MotoServer(host, secrets_port).start()
    except OSError as exc:
        raise SamLocalError(f"cannot listen on {host}:{secrets_port} for moto: {exc.strerror or exc}") from None
    try:
        try:
            fake = FakeOpenAI(port=openai_port, host=host, required_key=LOCAL_KEY).start()
        except OSError as exc:
            raise SamLocalError(f"cannot listen on {host}:{openai_port} for the fake model: {exc.strerror}") from None
        try:
            seed_secret(moto.url, secret_id(), LOCAL_KEY)
            yield Backends(moto.url, fake.base_url, fake)
        finally:
            fake.stop()
    finally:
        moto.stop()


def secret_id(env_vars: dict[str, dict[str, str]] | None = None) -> str:
    env_vars = env_vars or load_env_vars()
    return env_vars[next(iter(INVOKED))]["OPENAI_SECRET_ID"]


# ---------------------------------------------------------------------------------------------- SAM


# What every SAM command here runs with, the printed hand-run one included: this run's credentials for moto and the
# region its secret is seeded in, which SAM hands to the container, never a real account's; and no telemetry.
SAM_ENVIRONMENT = {
    **CREDENTIALS,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "SAM_CLI_TELEMETRY": "0",
}
# A person's own AWS settings that would reach the container beside the dummies: left out.
PERSONAL_AWS_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def sam_environment() -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if name not in PERSONAL_AWS_VARIABLES}
    environment.update({**SAM_ENVIRONMENT, "LAYER_ARCH": ARCHITECTURE})  # LAYER_ARCH: read by infra/layer/Makefile
    return environment


def _run(command: list[str], timeout: int, what: str) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            command, cwd=REPO, env=sam_environment(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise SamLocalError(f"{what} did not finish within {timeout} s") from None
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise SamLocalError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result


def build(sam: str, work_dir: Path = WORK_DIR) -> Path:
    """`sam build` of the local template copy, for x86_64; returns the built template."""
    template = write_local_template(REPO / "template.yaml", work_dir / "template.json")
    build_dir = work_dir / "build"
    _run(
        [
            sam, "build",
            "--template-file", str(template),
            "--base-dir", str(REPO),
            "--build-dir", str(build_dir),
            "--parameter-overrides", f"Architecture={ARCHITECTURE}",
        ],
        BUILD_TIMEOUT_SECONDS,
        "sam build",
    )  # fmt: skip
    return build_dir / "template.yaml"


def ensure_invoke_image() -> str:
    """The base image plus Lambda's layer search path; rebuilt only when missing (docker caches it)."""
    dockerfile = f"FROM {BASE_IMAGE}\nENV PYTHONPATH=/opt/python/lib/python{PYTHON_VERSION}/site-packages:/opt/python\n"
    try:
        result = subprocess.run(
            ["docker", "build", "--quiet", "--tag", INVOKE_IMAGE, "-"],
            input=dockerfile, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise SamLocalError("docker build of the invoke image timed out") from None
    if result.returncode != 0:
        raise SamLocalError(f"docker build of the invoke image failed: {result.stderr.strip()[-300:]}")
    return INVOKE_IMAGE


def invoke_command(
    sam: str,
    built_template: Path,
    function: str,
    event: Path,
    env_vars_file: Path,
    *,
    from_directory: Path | None = None,
) -> list[str]:
    """The `sam local invoke` of one function, with the invoke image (built first when missing); its paths
    relative to ``from_directory`` when given, for a person to paste."""

    def shown(path: Path) -> str:
        return os.path.relpath(path, from_directory) if from_directory else str(path)

    return [
        sam, "local", "invoke", function,
        "--template-file", shown(built_template),
        "--event", shown(event),
        "--env-vars", shown(env_vars_file),
        "--parameter-overrides", f"Architecture={ARCHITECTURE}",
        "--skip-pull-image",
        "--invoke-image", ensure_invoke_image(),
    ]  # fmt: skip


def invoke(sam: str, built_template: Path, function: str, event: Path, env_vars_file: Path) -> dict[str, Any]:
    """`sam local invoke` of one function; the Function URL result it printed."""
    result = _run(
        invoke_command(sam, built_template, function, event, env_vars_file),
        INVOKE_TIMEOUT_SECONDS,
        f"sam local invoke {function}",
    )
    # stdout holds only the function's result; its logs go to stderr.
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    try:
        response: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise SamLocalError(f"sam local invoke {function} printed no JSON result:\n{result.stderr[-2000:]}") from None
    return response


def run_all(sam: str, env_vars_file: Path, built_template: Path) -> dict[str, dict[str, Any]]:
    return {
        function: invoke(sam, built_template, function, event, env_vars_file) for function, event in INVOKED.items()
    }


# ---------------------------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.sam_local.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-vars", type=Path, default=ENV_FILE, help="the --env-vars file (default: shipped)")
    parser.add_argument(
        "--serve", action="store_true", help="after the invokes, keep moto and the fake model up for hand-run invokes"
    )
    args = parser.parse_args(argv)
    try:
        sam = find_sam()
        if sam is None:
            raise SamLocalError("no SAM CLI: `make sam-local` installs it into .venv-sam, or set SAM_CLI to its path")
        if problem := docker_problem():
            raise SamLocalError(problem)
        env_vars = load_env_vars(args.env_vars)
        endpoints = Endpoints.from_env_vars(env_vars)
        print(f"sam build ({ARCHITECTURE}) into {WORK_DIR.relative_to(REPO)}/build ...", flush=True)
        built = build(sam)
        with backends(endpoints.host, endpoints.secrets_port, endpoints.openai_port):
            print(f"moto and the fake model on {endpoints.host}; invoking ...", flush=True)
            results = run_all(sam, args.env_vars, built)
            for function, result in results.items():
                print(f"{function}: {json.dumps(result)}", flush=True)
            if args.serve:
                serve_until_interrupted(sam, args.env_vars, built)
    except SamLocalError as exc:
        print(f"sam-local: {exc}", file=sys.stderr)
        return 1
    return 0 if all(result.get("statusCode") == 200 for result in results.values()) else 1


def hand_invoke_line(sam: str, env_vars_file: Path, built_template: Path) -> str:
    """The shell line that invokes summarize from the repository's root against the backends
    ``env_vars_file`` names, with SAM_ENVIRONMENT and none of the person's own AWS settings."""
    function, event = next(iter(INVOKED.items()))
    command = invoke_command(sam, built_template, function, event, env_vars_file, from_directory=REPO)
    unset = [argument for name in PERSONAL_AWS_VARIABLES for argument in ("-u", name)]
    variables = [f"{name}={value}" for name, value in SAM_ENVIRONMENT.items()]
    return shlex.join(["env", *unset, *variables, *command])


def serve_until_interrupted(sam: str, env_vars_file: Path, built_template: Path) -> None:
    """Keep the backends up, printing the line that invokes a function by hand against them, until Ctrl-C."""
    print(
        "moto and the fake model stay up until Ctrl-C. In another shell, from the repository's root:\n"
        f"  {hand_invoke_line(sam, env_vars_file, built_template)}",
        flush=True,
    )
    with StopSignals() as stop:
        stop.wait()


def write_env_vars(env_vars: dict[str, dict[str, str]], directory: Path | None = None) -> Path:
    """The env-vars file in a temporary place (for backends on other ports than the shipped ones)."""
    handle = tempfile.NamedTemporaryFile(  # the caller owns (and deletes) the file
        "w", suffix=".json", prefix="sam-env-", dir=directory, delete=False, encoding="utf-8"
    )
    with handle:
        json.dump(env_vars, handle, indent=2)
    return Path(handle.name)


if __name__ == "__main__":
    sys.exit(main())

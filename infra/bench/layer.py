"""Row 7: the dependencies layer, unzipped, built by infra/layer/Makefile as ``sam build`` builds it (prebuilt
wheels from PyPI for the Lambda target, so it needs the network), with the bytecode of the files a cold start
loads when a Python 3.13 is at hand."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from infra.bench.report import Row, Target
from infra.bench.world import REPO

TARGET = Target(40, "MB")
LAYER_MAKEFILE = REPO / "infra" / "layer" / "Makefile"


def directory_mb(path: Path) -> float:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink()) / 1e6


def measure(pip_python: str) -> list[Row]:
    """Build into a temporary directory with ``pip_python -m pip``; without a network (or pip), fall back to
    the layer a ``sam build`` left in .aws-sam."""
    make = shutil.which("make")
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as artifacts:
        failure = "make is not installed"
        if make is not None:
            built = subprocess.run(  # noqa: S603 - make, our Makefile
                [make, "--no-print-directory", "-f", str(LAYER_MAKEFILE), "build-DependenciesLayer",
                 f"ARTIFACTS_DIR={artifacts}", f"PYTHON={pip_python}"],
                cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            if built.returncode == 0:
                compiled = re.search(r"compiled \d+ files for Python [\d.]+", built.stdout)
                bytecode = compiled.group(0) if compiled else "no bytecode: no Python 3.13 (PYC_PYTHON)"
                return [row(directory_mb(Path(artifacts) / "python"), f"built now (arm64, from uv.lock; {bytecode})")]
            failure = (built.stderr.strip().splitlines() or ["make failed"])[-1][:200]
    previous = REPO / ".aws-sam" / "build" / "DependenciesLayer"
    if previous.is_dir():
        return [row(directory_mb(previous), f"from .aws-sam (could not build now: {failure})")]
    return [Row("layer size, unzipped", "-", "-", None, TARGET, note=f"could not build the layer: {failure}")]


def row(megabytes: float, origin: str) -> Row:
    return Row("layer size, unzipped", f"{megabytes:.1f} MB", origin, megabytes, TARGET)

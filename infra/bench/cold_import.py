"""Row 1: the import of each handler in a fresh interpreter, against ``import openai, boto3`` (what any handler
of this job has to load), in rounds that run the four imports in a rotating order."""

from __future__ import annotations

import subprocess
import sys

from infra.bench.report import Row, Target, median_ms, paired_ratio, ratio_note
from infra.bench.world import MODULES, import_environment

TARGET = Target(1.10, "x")
BASELINE = "openai, boto3"
# The interpreter's own start-up is left out: it is the same for everyone and no code of ours can change it.
TIMED_IMPORT = "import time; started = time.perf_counter(); import {}; print(time.perf_counter() - started)"


def time_import(module: str, environment: dict[str, str]) -> float:
    """Seconds to import ``module`` in a new interpreter."""
    result = subprocess.run(  # noqa: S603 - our interpreter, our fixed code
        [sys.executable, "-c", TIMED_IMPORT.format(module)],
        env=environment, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return float(result.stdout.strip().splitlines()[-1])


def measure(rounds: int) -> list[Row]:
    environment = import_environment()
    candidates = [BASELINE, *MODULES.values()]
    for module in candidates:  # writes the bytecode caches, and warms the file cache, before anything is timed
        time_import(module, environment)
    samples: dict[str, list[float]] = {module: [] for module in candidates}
    for index in range(rounds):
        shift = index % len(candidates)
        for module in candidates[shift:] + candidates[:shift]:
            samples[module].append(time_import(module, environment))
    baseline = samples[BASELINE]
    rows = []
    for name, module in MODULES.items():
        ratio = paired_ratio(samples[module], baseline)
        rows.append(
            Row(
                f"cold import: {name}",
                f"{median_ms(samples[module]):.0f} ms",
                f"{median_ms(baseline):.0f} ms (import {BASELINE})",
                ratio,
                TARGET,
                note=ratio_note(samples[module], baseline),
            )
        )
    print(f"   {rounds} rounds, each importing all four in a rotating order; a row's ratio is its rounds' median")
    return rows

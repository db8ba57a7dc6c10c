"""The bench's command line (`make bench`): runs every row, prints each as it goes, then the summary."""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

from infra.bench.paths import PATH
from infra.bench.report import Row, table, tally


@dataclass(frozen=True)
class Sizes:
    import_rounds: int
    stream_processes: int
    later_streams: int
    cold_start_pairs: int
    warm_rounds: int
    stream_requests: int


FULL = Sizes(
    import_rounds=11, stream_processes=5, later_streams=3, cold_start_pairs=15, warm_rounds=200, stream_requests=200
)
QUICK = Sizes(
    import_rounds=3, stream_processes=2, later_streams=2, cold_start_pairs=3, warm_rounds=40, stream_requests=40
)


def section(title: str) -> None:
    print(f"\n{title}", flush=True)


def show(rows: list[Row]) -> list[Row]:
    for line in table(rows)[1:]:
        print(f"   {line}", flush=True)
    return rows


def load() -> str:
    """Other work on the machine: the pairs cancel most of it, but a busy machine widens their spread."""
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench", description="What a person feels, measured.")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--pip-python", default="python3", help="a Python with pip, to build the layer")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    # The handlers' code, as Lambda puts it on the path; imported below, once it is there.
    sys.path[:0] = PATH
    from infra.bench import cold_import, cold_start, first_delta, layer, stream_memory, warm_requests
    from infra.bench.world import BUFFERED_FUNCTIONS, loopback_world

    began = time.monotonic()
    print(
        f"Benchmark on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {load()}; "
        "the fake model and moto on 127.0.0.1"
    )
    rows: list[Row] = []
    section("1. Cold import in a fresh interpreter, against `import openai, boto3`")
    rows += show(cold_import.measure(sizes.import_rounds))
    with loopback_world() as world:
        section("2. A fresh stream process: the model's first token to the client's first delta")
        rows += show(first_delta.measure(world, sizes.stream_processes, sizes.later_streams))
        section("3. Cold start to first answer: summarize in a fresh process, against a plain boto3 + openai script")
        rows += show(cold_start.measure(world, sizes.cold_start_pairs))
        section("4-6. Warm requests: budget check, handler against the SDK alone, peak memory")
        for function in BUFFERED_FUNCTIONS:
            rows += show(warm_requests.measure(world, function, sizes.warm_rounds))
        rows += show(stream_memory.measure(world, sizes.stream_requests))
    section("7. Dependencies layer")
    rows += show(layer.measure(args.pip_python))

    print(f"\nSummary ({time.monotonic() - began:.0f} s; load average {load()} at the end)")
    for line in table(rows):
        print(f"  {line}")
    print(f"\n{tally(rows)}")
    return 1 if args.check and any(row.met is False for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

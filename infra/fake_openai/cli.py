"""``python -m infra.fake_openai``: the fake model on its own, misbehaving on purpose if asked.

Run it, then point `make dev` at it to watch the page meet each failure the real API can produce::

    python -m infra.fake_openai --port 8787 --fault-rate 0.3 --seed 1
    OPENAI_API_KEY=sk-fake OPENAI_BASE_URL=http://127.0.0.1:8787/v1 make dev
"""

from __future__ import annotations

import argparse
import logging
import random
import sys

from infra.fake_openai.faults import FAULTS, RETRY_AFTER_SECONDS, SLOW_SECONDS, Faults
from infra.fake_openai.replies import HUMAN_PACE_WORDS_PER_SECOND
from infra.fake_openai.server import FakeOpenAI
from infra.stop_signals import StopSignals

DEFAULT_PORT = 8787


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.fake_openai",
        description="The fake OpenAI model on its own, misbehaving on purpose if asked.",
        epilog=f"faults: {', '.join(FAULTS)} (schema applies to structured output only)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of requests (0..1) that get a fault; default 0"
    )
    parser.add_argument("--seed", type=int, help="the same seed and requests give the same faults; default random")
    parser.add_argument(
        "--faults",
        type=lambda value: [name.strip() for name in value.split(",") if name.strip()],
        default=list(FAULTS),
        help="comma-separated menu to draw from; default all",
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=HUMAN_PACE_WORDS_PER_SECOND,
        help="words a second of the streamed demo answer; 0 is as fast as possible; default %(default)g",
    )
    parser.add_argument(
        "--slow-seconds",
        type=float,
        default=SLOW_SECONDS,
        help=f"how long a slow answer waits; default {SLOW_SECONDS:g}",
    )
    parser.add_argument(
        "--retry-after",
        type=int,
        default=RETRY_AFTER_SECONDS,
        help=f"Retry-After of a 429, in seconds; default {RETRY_AFTER_SECONDS}",
    )
    args = parser.parse_args(argv)
    if args.pace < 0:
        parser.error(f"--pace must not be negative, not {args.pace:g}")
    if args.seed is None:
        args.seed = random.randrange(2**32)  # noqa: S311 - printed, so a run can be repeated
    try:
        args.fault_menu = Faults(
            args.fault_rate,
            seed=args.seed,
            menu=args.faults,
            slow_seconds=args.slow_seconds,
            retry_after_seconds=args.retry_after,
        )
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _print_banner(fake: FakeOpenAI, faults: Faults, seed: int) -> None:
    print(f"Fake OpenAI model on {fake.base_url}")
    if faults.rate:
        print(f"  faults: {faults.rate:.0%} of requests, from {', '.join(faults.menu)}; --seed {seed} repeats them")
    else:
        print("  faults: none (add some with --fault-rate 0.3)")
    print(f"  try it: OPENAI_API_KEY=sk-fake OPENAI_BASE_URL={fake.base_url} make dev")
    print("  Ctrl-C stops it", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    try:
        fake = FakeOpenAI(args.port, host=args.host, pace_words_per_second=args.pace or None, faults=args.fault_menu)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    with StopSignals() as stop:
        try:
            fake.start()
            _print_banner(fake, args.fault_menu, args.seed)
            stop.wait()
        finally:
            fake.stop()
    print("stopped", flush=True)
    return 0

"""Lambda SnapStart runtime hooks (the ``SnapStart`` template parameter; off by default).

A snapshot is taken of an initialised execution environment and restored many times, so: no key goes into
it, no client carries a connection or a random sequence out of it, and each restored copy draws its own
random numbers (the SDK's retry jitter among them).
"""

from __future__ import annotations

import os
import random

from llm_core import model_client, secret

# AWS_LAMBDA_INITIALIZATION_TYPE during the Init that a snapshot is taken of.
SNAPSTART_INITIALIZATION = "snap-start"


def initialization_type() -> str | None:
    """How Lambda started this execution environment: "on-demand", "provisioned-concurrency" or "snap-start"."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")


def initialising_a_snapshot() -> bool:
    return initialization_type() == SNAPSTART_INITIALIZATION


def before_snapshot() -> None:
    secret.forget_key()
    model_client.forget_clients()


def after_restore() -> None:
    random.seed()
    # Clients made between the snapshot and now would share a copied state; the next request makes new ones.
    model_client.forget_clients()


def register_runtime_hooks() -> None:
    """Register the hooks with the managed runtime's snapshot_restore_py; elsewhere (tests, the emulator) it is
    absent and there are no snapshots."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)

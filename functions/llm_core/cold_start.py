"""What a function does once per execution environment, before its first request.

Each handler turns the garbage collector off before its first import, and initialisation turns it back on at
its end with everything loaded so far frozen: out of the collector's sight for good, since it lives as long
as the environment anyway. With the collector on during a summarize cold start, it spent about 70 ms of the
imports and 25-50 ms of the first request walking the imports' hundred thousand objects again and again;
the imports leave almost no garbage for it to find (about 1,500 objects).
"""

from __future__ import annotations

import gc
import logging

from aws_lambda_powertools import Logger

from llm_core.settings import log_configuration_problem
from llm_core.snapstart import register_runtime_hooks
from llm_core.warm_up import warm_up_parsing


def initialise(logger: logging.Logger | Logger) -> None:
    """The end of a buffered handler's import: validate the settings (a problem is logged here once and
    answered per request as a 503), register the SnapStart hooks, rehearse the SDK's parsing where
    initialisation is not a caller's wait, and turn the collector back on."""
    log_configuration_problem(logger)
    register_runtime_hooks()
    warm_up_parsing()
    resume_garbage_collection()


def resume_garbage_collection() -> None:
    """Turn the collector back on (the handler turned it off before its first import), leaving what
    initialisation loaded out of its sight."""
    gc.freeze()
    gc.enable()

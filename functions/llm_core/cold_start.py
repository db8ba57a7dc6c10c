"""What a function does once per execution environment, before its first request.

Each handler turns the garbage collector off before its first import. It comes back on, with everything made
so far frozen out of its sight for good, once the environment has made what lives as long as it does: for a
buffered function at the end of its first invocation (the clients, their service models and the SDK's
validators are made then), for the stream once its rehearsal is over, before it serves. With the collector
on, measured on a summarize cold start, it spent about 70 ms of the imports and 25-50 ms of the first request
walking the same hundred thousand objects again and again; they leave almost no garbage to find (about
1,500 objects).
"""

from __future__ import annotations

import gc
import logging

from aws_lambda_powertools import Logger

from llm_core import budget
from llm_core.after_response import start_extension
from llm_core.settings import log_configuration_problem
from llm_core.snapstart import register_runtime_hooks
from llm_core.warm_up import warm_up_parsing


def initialise(logger: logging.Logger | Logger) -> None:
    """The end of a buffered handler's import: validate the settings (a problem is logged here once and
    answered per request as a 503), register the SnapStart hooks and, with a budget to settle after each
    response, the extension that does it (after_response.py), and rehearse the SDK's parsing where
    initialisation is not a caller's wait."""
    log_configuration_problem(logger)
    register_runtime_hooks()
    if budget.capped():
        start_extension()
    warm_up_parsing()


def resume_garbage_collection() -> None:
    """Turn the collector back on (the handler turned it off before its first import), leaving what the
    environment has made so far out of its sight. Nothing once it is on."""
    if gc.isenabled():
        return
    gc.freeze()
    gc.enable()

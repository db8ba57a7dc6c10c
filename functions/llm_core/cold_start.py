"""What a buffered function does once per execution environment, before its first request."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger

from llm_core.settings import log_configuration_problem
from llm_core.snapstart import register_runtime_hooks
from llm_core.warm_up import warm_up_parsing


def initialise(logger: logging.Logger | Logger) -> None:
    """Validate the settings (a problem is logged here once and answered per request as a 503), register the
    SnapStart hooks, and rehearse the SDK's parsing where initialisation is not a caller's wait."""
    log_configuration_problem(logger)
    register_runtime_hooks()
    warm_up_parsing()

"""POST a text, get back a few bullet points."""

import gc

# Off until the cold start is over (llm_core/cold_start.py): the collector would otherwise walk the imports'
# objects again and again while they are made.
gc.disable()

from typing import Any

# First, at the depth where `import openai, boto3` alone would load them. Loaded deeper, under Powertools and
# llm_core, CPython (3.11 to 3.13) crossed a 16 KB frame-stack chunk boundary in a hot loop of their imports,
# mapping and unmapping the chunk about 6,000 times: about 40 ms of each cold start.
import boto3  # noqa: F401
import openai  # noqa: F401
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths

from llm_core import service
from llm_core.after_response import after_the_response
from llm_core.cold_start import initialise
from llm_core.contract import SummarizeRequest
from llm_core.function_url import FunctionUrlApp, LambdaContext

logger = Logger()
metrics = Metrics()
app = FunctionUrlApp(SummarizeRequest, service.summarize)
initialise(logger)


# Outermost: the budget's settlement starts once the metrics (the EMF line) are written (llm_core/after_response.py).
@after_the_response
# Never the event: it holds the caller's sign-in token and text, whatever POWERTOOLS_LOGGER_LOG_EVENT says.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL, log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

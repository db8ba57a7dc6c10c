"""POST a request in plain words, get back one TODO item as strict JSON."""

import gc

# Off until the cold start is over (llm_core/cold_start.py): the collector would otherwise walk the imports'
# objects again and again while they are made.
gc.disable()

from typing import Any

# First, where `import openai, boto3` alone would load them: see handlers/summarize.py.
import boto3  # noqa: F401
import openai  # noqa: F401
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths

from llm_core import service
from llm_core.after_response import after_the_response
from llm_core.cold_start import initialise
from llm_core.contract import TodoRequest
from llm_core.function_url import FunctionUrlApp, LambdaContext

logger = Logger()
metrics = Metrics()
app = FunctionUrlApp(TodoRequest, service.make_todo)
initialise(logger)


# Outermost: the budget's settlement starts once the metrics (the EMF line) are written (llm_core/after_response.py).
@after_the_response
# Never the event: it holds the caller's sign-in token and text, whatever POWERTOOLS_LOGGER_LOG_EVENT says.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL, log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

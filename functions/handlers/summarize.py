"""POST a text, get back a few bullet points."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths

from llm_core import service
from llm_core.cold_start import initialise
from llm_core.contract import SummarizeRequest
from llm_core.function_url import FunctionUrlApp, LambdaContext

logger = Logger()
metrics = Metrics()
app = FunctionUrlApp(SummarizeRequest, service.summarize)
initialise(logger)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

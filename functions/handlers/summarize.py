"""POST a text, get back a few bullet points."""

from typing import Annotated

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from llm_core import service
from llm_core.contract import SummarizeRequest
from llm_core.function_url import create_resolver, json_response
from llm_core.settings import log_configuration_problem

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = create_resolver()
log_configuration_problem(logger)


@app.post(".+")
# Neither the answer (user content) nor upstream errors (which may quote a masked key) go to X-Ray.
@tracer.capture_method(capture_response=False, capture_error=False)
def summarize(request: Annotated[SummarizeRequest, Body()]) -> Response[dict]:
    return json_response(200, service.summarize(request))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)

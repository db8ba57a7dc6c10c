"""POST a prompt or a conversation, get the answer streamed token by token (SSE, or bare text).

Lambda's Python runtime cannot stream a response, so this is an ASGI app that uvicorn serves behind the
AWS Lambda Web Adapter (see run_stream.sh); the local emulator runs the same app.
"""

import gc

# Off until the cold start is over (llm_core/cold_start.py): the collector would otherwise walk the imports'
# objects again and again while they are made.
gc.disable()

# First, where `import openai, boto3` alone would load them: see handlers/summarize.py.
import boto3  # noqa: F401
import openai  # noqa: F401
from aws_lambda_powertools import Logger

from llm_core.settings import log_configuration_problem
from llm_core.stream_app import stream_app

logger = Logger()
log_configuration_problem(logger)
app = stream_app()

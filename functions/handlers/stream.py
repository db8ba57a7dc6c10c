"""POST a prompt or a conversation, get the answer streamed token by token (SSE, or bare text).

Lambda's Python runtime cannot stream a response, so this is an ASGI app that uvicorn serves behind the
AWS Lambda Web Adapter (see run_stream.sh); the local emulator mounts the same app.
"""

from aws_lambda_powertools import Logger, Tracer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llm_core.settings import log_configuration_problem
from llm_core.streaming import refuse_method, stream_answer

logger = Logger()
# The adapter gives the web process no per-request trace context, so patching clients would only log
# missing segments; Lambda's own trace of the invocation still covers this function.
tracer = Tracer(auto_patch=False)
log_configuration_problem(logger)


async def healthz(_: Request) -> PlainTextResponse:
    """The adapter's readiness check."""
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/{path:path}", stream_answer, methods=["POST"]),
        Route("/{path:path}", refuse_method, methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    ]
)

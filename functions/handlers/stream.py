"""POST a prompt or a conversation, get the answer streamed token by token (SSE, or bare text).

Lambda's Python runtime cannot stream a response, so this is an ASGI app that uvicorn serves behind the
AWS Lambda Web Adapter (see run_stream.sh); the local emulator runs the same app.
"""

import gc

# Off until the cold start is over (llm_core/cold_start.py): the collector would otherwise walk the imports'
# objects again and again while they are made.
gc.disable()

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# First, where `import openai, boto3` alone would load them: see handlers/summarize.py.
import boto3  # noqa: F401
import openai  # noqa: F401
from aws_lambda_powertools import Logger
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llm_core import snapstart
from llm_core.cold_start import resume_garbage_collection
from llm_core.settings import log_configuration_problem
from llm_core.streaming import for_the_adapter_only, refuse, stream_answer
from llm_core.warm_up import warm_up_streaming

logger = Logger()
log_configuration_problem(logger)


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    # Before uvicorn listens, so the adapter's readiness check passes only once the first request can
    # stream like the hundredth.
    try:
        await warm_up_streaming()
    finally:
        # Even after a failed rehearsal: uvicorn may serve without its lifespan, and must not without a collector.
        resume_garbage_collection()
    yield


async def healthz(_: Request) -> PlainTextResponse:
    """The adapter's readiness check (AWS_LWA_READINESS_CHECK_HEALTHY_STATUS=200)."""
    return PlainTextResponse("ok")


async def before_checkpoint(_: Request) -> PlainTextResponse:
    """The adapter's SnapStart hook (AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH): this process has no runtime hooks."""
    snapstart.before_snapshot()
    return PlainTextResponse("ok")


async def after_restore(_: Request) -> PlainTextResponse:
    """The adapter's SnapStart hook (AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH), before any traffic."""
    snapstart.after_restore()
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/healthz", for_the_adapter_only(healthz), methods=["GET", "POST"]),
        Route("/_snapstart/before-checkpoint", for_the_adapter_only(before_checkpoint), methods=["POST"]),
        Route("/_snapstart/after-restore", for_the_adapter_only(after_restore), methods=["POST"]),
        Route("/{path:path}", stream_answer, methods=["POST"]),
    ],
    exception_handlers={HTTPException: refuse},
    lifespan=lifespan,
)

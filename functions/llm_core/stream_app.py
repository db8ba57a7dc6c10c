"""The stream function's ASGI app, as uvicorn serves it behind the AWS Lambda Web Adapter (run_stream.sh): the
answer on every path, the adapter's own readiness check and SnapStart hooks, and the rehearsal of a streamed
answer before the first request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llm_core import snapstart, warm_up
from llm_core.cold_start import resume_garbage_collection
from llm_core.streaming import for_the_adapter_only, refuse, stream_answer


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    # Before uvicorn listens, so the adapter's readiness check passes only once the first request can
    # stream like the hundredth.
    try:
        await warm_up.warm_up_streaming()
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


def stream_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/healthz", for_the_adapter_only(healthz), methods=["GET", "POST"]),
            Route("/_snapstart/before-checkpoint", for_the_adapter_only(before_checkpoint), methods=["POST"]),
            Route("/_snapstart/after-restore", for_the_adapter_only(after_restore), methods=["POST"]),
            Route("/{path:path}", stream_answer, methods=["POST"]),
        ],
        exception_handlers={HTTPException: refuse},
        lifespan=lifespan,
    )

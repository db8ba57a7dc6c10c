"""The OpenAPI 3.1 document of the two buffered endpoints, generated from the request and response models
and the error table, so it cannot drift from the code (a test compares it with the committed copy).

    .venv/bin/python -m infra.openapi            # rewrite docs/openapi.json
    .venv/bin/python -m infra.openapi --check    # exit 1 when docs/openapi.json is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from infra.emulator.environments import FUNCTIONS_DIR

# `python -m infra.openapi` from the repository's root, as CONTRIBUTING says: the models live in functions/.
sys.path.insert(0, str(FUNCTIONS_DIR))

from llm_core import errors
from llm_core.budget import REMAINING_HEADER
from llm_core.contract import ErrorEnvelope, SummarizeRequest, SummarizeResponse, TodoRequest, TodoResponse
from llm_core.tokens import CHALLENGE

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
ENDPOINTS: dict[str, tuple[str, type[BaseModel], type[BaseModel]]] = {
    "/api/summarize": ("Summarize a text as a few bullet points", SummarizeRequest, SummarizeResponse),
    "/api/todo": ("Turn a request in plain words into one TODO item", TodoRequest, TodoResponse),
}


# The response headers of docs/api.md ("Responses" and the error table), declared once and referred to.
HEADERS: dict[str, dict[str, Any]] = {
    errors.REQUEST_ID_HEADER: {
        "description": "The Lambda request id, as in the error body's request_id and every log line of the "
        "request; absent only from Lambda's own 413.",
        "schema": {"type": "string"},
    },
    REMAINING_HEADER: {
        "description": "What is left of the caller's day, in tokens, when the deployment has daily budgets "
        "(on a 429 quota_exceeded, the figure its message gives; on a 413, when the request is larger than a "
        "whole day's budget; on summarize's and todo's other errors after the budget check, what is left once "
        "the call's reservation was settled).",
        "schema": {"type": "integer", "minimum": 0},
    },
    "retry-after": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}},
    "allow": {"description": "The methods the endpoint takes.", "schema": {"type": "string", "const": "POST"}},
    "www-authenticate": {
        "description": "Where the access token goes: a scheme of this project's own, so no browser shows a "
        "password prompt.",
        "schema": {"type": "string", "const": CHALLENGE},
    },
}
MORE_HEADERS_BY_STATUS: dict[int, tuple[str, ...]] = {
    200: (REMAINING_HEADER,),
    401: ("www-authenticate",),
    405: ("allow",),
    # Larger than a whole day's budget: what is left today.
    413: (REMAINING_HEADER,),
    429: ("retry-after", REMAINING_HEADER),
    # A model call that failed: what it left, its reservation kept when it may have generated.
    502: (REMAINING_HEADER,),
    503: (REMAINING_HEADER,),
    504: (REMAINING_HEADER,),
}
# A body over 6 MB never reaches the function: Lambda answers it itself, with this body.
LAMBDA_REFUSAL = {
    "type": "object",
    "properties": {"Message": {"type": "string"}},
    "required": ["Message"],
    "description": "Lambda's own answer to a request body over 6 MB, before any function runs",
}


def headers_of(status: int) -> dict[str, Any]:
    names = (errors.REQUEST_ID_HEADER, *MORE_HEADERS_BY_STATUS.get(status, ()))
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def error_types_by_status() -> dict[int, list[str]]:
    table: dict[int, set[str]] = {}
    pending = [errors.ApiError]
    while pending:
        kind = pending.pop()
        table.setdefault(kind.status, set()).add(kind.type)
        pending.extend(kind.__subclasses__())
    return {status: sorted(types) for status, types in sorted(table.items())}


def build() -> dict[str, Any]:
    models = [SummarizeRequest, TodoRequest, SummarizeResponse, TodoResponse, ErrorEnvelope]
    modes = [(model, "validation" if model in (SummarizeRequest, TodoRequest) else "serialization") for model in models]
    refs, definitions = models_json_schema(modes, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    envelope = refs[(ErrorEnvelope, "serialization")]
    paths = {}
    for path, (summary, request, response) in ENDPOINTS.items():
        responses: dict[str, Any] = {
            "200": {
                "description": "The answer",
                "headers": headers_of(200),
                "content": {"application/json": {"schema": refs[(response, "serialization")]}},
            }
        }
        for status, types in error_types_by_status().items():
            schema = (
                {"oneOf": [envelope, {"$ref": "#/components/schemas/LambdaRefusal"}]} if status == 413 else envelope
            )
            responses[str(status)] = {
                "description": "error type " + " or ".join(types) + (" (or Lambda's refusal)" if status == 413 else ""),
                "headers": headers_of(status),
                "content": {"application/json": {"schema": schema}},
            }
        paths[path] = {
            "post": {
                "summary": summary,
                "operationId": path.rsplit("/", 1)[1],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": refs[(request, "validation")],
                            "example": request.example,  # type: ignore[attr-defined]
                        }
                    },
                },
                "responses": responses,
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LLM endpoints on AWS Lambda",
            "version": "1.0.0",
            "description": (
                "Generated by `.venv/bin/python -m infra.openapi` from the code; the contract is docs/api.md."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {**definitions.get("$defs", {}), "LambdaRefusal": LAMBDA_REFUSAL},
            "headers": HEADERS,
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.openapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed document is stale")
    args = parser.parse_args(argv)
    if args.check:
        current = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""
        if current != render():
            print(f"{DOCUMENT} is stale: run .venv/bin/python -m infra.openapi", file=sys.stderr)
            return 1
        print(f"{DOCUMENT} is up to date")
        return 0
    DOCUMENT.write_text(render(), encoding="utf-8")
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""docs/openapi.json is generated from the code (infra.openapi) and kept current."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from infra import openapi


def test_committed_document_matches_the_code():
    assert openapi.DOCUMENT.read_text(encoding="utf-8") == openapi.render(), "run: python -m infra.openapi"


def test_every_error_status_of_the_table_is_documented():
    responses = json.loads(openapi.render())["paths"]["/api/summarize"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "403", "404", "405", "413", "429", "500", "502", "503", "504"}
    assert responses["429"]["description"] == "error type quota_exceeded or rate_limited"


def test_request_schema_refuses_unknown_fields_like_the_handler():
    schemas = json.loads(openapi.render())["components"]["schemas"]
    assert schemas["SummarizeRequest"]["additionalProperties"] is False
    assert schemas["SummarizeRequest"]["properties"]["max_bullets"]["maximum"] == 10


def test_request_schema_allows_null_for_optional_fields_only():
    properties = json.loads(openapi.render())["components"]["schemas"]["TodoRequest"]["properties"]
    assert properties["timezone"]["type"] == ["string", "null"]
    assert properties["text"]["type"] == "string"


def test_document_is_valid_openapi_3_1():
    validate(json.loads(openapi.render()))


def test_every_answer_declares_the_request_id_header():
    responses = json.loads(openapi.render())["paths"]["/api/todo"]["post"]["responses"]
    assert all("x-request-id" in response["headers"] for response in responses.values())


def test_a_quota_refusal_declares_when_to_retry_and_what_is_left():
    headers = json.loads(openapi.render())["paths"]["/api/summarize"]["post"]["responses"]["429"]["headers"]
    assert set(headers) == {"x-request-id", "retry-after", "x-tokens-remaining"}


def test_too_large_may_be_lambdas_own_refusal():
    response = json.loads(openapi.render())["paths"]["/api/summarize"]["post"]["responses"]["413"]
    refs = [choice["$ref"] for choice in response["content"]["application/json"]["schema"]["oneOf"]]
    assert refs == ["#/components/schemas/ErrorEnvelope", "#/components/schemas/LambdaRefusal"]

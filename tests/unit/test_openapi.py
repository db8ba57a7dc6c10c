"""docs/openapi.json is generated from the code (infra.openapi) and kept current."""

from __future__ import annotations

import json

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

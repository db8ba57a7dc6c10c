"""Refresh ``openai_schemas.json``: the official OpenAI schemas that the fake model's payloads are checked against.

    python tests/fake_openai/refresh_openai_schemas.py path/to/openapi.json COMMIT

``openapi.json`` comes from https://github.com/openai/openai-openapi at ``COMMIT``. The copy keeps the schemas
named in ``ROOTS`` and every schema they reference, without their descriptions, examples and vendor extensions
(annotations only: validation is unchanged), so the test needs no network and the diff of a refresh is readable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOTS = ("Response", "ErrorResponse", "ResponseStreamEvent")
OUTPUT = Path(__file__).with_name("openai_schemas.json")
SCHEMA_PREFIX = "#/components/schemas/"
ANNOTATIONS = {"description", "title", "example", "examples", "deprecated"}
SUBSCHEMA_MAPS = {"properties", "patternProperties", "$defs", "dependentSchemas"}
SUBSCHEMA_LISTS = {"anyOf", "oneOf", "allOf", "prefixItems"}
SUBSCHEMAS = {"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"}


def without_annotations(schema: Any) -> Any:
    """The schema with annotation keywords removed wherever they are keywords (a property may be named so)."""
    if not isinstance(schema, dict):
        return schema
    kept: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS or keyword.startswith("x-"):
            continue
        if keyword in SUBSCHEMA_MAPS:
            value = {name: without_annotations(sub) for name, sub in value.items()}
        elif keyword in SUBSCHEMA_LISTS:
            value = [without_annotations(sub) for sub in value]
        elif keyword in SUBSCHEMAS:
            value = without_annotations(value)
        kept[keyword] = value
    return kept


def referenced_names(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix(SCHEMA_PREFIX)} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(referenced_names(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(referenced_names(value) for value in node))
    return set()


def trimmed(spec: dict[str, Any], commit: str) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    kept: dict[str, Any] = {}
    pending = list(ROOTS)
    while pending:
        name = pending.pop()
        if name not in kept:
            kept[name] = without_annotations(schemas[name])
            pending.extend(referenced_names(kept[name]))
    return {
        "$comment": (
            f"Trimmed from https://github.com/openai/openai-openapi/blob/{commit}/openapi.json "
            f"(API version {spec['info']['version']}) by tests/fake_openai/refresh_openai_schemas.py: "
            f"{', '.join(ROOTS)} and the schemas they reference, without annotations. Do not edit by hand."
        ),
        "components": {"schemas": dict(sorted(kept.items()))},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec_path, commit = argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    OUTPUT.write_text(json.dumps(trimmed(spec, commit), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

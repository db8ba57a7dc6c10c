"""From the bytes a caller sent to a validated request model, with the contract's 400s for everything else.

Both request paths (the buffered functions' Function URL events and the stream's ASGI requests) hand their
raw body and headers here, so every rule about what a body may be lives in this one place (docs/api.md,
"Requests").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from email.message import Message
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError

from llm_core.contract import example_body, field_description, field_names, nested_model
from llm_core.errors import ApiError, InvalidJson, InvalidRequest

RequestModel = TypeVar("RequestModel", bound=BaseModel)

JSON_MEDIA_TYPES = ("application/json",)
# The charsets a JSON Content-Type may declare (UTF-8 as clients write it; ASCII is a part of it).
UTF8_LABELS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
# The longest field name worth quoting back; the rest of a caller's key is never echoed.
MAX_QUOTED_NAME = 40
# A JSON Web Token (a sign-in token: base64url of '{"') or an OpenAI key, anywhere a word may start.
LOOKS_LIKE_A_CREDENTIAL = re.compile(r"(?<![a-z0-9])(eyj|sk-)", re.IGNORECASE)
# A message lists at most this many names (unknown fields, query parameters), then counts the rest.
MAX_LISTED = 10
# Valid bodies nest three levels (a stream's messages); the parser's own limit depends on the Python version.
MAX_NESTING = 100
# Valid bodies' objects have two or three fields. Past this many keys an object is refused as a whole, before
# validation: an error for each of 600,000 unknown keys would take more memory than a function has.
MAX_OBJECT_KEYS = 100
# What JSON counts as white space between its tokens.
JSON_WHITESPACE = " \t\r\n"


def media_type(content_type: str | None) -> str:
    """``Application/JSON; charset=UTF-8`` -> ``application/json``: media types are case-insensitive."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _declares_only_utf8(content_type: str) -> bool:
    """Whether every ``charset`` parameter of a Content-Type (none at all included) names UTF-8, or ASCII, which
    is UTF-8 too. Parameters are read as RFC 9110 writes them (quoted values, other parameters)."""
    header = Message()
    header["content-type"] = content_type
    charsets = [value for name, value in header.get_params(failobj=[])[1:] if name.lower() == "charset"]
    return all(isinstance(value, str) and value.lower() in UTF8_LABELS for value in charsets)


def split_outside_quotes(header: str, separator: str) -> list[str]:
    """``header`` cut at each ``separator`` that is not inside a quoted parameter value (RFC 9110, 5.6.4),
    where a backslash escapes the next character."""
    parts = [""]
    quoted = escaped = False
    for char in header:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("")
            continue
        parts[-1] += char
    return parts


def _has_comma_outside_quotes(header: str) -> bool:
    """Whether a single-valued header came more than once, joined with a comma."""
    return len(split_outside_quotes(header, ",")) > 1


def _is_json_media_type(value: str) -> bool:
    return value in JSON_MEDIA_TYPES or (value.startswith("application/") and value.endswith("+json"))


def _reject_constant(name: str) -> None:
    raise InvalidJson(f"The request body is not valid JSON: {name} is not a JSON number.")


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # The last value would silently win: refuse rather than drop one of them.
            raise InvalidJson(f"The request body has the key {_quote(key)} twice in one object.")
        result[key] = value
    return result


def _quote(name: str) -> str:
    """A caller-chosen name, safe to put in a message: ASCII-escaped, shortened; one that looks like a
    credential (a token pasted into a URL or a body) is not quoted at all."""
    if LOOKS_LIKE_A_CREDENTIAL.search(name):
        return "[not shown: it looks like a credential]"
    shown = name if len(name) <= MAX_QUOTED_NAME else name[:MAX_QUOTED_NAME] + "..."
    return json.dumps(shown)


def _check_values(payload: Any) -> None:
    """Refuse a body nested deeper than MAX_NESTING, an object with more than MAX_OBJECT_KEYS keys, and a
    string holding a lone UTF-16 surrogate (which no UTF-8 encoder, the SDK's included, accepts), naming the
    first place that holds one.

    One walk in the body's order, holding an iterator and a key per level: a place is spelled out only for the
    value that is wrong, since a body of millions of small values would otherwise cost an entry and a path
    string each, more memory than the function has."""
    # levels[-1] yields (key, value) for the values at depth len(levels); keys holds the key of each object or
    # list opened below the body (whose own key is None).
    levels: list[Iterator[tuple[str | int | None, Any]]] = [iter(((None, payload),))]
    keys: list[str | int | None] = []
    while levels:
        entry = next(levels[-1], None)
        if entry is None:
            levels.pop()
            if levels:
                keys.pop()  # the key of the object or list just finished
            continue
        key, value = entry
        # Levels are objects and lists: a number or string inside the deepest one adds none.
        if len(levels) > MAX_NESTING and isinstance(value, dict | list):
            raise _too_deep()
        if isinstance(value, str) and not _is_utf8_encodable(value):
            raise _unpaired_surrogate(_place([*keys, key]) or "the body")
        if isinstance(value, dict):
            if len(value) > MAX_OBJECT_KEYS:
                raise InvalidRequest(
                    f"An object in the request body has {len(value):,} keys: a request's objects have two or three "
                    f"fields, and one with more than {MAX_OBJECT_KEYS} keys is not read."
                )
            if any(not _is_utf8_encodable(name) for name in value):
                raise _unpaired_surrogate(f"a key in {_place([*keys, key]) or 'the body'}")
            levels.append(iter(value.items()))
            keys.append(key)
        elif isinstance(value, list):
            levels.append(iter(enumerate(value)))
            keys.append(key)


def _place(keys: list[str | int | None]) -> str:
    return ".".join(_field_name(key) for key in keys if key is not None)


def _unpaired_surrogate(where: str) -> InvalidRequest:
    return InvalidRequest(f"{where}: holds an unpaired UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode text.")


def _too_deep() -> InvalidJson:
    return InvalidJson(f"The request body is nested more than {MAX_NESTING} levels deep.")


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json_object(body: bytes, headers: Mapping[str, str], model: type[BaseModel]) -> dict[str, Any]:
    """The body as a JSON object. ``headers`` have lower-case names; ``model`` supplies the example."""
    # A header sent twice arrives as one value, joined with commas (as Function URLs join them).
    encodings = {part.strip().lower() for part in (headers.get("content-encoding") or "identity").split(",")}
    if encodings != {"identity"}:
        # Decoding would let a small compressed body expand past every size limit; say what to send instead.
        # The caller knows what they sent; the value is not quoted back.
        raise InvalidRequest(
            "Content-Encoding is not accepted: send the JSON body uncompressed, without a Content-Encoding header."
        )
    raw_content_type = headers.get("content-type") or ""
    content_type = media_type(raw_content_type)
    if _has_comma_outside_quotes(raw_content_type):
        raise InvalidJson(
            "The Content-Type header was sent more than once: send it once, Content-Type: application/json."
        )
    if not content_type:
        # Required: a page on another site can make a browser POST a body without one and no CORS preflight
        # (defence in depth: through CloudFront it would also lack the body hash Lambda's OAC requires).
        raise InvalidJson("The Content-Type header is missing: send the JSON body with Content-Type: application/json.")
    if not _is_json_media_type(content_type):
        # curl -d sends a form content type; say so rather than report the JSON as one odd form field.
        raise InvalidJson("Send the body as JSON, with the header Content-Type: application/json.")
    if not _declares_only_utf8(raw_content_type):
        # JSON is UTF-8 (RFC 8259); bytes declared as another charset would be read as something else.
        raise InvalidJson(
            "Content-Type declares a charset other than UTF-8: send the JSON encoded as UTF-8, with "
            "Content-Type: application/json."
        )
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InvalidJson("The request body is not UTF-8 text: send JSON encoded as UTF-8.") from None
    if not text.strip(JSON_WHITESPACE):
        raise InvalidJson(f"The request body is empty: send a JSON object such as {example_body(model)}.")
    if text.startswith("\ufeff"):
        raise InvalidJson("The request body starts with two byte order marks: send one at most.")
    if b"\x00" in body[:2]:
        # JSON's first character is ASCII: a NUL beside it is UTF-16 or UTF-32 without a byte order mark,
        # which passes for UTF-8 (RFC 8259's own way of telling them apart).
        raise InvalidJson(
            "The request body is not UTF-8 text (it holds NUL bytes, as UTF-16 does): send JSON encoded as UTF-8."
        )
    try:
        payload = json.loads(text, object_pairs_hook=_object_without_duplicate_keys, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidJson(_describe_syntax_error(exc)) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        # Python refuses integer literals of more than 4,300 digits (int_max_str_digits).
        raise InvalidJson("The request body holds a number with too many digits.") from None
    if not isinstance(payload, dict):
        raise InvalidJson(f"The request body must be a JSON object, such as {example_body(model)}.")
    _check_values(payload)
    return payload


def _describe_syntax_error(exc: json.JSONDecodeError) -> str:
    # Some of json's messages end in "at", made to be followed by a position ("Invalid control character at").
    problem = exc.msg.removesuffix(" at")
    where = f"line {exc.lineno}, column {exc.colno}"
    if problem == "Invalid control character":
        # Nearly always a line break or tab typed into a string, as a shell's multi-line curl -d sends it.
        return (
            f"The request body is not valid JSON: a string holds a raw line break or control character at {where}; "
            "write a line break as \\n and a tab as \\t."
        )
    return f"The request body is not valid JSON ({problem} at {where})."


def describe_validation_errors(model: type[BaseModel], errors: list[Any]) -> ApiError:
    """One message naming each field and what a valid value looks like; the caller's values are never echoed."""
    problems: list[str | tuple[Any, ...]] = []
    # The unknown fields of one object share one problem, which lists that object's fields once.
    unknown: dict[tuple[Any, ...], list[str]] = {}
    for error in errors:
        location = [part for part in error["loc"] if part != "body"]
        field = ".".join(_field_name(part) for part in location)
        valid = field_description(model, location)
        kind = error["type"]
        if kind == "missing":
            problems.append(f"{field}: required, {valid}")
        elif kind == "extra_forbidden":
            parent = tuple(location[:-1])
            if parent not in unknown:
                unknown[parent] = []
                problems.append(parent)
            unknown[parent].append(field)
        elif not field:
            # A rule about the whole body (the stream's "prompt or messages") opens the message: a sentence.
            sentence = error["msg"].removeprefix("Value error, ")
            problems.insert(0, sentence[:1].upper() + sentence[1:])
        elif kind.startswith("value_error"):
            problems.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
        else:
            problems.append(f"{field}: must be {valid}")
    sentences = [problem if isinstance(problem, str) else _unknown_fields(model, problem, unknown[problem])
                 for problem in problems]  # fmt: skip
    return InvalidRequest("; ".join(sentences) + ".")


def _unknown_fields(model: type[BaseModel], parent: tuple[Any, ...], fields: list[str]) -> str:
    shown = ", ".join(fields[:MAX_LISTED])
    more = f" and {len(fields) - MAX_LISTED:,} more" if len(fields) > MAX_LISTED else ""
    what = "unknown field" if len(fields) == 1 else "unknown fields"
    return f"{shown}{more}: {what}; the fields are {field_names(nested_model(model, list(parent)))}"


def _field_name(part: str | int) -> str:
    """A place in the body as a message shows it: an index, a short plain name, or a quoted, shortened key.
    Plain only in ASCII: "t\u0435xt" with a Cyrillic e, shown bare, would read as the field "text"."""
    if isinstance(part, int):
        return str(part)
    plain = part.isascii() and part.isidentifier() and len(part) <= MAX_QUOTED_NAME
    return part if plain else _quote(part)


def refuse_query_parameters(query: str, model: type[BaseModel]) -> None:
    """Every field travels in the body; a query parameter would otherwise be dropped without a word."""
    if not query:
        return
    names = list(dict.fromkeys(name for name, _ in parse_qsl(query, keep_blank_values=True) if name))
    more = f" and {len(names) - MAX_LISTED:,} more" if len(names) > MAX_LISTED else ""
    # A query with no name in it ("?&", "?=x") is not quoted back: what it holds would be a value.
    shown = f" ({', '.join(_quote(name) for name in names[:MAX_LISTED])}{more})" if names else ""
    raise InvalidRequest(
        f"Query parameters are not accepted{shown}: send every field in the JSON body, such as {example_body(model)}."
    )


def parse_request(body: bytes, headers: Mapping[str, str], model: type[RequestModel], *, query: str) -> RequestModel:
    """Parse and validate: the typed request, or an ApiError from the error table. ``query`` is the URL's
    query string, without the "?"."""
    refuse_query_parameters(query, model)
    payload = parse_json_object(body, headers, model)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors()
    unknown = {error["loc"][0] for error in errors if error["type"] == "extra_forbidden" and len(error["loc"]) == 1}
    if len(unknown) == len(errors):
        # pydantic checks a rule about the whole body (the stream's "messages" or "prompt") only once every
        # field has passed: without the unknown fields, what else is wrong comes to light in the same answer.
        try:
            model.model_validate({name: value for name, value in payload.items() if name not in unknown})
        except ValidationError as rest:
            errors = [*errors, *rest.errors()]
    raise describe_validation_errors(model, errors)

"""What a body may be: every case answers with the contract's error, naming what to fix."""

from __future__ import annotations

import gzip
import json
import sys
import tracemalloc

import pytest

from llm_core.contract import StreamRequest, SummarizeRequest, TodoRequest
from llm_core.errors import InvalidJson, InvalidRequest
from llm_core.request_body import MAX_NESTING, MAX_OBJECT_KEYS, _check_values, parse_request

JSON = {"content-type": "application/json"}


def message_of(
    body: bytes, model: type = SummarizeRequest, headers: dict[str, str] | None = None, query: str = ""
) -> str:
    with pytest.raises((InvalidJson, InvalidRequest)) as caught:
        parse_request(body, JSON if headers is None else headers, model, query=query)
    return caught.value.message


def test_integer_over_python_digit_limit_is_invalid_json():
    body = b'{"text": "hi", "max_bullets": ' + b"9" * 5000 + b"}"
    with pytest.raises(InvalidJson, match="a number with too many digits"):
        parse_request(body, JSON, SummarizeRequest, query="")


def test_lone_surrogate_names_its_field():
    assert message_of(b'{"text": "hi \\ud800"}') == (
        "text: holds an unpaired UTF-16 surrogate (\\ud800-\\udfff); send valid Unicode text."
    )


def test_lone_surrogate_inside_a_conversation_names_the_message():
    body = json.dumps({"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "\ud800"}]})
    assert message_of(body.encode(), StreamRequest).startswith("messages.1.content: holds an unpaired")


def test_lone_surrogate_after_many_values_names_its_place():
    body = b'{"text": "hi", "x": [' + b"0," * 1_000 + b'"\\ud800"]}'
    assert message_of(body).startswith("x.1000: holds an unpaired UTF-16 surrogate")


def test_lone_surrogate_under_a_long_key_names_it_shortened():
    message = message_of(json.dumps({"text": "hi", "k" * 10_000: "\ud800"}).encode())
    assert message.startswith(f'"{"k" * 40}...": holds an unpaired') and len(message) < 200


def test_lone_surrogate_in_a_key_is_refused_without_echoing_the_key():
    message = message_of(b'{"text": "hi", "\\udfff": 1}')
    assert message.startswith("a key in the body: holds an unpaired") and '\\udfff"' not in message


def test_a_body_deeper_than_the_recursion_limit_is_refused_as_too_deep():
    # Python 3.13's parser hands over bodies nested deeper than the recursion limit (3.11's raises first).
    payload: object = "text"
    for _ in range(sys.getrecursionlimit() * 3):
        payload = [payload]
    with pytest.raises(InvalidJson, match=f"nested more than {MAX_NESTING} levels deep"):
        _check_values({"text": payload})


def test_an_object_with_more_keys_than_any_request_has_is_refused_whole():
    keys = MAX_OBJECT_KEYS + 1
    body = json.dumps({"text": "hi", **{f"k{i}": 0 for i in range(keys - 1)}}).encode()
    assert message_of(body) == (
        f"An object in the request body has {keys:,} keys: a request's objects have two or three fields, and one "
        f"with more than {MAX_OBJECT_KEYS} keys is not read."
    )


def test_an_object_with_as_many_keys_as_may_be_read_gets_each_problem_named():
    body = json.dumps({"text": "hi", **{f"k{i}": 0 for i in range(MAX_OBJECT_KEYS - 1)}}).encode()
    assert message_of(body).startswith("k0, k1, k2")


def test_a_conversation_is_checked_up_to_its_first_wrong_message():
    body = json.dumps({"messages": [{}] * 1_000}).encode()
    assert message_of(body, StreamRequest) == (
        'messages.0.role: required, "user" or "assistant"; messages.0.content: required, a non-empty string.'
    )


def peak_bytes_while_refusing(body: bytes, model: type) -> int:
    tracemalloc.start()
    try:
        message_of(body, model)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("body", "model"),
    [
        (b'{"messages": [' + b"{}," * 100_000 + b"{}]}", StreamRequest),
        (b'{"text": "hi", "x": [' + b"{}," * 100_000 + b"{}]}", SummarizeRequest),
        (b'{"text": "hi", "x": [' + b"0," * 100_000 + b"0]}", SummarizeRequest),
        (b'{"text": "hi", "x": [' + b"0," * 100_000 + b'"\\ud800"]}', SummarizeRequest),
    ],
)
def test_a_body_of_many_small_values_is_refused_without_memory_for_each_value(body, model):
    # Parsing holds up to ~75 bytes a value (an empty object); a path string or an error for each value, as
    # the checks once made, took 130 to 270 more.
    assert peak_bytes_while_refusing(body, model) < 100 * 100_000


def nested(levels: int) -> bytes:
    """A body whose object holds ``levels - 1`` nested arrays: ``levels`` levels in all."""
    return b'{"text": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def test_nesting_past_the_limit_is_refused_saying_how_deep_a_body_may_go():
    assert message_of(nested(MAX_NESTING + 1)) == f"The request body is nested more than {MAX_NESTING} levels deep."


def test_nesting_up_to_the_limit_is_parsed_and_checked_field_by_field():
    assert message_of(nested(MAX_NESTING)).startswith("text: must be a non-empty string")


def test_a_value_inside_the_deepest_level_allowed_adds_no_level():
    body = b'{"text": ' + b"[" * (MAX_NESTING - 1) + b"1" + b"]" * (MAX_NESTING - 1) + b"}"
    assert message_of(body).startswith("text: must be a non-empty string")


def test_validation_message_names_fields_without_echoing_values():
    message = message_of(b'{"text": 12345678, "extra": "hidden-value"}')
    assert message.startswith("text: must be a non-empty string") and "extra: unknown field" in message
    assert "12345678" not in message and "hidden-value" not in message


def test_surrogate_pair_escapes_are_valid_text():
    assert (
        parse_request(b'{"text": "smile \\ud83d\\ude00"}', JSON, SummarizeRequest, query="").text == "smile \U0001f600"
    )


@pytest.mark.parametrize(
    "body",
    [
        '{"text": "caf\u00e9"}'.encode("latin-1"),
        '{"text": "hi"}'.encode("utf-16"),
        '{"text": "hi"}'.encode("utf-32"),
        b'{"text": "\xed\xa0\x80"}',  # CESU-8: a surrogate encoded as if it were a character
        gzip.compress(b'{"text": "hi"}'),
    ],
    ids=["latin-1", "utf-16", "utf-32", "cesu-8", "gzip-without-header"],
)
def test_body_that_is_not_utf8_says_so(body):
    assert message_of(body) == "The request body is not UTF-8 text: send JSON encoded as UTF-8."


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=iso-8859-1",
        'application/json;charset="UTF-16"',
        "application/json; charset=latin1\u00e9",
        "application/json; charset=utf-8; charset=latin1",
        "application/json; charset*=utf-8''latin1",
    ],
)
def test_a_charset_other_than_utf8_is_refused_even_on_utf8_bytes(content_type):
    # Latin-1 bytes that are also valid UTF-8: read as UTF-8 they would be other text than the one meant.
    body = '{"text": "Ã©tÃ©"}'.encode("latin-1")
    assert message_of(body, headers={"content-type": content_type}) == (
        "Content-Type declares a charset other than UTF-8: send the JSON encoded as UTF-8, with "
        "Content-Type: application/json."
    )


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=UTF-8", 'application/json; charset="utf-8"', "application/json;charset=utf8",
     "application/json; charset=US-ASCII", 'application/json; profile="a;charset=latin1"'],
)  # fmt: skip
def test_utf8_in_any_of_its_spellings_or_ascii_may_be_declared(content_type):
    assert parse_request(b'{"text": "hi"}', {"content-type": content_type}, SummarizeRequest, query="").text == "hi"


def test_utf8_byte_order_mark_is_tolerated():
    assert parse_request(b'\xef\xbb\xbf{"text": "hi"}', JSON, SummarizeRequest, query="").text == "hi"


@pytest.mark.parametrize("body", [b"\xef\xbb\xbf", b"\xef\xbb\xbf \r\n"])
def test_a_byte_order_mark_alone_is_an_empty_body(body):
    assert message_of(body).startswith("The request body is empty: send a JSON object such as")


def test_two_byte_order_marks_are_refused_in_the_contracts_words():
    assert message_of(b'\xef\xbb\xbf\xef\xbb\xbf{"text": "hi"}') == (
        "The request body starts with two byte order marks: send one at most."
    )


@pytest.mark.parametrize("encoding", ["gzip", "<script>x</script>"])
def test_compressed_body_is_refused_naming_the_header_not_quoting_its_value(encoding):
    headers = {**JSON, "content-encoding": encoding}
    assert message_of(gzip.compress(b'{"text": "hi"}'), headers=headers) == (
        "Content-Encoding is not accepted: send the JSON body uncompressed, without a Content-Encoding header."
    )


def test_content_encoding_identity_sent_twice_is_still_identity():
    headers = {**JSON, "content-encoding": "identity, identity"}
    assert parse_request(b'{"text": "hi"}', headers, SummarizeRequest, query="").text == "hi"


@pytest.mark.parametrize(
    "joined",
    [
        "application/json,application/json",
        "application/json; charset=utf-8, application/json",  # the first with a parameter
        "text/plain; charset=utf-8, application/json",
        "application/json; charset=utf-8, json",  # whatever follows the comma
    ],
)
def test_content_type_sent_twice_is_told_to_send_it_once(joined):
    assert message_of(b'{"text": "hi"}', headers={"content-type": joined}) == (
        "The Content-Type header was sent more than once: send it once, Content-Type: application/json."
    )


@pytest.mark.parametrize(
    "content_type",
    ['application/json; profile="a,b"', 'application/json; profile="x, y/z"', 'application/json; p="a\\",b"'],
)
def test_a_comma_inside_a_quoted_content_type_parameter_is_one_header(content_type):
    headers = {"content-type": content_type}
    assert parse_request(b'{"text": "hi"}', headers, SummarizeRequest, query="").text == "hi"


def test_array_body_is_refused_not_reduced_to_its_first_element():
    message = message_of(b'[{"text": "a"}, {"text": "b"}]')
    assert message == (
        "The request body must be a JSON object, such as "
        '{"text": "Lambda runs code without servers.", "max_bullets": 3}.'
    )


@pytest.mark.parametrize(
    "content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "application/problem+json"]
)
def test_json_media_type_is_matched_case_insensitively_with_parameters(content_type):
    assert parse_request(b'{"text": "hi"}', {"content-type": content_type}, SummarizeRequest, query="").text == "hi"


def test_form_content_type_is_told_to_send_json():
    assert message_of(b'{"text": "hi"}', headers={"content-type": "application/x-www-form-urlencoded"}) == (
        "Send the body as JSON, with the header Content-Type: application/json."
    )


def test_missing_content_type_is_told_to_send_it():
    # A cross-site browser POST without a Content-Type needs no CORS preflight: it must not be served.
    assert message_of(b'{"text": "hi"}', headers={}) == (
        "The Content-Type header is missing: send the JSON body with Content-Type: application/json."
    )


def test_empty_body_says_what_to_send():
    assert message_of(b"", TodoRequest) == (
        'The request body is empty: send a JSON object such as {"text": "Call the dentist next Friday", '
        '"timezone": "Europe/Paris"}.'
    )


def test_missing_field_names_it_and_what_it_holds():
    assert message_of(b"{}") == "text: required, a non-empty string, the text to summarize."


def test_blank_prompt_names_the_field():
    assert message_of(b'{"prompt": "   "}', StreamRequest) == "prompt: must hold at least one visible character."


def test_empty_conversation_names_the_field_like_every_other_problem():
    assert message_of(b'{"messages": []}', StreamRequest) == "messages: must hold at least one message."


def test_array_body_on_stream_never_names_an_internal_class():
    message = message_of(b'[{"prompt": "hi"}]', StreamRequest)
    assert "StreamRequest" not in message and message.startswith("The request body must be a JSON object")


def test_wrong_type_names_the_field_and_a_valid_value():
    assert message_of(b'{"text": "hi", "max_bullets": "3"}') == "max_bullets: must be an integer from 1 to 10."


@pytest.mark.parametrize("number", ["4.0", "4e0", "0.4e1"])
def test_a_whole_number_written_with_a_fraction_or_exponent_is_an_integer(number):
    body = f'{{"text": "hi", "max_bullets": {number}}}'.encode()
    assert parse_request(body, JSON, SummarizeRequest, query="").max_bullets == 4


@pytest.mark.parametrize("number", ["3.5", "1e400"])
def test_a_number_that_is_not_whole_is_not_an_integer(number):
    body = f'{{"text": "hi", "max_bullets": {number}}}'.encode()
    assert message_of(body) == "max_bullets: must be an integer from 1 to 10."


@pytest.mark.parametrize(
    ("model", "body", "default"),
    [
        (SummarizeRequest, b'{"text": "hi", "max_bullets": null}', ("max_bullets", 3)),
        (TodoRequest, b'{"text": "hi", "timezone": null}', ("timezone", "UTC")),
        (StreamRequest, b'{"prompt": "hi", "system": null}', ("system", None)),
    ],
)
def test_optional_field_sent_as_null_takes_its_default(model, body, default):
    name, value = default
    assert getattr(parse_request(body, JSON, model, query=""), name) == value


def test_required_field_sent_as_null_is_refused_with_a_valid_value():
    assert message_of(b'{"text": null}') == "text: must be a non-empty string, the text to summarize."


def test_null_for_an_unknown_field_is_still_refused_by_name():
    assert message_of(b'{"text": "hi", "bullets": null}') == (
        'bullets: unknown field; the fields are "text", "max_bullets".'
    )


def test_wrong_message_shape_names_the_item_and_its_fields():
    assert message_of(b'{"messages": ["hi"]}', StreamRequest) == (
        'messages.0: must be a JSON object with the fields "role", "content".'
    )


def test_duplicate_key_is_refused_rather_than_one_value_dropped():
    assert message_of(b'{"text": "a", "text": "b"}') == 'The request body has the key "text" twice in one object.'


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_standard_number_literals_are_invalid_json(literal):
    assert message_of(f'{{"text": "hi", "max_bullets": {literal}}}'.encode()) == (
        f"The request body is not valid JSON: {literal} is not a JSON number."
    )


def test_syntax_error_says_where():
    assert message_of(b'{"text": "hi",}') == (
        "The request body is not valid JSON (Expecting property name enclosed in double quotes at line 1, column 15)."
    )


def test_text_of_only_invisible_characters_is_blank():
    # Zero-width space, word joiner, byte order mark, a control character, an ideographic space.
    assert message_of(b'{"text": "\\u200b\\u2060\\ufeff\\u0007\\u3000"}') == (
        "text: must hold at least one visible character."
    )


@pytest.mark.parametrize("blank", ["\\u3164", "\\u2800", "\\u0301", "\\u115f\\u1160", "\\uffa0 \\u20dd"])
def test_text_of_characters_drawn_as_nothing_is_blank(blank):
    assert message_of(f'{{"text": "{blank}"}}'.encode()) == "text: must hold at least one visible character."


@pytest.mark.parametrize("noncharacter", ["\\uffff", "\\ufdd0\\ufdef", "\\ud83f\\udffe"])
def test_text_of_unicodes_noncharacters_is_blank(noncharacter):
    assert message_of(f'{{"text": "{noncharacter}"}}'.encode()) == "text: must hold at least one visible character."


def test_text_of_a_code_point_this_python_does_not_know_yet_is_not_blank():
    # U+1FAE9 (face with bags under eyes) came with Unicode 16, which neither Python 3.11 nor 3.13 knows.
    assert parse_request(b'{"text": "\\ud83e\\udee9"}', JSON, SummarizeRequest, query="").text == "\U0001fae9"


def test_text_with_one_visible_character_among_invisible_ones_is_not_blank():
    request = parse_request('{"text": "\u200bx\u200b"}'.encode(), JSON, SummarizeRequest, query="")
    assert request.text == "\u200bx\u200b"


def test_syntax_error_message_names_the_position_once():
    assert message_of(b'{"text": "hi') == (
        "The request body is not valid JSON (Unterminated string starting at line 1, column 10)."
    )


def test_raw_line_break_in_a_string_gets_the_escape_to_write_instead():
    assert message_of(b'{"text": "first line\nsecond line"}') == (
        "The request body is not valid JSON: a string holds a raw line break or control character at line 1, "
        "column 21; write a line break as \\n and a tab as \\t."
    )


def test_unknown_field_with_a_long_odd_name_is_quoted_short():
    message = message_of(json.dumps({"text": "hi", "x y" * 100: 1}).encode())
    assert message.startswith(f'"{("x y" * 100)[:40]}...": unknown field')


def test_an_unknown_field_that_looks_like_a_known_one_is_shown_escaped():
    lookalike = "t\u0435xt"  # a Cyrillic e
    message = message_of(json.dumps({"text": "hi", lookalike: 1}, ensure_ascii=False).encode())
    assert message.startswith('"t\\u0435xt": unknown field; the fields are "text", "max_bullets".')


def test_query_parameters_are_refused_by_name_not_ignored():
    assert message_of(b'{"text": "hi"}', query="max_bullets=1&debug") == (
        'Query parameters are not accepted ("max_bullets", "debug"): send every field in the JSON body, '
        'such as {"text": "Lambda runs code without servers.", "max_bullets": 3}.'
    )


@pytest.mark.parametrize("query", ["&", "=secret-value", "&&=x"])
def test_a_query_without_a_name_is_refused_without_quoting_it(query):
    assert message_of(b'{"text": "hi"}', query=query) == (
        "Query parameters are not accepted: send every field in the JSON body, "
        'such as {"text": "Lambda runs code without servers.", "max_bullets": 3}.'
    )


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_json_in_utf16_without_a_byte_order_mark_is_named_not_utf8(encoding):
    assert message_of('{"text": "hi"}'.encode(encoding)) == (
        "The request body is not UTF-8 text (it holds NUL bytes, as UTF-16 does): send JSON encoded as UTF-8."
    )


@pytest.mark.parametrize("body", [b'{"text": "a\x00b"}', b'{"text": "hi"}\x00'])
def test_a_nul_byte_in_utf8_json_is_named_where_it_is(body):
    assert message_of(body).startswith("The request body is not valid JSON")


TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImxvY2FsIn0.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize("pasted", [TOKEN, "sk-not-a-real-key", " SK-not-a-real-key"])
def test_a_credential_pasted_as_a_query_parameter_is_not_quoted_back(pasted):
    message = message_of(b'{"text": "hi"}', query=pasted)
    assert message.startswith("Query parameters are not accepted ([not shown: it looks like a credential]): ")
    assert pasted.strip()[:8] not in message


def test_a_credential_pasted_as_a_field_name_is_not_quoted_back():
    message = message_of(json.dumps({"text": "hi", TOKEN: 1}).encode())
    assert message.startswith("[not shown: it looks like a credential]: unknown field")
    assert TOKEN[:8] not in message


def test_many_query_parameters_are_listed_up_to_the_limit():
    message = message_of(b'{"text": "hi"}', query="&".join(f"p{number}=1" for number in range(500)))
    assert '"p9" and 490 more):' in message
    assert '"p10"' not in message


def test_many_unknown_fields_are_listed_up_to_the_limit():
    fields = {f"field{number}": 1 for number in range(MAX_OBJECT_KEYS - 1)}
    message = message_of(json.dumps({"text": "hi", **fields}).encode())
    assert message.startswith("field0, field1, field2, field3, field4, field5, field6, field7, field8, field9 and ")
    assert f"{MAX_OBJECT_KEYS - 11} more: unknown fields" in message


def test_a_stream_body_of_unknown_fields_alone_also_says_what_it_needs():
    message = message_of(b'{"text": "hi"}', model=StreamRequest)
    assert message == (
        'Send either "messages" or "prompt", not both and not neither; '
        'text: unknown field; the fields are "messages", "prompt", "system".'
    )


@pytest.mark.parametrize(
    "both",
    [
        {"messages": [{"role": "user", "content": "hi"}], "prompt": " "},
        {"messages": [{"role": "user", "content": " "}], "prompt": "hi"},
    ],
)
def test_messages_and_a_prompt_are_refused_as_both_before_either_is_checked(both):
    assert message_of(json.dumps(both).encode(), model=StreamRequest) == (
        'Send either "messages" or "prompt", not both and not neither.'
    )


def test_unknown_fields_beside_a_valid_body_are_still_refused():
    assert message_of(b'{"prompt": "hi", "txt": 1}', model=StreamRequest) == (
        'txt: unknown field; the fields are "messages", "prompt", "system".'
    )


def test_unknown_fields_of_one_object_name_its_fields_once():
    message = message_of(json.dumps({"text": "hi", "language": "fr", "style": "short"}).encode())
    assert message == 'language, style: unknown fields; the fields are "text", "max_bullets".'


def test_unknown_field_with_a_long_plain_name_is_shortened():
    message = message_of(json.dumps({"text": "hi", "a" * 10_000: 1}).encode())
    assert message.startswith(f'"{"a" * 40}...": unknown field')

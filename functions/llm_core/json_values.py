"""Two rules for JSON values, kept alike for what callers send (contract.py) and what the model answers
(prompts.py): a string must show something, and a whole number may be written as one (3.0, 3e0)."""

from __future__ import annotations

import unicodedata
from typing import Any

# Characters that show nothing on their own: controls, format characters (zero-width space, joiners, byte
# order mark) and combining marks with nothing to combine with; letters drawn as blanks (Hangul fillers, the
# blank Braille pattern); and Unicode's noncharacters (U+FDD0-U+FDEF, U+FFFE and U+FFFF in every plane),
# which it promises never to assign. Other unassigned code points count as visible: a newer Unicode than
# this Python's (3.11 locally, 3.13 on Lambda) may have given them a glyph, as it does each year's emoji.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Mn", "Me"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _is_visible(char: str) -> bool:
    return (
        not char.isspace()
        and char not in _BLANK_LETTERS
        and not _is_noncharacter(char)
        and unicodedata.category(char) not in _INVISIBLE_CATEGORIES
    )


def shows_something(value: str) -> bool:
    """Whether ``value`` holds at least one visible character."""
    return any(_is_visible(char) for char in value)


def not_blank(value: str) -> str:
    """``value`` when it holds at least one visible character; a pydantic validator (ValueError otherwise)."""
    if not shows_something(value):
        raise ValueError("must hold at least one visible character")
    return value


def whole_number(value: Any) -> Any:
    """JSON has one kind of number, so 3.0 and 3e0 are the integer 3, as JSON Schema says (Python's json.dumps
    writes a float 3.0 that way); 3.5 is left for the integer check to refuse. A pydantic before-validator."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value

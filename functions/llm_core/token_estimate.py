"""The most tokens a request can be billed for, counted before the model is called (the budgets reserve it).

An estimate may err high and never low: one that is too low lets a request through that a cap should have
stopped, while reserving too much costs nothing lasting, since settlement gives the difference back.
"""

from __future__ import annotations

from dataclasses import dataclass

# One token per character is an upper bound for nearly all text: tokenizers put ~4 characters of English
# and 1-2 of Chinese or Japanese in a token, and rarely split one character in two. chars/4 would be the
# usual average, but too low an estimate is the failure this guards against.
TOKENS_PER_CHARACTER = 1
# Our instructions and the strict JSON schema sent with structured outputs stay under 300 tokens (the stream
# sends none of ours); the rest is margin.
INSTRUCTION_OVERHEAD_TOKENS = 500
# The chat format's own tokens around each message (role, delimiters): 3-4 in OpenAI's published counts.
MESSAGE_OVERHEAD_TOKENS = 8


def estimate_tokens(input_chars: int, max_output_tokens: int, *, messages: int = 1) -> int:
    """The most tokens a request can be billed for: its input at one token per character, the framing of
    each message, our instructions, and the whole output allowance (reasoning tokens count against it)."""
    return (
        input_chars * TOKENS_PER_CHARACTER
        + messages * MESSAGE_OVERHEAD_TOKENS
        + INSTRUCTION_OVERHEAD_TOKENS
        + max_output_tokens
    )


@dataclass(frozen=True)
class TextSize:
    """What a refusal needs to say what to shorten: the characters the estimate counted (a text, or a
    conversation's messages and instructions); for a conversation, its newest message's characters and, with
    earlier turns, the worst case of that message alone in a new chat, with the same instructions."""

    chars: int
    newest_chars: int | None = None
    new_chat_tokens: int | None = None

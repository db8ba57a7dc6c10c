"""llm_core.contract: the request models' rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llm_core.contract import StreamRequest, SummarizeRequest


def test_strict_mode_refuses_a_number_sent_as_a_string():
    with pytest.raises(ValidationError):
        SummarizeRequest.model_validate({"text": "hi", "max_bullets": "3"})


def test_prompt_shorthand_becomes_a_one_message_conversation():
    request = StreamRequest.model_validate({"prompt": "Hello"})
    assert [(m.role, m.content) for m in request.conversation] == [("user", "Hello")]


@pytest.mark.parametrize("system", ["", "   ", "\u200b", "\n\t"])
def test_instructions_that_show_nothing_are_none_and_count_nothing(system):
    request = StreamRequest.model_validate({"prompt": "Hello", "system": system})
    assert (request.system, request.input_chars()) == (None, 5)


def test_input_size_counts_every_message_and_the_system_prompt():
    request = StreamRequest.model_validate(
        {
            "system": "abc",
            "messages": [
                {"role": "user", "content": "12"},
                {"role": "assistant", "content": "345"},
                {"role": "user", "content": "6"},
            ],
        }
    )
    assert request.input_chars() == 9

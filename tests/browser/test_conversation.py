"""The chat's conversation rules (static/js/conversation.js), a module with no DOM, run inside Chromium."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

HISTORY = {
    "system": "",
    "messages": [
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "One."},
        {"role": "user", "content": "Second?"},
        {"role": "assistant", "content": "Two."},
    ],
}


def run(page: Page, body: str, arg: Any = None) -> Any:
    """Evaluate `body` with the module as `c` and `arg` as `arg`; its `return` value comes back."""
    return page.evaluate(f"async (arg) => {{ const c = await import('/js/conversation.js'); {body} }}", arg)


def test_an_answered_turn_joins_the_history(module_page):
    result = run(module_page, "return c.settleTurn(c.askTurn(arg, 'Third?'), 'Three.');", HISTORY)
    assert result["messages"] == [
        *HISTORY["messages"],
        {"role": "user", "content": "Third?"},
        {"role": "assistant", "content": "Three."},
    ]


def test_a_turn_with_no_answer_leaves_the_history(module_page):
    results = run(
        module_page,
        "const turn = c.askTurn(arg, 'Third?'); return [c.settleTurn(turn, ''), c.settleTurn(turn, ' \\n ')];",
        HISTORY,
    )
    assert results == [HISTORY, HISTORY]


def test_a_turn_sends_the_history_and_the_question(module_page):
    body = run(module_page, "return c.requestBody(c.askTurn(arg, 'Third?').sent);", HISTORY)
    assert body == {"messages": [*HISTORY["messages"], {"role": "user", "content": "Third?"}]}


def test_regenerate_sends_the_history_without_the_last_answer(module_page):
    body = run(module_page, "return c.requestBody(c.regenerateTurn(arg).sent);", HISTORY)
    assert body == {"messages": HISTORY["messages"][:-1]}


def test_regenerate_replaces_only_the_last_answer(module_page):
    result = run(module_page, "return c.settleTurn(c.regenerateTurn(arg), 'Two, again.');", HISTORY)
    assert result["messages"] == [*HISTORY["messages"][:-1], {"role": "assistant", "content": "Two, again."}]


def test_regenerate_with_no_answer_keeps_the_previous_answer(module_page):
    assert run(module_page, "return c.settleTurn(c.regenerateTurn(arg), '');", HISTORY) == HISTORY


def test_edit_replaces_the_last_question_and_drops_its_answer(module_page):
    body = run(module_page, "return c.requestBody(c.editTurn(arg, 'Second, really?').sent);", HISTORY)
    assert body == {"messages": [*HISTORY["messages"][:2], {"role": "user", "content": "Second, really?"}]}


def test_edit_with_no_answer_keeps_the_exchange_it_replaced(module_page):
    assert run(module_page, "return c.settleTurn(c.editTurn(arg, 'Second, really?'), '');", HISTORY) == HISTORY


def test_regenerate_and_edit_need_an_answered_exchange(module_page):
    empty = {"system": "", "messages": []}
    assert run(module_page, "return [c.regenerateTurn(arg), c.editTurn(arg, 'x')];", empty) == [None, None]


def test_instructions_are_sent_as_system_only_when_not_blank(module_page):
    bodies = run(
        module_page,
        "return ['Be brief.', '  ', '\\u200b', '\\u2800\\n'].map((s) => c.requestBody(c.withSystem(arg, s)));",
        HISTORY,
    )
    assert bodies[0] == {"messages": HISTORY["messages"], "system": "Be brief."}
    assert bodies[1:] == [{"messages": HISTORY["messages"]}] * 3


def test_an_answer_that_shows_nothing_is_no_answer_as_the_server_reads_it(module_page):
    assert run(module_page, "return ['\\u200b', ' \\u3164 ', 'Ok'].map(c.isAnswer);") == [False, False, True]


def test_input_chars_count_code_points_of_instructions_history_and_draft(module_page):
    conversation = {"system": "🚀é", "messages": [{"role": "user", "content": "ab"}]}
    assert run(module_page, "return c.inputChars(arg, 'ü🚀');", conversation) == 2 + 2 + 2


def test_input_parts_split_the_same_count_into_earlier_turns_instructions_and_the_last_message(module_page):
    conversation = {
        "system": "🚀é",
        "messages": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": "ü🚀x"},
        ],
    }
    assert run(module_page, "return c.inputParts(arg);", conversation) == {
        "earlier": 7,
        "instructions": 2,
        "message": 3,
    }


def test_restore_accepts_a_stored_conversation(module_page):
    assert run(module_page, "return c.restoreConversation(JSON.parse(JSON.stringify(arg)));", HISTORY) == HISTORY


def test_restore_refuses_what_is_not_a_conversation(module_page):
    candidates = [
        None,
        "text",
        {"messages": []},
        {"system": "", "messages": [{"role": "system", "content": "x"}]},
        {"system": "", "messages": [{"role": "user", "content": 3}]},
        {"system": "", "messages": "nope"},
    ]
    assert run(module_page, "return arg.map((value) => c.restoreConversation(value));", candidates) == [None] * 6


def test_markdown_export_names_each_speaker(module_page):
    conversation = {**HISTORY, "system": "Be brief."}
    assert run(module_page, "return c.toMarkdown(arg);", conversation) == (
        "## Instructions\n\nBe brief.\n\n"
        "## You\n\nFirst?\n\n## Assistant\n\nOne.\n\n## You\n\nSecond?\n\n## Assistant\n\nTwo.\n"
    )


def test_markdown_export_says_which_answers_are_incomplete(module_page):
    stopped = run(module_page, "return c.settleTurn(c.askTurn(arg, 'Third?'), 'Thr', 'stopped');", HISTORY)
    assert run(module_page, "return c.toMarkdown(arg);", stopped).endswith(
        "## You\n\nThird?\n\n## Assistant\n\nThr\n\n_Stopped: this answer is incomplete._\n"
    )


def test_an_answer_that_did_not_finish_keeps_its_ending(module_page):
    result = run(module_page, "return c.settleTurn(c.askTurn(arg, 'Third?'), 'Thr', 'stopped');", HISTORY)
    assert result["messages"][-1] == {"role": "assistant", "content": "Thr", "ending": "stopped"}


def test_an_ending_is_never_sent_to_the_model(module_page):
    body = run(
        module_page,
        "const stopped = c.settleTurn(c.askTurn(arg, 'Third?'), 'Thr', 'length');"
        " return c.requestBody(c.askTurn(stopped, 'Go on?').sent);",
        HISTORY,
    )
    assert body["messages"][-2:] == [{"role": "assistant", "content": "Thr"}, {"role": "user", "content": "Go on?"}]


def test_restore_keeps_only_an_answers_known_ending(module_page):
    stored = {
        "system": "",
        "messages": [
            {"role": "user", "content": "First?", "ending": "stopped"},
            {"role": "assistant", "content": "On", "ending": "stopped"},
            {"role": "user", "content": "Second?"},
            {"role": "assistant", "content": "Tw", "ending": "exploded"},
        ],
    }
    restored = run(module_page, "return c.restoreConversation(arg);", stored)
    assert [message.get("ending") for message in restored["messages"]] == [None, "stopped", None, None]

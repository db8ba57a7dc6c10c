"""Accessibility, audited: axe-core on every view at desktop and phone widths in light and dark, keyboard-only use
of every control with a visible focus ring. Each audited view is saved to tests/browser/artifacts/ to look at."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from infra.fake_openai import FakeReply
from tests.browser.support import (
    assistant_messages,
    audit_every_width_and_colour_scheme,
    open_tab,
    send_chat,
    wait_until_answered,
)

ANSWER = """Three things matter for **cold starts**:

1. Package size
2. Imports at module level
3. [Provisioned concurrency](https://docs.example.invalid/pc)

| Setting | Effect |
|---------|--------|
| Memory  | more CPU |

```python
import boto3  # at module level
```"""

# Every control a person can reach with Tab, in the order the page offers them.
FOCUSABLE = "a[href], button:not(:disabled), textarea:not(:disabled), select:not(:disabled), summary, [tabindex='0']"

DESCRIBE_FOCUS = r"""() => {
    const e = document.activeElement;
    const style = getComputedStyle(e);
    const luminance = ([r, g, b]) => {
        const linear = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    const channels = (colour) => colour.match(/[\d.]+/g).map(Number);
    const contrast = (a, b) => {
        const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
        return (light + 0.05) / (dark + 0.05);
    };
    // The ring is the outermost spread shadow (--ring): opaque, with 3:1 contrast against the page and the
    // cards it sits on (WCAG 1.4.11). A text box's soft ring comes with its border in the accent instead.
    const resolved = (name) => {
        const probe = document.createElement('i');
        probe.style.color = `var(${name})`;
        document.body.append(probe);
        const colour = getComputedStyle(probe).color;
        probe.remove();
        return colour;
    };
    const surfaces = ['--bg', '--surface'].map((name) => channels(resolved(name)));
    const rings = [...style.boxShadow.matchAll(/(rgba?\([^)]*\)) 0px 0px 0px (\d+)px/g)]
        .map((m) => ({ colour: channels(m[1]), spread: Number(m[2]) }))
        .sort((a, b) => b.spread - a.spread);
    const outer = rings[0];
    const shadowRing = Boolean(outer) && (outer.colour[3] ?? 1) === 1
        && Math.min(...surfaces.map((s) => contrast(outer.colour, s))) >= 3;
    const box = ['TEXTAREA', 'SELECT', 'INPUT'].includes(e.tagName) && style.borderTopColor === resolved('--accent');
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
        && !/rgba\(.*, 0\)$/.test(style.outlineColor) && style.outlineColor !== 'transparent';
    return { key: e.dataset.a11yKey || null, ring: shadowRing || outline || (Boolean(outer) && box) };
}"""


def show_summary(page: Page, emulator_fake_model) -> None:
    emulator_fake_model.enqueue(
        FakeReply(output={"bullets": ["Routes open in *March*.", "A review after six months."]})
    )
    page.locator("#panel-summarize").get_by_role("button", name="Try an example").click()
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-result-list li")).to_have_count(2)


def show_summary_error(page: Page, emulator_fake_model) -> None:
    emulator_fake_model.enqueue(FakeReply(status=429, headers={"retry-after": "30"}))
    page.locator("#summarize-text").fill("Some text.")
    page.get_by_role("button", name="Summarize").click()
    expect(page.locator("#summarize-error")).to_be_visible()


def show_todo(page: Page, emulator_fake_model) -> None:
    emulator_fake_model.enqueue(
        FakeReply(output={"title": "Send the report to Dana", "due_date": "2026-11-27", "priority": 2})
    )
    open_tab(page, "TODO")
    page.locator("#panel-todo").get_by_role("button", name="Try an example").click()
    page.locator("#todo-form button[type=submit]").click()
    expect(page.locator("#todo-result-title")).to_be_visible()
    page.locator("#todo-result summary").click()


def show_chat(page: Page, emulator_fake_model) -> None:
    emulator_fake_model.enqueue(
        FakeReply(tokens=[ANSWER[i : i + 9] for i in range(0, len(ANSWER), 9)]),
        FakeReply(status=429, headers={"retry-after": "600"}),
    )
    open_tab(page, "Chat")
    page.locator(".instructions summary").click()
    page.locator("#chat-system").fill("Answer briefly.")
    send_chat(page, "What makes a Lambda cold start slow?")
    wait_until_answered(page)
    send_chat(page, "And warm starts?")
    expect(page.locator("#chat-log .msg-note.is-error")).to_be_visible()


def show_chat_editing(page: Page, emulator_fake_model) -> None:
    show_chat(page, emulator_fake_model)
    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_role("textbox", name="Edit your message")).to_be_focused()


def show_chat_with_unfinished_answers(page: Page, emulator_fake_model) -> None:
    """Answers that keep a mark: one cut at its length limit, one whose connection dropped."""
    emulator_fake_model.enqueue(
        FakeReply(tokens=["A long ", "answer"], incomplete=True),
        FakeReply(tokens=["Half ", "of it", " and more"], drop_after_tokens=2),
        FakeReply(tokens=["Done."]),
    )
    open_tab(page, "Chat")
    for question in ("Write a book", "And a poem?", "Thanks"):
        send_chat(page, question)
        wait_until_answered(page)
    expect(page.locator("#chat-log .msg-ending")).to_have_count(2)


VIEWS: dict[str, Callable[[Page, object], None]] = {
    "start": lambda page, emulator_fake_model: None,
    "summarize": show_summary,
    "summarize-error": show_summary_error,
    "todo": show_todo,
    "chat": show_chat,
    "chat-editing": show_chat_editing,
    "chat-unfinished": show_chat_with_unfinished_answers,
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_axe_finds_nothing_serious_at_any_width_or_colour_scheme(page, emulator_fake_model, view):
    page.emulate_media(reduced_motion="reduce")
    VIEWS[view](page, emulator_fake_model)
    found = audit_every_width_and_colour_scheme(page, f"a11y-{view}")
    assert found == {key: [] for key in found}


def tab_order(page: Page, presses: int) -> list[dict]:
    """Press Tab `presses` times from the top of the page; what had focus after each press."""
    page.evaluate(f"document.querySelectorAll({FOCUSABLE!r}).forEach((e, i) => {{ e.dataset.a11yKey = String(i); }})")
    page.locator("body").focus()
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(DESCRIBE_FOCUS))
    return seen


def reachable(page: Page) -> set[str]:
    """Keys of the visible controls Tab should reach."""
    return set(
        page.evaluate(
            f"""() => [...document.querySelectorAll({FOCUSABLE!r})]
                .filter((e) => e.checkVisibility() && e.closest('[role=tablist]') === null)
                .map((e) => e.dataset.a11yKey)"""
        )
    )


@pytest.mark.parametrize("view", ["summarize", "todo", "chat"])
def test_tab_reaches_every_control_with_a_visible_focus_ring(page, emulator_fake_model, view):
    page.emulate_media(reduced_motion="reduce")
    VIEWS[view](page, emulator_fake_model)
    seen = tab_order(page, presses=60)
    expected = reachable(page)
    assert len(expected) >= 6, expected  # the controls of a filled-in view, at the least
    assert expected - {step["key"] for step in seen} == set()
    assert [step for step in seen if step["key"] in expected and not step["ring"]] == []


def test_the_selected_tool_tab_shows_the_focus_ring(page):
    tab_to(page, page.get_by_role("tab", name="Summarize"))
    assert page.evaluate(DESCRIBE_FOCUS)["ring"]


def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    for _ in range(limit):
        if target.evaluate("(e) => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


def test_a_chat_can_be_held_with_the_keyboard_alone(page, emulator_fake_model):
    emulator_fake_model.enqueue(
        FakeReply(tokens=["One."]), FakeReply(tokens=["One, again."]), FakeReply(tokens=["Two."])
    )
    tab_to(page, page.get_by_role("tab", name="Summarize"))
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="Chat")).to_be_focused()
    tab_to(page, page.locator("#chat-input"))
    page.keyboard.type("First?")
    page.keyboard.press("Enter")
    wait_until_answered(page)
    expect(page.locator("#chat-input")).to_be_focused()

    page.keyboard.press("Shift+Tab")  # back into the log: the answer's buttons are the nearest
    tab_to(page, page.get_by_role("button", name="Regenerate"))
    page.keyboard.press("Enter")
    wait_until_answered(page)
    expect(assistant_messages(page)).to_have_text(["One, again."])

    page.locator("body").focus()
    tab_to(page, page.get_by_role("button", name="Edit"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="Edit your message")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("Second?")
    page.keyboard.press("Control+Enter")
    wait_until_answered(page)
    expect(assistant_messages(page)).to_have_text(["Two."])
    assert emulator_fake_model.requests[-1].body["input"] == [{"role": "user", "content": "Second?"}]

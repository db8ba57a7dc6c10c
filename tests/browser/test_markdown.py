"""Model-written Markdown on the page (static/js/markdown.js): rendered as HTML where it is safe, inert where it is
not, and never a request to a URL the model chose."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from infra.fake_openai import FakeReply
from tests.browser.support import assistant_messages, open_tab, send_chat, wait_until_answered

RICH_ANSWER = """Here is what you asked for:

- first *item*
- second item

| Region | Cold start |
|--------|-----------:|
| eu     | 120 ms     |

```python
print("hello")
```

See [the docs](https://docs.example.invalid/lambda)."""

# Each would run script, load a frame or fetch something if the page trusted the Markdown.
XSS_MARKDOWN = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '<a href="javascript:alert(3)">raw link</a>',
    "[md link](javascript:alert(4))",
    "<div onmouseover=alert(5)>raw block</div>",
    "![pic](javascript:alert(6))",
    "[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==)",
    "![data pic](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoOCk+)",
    "<iframe src=javascript:alert(9)></iframe>",
    "<svg onload=alert(10)></svg>",
    "[entity link](jav&#x61;script:alert(11))",
    "[spaced](  javascript:alert(12))",
    "<details open ontoggle=alert(13)>x</details>",
    '<a href="https://ok.invalid" onclick="alert(14)">handler</a>',
]

FIND_UNSAFE = """(root) => {
    const unsafe = [];
    for (const node of document.querySelector(root).querySelectorAll('*')) {
        for (const attr of node.attributes) {
            if (attr.name.startsWith('on')) unsafe.push(`${node.tagName} ${attr.name}`);
        }
        if (node.hasAttribute('href') && !/^(https?:|mailto:)/i.test(node.getAttribute('href'))) {
            unsafe.push(`${node.tagName} href=${node.getAttribute('href')}`);
        }
        if (node.hasAttribute('src')) unsafe.push(`${node.tagName} src`);
    }
    return unsafe;
}"""


def chat_answer(page: Page, emulator_fake_model, text: str, *, tokens: list[str] | None = None) -> None:
    emulator_fake_model.enqueue(FakeReply(tokens=tokens or [text]))
    open_tab(page, "Chat")
    send_chat(page, "Show me")
    wait_until_answered(page)


def test_markdown_list_table_and_code_render_as_html(page, emulator_fake_model, screenshot):
    # Cut mid-syntax, the way tokens arrive.
    chat_answer(
        page, emulator_fake_model, RICH_ANSWER, tokens=[RICH_ANSWER[i : i + 7] for i in range(0, len(RICH_ANSWER), 7)]
    )
    answer = assistant_messages(page).first
    expect(answer.locator("ul > li")).to_have_text(["first item", "second item"])
    expect(answer.locator("ul > li em")).to_have_text("item")
    expect(answer.locator("table th")).to_have_text(["Region", "Cold start"])
    expect(answer.locator("table td")).to_have_text(["eu", "120 ms"])
    expect(answer.locator("pre code")).to_have_text('print("hello")')
    screenshot("chat-markdown")


def test_links_open_in_a_new_tab_without_referrer_or_opener(page, emulator_fake_model):
    chat_answer(page, emulator_fake_model, RICH_ANSWER)
    link = assistant_messages(page).first.get_by_role("link", name="the docs")
    expect(link).to_have_attribute("href", "https://docs.example.invalid/lambda")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")


def test_code_blocks_have_a_copy_button(page, emulator_fake_model):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    chat_answer(page, emulator_fake_model, RICH_ANSWER)
    expect(assistant_messages(page).first.get_by_role("button", name="Copy code")).to_be_visible()
    copy = assistant_messages(page).first.locator(".code-block button")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == 'print("hello")\n'


def test_markdown_xss_vectors_render_inert(page, emulator_fake_model):
    chat_answer(page, emulator_fake_model, "\n\n".join(XSS_MARKDOWN))
    answer = assistant_messages(page).first
    expect(answer).to_contain_text("<script>alert(2)</script>")
    expect(answer).to_contain_text("<div onmouseover=alert(5)>raw block</div>")
    dangerous = "#chat-log :is(img, script, iframe, svg, object, embed, style, details, form, input)"
    assert page.locator(dangerous).count() == 0
    assert page.evaluate(FIND_UNSAFE, "#chat-log") == []
    for link in answer.locator("a").all():  # what a curious person would do
        link.click(modifiers=["Control"])  # a new tab, as a link here would open anyway
    assert page.dialogs == []


def test_no_request_leaves_for_an_image_in_an_answer(page, emulator_fake_model, emulator):
    # Same origin, so the CSP would not stop it: only the renderer can.
    leak = f"{emulator.url}/leak.png?conversation=secret"
    requested: list[str] = []
    page.context.on("request", lambda request: requested.append(request.url))
    chat_answer(
        page, emulator_fake_model, f"A chart: ![chart]({leak}) and ![remote](https://images.example.invalid/x.png)"
    )
    answer = assistant_messages(page).first
    expect(answer.get_by_role("link", name="Image: chart")).to_have_attribute("href", leak)
    expect(answer.get_by_role("link", name="Image: remote (images.example.invalid)")).to_be_visible()
    # Any image would have been requested when it entered the page; one more round trip to be sure.
    page.evaluate("fetch('/favicon.svg').then((r) => r.text())")
    assert [url for url in requested if "leak.png" in url or "images.example" in url] == []
    assert page.locator("#chat-log img").count() == 0


def test_summary_bullets_render_inline_markdown(page, emulator_fake_model):
    emulator_fake_model.enqueue(
        FakeReply(output={"bullets": ["A **bold** point with `code`.", "See [docs](https://x.invalid)."]})
    )
    page.locator("#summarize-text").fill("Anything.")
    page.get_by_role("button", name="Summarize").click()
    items = page.locator("#summarize-result-list li")
    expect(items).to_have_text(["A bold point with code.", "See docs."])
    expect(items.first.locator("strong")).to_have_text("bold")
    expect(items.first.locator("code")).to_have_text("code")
    expect(items.nth(1).get_by_role("link", name="docs")).to_have_attribute("rel", "noopener noreferrer")


def test_summary_bullets_keep_block_markdown_out(page, emulator_fake_model):
    emulator_fake_model.enqueue(FakeReply(output={"bullets": ["# Not a heading", "![pic](https://x.invalid/p.png)"]}))
    page.locator("#summarize-text").fill("Anything.")
    page.get_by_role("button", name="Summarize").click()
    items = page.locator("#summarize-result-list li")
    expect(items.first).to_have_text("# Not a heading")
    assert page.locator("#summarize-result-list :is(h1, img)").count() == 0


# The words (split at spaces and hyphens, where a line may break) that a cell draws on more than one line.
BROKEN_WORDS = """(cells) => cells.flatMap((cell) => {
    const text = cell.firstChild;
    return [...text.data.matchAll(/[^\\s-]+/g)].filter((word) => {
        const range = document.createRange();
        range.setStart(text, word.index);
        range.setEnd(text, word.index + word[0].length);
        return range.getClientRects().length > 1;
    }).map((word) => word[0]);
})"""

WIDE_TABLE = """| Service | Pricing model | Typical cold start | Maximum duration |
|---|---|---|---|
| Fargate | per vCPU-second and GB-second | 30-60 s | unlimited |
| Lambda | per request and GB-second | 100-500 ms | 15 minutes |"""


def test_a_table_wider_than_a_phone_scrolls_sideways_with_its_words_whole(page, emulator_fake_model):
    page.set_viewport_size({"width": 390, "height": 844})
    chat_answer(page, emulator_fake_model, WIDE_TABLE)
    answer = assistant_messages(page).first
    scroller = answer.locator(".table-scroll")
    assert scroller.evaluate("(box) => box.scrollWidth > box.clientWidth")
    assert answer.locator("th, td").evaluate_all(BROKEN_WORDS) == []

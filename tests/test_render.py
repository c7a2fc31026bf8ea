"""Content Markdown is rendered by Python-Markdown as published, then sanitized by nh3.

What matters: every shipped file renders; the HTML a parse stores is exactly what stock
``markdown.markdown(text, extensions=...)`` gives, cleaned by nh3, for every content file and for
inputs that could carry state from one fragment to the next (the renderer reuses one converter
per thread); and the sanitizer strips what it must.
"""

from __future__ import annotations

import ast
import random
import threading
from pathlib import Path

import markdown
import pytest

from quiz.config import PROJECT_ROOT
from quiz.content import load_library, render
from quiz.content import parse as parse_mod

CONTENT_DIRS = [
    PROJECT_ROOT / "content",
    Path(__file__).parent / "data" / "content",
    Path(__file__).parent / "content_fixtures" / "content",
]

#: Spelled out, not read from render.py: this is the published behavior the content relies on.
EXTENSIONS = ["tables", "sane_lists", "fenced_code"]


def stock(text: str) -> str:
    """A fresh stock Python-Markdown run on ``text`` alone, then the sanitizer."""
    return render.clean(markdown.markdown(text, extensions=EXTENSIONS))


def file_fragments() -> list[tuple[str, list[tuple[str, str]]]]:
    """(path, [(Markdown, the HTML the parser stored for it)]) for every content file, in the
    order the parser rendered them."""
    found: list[tuple[str, list[tuple[str, str]]]] = []
    seen: list[tuple[str, str]] = []
    real = parse_mod.render_markdown

    def recording(text: str) -> str:
        html = real(text)
        seen.append((text, html))
        return html

    parse_mod.render_markdown = recording
    try:
        for directory in CONTENT_DIRS:
            for path in sorted(directory.rglob("*.md")):
                seen.clear()
                text = path.read_bytes().decode("utf-8")
                if "scenarios" in path.parts:
                    parse_mod.parse_scenario(str(path), text)
                else:
                    parse_mod.parse_module(str(path), text)
                found.append((str(path), list(seen)))
    finally:
        parse_mod.render_markdown = real
    return found


# ------------------------------------------------------------------------------ real content


def test_every_shipped_file_renders() -> None:
    library = load_library(PROJECT_ROOT / "content")
    assert library.errors == []
    assert len(library.modules) >= 30 and len(library.all_scenarios()) >= 50
    for module in library.modules.values():
        assert module.screens and all(screen.html for screen in module.screens), module.path
    for scenario in library.all_scenarios():
        for node in scenario.nodes.values():
            assert node.body_html or not node.choices, (scenario.path, node.id)
            for choice in node.choices:
                assert choice.feedback_html or not choice.critical, (scenario.path, node.id, choice.number)


def test_every_content_file_renders_as_stock_markdown_and_nh3() -> None:
    files = file_fragments()
    assert len(files) > 90 and sum(len(pairs) for _, pairs in files) > 1000
    for path, pairs in files:
        assert pairs, path
        for text, html in pairs:
            assert html == stock(text), (path, text)


def test_each_thread_renders_as_stock_markdown() -> None:
    texts = [text for _, pairs in file_fragments()[:40] for text, _ in pairs]
    expected = [stock(text) for text in texts]
    results: dict[int, list[str]] = {}

    def run(n: int) -> None:
        results[n] = [render.render_markdown(text) for text in (texts if n % 2 else reversed(texts))]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [results[n] if n % 2 else results[n][::-1] for n in range(4)] == [expected] * 4


# ---------------------------------------------------------------------------- tricky inputs

#: Each list is rendered in order on one converter: nothing may carry over from one text to the
#: next (reference definitions, raw HTML, an open fence), and nothing may depend on position.
TRICKY = [
    ["```\nunclosed fence", "after it", "```\nclosing one\n```"],
    ["~~~\nopen", "text", "~~~"],
    ["<div>\nraw html, left open", "next fragment"],
    ["Mail <someone@example.org> or <https://example.org>", "plain"],
    ["<!-- a comment -->", "x"],
    ["[policy]: https://example.org/policy", "See [policy] and [policy][]."],
    ["See [policy].", "[policy]: https://example.org/policy"],
    ["- one\n- two", "A paragraph after a list."],
    ["1. one\n2. two\n", "3. three"],
    ["> quoted", "> another quote"],
    ["| a | b |\n|---|---|\n| 1 | 2 |", "| c |\n|---|\n| 3 |", "a | b\n--|--\n1 | 2"],
    ["    code block", "    another code block"],
    ["", "   ", "\n\n", "text", ""],
    ["  \n    code after a line of spaces", "\t\nafter a tab line", "text"],
    ["Title\n=====", "---", "Sub\n---", "***"],
    ["# Heading #", "####### not a heading", "#hashtag"],
    ["line with a break  \nnext", "trailing spaces  ", "x"],
    ["**bold that does not close", "closes here**"],
    ["`code that does not close", "closes here`"],
    ["AT&T and &amp; and &copy; and &#169;", "Q&A"],
    ["carriage\r\nreturns", "and\rmore"],
    ["\x02control\x03 characters", "x"],
    ["*", "_", "* * *", "- - -"],
    ["<script>alert(1)</script> and <iframe src=x></iframe>", "text"],
]


@pytest.mark.parametrize("texts", TRICKY, ids=range(len(TRICKY)))
def test_tricky_fragments_render_as_stock_markdown(texts: list[str]) -> None:
    assert [render.render_markdown(text) for text in texts] == [stock(text) for text in texts]


SNIPPETS = [
    "Plain text.",
    "*em* **strong** ***both***",
    "_u_ __uu__ snake_case",
    "a * b",
    "`code` ``a`b``",
    "\\*escaped\\*",
    "[link](https://example.org)",
    "[ref][x]",
    "[x]: https://example.org/x",
    "![img](a.png)",
    "<https://auto.link>",
    "<b>inline</b>",
    "a < b",
    "<div>\nraw\n</div>",
    "&amp; &copy &#123; AT&T",
    "```",
    "```py\ncode\n```",
    "~~~\nx\n~~~",
    "    indented",
    "\tTab",
    "- a\n- b",
    "* a",
    "1. one\n2. two",
    "- a\n\n    more",
    "- a\n    - nested",
    "> quote\nlazy",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "x|y\n-|-",
    "# H",
    "###### H6",
    "Title\n===",
    "Sub\n---",
    "---",
    "***",
    "- - -",
    "hard  \nbreak",
    "   ",
    "",
    "=",
    "-",
]


def _fragment(rng: random.Random) -> str:
    text = rng.choice(SNIPPETS)
    for _ in range(rng.randint(0, 3)):
        text += rng.choice(["\n", "\n\n", " ", "\n\n\n", "\n   \n"]) + rng.choice(SNIPPETS)
    return rng.choice(["", "\n", "\n\n", "  \n"]) + text + rng.choice(["", "\n", "\n\n"])


def test_random_markdown_renders_as_stock_markdown() -> None:
    rng = random.Random(20261123)
    for _ in range(1000):
        text = _fragment(rng)
        assert render.render_markdown(text) == stock(text), text


def test_markdown_that_once_looped_forever_renders() -> None:
    """Python-Markdown 3.10 looped forever on this (upstream #1578, fixed in 3.10.1): one such
    lesson would have stalled every content load. Pinned 3.10.3 must render it."""
    out: list[str] = []
    worker = threading.Thread(target=lambda: out.append(render.render_markdown("&#x; <!-- note -->")), daemon=True)
    worker.start()
    worker.join(10)
    assert out == ["<p>&amp;#x; </p>"]


# -------------------------------------------------------------------------------- sanitizing


@pytest.mark.parametrize(
    "text, html",
    [
        ("Hi <script>alert(1)</script> there", "<p>Hi  there</p>"),
        ("<style>p { color: red }</style>\n\nText", "<p>Text</p>"),
        ('<iframe src="https://evil.example">inside</iframe>\n\nText', "<p>Text</p>"),
        ("Text <noscript>no</noscript> <template>t</template><object>o</object>x", "<p>Text  x</p>"),
        (
            '<a href="https://example.org" onclick="steal()" style="color:red" target="_blank">ok</a>',
            '<p><a href="https://example.org" rel="noopener noreferrer">ok</a></p>',
        ),
        ("[x](javascript:alert(1))", '<p><a rel="noopener noreferrer">x</a></p>'),
        ("[x](data:text/html,hi)", '<p><a rel="noopener noreferrer">x</a></p>'),
        ("[x](tel:+15555550100)", '<p><a rel="noopener noreferrer">x</a></p>'),
        (
            '[x](https://example.org "The title")',
            '<p><a href="https://example.org" title="The title" rel="noopener noreferrer">x</a></p>',
        ),
        (
            "<mailto:privacy@example.org>",
            '<p><a href="mailto:privacy@example.org" rel="noopener noreferrer">privacy@example.org</a></p>',
        ),
        ("![a fax](fax.png)", "<p></p>"),
        ("<u>under</u> <div class='box'>boxed</div> <span>s</span>", "<p>under </p>boxed s<p></p>"),
        ("Text <!-- a note for trainers --> more", "<p>Text  more</p>"),
        ('<img src=x onerror="alert(1)">', "<p></p>"),
        ("Text <svg><script>alert(1)</script></svg> x", "<p>Text  x</p>"),
    ],
)
def test_the_sanitizer_strips_what_it_must(text: str, html: str) -> None:
    out = render.render_markdown(text)
    assert out == html == stock(text)
    for bad in (
        "<script",
        "alert(",
        "onclick",
        "onerror",
        "style=",
        "target=",
        "javascript:",
        "<img",
        "<iframe",
        "<!--",
    ):
        assert bad not in out, (text, out)


def test_the_sanitizer_keeps_what_lessons_may_use() -> None:
    text = (
        "# H1\n\n## H2\n\n*em* **strong** `code` [link](https://example.org) line  \nbreak\n\n"
        "- a\n- b\n\n1. one\n\n> quote\n\n```\npre\n```\n\n---\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    out = render.render_markdown(text)
    assert out == stock(text)
    for tag in (
        "h1",
        "h2",
        "em",
        "strong",
        "code",
        "a",
        "br",
        "ul",
        "ol",
        "li",
        "blockquote",
        "pre",
        "hr",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "p",
    ):
        assert f"<{tag}" in out, tag


# --------------------------------------------------------------------- Python-Markdown as is


def test_python_markdown_is_used_through_its_public_api_only() -> None:
    """No module of the app reaches into Python-Markdown's parts (its processors, patterns or
    private methods): only ``markdown.Markdown(...)``, and ``convert`` and ``reset`` on it."""
    users = []
    for path in sorted((PROJECT_ROOT / "quiz").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "markdown":
                pytest.fail(f"{path}: from {node.module} import ...")
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "markdown" for a in node.names):
                assert [a.name for a in node.names] == ["markdown"], path
                users.append(path)
                used = {
                    n.attr
                    for n in ast.walk(tree)
                    if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "markdown"
                }
                assert used == {"Markdown"}, (path, used)
    assert [p.name for p in users] == ["render.py"]
    md = render._converter()
    parts = [*md.preprocessors, *md.parser.blockprocessors, *md.inlinePatterns, *md.treeprocessors, *md.postprocessors]
    assert type(md) is markdown.Markdown and type(md.parser).__module__ == "markdown.blockparser"
    assert [p for p in parts if not type(p).__module__.startswith("markdown.")] == []
    assert not {"convert", "reset", "is_block_level"} & set(vars(md))

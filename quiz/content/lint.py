"""Markdown that would not reach learners as the trainer wrote it, found line by line.

Lesson HTML is cleaned against a short allow-list (``render.py``): an image, or raw HTML the
list does not allow, would vanish from the page without a word to the trainer, and a link with
no words is read out by a screen reader as just "link". ``content check`` names each one, with
its file and line, instead. Code (fenced blocks and `code spans`) is left alone: there, HTML is
text to show.
"""

from __future__ import annotations

import re

from .blocks import fence_close, fence_open
from .render import ALLOWED_TAGS

_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
#: As Python-Markdown reads them: ``![alt](src)``, or ``![alt][ref]`` with or without a space
#: between; a link's ``](`` has none (``[ ] (optional)`` is text).
_IMAGE = re.compile(r"!\[[^\]]*\](?:\(|[ \t]*\[)")
_EMPTY_LINK = re.compile(r"(?<!!)\[[ \t]*\]\(")
#: An HTML tag: a name followed by a space, / or > (so the autolinks <https://...> and
#: <name@example.org> are not tags).
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)(?=[\s/>])[^>]*>")

IMAGE = "images are not shown on the page: say in words what it shows, or link to it"
EMPTY_LINK = "a link needs words that say where it goes (a screen reader reads them out)"


def html_tag(name: str) -> str:
    return f"HTML <{name}> is not shown on the page: write it in Markdown (in a code block to show it as code)"


def problems(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    """(line number, message) for each problem in ``lines[start:end]``, a fragment of a file."""
    found: list[tuple[int, str]] = []
    i = start
    while i < end:
        line = lines[i]
        fence = fence_open(line)
        if fence is not None:
            close = fence_close(lines, i + 1, fence)
            if close is not None:  # (an unclosed fence is text, as the renderer sees it)
                i = close + 1
                continue
        if "[" in line or "<" in line:
            found.extend((i + 1, message) for message in _line_problems(line))
        i += 1
    return found


def _line_problems(line: str) -> list[str]:
    text = _CODE_SPAN.sub("", line) if "`" in line else line
    messages = []
    if _IMAGE.search(text):
        messages.append(IMAGE)
    if _EMPTY_LINK.search(text):
        messages.append(EMPTY_LINK)
    names = dict.fromkeys(tag.group(1).lower() for tag in _TAG.finditer(text))  # once each, in order
    messages.extend(html_tag(name) for name in names if name not in ALLOWED_TAGS)
    return messages

"""Markdown that would not reach learners as the trainer wrote it, found line by line.

Lesson HTML is cleaned against a short allow-list (``render.py``): an image, raw HTML the list
does not allow, or a link to anything but ``URL_SCHEMES`` (``tel:``, ``file:``,
``javascript:``...: the sanitizer drops the target, or for an autolink the whole of it) would
vanish from the page without a word to the trainer, and a link with no words is read out by a
screen reader as just "link". ``content check`` names each one, with its file and line, instead. Code (fenced blocks and `code spans`) is left alone: there, HTML is
text to show.
"""

from __future__ import annotations

import re
from html import unescape

from .blocks import fence_close, fence_open
from .render import ALLOWED_TAGS, URL_SCHEMES

_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
#: As Python-Markdown reads them: ``![alt](src)``, or ``![alt][ref]`` with or without a space
#: between; a link's ``](`` has none (``[ ] (optional)`` is text).
_IMAGE = re.compile(r"!\[[^\]]*\](?:\(|[ \t]*\[)")
_EMPTY_LINK = re.compile(r"(?<!!)\[[ \t]*\]\(")
#: An HTML tag: a name followed by a space, / or > (so the autolinks <https://...> and
#: <name@example.org> are not tags).
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)(?=[\s/>])[^>]*>")

#: Where a link goes, in the three ways Markdown writes one: ``[words](target)``, a reference
#: definition ``[name]: target`` and an autolink ``<target>``; and in an HTML ``<a href>``.
_LINK_TARGET = re.compile(r"(?<![!\\])\[.*?\]\([ \t]*<?([^\s)>]+)")
_REFERENCE = re.compile(r"^[ ]{0,3}\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:\s|$)")
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]*:[^\s<>]*)>")
_HREF = re.compile(r"<a\s[^>]*?href\s*=\s*[\"']?\s*([^\"'\s>]+)", re.IGNORECASE)
#: A URL's scheme, as the sanitizer reads it (after HTML entities are decoded).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")

IMAGE = "images are not shown on the page: say in words what it shows, or link to it"
EMPTY_LINK = "a link needs words that say where it goes (a screen reader reads them out)"


def stripped_link(scheme: str) -> str:
    """The message for a link whose target the page would drop (render.py keeps only
    ``URL_SCHEMES``): the words stay, but nothing happens when they are pressed."""
    kept = [f"{s}:" for s in sorted(URL_SCHEMES)]
    kept_text = ", ".join(kept[:-1]) + " and " + kept[-1]
    lower = scheme.lower()
    if lower == "tel":
        fix = "write the phone number as text"
    elif lower == "file" or len(scheme) == 1:  # file:, or a drive letter (C:/...)
        fix = "a file on your computer cannot be opened from the page; link to a web page that has it"
    else:
        fix = "link to a web page (https://...) instead"
    return f"a `{scheme}:` link would be removed from the page (only {kept_text} links are kept): {fix}"


def html_tag(name: str) -> str:
    return f"HTML <{name}> is not shown on the page: write it in Markdown (in a code block to show it as code)"


def problems(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    """(line number, message) for each problem in ``lines[start:end]``, a fragment of a file."""
    found: list[tuple[int, str]] = []
    never_closed: set[str] = set()  # as in blocks.find_headings
    i = start
    while i < end:
        line = lines[i]
        fence = fence_open(line)
        if fence is not None and fence not in never_closed:
            close = fence_close(lines, i + 1, fence)
            if close is not None:  # (an unclosed fence is text, as the renderer sees it)
                i = close + 1
                continue
            never_closed.add(fence)
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
    messages.extend(stripped_link(scheme) for scheme in _dropped_schemes(text))
    names = dict.fromkeys(tag.group(1).lower() for tag in _TAG.finditer(text))  # once each, in order
    messages.extend(html_tag(name) for name in names if name not in ALLOWED_TAGS)
    return messages


def _dropped_schemes(text: str) -> list[str]:
    """The schemes, once each and as written, of this line's links the sanitizer would drop."""
    targets = [m.group(1) for pattern in (_LINK_TARGET, _AUTOLINK, _HREF) for m in pattern.finditer(text)]
    reference = _REFERENCE.match(text)
    if reference:
        targets.append(reference.group(1))
    schemes: dict[str, None] = {}
    for target in targets:
        match = _SCHEME.match(unescape(target))
        if match and match.group(1).lower() not in URL_SCHEMES:
            schemes.setdefault(match.group(1))
    return list(schemes)

"""Markdown to safe HTML.

Trainers write Markdown, but Markdown lets raw HTML through, and lesson text is shown inside the
app's pages. So everything is rendered and then cleaned against a short allow-list: content can
format text and link out, never run script, restyle the page or frame another site.

Rendering is Python-Markdown as published, through its public API only (``Markdown.convert``
and ``reset``), one fragment at a time; the output is exactly ``markdown.markdown(text,
extensions=...)`` cleaned by nh3 (``tests/test_render.py``). It runs when a file is parsed, and
the parse cache (``library.py``) keeps the result: a page shows HTML rendered before.
"""

from __future__ import annotations

import threading

import markdown
import nh3

#: fenced_code is on because the content format treats ``` blocks as code (a ``##`` inside one
#: is not a heading), so the renderer must agree with the parser.
_EXTENSIONS = ("tables", "sane_lists", "fenced_code")

#: What lesson HTML may hold (anything else is stripped; ``lint.py`` tells the trainer).
ALLOWED_TAGS = {
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "a",
    "code",
    "pre",
    "blockquote",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "br",
    "hr",
}
_ATTRIBUTES = {"a": {"href", "title"}}
#: The only kinds of link a page keeps (a link to anything else loses its target: ``lint.py``).
URL_SCHEMES = {"http", "https", "mailto"}
#: Removed together with their content (the text inside a <script> is not lesson text).
_DROP_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "noscript", "template"}


_local = threading.local()


def _converter() -> markdown.Markdown:
    """One Markdown object per thread (one is not safe to share), reset after each use as
    Python-Markdown documents: it saves loading the extensions for every fragment."""
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = markdown.Markdown(extensions=list(_EXTENSIONS), output_format="html")
    return md


#: A document's headings keep their ids, so its own links to them (``#what-content-check-catches``) work.
_HEADING_IDS = {f"h{level}": {"id"} for level in range(1, 7)}


def clean(html: str, *, heading_ids: bool = False) -> str:
    """Sanitize rendered HTML against the allow-list (``heading_ids``: headings keep their ids)."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=_ATTRIBUTES | _HEADING_IDS if heading_ids else _ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        clean_content_tags=_DROP_WITH_CONTENT,
        strip_comments=True,
    ).strip()


def render_markdown(text: str) -> str:
    """Render trainer Markdown and sanitize the result; safe to insert into a page unescaped."""
    md = _converter()
    try:
        html = md.convert(text)
    finally:
        md.reset()
    return clean(html)


def render_document(text: str) -> str:
    """Render a whole document written for people (docs/authoring.md, served to trainers) the
    same way, cleaned against the same allow-list; its headings get ids (Python-Markdown's
    ``toc`` extension, GitHub's way of naming them) so its links to its own sections work."""
    html = markdown.Markdown(extensions=[*_EXTENSIONS, "toc"], output_format="html").convert(text)
    return clean(html, heading_ids=True)

"""Training content: Markdown files in, validated frozen objects out (no web code here).

The web layer and engine import from this package only; see ``docs/authoring.md`` for the file
format and ``model.py`` for the objects.
"""

from __future__ import annotations

from .library import (
    ContentStore,
    StoredContentError,
    Trial,
    load_library,
    parse_stored,
    summary_line,
    try_file,
    try_in_place,
)
from .model import (
    JOB_ROLES,
    LABELS,
    MODULE_KINDS,
    SPECIALTIES,
    TOPICS,
    US_STATES,
    Choice,
    ContentError,
    Library,
    Module,
    Node,
    Scenario,
    ScoreRange,
    Screen,
    label,
    role_label,
)
from .render import render_document, render_markdown

__all__ = [
    "JOB_ROLES",
    "LABELS",
    "MODULE_KINDS",
    "SPECIALTIES",
    "TOPICS",
    "US_STATES",
    "Choice",
    "ContentError",
    "ContentStore",
    "Library",
    "Module",
    "Node",
    "Scenario",
    "ScoreRange",
    "Screen",
    "StoredContentError",
    "Trial",
    "label",
    "role_label",
    "load_library",
    "parse_stored",
    "render_document",
    "render_markdown",
    "summary_line",
    "try_file",
    "try_in_place",
]

"""The organization's own policy, as the content states it: each "our policy" sentence.

The content teaches the law and, beside it, what *our* policy is (a call back on the number on
file, a report within the hour, photo ID at the counter). Those sentences are the shipped
content's placeholders for the organization's real policies: before staff are asked to attest
to them, the privacy officer checks each one against the policy the organization has, and edits
the file where it differs. ``statements`` lists them, by file and line, for that review (the
Content page's "Policy statements to confirm" and ``flask content policies``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .frontmatter import split_lines
from .model import Library

_MARK = re.compile(r"\bour policy\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])[*_)\"”]*\s+")
_MARKUP = re.compile(r"[*_`#>]+|\s*\{#[^}]*\}|^\s*[-+]\s+|^\s*\d+\.\s+")


@dataclass(frozen=True)
class Statement:
    path: str
    line: int  # where the sentence starts
    text: str  # the sentence, without Markdown marks


def statements(library: Library) -> list[Statement]:
    """Every sentence that states our policy, in every served module and scenario version, by
    file and line (a file's sentences in order)."""
    found: list[Statement] = []
    sources = [(m.path, m.source) for m in library.modules.values()]
    sources += [(s.path, s.source) for s in library.all_scenarios()]
    for path, source in sorted(sources):
        found.extend(_in_file(path, source))
    return found


def _in_file(path: str, source: str) -> list[Statement]:
    lines = split_lines(source)
    found: list[Statement] = []
    start = 0
    while start < len(lines):  # paragraph by paragraph: a sentence may run over lines
        if not lines[start].strip():
            start += 1
            continue
        end = start
        while end < len(lines) and lines[end].strip():
            end += 1
        found.extend(_in_paragraph(path, lines, start, end))
        start = end
    return found


def _in_paragraph(path: str, lines: list[str], start: int, end: int) -> list[Statement]:
    words: list[tuple[int, str]] = []  # (line, text) of each line, markup removed
    for n in range(start, end):
        words.append((n + 1, _MARKUP.sub("", lines[n]).strip()))
    text = " ".join(t for _, t in words)
    if not _MARK.search(text):
        return []
    found = []
    offset = 0
    starts = [(sum(len(t) + 1 for _, t in words[:i]), line) for i, (line, _) in enumerate(words)]
    for sentence in _SENTENCE_END.split(text):
        position = text.find(sentence, offset)
        offset = position + len(sentence)
        if _MARK.search(sentence):
            line = max((ln for at, ln in starts if at <= position), default=start + 1)
            found.append(Statement(path, line, sentence.strip()))
    return found

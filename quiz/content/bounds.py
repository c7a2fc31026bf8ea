"""Markdown that would take the renderer too long, found before it is rendered.

Python-Markdown's inline patterns are regular expressions tried at each place a code span, a
link or an HTML tag could start, and a pattern that finds no end searches on to the end of the
paragraph. So the time to render a paragraph grows with the square of its length, or worse, for
some text (measured on a 2-core VM, Python-Markdown 3.10, bench/README.md "Bounded work"):

- a run of backticks: the code span pattern tries every split of the run, about the cube of its
  length (1,000 in a row 2.5 s, 2,000 in a row 27 s);
- brackets that never close, or nest deeply: 10 KB of ``[`` 21 s, 5,000 nested pairs 6.6 s;
- many marks in one paragraph, even well-formed ones: 8 KB of ``[`` and backticks 22 s, 2,000
  code spans 3.6 s, 2,700 ``<a `` 1.3 s;
- code fences that are never closed: 2,000 lines of ``~~~a`` 16 s, 8,000 lines 211 s.

Each of these is refused here, by paragraph, with the file's line, before anything is rendered:
such a fragment is not rendered at all (its file is an error and is not served), so a file like
that can neither stall the server's start nor ``content check``. Text under these limits renders
in time that grows in step with its length (at most about 7 ms a kilobyte, measured). The limits
are far above what lessons need: the shipped content's busiest paragraph has 4 marks, no
bracket inside another and no run of more than 3 backticks.

Code in fenced blocks is left out: the renderer does not look inside it for inline patterns.
"""

from __future__ import annotations

import re

from ..words import ngettext
from .blocks import fence_close, fence_open

#: Backticks in a row. A code span needs one more backtick than it shows in a row inside it.
MAX_BACKTICK_RUN = 16
#: How deep ``[`` may nest inside ``[``: a link's words rarely hold brackets at all.
MAX_BRACKET_DEPTH = 8
#: ``[`` that no ``]`` closes, in one paragraph (each is also a level of nesting).
MAX_UNCLOSED_BRACKETS = 8
#: Backtick runs, ``[`` and ``<`` in one paragraph: each is a place a pattern starts a search.
MAX_MARKS = 200
#: Code fences (``` or ~~~) that no line closes, in one piece of text: the fenced-code pattern
#: reads to the end of the text for each (10 KB of them: 16 s; 40 KB: 211 s).
MAX_UNCLOSED_FENCES = 8

_BACKTICKS = re.compile(r"`+")


def backtick_run(length: int) -> str:
    return (
        ngettext("%(num)s backtick in a row", "%(num)s backticks in a row", length, num=format(length, ","))
        + f": Markdown takes minutes over long runs of them (at most {MAX_BACKTICK_RUN}); "
        "a code span needs only one more backtick than any run inside it"
    )


def nested(depth: int) -> str:
    return (
        f"brackets nested {depth} deep: Markdown's time to read them grows steeply (at most {MAX_BRACKET_DEPTH} "
        "deep); write `\\[` for a bracket meant as text"
    )


def unclosed(count: int) -> str:
    return (
        ngettext(
            "%(num)s `[` in this paragraph is never closed by a `]`",
            "%(num)s `[` in this paragraph are never closed by a `]`",
            count,
            num=format(count, ","),
        )
        + ": Markdown reads to the end of the "
        f"paragraph for each one (at most {MAX_UNCLOSED_BRACKETS}); close them, or write `\\[` for a bracket "
        "meant as text"
    )


def too_many_marks(count: int) -> str:
    return (
        ngettext(
            "this paragraph has %(num)s backtick, `[` and `<`",
            "this paragraph has %(num)s backticks, `[` and `<`",
            count,
            num=format(count, ","),
        )
        + f" (at most {MAX_MARKS}): Markdown's time grows with "
        "their number times the paragraph's length; split it into shorter paragraphs"
    )


def unclosed_fences(count: int) -> str:
    return (
        ngettext(
            "%(num)s code fence (``` or ~~~) here is never closed",
            "%(num)s code fences (``` or ~~~) here are never closed",
            count,
            num=format(count, ","),
        )
        + ": Markdown reads to the end of the text for "
        f"each one (at most {MAX_UNCLOSED_FENCES}); close each block with a line of the same fence"
    )


def problems(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    """(line number, message) for each paragraph of ``lines[start:end]`` that would take the
    renderer too long, one message per paragraph at the line where it passes the limit; and
    for too many code fences never closed (then nothing more: the rest is not read)."""
    found: list[tuple[int, str]] = []
    paragraph: list[int] = []  # indexes of the lines of the paragraph being read
    unclosed: list[int] = []  # line numbers of fences no line closes within the fragment
    never_closed: dict[str, int] = {}  # each fence no line closes, and where it was first seen
    i = start
    while i < end:
        line = lines[i]
        fence = fence_open(line) if line.startswith(("`", "~")) else None
        close = None
        if fence is not None and fence not in never_closed:
            close = fence_close(lines, i + 1, fence)
            close = close if close is not None and close < end else None
        if fence is not None and close is None:
            never_closed.setdefault(fence, i)  # then none closes a later one either
            unclosed.append(i + 1)
            if len(unclosed) > MAX_UNCLOSED_FENCES:
                return [(unclosed[-1], unclosed_fences(len(unclosed)))]
        if close is not None:  # a closed fence: code, not read for patterns
            found.extend(_paragraph(lines, paragraph))
            paragraph = []
            i = close + 1
            continue
        if line.strip():
            paragraph.append(i)
        else:
            found.extend(_paragraph(lines, paragraph))
            paragraph = []
        i += 1
    found.extend(_paragraph(lines, paragraph))
    return sorted(found)


def _paragraph(lines: list[str], indexes: list[int]) -> list[tuple[int, str]]:
    """The problem of one paragraph (its lines' indexes), if any, in one pass over its
    characters: the first of a long run of backticks, deep nesting, unclosed brackets and too
    many marks (one at a time: the first is often the cause of the others)."""
    marks = depth = 0
    open_at: list[int] = []  # line numbers of the ``[`` not closed yet
    deepest = (0, 0)  # (depth, line) of the deepest nesting past the limit
    longest = (0, 0)  # (length, line) of the longest run of backticks past the limit
    marks_line = 0
    for index in indexes:
        line = lines[index]
        number = index + 1
        if "`" in line:
            for run in _BACKTICKS.finditer(line):
                marks += 1
                length = run.end() - run.start()
                if length > MAX_BACKTICK_RUN and length > longest[0]:
                    longest = (length, number)
        if "[" not in line and "]" not in line and "<" not in line:
            if marks > MAX_MARKS and not marks_line:
                marks_line = number
            continue
        escaped = False
        for char in line:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "[":
                marks += 1
                open_at.append(number)
                depth = len(open_at)
                if depth > MAX_BRACKET_DEPTH and depth > deepest[0]:
                    deepest = (depth, number)
            elif char == "]":
                if open_at:
                    open_at.pop()
            elif char == "<":
                marks += 1
        if marks > MAX_MARKS and not marks_line:
            marks_line = number
    if longest[0]:
        return [(longest[1], backtick_run(longest[0]))]
    if len(open_at) > MAX_UNCLOSED_BRACKETS:
        return [(open_at[MAX_UNCLOSED_BRACKETS], unclosed(len(open_at)))]
    if deepest[0]:
        return [(deepest[1], nested(deepest[0]))]
    if marks_line:
        return [(marks_line, too_many_marks(marks))]
    return []

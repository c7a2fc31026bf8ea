"""Line structure of a Markdown body: headings outside code fences, and setting lines.

The parser works on lines (to report line numbers) but must agree with the Markdown renderer
about what is a heading: a ``##`` inside a fenced code block is code, not a new node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import ContentError

HEADING = re.compile(r"^(#{1,6})(?!#)[ \t]*(.*?)(?:[ \t]+#+)?[ \t]*$")
_HEADING_START = re.compile(r"^(#{1,6})(?!#)[ \t]*(.*)$")
# Mirrors Python-Markdown's fenced_code opening line: the fence, then an optional language/attrs.
_FENCE_OPEN = re.compile(r"^(`{3,}|~{3,})[ ]*(?:\{[^\n]*\}|\.?[\w#.+-]*)[ ]*(?:hl_lines=.*)?$")
_MARKS = ("#", "`", "~")  # the first character of any HEADING or _FENCE_OPEN line
_SETTING = re.compile(r"^[ \t]*([A-Za-z]+)[ \t]*:[ \t]*(.*?)[ \t]*$")


@dataclass(frozen=True)
class Heading:
    index: int  # 0-based index into the file's lines
    level: int
    text: str

    @property
    def line(self) -> int:
        return self.index + 1


def find_headings(lines: list[str], start: int) -> list[Heading]:
    """ATX headings from ``start`` on, skipping fenced code blocks (a ``##`` there is code)."""
    found: list[Heading] = []
    # Only lines starting with one of these can be either; finding them first is much faster.
    marked = [i for i in range(start, len(lines)) if lines[i].startswith(_MARKS)]
    skip_to = start
    never_closed: set[str] = set()  # a fence no line after it closes closes no later one either
    for i in marked:
        if i < skip_to:  # inside a fenced block found earlier
            continue
        line = lines[i]
        if line[0] == "#":
            heading = _heading(line)
            if heading:
                found.append(Heading(i, *heading))
            continue
        fence = fence_open(line)
        if not fence or fence in never_closed:  # (without this, many unclosed fences: n² lines read)
            continue
        close = fence_close(lines, i + 1, fence)
        if close is None:
            never_closed.add(fence)
        else:
            skip_to = close + 1
    return found


def _heading(line: str) -> tuple[int, str] | None:
    """(level, text) as ``HEADING`` gives them, three times faster: its lazy ``(.*?)`` retries
    the optional closing ``#``s at every character. The text ends before trailing spaces and
    tabs, and before a closing run of ``#`` if spaces or tabs come before that run."""
    match = _HEADING_START.match(line)
    if match is None:
        return None
    text = match.group(2).rstrip(" \t")
    bare = text.rstrip("#")
    if bare != text and bare != bare.rstrip(" \t"):
        text = bare.rstrip(" \t")
    return len(match.group(1)), text


def fence_open(line: str) -> str | None:
    """The fence (``` or ~~~, as long as written) if this line opens a fenced code block."""
    match = _FENCE_OPEN.match(line) if line.startswith(("`", "~")) else None
    return match.group(1) if match else None


def fence_close(lines: list[str], start: int, fence: str) -> int | None:
    """The index of the line closing a block opened with ``fence``, or None if none does."""
    for j in range(start, len(lines)):
        if lines[j].startswith(fence) and not lines[j][len(fence) :].strip(" "):
            return j
    return None


def split_settings(
    path: str,
    lines: list[str],
    start: int,
    end: int,
    own: tuple[str, ...],
    other: tuple[str, ...],
    errors: list[ContentError],
) -> tuple[dict[str, tuple[str, int]], int]:
    """Read ``Name: value`` lines at the top of a section; return them and where the text starts."""
    settings: dict[str, tuple[str, int]] = {}
    i = start
    while i < end:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        match = _SETTING.match(line)
        if match is None:
            break
        name = match.group(1).lower()
        if name in own:
            if name in settings:
                errors.append(ContentError(path, i + 1, f"`{match.group(1)}:` is given twice"))
            settings[name] = (match.group(2), i + 1)
        elif name in other:
            where = "a node (## heading)" if name in ("objective", "ending") else "a choice (### heading)"
            errors.append(ContentError(path, i + 1, f"`{match.group(1)}:` belongs right under {where}"))
        else:
            break
        i += 1
    return settings, i


#: What a setting's value looks like, by setting: a line in a section's text that reads like
#: one of these is a setting the trainer meant, not prose ("Correct: verify first." is prose).
_SETTING_VALUES = {
    "points": re.compile(r"^[+-]?\d+$"),
    "correct": re.compile(r"^(?:yes|no|partly|true|false)$", re.IGNORECASE),
    "critical": re.compile(r"^(?:yes|no|true|false)$", re.IGNORECASE),
    "recoverable": re.compile(r"^(?:yes|no|true|false)$", re.IGNORECASE),
    "objective": re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$"),
    "ending": re.compile(r"^\S"),
}


def late_settings(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    """(index, name as written) of each line in ``lines[start:end]``, a section's text, that is
    a setting line (``Points: 2``) outside code: ``split_settings`` stops at the first line of
    text, so one written below it is shown to learners as text and sets nothing."""
    found: list[tuple[int, str]] = []
    never_closed: set[str] = set()  # as in find_headings
    i = start
    while i < end:
        line = lines[i]
        fence = fence_open(line)
        close = fence_close(lines, i + 1, fence) if fence and fence not in never_closed else None
        if fence and close is None:
            never_closed.add(fence)
        if close is not None and close < end:
            i = close + 1
            continue
        match = _SETTING.match(line) if ":" in line else None
        if match:
            pattern = _SETTING_VALUES.get(match.group(1).lower())
            if pattern is not None and pattern.match(match.group(2)):
                found.append((i, match.group(1)))
        i += 1
    return found

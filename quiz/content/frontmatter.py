"""Front matter: split it off, load the YAML, and know which file line every field is on.

Errors must point at the line an author has to fix. The YAML is therefore composed into nodes
first (nodes carry positions) and only then turned into Python values, which also lets us catch
duplicate keys that PyYAML would otherwise silently overwrite.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..words import ngettext
from .model import ContentError

#: Module, scenario, node and objective ids.
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ID_HINT = "lowercase letters, digits and hyphens, e.g. `verify-identity`"

_DELIMITER = re.compile(r"^---[ \t]*$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

Key = tuple[object, ...]


def split_lines(text: str) -> list[str]:
    """The file's lines as an editor numbers them (index 0 is line 1), without line endings."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return _LINE_BREAK.split(text) if "\r" in text else text.split("\n")  # same, faster


def front_matter_bounds(lines: list[str]) -> tuple[int, int] | None:
    """(first, closing) 0-based indexes of the two ``---`` lines, or None if there are not two."""
    if not lines or not _DELIMITER.match(lines[0]):
        return None
    for i in range(1, len(lines)):
        if _DELIMITER.match(lines[i]):
            return 0, i
    return None


def has_top_level_key(text: str, *keys: str) -> bool:
    """Cheap look at the front matter (no YAML): does any line start with one of ``keys``?"""
    lines = split_lines(text)
    bounds = front_matter_bounds(lines)
    if bounds is None:
        return False
    pattern = re.compile(r"^(?:" + "|".join(re.escape(k) for k in keys) + r")[ \t]*:")
    return any(pattern.match(line) for line in lines[1 : bounds[1]])


def sniff_value(text: str, key: str) -> str | None:
    """A top-level ``key: value`` read without YAML, to name a file that did not parse."""
    lines = split_lines(text)
    bounds = front_matter_bounds(lines)
    pattern = re.compile("^" + re.escape(key) + r"[ \t]*:[ \t]*([^#\s]+)")
    for line in lines[1 : bounds[1]] if bounds else []:
        match = pattern.match(line)
        if match:
            return match.group(1).strip("'\"")
    return None


@dataclass
class FrontMatter:
    """Loaded front matter: values, the 1-based file line of each field, and where it ends."""

    data: dict[Any, Any]
    lines: dict[Key, int] = field(default_factory=dict)
    end: int = 1  # 1-based line of the closing ``---``

    def line(self, *key: object) -> int:
        """Line of ``key`` (e.g. ``("roles", 2)``), else of its nearest parent, else line 1."""
        for n in range(len(key), 0, -1):
            found = self.lines.get(tuple(key[:n]))
            if found is not None:
                return found
        return 1


def read_front_matter(path: str, lines: list[str]) -> tuple[FrontMatter | None, list[ContentError]]:
    """Load the front matter of a file already split into lines."""
    bounds = front_matter_bounds(lines)
    if bounds is None:
        if lines and _DELIMITER.match(lines[0]):
            return None, [ContentError(path, 1, "front matter has no closing `---` line")]
        return None, [ContentError(path, 1, "missing front matter: the file must start with a `---` line")]
    end = bounds[1]
    source = "\n".join(lines[1:end]) + "\n"
    loader = _Loader(source)
    try:
        node = loader.get_single_node()
        positions: dict[Key, int] = {}
        errors: list[ContentError] = []
        if node is not None:
            _record_positions(path, node, (), positions, errors)
        if errors:
            return None, errors
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        index, message = explain_yaml_error(lines, end, exc)
        return None, [ContentError(path, index + 1, message)]
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        return None, [
            ContentError(path, 2, f"the front matter cannot be read ({exc}): check its quotes, colons and indentation")
        ]
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [ContentError(path, 2, "front matter must be `field: value` lines")]
    return FrontMatter(data, positions, end + 1), []


# ------------------------------------------------------------------------- YAML, explained
#
# PyYAML's own words ("while parsing a block mapping did not find expected key") name neither
# the slip nor the fix, and its line is often the one after the slip. These rules look at the
# front matter's lines around where it stopped for the slips trainers make, most likely first.

TAB_INDENT = "YAML does not allow tabs for indentation: use spaces"
_TAB_INDENT = re.compile(r"^ *\t")
#: ``  - key: value``: indentation, an optional list dash, an optional key (a word, or words
#: for a mapping written by mistake inside text), the value.
_YAML_LINE = re.compile(
    r"^(?P<indent> *)(?P<dash>-(?: +|$))?(?:(?P<key>[A-Za-z0-9_][\w .()-]*?) *:(?: +|$))?(?P<value>.*?)\s*$"
)
#: ``title:Callers``: a field name and its value with no space between (not a web address).
_NO_SPACE = re.compile(r"^ *(?:- +)?([A-Za-z_][\w-]*):(?!//)(\S.*?)\s*$")
#: Characters that YAML reads as syntax at the start of a value.
_SPECIAL_START = "@`%*&!|>{["


@dataclass(frozen=True)
class _Line:
    index: int
    indent: int
    dash: bool
    key: str | None
    value: str

    @property
    def name(self) -> str:
        return f"`{self.key}`" if self.key else "the list item" if self.dash else "the line"

    @property
    def what(self) -> str:
        """How a fix names the value: "title", "item"."""
        return self.key if self.key else "item" if self.dash else "value"


def _read_line(lines: list[str], index: int) -> _Line:
    match = _YAML_LINE.match(lines[index])
    assert match is not None  # every group is optional
    return _Line(index, len(match.group("indent")), bool(match.group("dash")), match.group("key"), match.group("value"))


def _content_lines(lines: list[str], start: int, stop: int) -> list[int]:
    return [i for i in range(start, stop) if lines[i].strip() and not lines[i].lstrip().startswith("#")]


def _quoted(text: str) -> str:
    """``text`` as a YAML value in quotes: double ones unless it holds some."""
    if '"' not in text and "\\" not in text:
        return f'"{text}"'
    return "'" + text.replace("'", "''") + "'"


def _quotes_fix(line: _Line, text: str) -> str:
    quoted = _quoted(text)
    written = f"{line.key}: {quoted}" if line.key else f"- {quoted}" if line.dash else quoted
    kind = "double" if quoted.startswith('"') else "single"
    twice = ", each ' inside written twice" if kind == "single" and "'" in text else ""
    return f"put the whole {line.what} in {kind} quotes{twice}: `{written}`"


def _closing_quote(value: str) -> int | None:
    """Where the quoted text that starts ``value`` ends, or None if it does not on this line."""
    quote = value[0]
    i = 1
    while i < len(value):
        if quote == '"' and value[i] == "\\":
            i += 2
            continue
        if value[i] == quote:
            if quote == "'" and value[i + 1 : i + 2] == "'":  # '' is one ' inside single quotes
                i += 2
                continue
            return i
        i += 1
    return None


def _quote_slip(line: _Line) -> str | None:
    value = line.value
    if not value or value[0] not in "\"'":
        return None
    close = _closing_quote(value)
    if close is None:
        return (
            f"{line.name} starts with a quote mark that is not closed on this line: end it with {value[0]}, "
            f"or {_quotes_fix(line, value[1:])}"
        )
    rest = value[close + 1 :].strip()
    if not rest or rest.startswith("#"):
        return None
    text = value[1:-1] if len(value) > 1 and value[-1] == value[0] else value
    return (
        f"{line.name} starts with a quote mark, so it ends at the next one and the rest of the line cannot be "
        f"read: {_quotes_fix(line, text)}"
    )


def _colon_slip(line: _Line) -> str | None:
    value = line.value
    if not value or value[0] in "\"'[{" or not (": " in value or value.endswith(":")):
        return None
    return f"a colon followed by a space inside a value ends it: {_quotes_fix(line, value)}"


def _start_slip(line: _Line) -> str | None:
    value = line.value
    if not value or value[0] not in _SPECIAL_START:
        return None
    if value[0] in "[{":
        close = "]" if value[0] == "[" else "}"
        if value.rstrip().endswith(close):
            return None
        kind = "a list" if value[0] == "[" else "a set of fields"
        return (
            f"`{value[0]}` starts {kind}, which must end with `{close}` on the same line: close it, or, if this "
            f"is text, {_quotes_fix(line, value)}"
        )
    if value[0] in "|>" and re.fullmatch(r"[|>][+-]?[0-9]?", value):
        return None  # text on the lines below
    character = "a backtick (`)" if value[0] == "`" else f"`{value[0]}`"
    return f"a value cannot start with {character}: {_quotes_fix(line, value)}"


def _indent_slip(lines: list[str], first: int, line: _Line) -> tuple[int, str] | None:
    before = _content_lines(lines, first, line.index)
    if not before:
        return None
    top = _read_line(lines, before[0])
    if top.indent > 0:
        return top.index, f"the fields start at the beginning of the line: remove the spaces before {top.name}"
    above = _read_line(lines, before[-1])
    if line.indent > above.indent:
        if not above.key or not above.value or re.fullmatch(r"[|>][+-]?[0-9]?", above.value):
            return None  # the line is indented under a field that has lines below it: not the slip
        if line.key and " " in line.key:  # words, not a field: a colon in text that goes on
            return (
                above.index,
                f"a colon followed by a space inside a value ends it: put the whole {above.what} in double quotes",
            )
        return line.index, (
            f"{line.name} is indented under `{above.key}`, which already has a value on its own line: "
            f"line it up with `{above.key}`"
        )
    levels = [above]  # the lines whose indentation is still open at this point
    for index in reversed(before[:-1]):
        earlier = _read_line(lines, index)
        if earlier.indent < levels[-1].indent:
            levels.append(earlier)
    if any(level.indent == line.indent for level in levels):
        return None
    return line.index, (
        ngettext(
            "%(name)s is indented %(num)d space, but %(above)s above ",
            "%(name)s is indented %(num)d spaces, but %(above)s above ",
            line.indent,
            name=line.name,
            above=above.name,
        )
        + f"it is indented {above.indent}: what is at one level must start in the same column; line them up"
    )


def explain_yaml_error(lines: list[str], end: int, exc: yaml.MarkedYAMLError) -> tuple[int, str]:
    """(0-based index into ``lines``, message) for YAML that did not load: the front matter is
    ``lines[1:end]``. The slip and its fix in plain words where one is recognized; PyYAML's
    own words, reworded, where none is."""
    first = 1
    for i in range(first, end):
        if _TAB_INDENT.match(lines[i]) and lines[i].strip():
            return i, TAB_INDENT
    mark = exc.problem_mark or exc.context_mark
    at = min(max(first + (mark.line if mark is not None else 0), first), end - 1)
    # Where a quoted value or a [list] runs on, YAML stops later than the line that opened it.
    context = first + exc.context_mark.line if exc.context_mark is not None else at
    candidates = [at] if context >= at else [at, context]
    if exc.context and ("quoted scalar" in exc.context or "flow" in exc.context):
        candidates = [min(context, end - 1), at]
    for index in dict.fromkeys(candidates):
        if not lines[index].strip():
            continue
        line = _read_line(lines, index)
        for slip in (_quote_slip, _colon_slip, _start_slip):
            message = slip(line)
            if message:
                return index, message
    for index in _content_lines(lines, first, at):  # a quote opened above and never closed
        line = _read_line(lines, index)
        if line.value[:1] in ('"', "'") and _closing_quote(line.value) is None:
            return index, _quote_slip(line) or ""
    if lines[at].strip():
        found = _indent_slip(lines, first, _read_line(lines, at))
        if found:
            return found
    for index in reversed(_content_lines(lines, first, at + 1)[-2:]):  # `title:x`, read as text
        squeezed = _NO_SPACE.match(lines[index])
        if squeezed:
            return index, f"put a space after the colon: `{squeezed.group(1)}: {squeezed.group(2)}`"
    problem = exc.problem or exc.context or "it is not `field: value` lines"
    return at, (
        f"the front matter cannot be read from here (YAML says: {problem}): check the quotes, colons and "
        "indentation of this line and the one above"
    )


def read_yaml_document(path: str, text: str) -> tuple[FrontMatter | None, list[ContentError]]:
    """A whole YAML file (e.g. content/curricula.yml) with the file line of every field."""
    lines = ["---", *split_lines(text), "---"]
    fm, errors = read_front_matter(path, lines)
    shift = lambda e: ContentError(e.path, max(1, e.line - 1), e.message)  # noqa: E731
    if fm is None:
        return None, [shift(e) for e in errors]
    fm.lines = {key: line - 1 for key, line in fm.lines.items()}
    return fm, []


def _record_positions(
    path: str,
    node: yaml.Node,
    prefix: Key,
    out: dict[Key, int],
    errors: list[ContentError],
    visited: set[int] | None = None,
) -> None:
    """Record field lines; each node is walked once, so YAML aliases cannot make this explode."""
    visited = set() if visited is None else visited
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            line = key_node.start_mark.line + 2
            if key in seen:
                name = ".".join(str(k) for k in prefix + (key,))
                errors.append(ContentError(path, line, f"`{name}` is given twice"))
            seen.add(key)
            out[prefix + (key,)] = line
            _record_positions(path, value_node, prefix + (key,), out, errors, visited)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[prefix + (i,)] = item.start_mark.line + 2
            _record_positions(path, item, prefix + (i,), out, errors, visited)


def field_line(text: str, *key: object) -> int:
    """Line of a front-matter field in a source text that is known to parse (for later checks)."""
    fm, _ = read_front_matter("", split_lines(text))
    return fm.line(*key) if fm is not None else 1


#: LibYAML's C loader when PyYAML was built with it (about ten times faster), else pure Python.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Fields:
    """Typed access to front-matter fields that records an error, at the right line, on misuse."""

    def __init__(self, path: str, fm: FrontMatter) -> None:
        self.path = path
        self.fm = fm
        self.errors: list[ContentError] = []

    def error(self, message: str, *key: object) -> None:
        self.errors.append(ContentError(self.path, self.fm.line(*key), message))

    def unknown(self, allowed: tuple[str, ...]) -> None:
        for key in self.fm.data:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f"; did you mean `{hint[0]}`?" if hint else f"; known fields: {', '.join(allowed)}"
                self.error(f"unknown field `{key}`{extra}", key)

    def raw(self, key: str, required: bool) -> Any:
        """The value as YAML gave it; records "missing"/"empty" if ``required`` and absent."""
        value = self.fm.data.get(key)
        if value is None and required:
            if key in self.fm.data:
                self.error(f"`{key}` is empty", key)
            else:
                self.errors.append(ContentError(self.path, 1, f"missing required field `{key}`"))
        return value

    def text(self, key: str, required: bool = True) -> str | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(f"`{key}` must be text", key)
            return None
        return value.strip()

    def ident(self, key: str, required: bool = True) -> str | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or not ID_RE.match(value):
            self.error(f"`{key}` must be an id: {ID_HINT}", key)
            return None
        return value

    def whole_number(self, key: str, low: int, high: int | None = None) -> int | None:
        value = self.raw(key, True)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            limits = f"from {low} to {high}" if high is not None else f"{low} or more"
            self.error(f"`{key}` must be a whole number {limits}", key)
            return None
        return value

    def text_list(self, key: str, required: bool = True) -> tuple[str, ...] | None:
        """A list of text; ``required`` also means at least one item."""
        value = self.raw(key, required)
        if value is None:
            return None if required else ()
        if not isinstance(value, list):
            self.error(f"`{key}` must be a list, e.g. `{key}: [a, b]`", key)
            return None
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.error(f"`{key}` item {i + 1} must be text", key, i)
                ok = False
        if required and not value:
            self.error(f"`{key}` needs at least one item", key)
            ok = False
        return tuple(v.strip() for v in value) if ok else None

    def choice_list(self, key: str, allowed: tuple[str, ...], what: str, required: bool) -> tuple[str, ...] | None:
        """A list whose items must come from ``allowed`` (job roles, specialties)."""
        items = self.text_list(key, required)
        if items is None:
            return None
        ok = True
        for i, item in enumerate(items):
            if item not in allowed:
                self.error(f"unknown {what} `{item}`; use one of: {', '.join(allowed)}", key, i)
                ok = False
        return items if ok else None

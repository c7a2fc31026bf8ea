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
    pattern = re.compile(r"^(?:%s)[ \t]*:" % "|".join(re.escape(k) for k in keys))
    return any(pattern.match(line) for line in lines[1 : bounds[1]])


def sniff_value(text: str, key: str) -> str | None:
    """A top-level ``key: value`` read without YAML, to name a file that did not parse."""
    lines = split_lines(text)
    bounds = front_matter_bounds(lines)
    pattern = re.compile(r"^%s[ \t]*:[ \t]*([^#\s]+)" % re.escape(key))
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
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark is not None else 2
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        return None, [ContentError(path, line, f"YAML error: {problem}")]
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        return None, [ContentError(path, 2, f"YAML error: {exc}")]
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [ContentError(path, 2, "front matter must be `field: value` lines")]
    return FrontMatter(data, positions, end + 1), []


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
    path: str, node: yaml.Node, prefix: Key, out: dict[Key, int], errors: list[ContentError],
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
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (
            high is not None and value > high
        ):
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

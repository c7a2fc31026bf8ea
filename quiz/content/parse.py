"""Turn one module or scenario file into model objects, or into errors with file lines.

Only what a single file can tell is checked here (syntax, field types, setting values). Graph
and cross-file rules live in ``validate.py``. A file with any error yields no object at all, so a
half-understood file can never reach learners. The one exception is text that would not reach
learners as written (``lint.py``: an image, a link with no words, stripped HTML): the object is
built and returned beside those errors, because a stored version learners already took must
still open (``parse_stored``); the library leaves such a file out of what it serves. A setting
line written below text (shown as text, setting nothing) and a critical choice with no feedback
are errors of that kind too, and so is text that would take the renderer too long
(``bounds.py``: it is not rendered).

Each piece of Markdown (a lesson screen, a node's text, a choice's feedback) is rendered as it
is read (``render.py``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from . import bounds, lint
from .blocks import HEADING, Heading, find_headings, late_settings, split_settings
from .frontmatter import ID_HINT, ID_RE, Fields, front_matter_bounds, read_front_matter, split_lines
from .model import (
    JOB_ROLES,
    MODULE_KINDS,
    SPECIALTIES,
    TOPICS,
    US_STATES,
    Choice,
    ContentError,
    Module,
    Node,
    Scenario,
    Screen,
)
from .render import render_markdown

MODULE_FIELDS = (
    "id",
    "title",
    "roles",
    "specialties",
    "minutes",
    "objectives",
    "cites",
    "policy",
    "pass_score",
    "scenarios",
    "acknowledgement",
    "kind",
    "topics",
    "states",
)
SCENARIO_FIELDS = ("id", "title", "specialty", "start", "cites")

_NODE_ID = re.compile(r"^(.*?)[ \t]*\{#([^}]*)\}$")
_ARROW = re.compile(r"->|→")
_INTEGER = re.compile(r"^[+-]?\d+$")
_YES = {"yes", "true"}
_NO = {"no", "false"}
_NODE_SETTINGS = ("objective", "ending")
_CHOICE_SETTINGS = ("points", "correct", "critical", "recoverable")
_MANAGER_NOTES = "manager notes"


def version_of(text: str) -> str:
    """The version id evidence records: sha256 of the exact file text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def slugify(title: str) -> str:
    """Node id from a title: lowercase, spaces to hyphens, other punctuation dropped."""
    slug = re.sub(r"[^a-z0-9 \t-]", "", title.lower())
    slug = re.sub(r"[\s-]+", "-", slug)
    return slug.strip("-")


class _Texts:
    """The Markdown of one file, rendered a piece at a time, and what of it would not reach
    learners as written."""

    def __init__(self, path: str, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        #: What of the text would not reach learners as written (lint.py): authoring errors.
        self.problems: list[ContentError] = []

    def html(self, start: int, end: int) -> str:
        """Lines ``start:end`` rendered and sanitized, their problems noted. Text that would take
        the renderer too long (``bounds.py``) is not rendered, nor looked at further: its
        problems are noted and it stays empty."""
        costly = bounds.problems(self.lines, start, end)
        if costly:
            self.problems.extend(ContentError(self.path, line, message) for line, message in costly)
            return ""
        self.problems.extend(
            ContentError(self.path, line, message) for line, message in lint.problems(self.lines, start, end)
        )
        return render_markdown("\n".join(self.lines[start:end]))

    def problem(self, line: int, message: str) -> None:
        """Note something learners would not get as the trainer meant it (an authoring error)."""
        self.problems.append(ContentError(self.path, line, message))


def _yes_no(path: str, name: str, setting: tuple[str, int] | None, default: bool, errors: list[ContentError]) -> bool:
    if setting is None:
        return default
    value, line = setting
    if value.lower() in _YES:
        return True
    if value.lower() in _NO:
        return False
    allowed = "yes, partly or no" if name == "Correct" else "yes or no"
    errors.append(ContentError(path, line, f"`{name}:` must be {allowed}, got `{value}`"))
    return default


def _with_body_errors(path: str, lines: list[str], errors: list[ContentError], body_of) -> list[ContentError]:
    """The front matter's errors, and when it has its closing ``---`` the body's too (read by
    ``body_of``: ``_screens`` or ``_nodes``), so a slip in the front matter does not hide the
    ones further down the file."""
    bounds = front_matter_bounds(lines)
    if bounds is None:
        return errors
    found: list[ContentError] = []
    texts = _Texts(path, lines)
    body_of(path, lines, bounds[1] + 1, found, texts)
    return sorted(dict.fromkeys(errors + found + texts.problems), key=lambda e: e.line)


# ---------------------------------------------------------------------------------- modules


def parse_module(path: str, text: str) -> tuple[Module | None, list[ContentError]]:
    """Parse a module file; (None, errors) if anything is wrong; (module, authoring errors) if
    only its text would not reach learners as written (see the module docstring)."""
    lines = split_lines(text)
    fm, errors = read_front_matter(path, lines)
    if fm is None:
        return None, _with_body_errors(path, lines, errors, _screens)
    f = Fields(path, fm)
    f.unknown(MODULE_FIELDS)
    module_id = f.ident("id")
    title = f.text("title")
    roles = f.choice_list("roles", JOB_ROLES, "job role", required=True)
    specialties = f.choice_list("specialties", SPECIALTIES, "specialty", required=False)
    minutes = f.whole_number("minutes", 1, 60)
    objectives = _objectives(f)
    cites = f.text_list("cites")
    policy = _policy(f)
    pass_score = f.whole_number("pass_score", 0)
    scenario_ids = _scenario_ids(f)
    acknowledgement = f.text("acknowledgement")
    kind = f.text("kind", required=False) or "onboarding"
    if kind not in MODULE_KINDS:
        f.error(f"`kind` must be one of: {', '.join(MODULE_KINDS)}", "kind")
    topics = f.choice_list("topics", tuple(TOPICS), "topic", required=False)
    states = f.choice_list("states", US_STATES, "state (two-letter code)", required=False)
    errors = f.errors

    texts = _Texts(path, lines)
    screens, notes = _screens(path, lines, fm.end, errors, texts)
    if errors:
        return None, sorted(errors + texts.problems, key=lambda e: e.line)
    assert module_id and title and roles is not None and specialties is not None and minutes
    assert objectives and cites and policy and pass_score is not None and scenario_ids
    assert acknowledgement
    return Module(
        id=module_id,
        title=title,
        roles=roles,
        specialties=specialties,
        minutes=minutes,
        objectives=objectives,
        cites=cites,
        policy_name=policy[0],
        policy_version=policy[1],
        pass_score=pass_score,
        scenario_ids=scenario_ids,
        acknowledgement=acknowledgement,
        screens=tuple(screens),
        manager_notes_html="\n".join(notes),
        path=path,
        version=version_of(text),
        source=text,
        kind=kind,
        topics=topics or (),
        states=states or (),
    ), texts.problems


def _objectives(f: Fields) -> dict[str, str] | None:
    value = f.fm.data.get("objectives")
    if value is None:
        f.raw("objectives", True)
        return None
    if not isinstance(value, dict) or not value:
        f.error("`objectives` must map objective ids to text, e.g. `verify-identity: Check who...`", "objectives")
        return None
    result: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(key, str) or not ID_RE.match(key):
            f.error(f"objective id `{key}` must be {ID_HINT}", "objectives", key)
        elif not isinstance(text, str) or not text.strip():
            f.error(f"objective `{key}` needs a description", "objectives", key)
        else:
            result[key] = text.strip()
    return result if len(result) == len(value) else None


def _policy(f: Fields) -> tuple[str, str] | None:
    value = f.fm.data.get("policy")
    if value is None:
        f.raw("policy", True)
        return None
    if not isinstance(value, dict):
        f.error("`policy` must have `name:` and `version:` lines under it", "policy")
        return None
    ok = True
    for key in value:
        if key not in ("name", "version"):
            f.error(f"unknown field `policy.{key}`; a policy has only `name` and `version`", "policy", key)
            ok = False
    parts: list[str] = []
    for key in ("name", "version"):
        item = value.get(key)
        if item is None:
            f.error(f"`policy` needs a `{key}`", "policy", key)
            ok = False
        elif not isinstance(item, str) or not item.strip():
            hint = ' (quote it, e.g. `version: "2.1"`, so YAML keeps it text)' if key == "version" else ""
            f.error(f"`policy.{key}` must be text{hint}", "policy", key)
            ok = False
        else:
            parts.append(item.strip())
    return (parts[0], parts[1]) if ok else None


def _scenario_ids(f: Fields) -> tuple[str, ...] | None:
    items = f.text_list("scenarios")
    if items is None:
        return None
    ok = True
    for i, item in enumerate(items):
        if not ID_RE.match(item):
            f.error(f"scenario id `{item}` must be {ID_HINT}", "scenarios", i)
            ok = False
        elif item in items[:i]:
            f.error(f"scenario `{item}` is listed twice", "scenarios", i)
            ok = False
    return items if ok else None


def _screens(
    path: str, lines: list[str], body: int, errors: list[ContentError], texts: _Texts
) -> tuple[list[Screen], list[str]]:
    """Lesson screens (one per ``##``) and the manager notes' HTML."""
    sections = [h for h in find_headings(lines, body) if h.level == 2]
    screens: list[Screen] = []
    notes: list[str] = []
    first = sections[0].index if sections else len(lines)
    intro = _drop_title(lines, body, first)
    if intro is not None and any(line.strip() for line in lines[intro:first]):
        screens.append(Screen("", texts.html(intro, first)))
    for n, heading in enumerate(sections):
        end = sections[n + 1].index if n + 1 < len(sections) else len(lines)
        if heading.text.lower() == _MANAGER_NOTES:
            notes.append(texts.html(heading.index + 1, end))
        elif not heading.text:
            errors.append(ContentError(path, heading.line, "a screen heading (`## ...`) needs a title"))
        else:
            screens.append(Screen(heading.text, texts.html(heading.index + 1, end)))
    if not screens:
        errors.append(ContentError(path, body, "the module has no lesson text: add `## ` screens"))
    return screens, notes


def _drop_title(lines: list[str], start: int, end: int) -> int | None:
    """Index after an optional leading ``# Title`` line (it is for people reading the file)."""
    for i in range(start, end):
        if lines[i].strip():
            match = HEADING.match(lines[i])
            return i + 1 if match and len(match.group(1)) == 1 else i
    return None


# -------------------------------------------------------------------------------- scenarios


def parse_scenario(path: str, text: str) -> tuple[Scenario | None, list[ContentError]]:
    """Parse a scenario file; (None, errors) if anything is wrong; (scenario, authoring errors) if
    only its text would not reach learners as written (see the module docstring)."""
    lines = split_lines(text)
    fm, errors = read_front_matter(path, lines)
    if fm is None:
        return None, _with_body_errors(path, lines, errors, _nodes)
    f = Fields(path, fm)
    f.unknown(SCENARIO_FIELDS)
    scenario_id = f.ident("id")
    title = f.text("title")
    specialty = f.text("specialty", required=False)
    if specialty is not None and specialty not in SPECIALTIES:
        f.error(f"unknown specialty `{specialty}`; use one of: {', '.join(SPECIALTIES)}", "specialty")
    start = f.ident("start", required=False)
    cites = f.text_list("cites", required=False)
    errors = f.errors

    texts = _Texts(path, lines)
    nodes = _nodes(path, lines, fm.end, errors, texts)
    if errors:
        return None, sorted(errors + texts.problems, key=lambda e: e.line)
    assert scenario_id and title and cites is not None
    return Scenario(
        id=scenario_id,
        title=title,
        specialty=specialty,
        start=start or next(iter(nodes)),
        nodes=nodes,
        cites=cites,
        path=path,
        version=version_of(text),
        source=text,
    ), texts.problems


def _nodes(path: str, lines: list[str], body: int, errors: list[ContentError], texts: _Texts) -> dict[str, Node]:
    """Each node by its id, in file order."""
    headings = find_headings(lines, body)
    node_heads = [h for h in headings if h.level == 2]
    first = node_heads[0].index if node_heads else len(lines)
    _check_preamble(path, lines, body, first, headings, errors)
    nodes: dict[str, Node] = {}
    lines_of: dict[str, int] = {}
    for n, heading in enumerate(node_heads):
        end = node_heads[n + 1].index if n + 1 < len(node_heads) else len(lines)
        choice_heads = [h for h in headings if h.level == 3 and heading.index < h.index < end]
        node = _node(path, lines, heading, end, choice_heads, errors, texts)
        if node is None:
            continue
        if node.id in nodes:
            errors.append(
                ContentError(path, heading.line, f"node id `{node.id}` is already used at line {lines_of[node.id]}")
            )
        else:
            nodes[node.id] = node
            lines_of[node.id] = heading.line
    if not node_heads:
        errors.append(ContentError(path, body, "the scenario has no nodes: add `## Title {#node-id}` sections"))
    return nodes


def _check_preamble(
    path: str,
    lines: list[str],
    body: int,
    first: int,
    headings: list[Heading],
    errors: list[ContentError],
) -> None:
    """Only a ``# Title`` may come before the first node; anything else would never be shown."""
    for h in headings:
        if h.index < first and h.level == 3:
            errors.append(ContentError(path, h.line, "a choice (`###`) must come under a node (`##`)"))
            return
    start = _drop_title(lines, body, first)
    for i in range(start if start is not None else first, first):
        if lines[i].strip():
            errors.append(
                ContentError(path, i + 1, "text before the first node is never shown; put it in a node (`## ...`)")
            )
            return


def _node(
    path: str,
    lines: list[str],
    heading: Heading,
    end: int,
    choice_heads: list[Heading],
    errors: list[ContentError],
    texts: _Texts,
) -> Node | None:
    title, node_id = heading.text, None
    explicit = _NODE_ID.match(heading.text)
    if explicit:
        title, node_id = explicit.group(1).strip(), explicit.group(2).strip()
        if not ID_RE.match(node_id):
            errors.append(ContentError(path, heading.line, f"node id `{node_id}` must be {ID_HINT}"))
            return None
    if not title:
        errors.append(ContentError(path, heading.line, "a node heading needs a title"))
        return None
    if node_id is None:
        node_id = slugify(title)
        if not node_id:
            errors.append(ContentError(path, heading.line, "cannot make an id from this title; add `{#node-id}`"))
            return None
    text_end = choice_heads[0].index if choice_heads else end
    settings, text_start = split_settings(
        path, lines, heading.index + 1, text_end, _NODE_SETTINGS, _CHOICE_SETTINGS, errors
    )
    objective: str | None = None
    outcome: str | None = None
    if "objective" in settings:
        objective, line = settings["objective"]
        if not ID_RE.match(objective):
            errors.append(ContentError(path, line, f"objective `{objective}` must be {ID_HINT}"))
    if "ending" in settings:
        outcome, line = settings["ending"]
        if not outcome:
            errors.append(ContentError(path, line, "`Ending:` needs an outcome, e.g. `Ending: Records protected`"))
    _late_settings(lines, text_start, text_end, "node", texts)
    body_html = texts.html(text_start, text_end)
    choices = [
        _choice(path, lines, n + 1, h, choice_heads[n + 1].index if n + 1 < len(choice_heads) else end, errors, texts)
        for n, h in enumerate(choice_heads)
    ]
    best = max((points for points, _ in choices), default=0)
    return Node(
        id=node_id,
        title=title,
        body_html=body_html,
        objective=objective or None,
        outcome=outcome,
        choices=tuple(build(best) for _, build in choices),
        line=heading.line,
    )


def _choice(
    path: str,
    lines: list[str],
    number: int,
    heading: Heading,
    end: int,
    errors: list[ContentError],
    texts: _Texts,
) -> tuple[int, Callable[[int], Choice]]:
    """The choice's points, and the builder of its Choice from the most points any choice at
    its decision gives (a correct choice worth less is partly correct)."""
    arrows = list(_ARROW.finditer(heading.text))
    label, target = heading.text, ""
    if not arrows:
        errors.append(ContentError(path, heading.line, "a choice needs `-> node-id` after what the learner does"))
    else:
        last = arrows[-1]
        label, target = heading.text[: last.start()].strip(), heading.text[last.end() :].strip()
        if not label:
            errors.append(ContentError(path, heading.line, "a choice needs text before the arrow"))
        if not ID_RE.match(target):
            errors.append(ContentError(path, heading.line, f"choice target `{target}` must be a node id: {ID_HINT}"))
    settings, text_start = split_settings(path, lines, heading.index + 1, end, _CHOICE_SETTINGS, _NODE_SETTINGS, errors)
    points = 0
    if "points" in settings:
        value, line = settings["points"]
        if _INTEGER.match(value):
            points = int(value)
        else:
            errors.append(ContentError(path, line, f"`Points:` must be a whole number, got `{value}`"))
    correct, partly = _correctness(path, settings.get("correct"), points, errors)
    critical = _yes_no(path, "Critical", settings.get("critical"), False, errors)
    recoverable = _yes_no(path, "Recoverable", settings.get("recoverable"), False, errors)
    _late_settings(lines, text_start, end, "choice", texts)
    if critical and not any(line.strip() for line in lines[text_start:end]):
        texts.problem(settings["critical"][1], NO_CRITICAL_FEEDBACK)
    feedback_html = texts.html(text_start, end)
    return points, lambda best: Choice(
        number=number,
        label=label,
        target=target,
        points=points,
        correct=correct,
        critical=critical,
        feedback_html=feedback_html,
        line=heading.line,
        partly=partly if partly is not None else correct and points < best,
        recoverable=recoverable,
    )


NO_CRITICAL_FEEDBACK = (
    "a critical choice needs feedback: under its settings, say why this choice fails the attempt "
    "(learners see it as soon as they choose)"
)


def _late_settings(lines: list[str], start: int, end: int, section: str, texts: _Texts) -> None:
    """A setting line written below the text of its node or choice: shown as text, sets nothing.
    A problem of the text (a version learners took with one still opens), not of the structure."""
    own = _NODE_SETTINGS if section == "node" else _CHOICE_SETTINGS
    for index, name in late_settings(lines, start, end):
        if name.lower() in own:
            heading = "`##` heading of the node" if section == "node" else "`###` heading of the choice"
            message = (
                f"`{name}:` comes after text, so learners would see it and it does nothing: move it right under "
                f"the {heading}"
            )
        else:
            where = "a node (## heading)" if name.lower() in _NODE_SETTINGS else "a choice (### heading)"
            message = (
                f"`{name}:` belongs right under {where}; here it comes after text, so learners would see it and "
                "it does nothing"
            )
        texts.problem(index + 1, message)


def _correctness(
    path: str, setting: tuple[str, int] | None, points: int, errors: list[ContentError]
) -> tuple[bool, bool | None]:
    """(correct, partly) from ``Correct: yes | partly | no``. Without the line, a choice with
    Points above 0 is correct, and partly so when another choice at its decision has more
    points (None here: the choice's builder decides, given the best points at its decision)."""
    if setting is None:
        return points > 0, None
    if setting[0].lower() == "partly":
        return True, True
    return _yes_no(path, "Correct", setting, points > 0, errors), False

"""House standards: what every lesson and check is held to beyond loading without errors.

An error keeps a file from learners (``parse.py``, ``validate.py``); a file below one of these
standards is still served, but ``content check`` fails on it (exit 1) and the Content page lists
it, by file and line, with the fix. They are the rules the shipped content is tested against
that any one trainer's file needs too, so a file that passes ``content check`` passes those
tests. What is about the library as a whole (every topic covered, each role's track) stays in
the tests (tests/test_curriculum.py).

Each file's findings depend on its text alone and are kept by version, so a library rebuilt
after one edit only checks the edited file again.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import textstat

from ..words import ngettext
from . import spelling
from .blocks import find_headings
from .coverage import FRONTLINE_ROLES, lesson_text
from .frontmatter import front_matter_bounds, split_lines
from .model import ContentError, Library, Module, Scenario, Screen, error_order

#: The reading level (Flesch-Kincaid US school grade) frontline lessons must not exceed.
MAX_GRADE = 8.0
#: Decision points every scenario needs on the way to its endings.
MIN_DECISIONS = 3
#: What a module's text says somewhere (lesson or notes), in any capitalisation.
NOT_LEGAL_ADVICE = "not legal advice"

#: The three parts of a module's manager notes, each as (words the notes hold in any
#: capitalisation, the message when they do not).
MANAGER_NOTES_PARTS = (
    (
        "talking points",
        "the manager notes have no talking points: add **Talking points** and a short list for a team huddle",
    ),
    (
        "follow-up question",
        "the manager notes have no follow-up question: add **Follow-up question:** and one question to ask the team",
    ),
    ("escalate", "the manager notes do not say when to escalate: add **When to escalate:** and to whom"),
)
NO_MANAGER_NOTES = (
    "the module has no `## Manager notes`: add them at the end, with **Talking points**, **Follow-up question:** "
    "and **When to escalate:**"
)
NO_LEGAL_NOTE = (
    "the module does not say it is not legal advice: add a line to the lesson such as *This module is training, "
    "not legal advice. When you are unsure, ask your supervisor or the privacy officer.*"
)
NO_CRITICAL_CHOICE = (
    "no choice in this scenario is critical: mark the choice that would cause real harm with `Critical: yes`, "
    "and say in its feedback why"
)

_found: dict[tuple[str, str], tuple[tuple[int, str], ...]] = {}
_found_lock = threading.Lock()


def check_library(library: Library) -> list[ContentError]:
    """Every served module and scenario checked against the standards, in ``error_order``."""
    found: list[ContentError] = []
    for module in library.modules.values():
        found.extend(_kept("module", module, module_problems))
    for scenario in library.all_scenarios():
        found.extend(_kept("scenario", scenario, scenario_problems))
    return sorted(dict.fromkeys(found), key=error_order)


def problems_of(content: Module | Scenario) -> list[ContentError]:
    """One module's or scenario's shortfalls, worked out afresh (a trial: ``try_file``)."""
    found = module_problems(content) if isinstance(content, Module) else scenario_problems(content)
    return sorted((ContentError(content.path, line, message) for line, message in found), key=error_order)


def _kept(kind: str, content, check) -> list[ContentError]:  # noqa: ANN001 - a Module or Scenario and its check
    """``check(content)`` as ContentErrors, worked out once per version of the text (the
    versions a library holds are bounded by trainers' edits, as the parse cache's are)."""
    key = (kind, content.version)
    with _found_lock:
        problems = _found.get(key)
    if problems is None:
        problems = tuple(check(content))
        with _found_lock:
            _found.setdefault(key, problems)
    return [ContentError(content.path, line, message) for line, message in problems]


# ---------------------------------------------------------------------------------- modules


def module_problems(module: Module) -> list[tuple[int, str]]:
    """(line, message) for each standard the module falls short of."""
    lines = split_lines(module.source)
    problems = _reading_level(module, lines)
    notes = _manager_notes_line(lines)
    if notes is None:
        problems.append((_last_line(lines), NO_MANAGER_NOTES))
    else:
        text = module.manager_notes_html.lower()
        problems.extend((notes, message) for words, message in MANAGER_NOTES_PARTS if words not in text)
    if NOT_LEGAL_ADVICE not in module.source.lower():
        problems.append((_screen_lines(module, lines)[0], NO_LEGAL_NOTE))
    return problems + _spelling(lines)


def _spelling(lines: list[str]) -> list[tuple[int, str]]:
    """US English: each British spelling, at its line (spelling.british)."""
    return [
        (n, f"`{word}` is British spelling; Rounds is written in US English: write `{us}`")
        for n, line in enumerate(lines, start=1)
        for word, us in spelling.british(line)
    ]


def grade(text: str) -> float:
    """The Flesch-Kincaid US school grade of plain text (textstat, as the tests always used)."""
    return textstat.flesch_kincaid_grade(text)


def _reading_level(module: Module, lines: list[str]) -> list[tuple[int, str]]:
    frontline = [role for role in module.roles if role in FRONTLINE_ROLES]
    if not frontline:
        return []
    level = grade(lesson_text(module))
    if level <= MAX_GRADE:
        return []
    screen_lines = _screen_lines(module, lines)
    levels = [grade(lesson_text(_with_screens(module, screen))) for screen in module.screens]
    hardest = max(range(len(levels)), key=levels.__getitem__)
    title = module.screens[hardest].title
    where = f'"{title}"' if title else "the first, untitled, screen"
    return [
        (
            screen_lines[hardest],
            (
                f"the lesson reads at US school grade {level:.1f}; lessons for {', '.join(frontline)} staff must read at "
                f"grade {MAX_GRADE:.0f} or below: use shorter sentences and everyday words (the hardest screen, {where}, "
                f"reads at grade {levels[hardest]:.1f})"
            ),
        )
    ]


def _with_screens(module: Module, *screens: Screen) -> Module:
    return replace(module, screens=screens)


def _screen_lines(module: Module, lines: list[str]) -> list[int]:
    """The line of each lesson screen, as ``parse._screens`` made them: its ``##`` heading, or
    for an untitled first screen the first line of its text."""
    body = _body_start(lines)
    headings = [h for h in find_headings(lines, body) if h.level == 2]
    titled = [h.line for h in headings if h.text and h.text.lower() != "manager notes"]
    if len(module.screens) > len(titled):  # text before the first ## is a screen of its own
        first = next(
            (i + 1 for i in range(body, len(lines)) if lines[i].strip() and not lines[i].startswith("# ")), body
        )
        titled.insert(0, first)
    return titled or [body + 1]


def _manager_notes_line(lines: list[str]) -> int | None:
    for heading in find_headings(lines, _body_start(lines)):
        if heading.level == 2 and heading.text.lower() == "manager notes":
            return heading.line
    return None


def _body_start(lines: list[str]) -> int:
    bounds = front_matter_bounds(lines)
    return bounds[1] + 1 if bounds else 0


def _last_line(lines: list[str]) -> int:
    return max((i + 1 for i, line in enumerate(lines) if line.strip()), default=1)


# -------------------------------------------------------------------------------- scenarios


def scenario_problems(scenario: Scenario) -> list[tuple[int, str]]:
    """(line, message) for each standard the scenario falls short of."""
    problems: list[tuple[int, str]] = []
    decisions = [node for node in scenario.nodes.values() if not node.is_ending]
    line = scenario.start_node.line
    if len(decisions) < MIN_DECISIONS:
        count = ngettext("%(num)d decision point", "%(num)d decision points", len(decisions))
        problems.append(
            (
                line,
                (
                    f"the scenario has {count}; each needs at least {MIN_DECISIONS} on the way to its endings: add "
                    "decisions (`##` nodes with `###` choices) before the endings"
                ),
            )
        )
    if not any(choice.critical for node in decisions for choice in node.choices):
        problems.append((line, NO_CRITICAL_CHOICE))
    return problems + _spelling(split_lines(scenario.source))

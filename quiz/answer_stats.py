"""What trainers learn from the answers: for each decision of a module, over the whole
organization and per content version, how many chose each choice, how many got it right at the
first try, and whether the question tells those who know from those who do not.

Who is counted: each learner's first attempt at the module, once finished (passed or failed),
and the first answer at each decision in it (as ``insights.py`` counts first tries: later
attempts are practice). Each version of a check (a file's exact text: an edit is a new version)
is counted on its own, as its learners read it.

* **Facility** (first-try facility): the share of those attempts whose first answer at the
  decision was a choice marked ``Correct: yes``. Partly correct choices are counted apart
  (``partly``), not in the facility.
* **Discrimination index D** (upper-lower, with the module's outcome as the criterion): the
  share of attempts that passed the module whose answer was ``Correct: yes``, minus that share
  among attempts that failed. D runs from -1 to 1; above about 0.3 the question tells apart those
  who know; near 0 it does not; below 0 those who fail choose the right answer more often than
  those who pass. The same difference is given for each choice ("passers minus failers who chose
  it"). D is left out when either group is empty.

Flags: *too easy* (facility above 0.95 with at least 20 answers), *confusing* (a choice marked
not correct chosen more often than the correct ones together), *misleading* (D below 0). Under
``SMALL`` answers every figure is shown with a caution.

All of it comes from one grouped query per module (``answer_counts``), however many decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import versions
from .content import Library, Scenario
from .insights import version_label
from .models import Answer, Attempt

#: Under this many answers at a decision, its figures come with a caution.
SMALL = 20
#: A decision answered right at the first try more often than this (with SMALL answers or
#: more) is flagged too easy.
TOO_EASY = 0.95


@dataclass
class ChoiceStats:
    number: int
    label: str
    correct: str  # "yes", "partly", "no" (as marked in the file); "?" when the version is unreadable
    critical: bool
    chosen: int = 0
    by_passed: int = 0  # chosen in attempts that passed the module
    by_failed: int = 0
    discrimination: float | None = None  # share of passers who chose it minus share of failers


@dataclass
class DecisionStats:
    node_id: str
    title: str
    objective: str | None
    choices: list[ChoiceStats]
    answered: int = 0
    passed: int = 0  # answers in attempts that passed the module
    failed: int = 0
    correct: int = 0  # Correct: yes
    partly: int = 0
    facility: float | None = None
    partly_share: float | None = None
    discrimination: float | None = None
    flags: list[str] = field(default_factory=list)  # "too easy", "confusing", "misleading"

    @property
    def small(self) -> bool:
        return self.answered < SMALL


@dataclass
class VersionStats:
    scenario_id: str
    version: str  # the content version (sha256 of the file's text)
    label: str  # "Dental", "General" or "" (insights.version_label)
    specialty: str | None  # None: the general version (or one that cannot be read)
    title: str
    current: bool  # the version the library serves now
    decisions: list[DecisionStats]
    attempts: int = 0  # attempts that answered at least its first decision


def answer_counts(session: Session, module_id: str) -> list[tuple[str, str, int, bool, bool, int]]:
    """(scenario version, node id, choice number, recorded correct, passed, count): first answers
    at each decision in learners' finished first attempts at the module, grouped; one query."""
    rows = session.execute(
        select(
            Answer.scenario_version,
            Answer.node_id,
            Answer.choice_number,
            Answer.correct,
            Attempt.passed,
            func.count(),
        )
        .join(Attempt, Answer.attempt_id == Attempt.id)
        .where(
            Attempt.module_id == module_id,
            Attempt.number == 1,
            Attempt.passed.is_not(None),
            Answer.first_visit.is_(True),
        )
        .group_by(Answer.scenario_version, Answer.node_id, Answer.choice_number, Answer.correct, Attempt.passed)
    )
    return [(v, n, c, bool(ok), bool(p), int(k)) for v, n, c, ok, p, k in rows]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _difference(passed: int, of_passed: int, failed: int, of_failed: int) -> float | None:
    if not of_passed or not of_failed:
        return None
    return passed / of_passed - failed / of_failed


def decision_stats(
    node_id: str, title: str, objective: str | None, choices: list[ChoiceStats], counts: dict[tuple[int, bool], int]
) -> DecisionStats:
    """One decision's figures from ``counts``: (choice number, passed) -> answers. Choices
    answered but not in ``choices`` (an unreadable version) are added as "?"."""
    by_number = {c.number: c for c in choices}
    for (number, passed), n in counts.items():
        choice = by_number.get(number)
        if choice is None:
            choice = by_number[number] = ChoiceStats(number, f"choice {number}", "?", False)
        choice.chosen += n
        if passed:
            choice.by_passed += n
        else:
            choice.by_failed += n
    stats = DecisionStats(node_id, title, objective, sorted(by_number.values(), key=lambda c: c.number))
    stats.passed = sum(c.by_passed for c in stats.choices)
    stats.failed = sum(c.by_failed for c in stats.choices)
    stats.answered = stats.passed + stats.failed
    right = [c for c in stats.choices if c.correct == "yes"]
    stats.correct = sum(c.chosen for c in right)
    stats.partly = sum(c.chosen for c in stats.choices if c.correct == "partly")
    stats.facility = _share(stats.correct, stats.answered)
    stats.partly_share = _share(stats.partly, stats.answered)
    for c in stats.choices:
        c.discrimination = _difference(c.by_passed, stats.passed, c.by_failed, stats.failed)
    if right:
        stats.discrimination = _difference(
            sum(c.by_passed for c in right), stats.passed, sum(c.by_failed for c in right), stats.failed
        )
    if stats.facility is not None and stats.facility > TOO_EASY and stats.answered >= SMALL:
        stats.flags.append("too easy")
    if right and any(c.correct == "no" and c.chosen > stats.correct for c in stats.choices):
        stats.flags.append("confusing")
    if stats.discrimination is not None and stats.discrimination < 0:
        stats.flags.append("misleading")
    return stats


def _choices_of(scenario: Scenario | None, node_id: str) -> tuple[str, str | None, list[ChoiceStats]]:
    node = scenario.nodes.get(node_id) if scenario else None
    if node is None:
        return node_id, None, []
    return (
        node.title,
        node.objective,
        [
            ChoiceStats(c.number, c.label, ("partly" if c.partly else "yes") if c.correct else "no", c.critical)
            for c in node.choices
        ],
    )


def module_answer_stats(session: Session, library: Library, module_id: str) -> list[VersionStats]:
    """Every version of every check of the module that has answers (and each version the
    library serves now, answered or not), in the module's order of checks: the versions served
    now first (the general one, then each specialty's), then earlier texts; each version's
    decisions in the order they are written."""
    module = library.modules.get(module_id)
    grouped: dict[str, dict[str, dict[tuple[int, bool], int]]] = {}
    for version, node_id, number, _correct, passed, n in answer_counts(session, module_id):
        nodes = grouped.setdefault(version, {})
        counts = nodes.setdefault(node_id, {})
        counts[(number, passed)] = counts.get((number, passed), 0) + n
    current: dict[str, Scenario] = {}
    order: list[str] = []
    for scenario_id in module.scenario_ids if module else ():
        order.append(scenario_id)
        for served in library.versions_of(scenario_id):
            current[served.version] = served
            grouped.setdefault(served.version, {})
    found: list[VersionStats] = []
    for version, nodes in grouped.items():
        scenario: Scenario | None = current.get(version)
        if scenario is None:
            try:
                resolved = versions.resolve(session, library, version)
                scenario = resolved if isinstance(resolved, Scenario) else None
            except (LookupError, ValueError):
                scenario = None
        scenario_id = scenario.id if scenario else "?"
        varied = len(library.scenarios.get(scenario_id, {})) > 1
        written = list(scenario.nodes) if scenario else []
        node_ids = [n for n in written if not scenario.nodes[n].is_ending] if scenario else []
        node_ids += sorted(n for n in nodes if n not in node_ids)
        decisions = [decision_stats(n, *_choices_of(scenario, n), nodes.get(n, {})) for n in node_ids]
        first = decisions[0].answered if decisions else 0
        found.append(
            VersionStats(
                scenario_id=scenario_id,
                version=version,
                label=version_label(scenario.specialty, varied) if scenario else "",
                specialty=scenario.specialty if scenario else None,
                title=scenario.title if scenario else f"Version {version[:12]} (not readable)",
                current=version in current,
                decisions=decisions,
                attempts=max([first, *(d.answered for d in decisions)]),
            )
        )
    rank = {scenario_id: i for i, scenario_id in enumerate(order)}
    found.sort(
        key=lambda v: (
            rank.get(v.scenario_id, len(rank)),
            not v.current,
            v.specialty is not None,
            v.specialty or "",
            v.version,
        )
    )
    return found

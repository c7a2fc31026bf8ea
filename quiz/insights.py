"""Where a team is weak: first-try correct rates per objective and per question, beside the
whole organization's, and the wrong branches most taken.

"First try" means the learner's first attempt at the module, and the first answer at each
decision point in it: later attempts are practice, and would flatter the numbers.

A question and a wrong branch are counted as the learner read them: a check's specialty
versions (general, dental, ...) word their decisions and choices differently, so each version
is counted on its own, under its own words, and named ("Dental"). Edits of one version's file
that keep a decision's and a choice's words are counted together.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from . import versions
from .content import Library, Scenario, label
from .models import Answer, Attempt


@dataclass
class Rate:
    answered: int = 0
    correct: int = 0

    @property
    def share(self) -> float | None:
        return self.correct / self.answered if self.answered else None

    def add(self, correct: bool) -> None:
        self.answered += 1
        self.correct += int(correct)


def version_label(specialty: str | None, varied: bool) -> str:
    """Which version of a check: its specialty ("Dental"), "General" for the general one when
    the check has specialty versions, and nothing when it has just the one."""
    if specialty:
        return label(specialty)
    return "General" if varied else ""


@dataclass
class QuestionResult:
    scenario_id: str
    node_id: str
    title: str
    objective: str | None
    version: str = ""  # version_label: which version's words these are
    team: Rate = field(default_factory=Rate)
    org: Rate = field(default_factory=Rate)


@dataclass
class ObjectiveResult:
    objective: str
    text: str
    team: Rate = field(default_factory=Rate)
    org: Rate = field(default_factory=Rate)
    missed_by: set[int] = field(default_factory=set)  # team members wrong at first try


@dataclass
class WrongBranch:
    scenario_id: str
    node_title: str
    choice_label: str
    taken: int
    critical: bool
    version: str = ""  # version_label: which version's words these are


@dataclass
class ModuleInsights:
    module_id: str
    objectives: list[ObjectiveResult]
    questions: list[QuestionResult]
    wrong_branches: list[WrongBranch]
    team_learners: int


def first_try_answers(session: Session, module_id: str) -> list[tuple[Row[Any], int]]:
    """(answer, user id) for the first answer at each node in each learner's first attempt.
    The answers are rows of the columns read here (attribute access as on an ``Answer``), not
    ORM objects: an organization's first tries are tens of thousands of them."""
    rows = session.execute(
        select(
            Answer.scenario_id,
            Answer.scenario_version,
            Answer.node_id,
            Answer.objective,
            Answer.correct,
            Answer.choice_number,
            Answer.critical,
            Attempt.user_id,
        )
        .join(Attempt, Answer.attempt_id == Attempt.id)
        .where(Attempt.module_id == module_id, Attempt.number == 1, Answer.first_visit.is_(True))
        .order_by(Answer.id)
    )
    return [(row, row.user_id) for row in rows]


def module_insights(
    session: Session, library: Library, module_id: str, team_ids: set[int], top: int = 5
) -> ModuleInsights:
    module = library.modules.get(module_id)
    objective_texts = module.objectives if module else {}
    scenarios: dict[str, Scenario] = {}

    def scenario(version: str) -> Scenario | None:
        if version not in scenarios:
            try:
                scenarios[version] = versions.resolve(session, library, version)  # type: ignore[assignment]
            except (LookupError, ValueError):
                scenarios[version] = None  # type: ignore[assignment]
        return scenarios[version]

    questions: dict[tuple, QuestionResult] = {}
    objectives: dict[str, ObjectiveResult] = {}
    wrong: Counter = Counter()
    wrong_info: dict[tuple, tuple[str, str, bool, str]] = {}
    learners: set[int] = set()
    answered = first_try_answers(session, module_id)
    # scenario id -> its versions, by specialty, answered or offered (an unreadable one by hash)
    kinds: dict[str, set[str | None]] = defaultdict(set)
    for answer, _ in answered:
        s = scenario(answer.scenario_version)
        kinds[answer.scenario_id].add(s.specialty if s else answer.scenario_version)
    for scenario_id, seen in kinds.items():
        seen.update(library.scenarios.get(scenario_id, {}))
    for answer, user_id in answered:
        in_team = user_id in team_ids
        s = scenario(answer.scenario_version)
        node = s.nodes.get(answer.node_id) if s else None
        title = node.title if node else answer.node_id
        version = version_label(s.specialty, len(kinds[answer.scenario_id]) > 1) if s else ""
        which = (answer.scenario_id, s.specialty if s else answer.scenario_version, answer.node_id, title)
        q = questions.setdefault(
            which, QuestionResult(answer.scenario_id, answer.node_id, title, answer.objective, version)
        )
        q.org.add(answer.correct)
        objective = answer.objective or "(none)"
        o = objectives.setdefault(objective, ObjectiveResult(objective, objective_texts.get(objective, "")))
        o.org.add(answer.correct)
        if not in_team:
            continue
        learners.add(user_id)
        q.team.add(answer.correct)
        o.team.add(answer.correct)
        if not answer.correct:
            o.missed_by.add(user_id)
            choice = node.choice(answer.choice_number) if node else None
            choice_label = choice.label if choice else f"choice {answer.choice_number}"
            wkey = (*which, choice_label, answer.critical)
            wrong[wkey] += 1
            wrong_info[wkey] = (title, choice_label, answer.critical, version)
    branches = [
        WrongBranch(k[0], wrong_info[k][0], wrong_info[k][1], n, wrong_info[k][2], wrong_info[k][3])
        for k, n in wrong.most_common(top)
    ]

    def weakest_first(item) -> tuple:
        share = item.team.share
        return (share if share is not None else 2.0, item.objective if hasattr(item, "objective") else "")

    return ModuleInsights(
        module_id=module_id,
        objectives=sorted(objectives.values(), key=weakest_first),
        questions=sorted(questions.values(), key=lambda q: (q.team.share if q.team.share is not None else 2.0)),
        wrong_branches=branches,
        team_learners=len(learners),
    )


def modules_with_results(session: Session, user_ids) -> dict[str, int]:
    """Module id -> how many of these people have attempted it (``user_ids``: ids, or a SELECT
    of them, such as ``team.scope_ids``); one query."""
    rows = session.execute(
        select(Attempt.module_id, func.count(func.distinct(Attempt.user_id)))
        .where(Attempt.user_id.in_(user_ids))
        .group_by(Attempt.module_id)
    )
    return {module_id: count for module_id, count in rows}

"""Where a team is weak: first-try correct rates per objective and per question, beside the
whole organisation's, and the wrong branches most taken.

"First try" means the learner's first attempt at the module, and the first answer at each
decision point in it: later attempts are practice, and would flatter the numbers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import versions
from .content import Library, Scenario
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


@dataclass
class QuestionResult:
    scenario_id: str
    node_id: str
    title: str
    objective: str | None
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


@dataclass
class ModuleInsights:
    module_id: str
    objectives: list[ObjectiveResult]
    questions: list[QuestionResult]
    wrong_branches: list[WrongBranch]
    team_learners: int


def first_try_answers(session: Session, module_id: str) -> list[tuple[Answer, int]]:
    """(answer, user id) for the first answer at each node in each learner's first attempt."""
    rows = session.execute(
        select(Answer, Attempt.user_id)
        .join(Attempt, Answer.attempt_id == Attempt.id)
        .where(Attempt.module_id == module_id, Attempt.number == 1, Answer.first_visit.is_(True))
        .order_by(Answer.id)
    )
    return [(answer, user_id) for answer, user_id in rows]


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

    questions: dict[tuple[str, str], QuestionResult] = {}
    objectives: dict[str, ObjectiveResult] = {}
    wrong: Counter = Counter()
    wrong_info: dict[tuple, tuple[str, str, bool]] = {}
    learners: set[int] = set()
    for answer, user_id in first_try_answers(session, module_id):
        in_team = user_id in team_ids
        s = scenario(answer.scenario_version)
        node = s.nodes.get(answer.node_id) if s else None
        key = (answer.scenario_id, answer.node_id)
        q = questions.setdefault(
            key, QuestionResult(answer.scenario_id, answer.node_id, node.title if node else answer.node_id, answer.objective)
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
            wkey = (answer.scenario_id, answer.node_id, answer.choice_number)
            wrong[wkey] += 1
            choice = node.choice(answer.choice_number) if node else None
            wrong_info[wkey] = (
                node.title if node else answer.node_id,
                choice.label if choice else f"choice {answer.choice_number}",
                answer.critical,
            )
    branches = [
        WrongBranch(k[0], wrong_info[k][0], wrong_info[k][1], n, wrong_info[k][2])
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


def modules_with_results(session: Session, user_ids: set[int]) -> dict[str, int]:
    """Module id -> how many of these people have attempted it."""
    counts: dict[str, set[int]] = defaultdict(set)
    if not user_ids:
        return {}
    for module_id, user_id in session.execute(
        select(Attempt.module_id, Attempt.user_id).where(Attempt.user_id.in_(user_ids))
    ):
        counts[module_id].add(user_id)
    return {m: len(u) for m, u in counts.items()}

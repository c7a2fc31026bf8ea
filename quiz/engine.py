"""The learning walk: lesson screens, scenario choices, scoring, pass/fail, acknowledgement.

Plain Python over a SQLAlchemy session and parsed content; no request objects. Every state
change checks the attempt's ``step`` token first (a stale token changes nothing) and writes
its evidence in the same transaction, so the record and the state can never disagree.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from . import assignments, certificate_codes, evidence, versions
from .content import Choice, Library, Module, Node, Scenario
from .models import Answer, Assignment, Attempt, Evidence, User, utcnow


@dataclass(frozen=True)
class AttemptContent:
    """The exact module and scenario versions one attempt walks."""

    module: Module
    scenarios: tuple[Scenario, ...]

    def scenario(self, index: int) -> Scenario:
        return self.scenarios[index]


def content_for(session: Session, library: Library, attempt: Attempt) -> AttemptContent:
    module = versions.resolve(session, library, attempt.module_version)
    scenarios = tuple(versions.resolve(session, library, v) for v in json.loads(attempt.scenario_versions))
    return AttemptContent(module, scenarios)  # type: ignore[arg-type]


def content_to_start(library: Library, module: Module, user: User) -> AttemptContent | None:
    """The current versions, with the learner's specialty variants; None if one is missing."""
    chosen = [library.scenario_for(sid, user.specialty) for sid in module.scenario_ids]
    if any(s is None for s in chosen):
        return None
    return AttemptContent(module, tuple(chosen))  # type: ignore[arg-type]


def _log(session: Session, attempt: Attempt, content: AttemptContent, event: str, **details):
    details.setdefault("attempt", attempt.number)
    evidence.append(
        session,
        event,
        user=attempt.user,
        module_id=attempt.module_id,
        content_version=attempt.module_version,
        policy_version=attempt.policy_version,
        details=details,
    )


# --- finding attempts -------------------------------------------------------------------
# The learner's busiest queries are built once, with bound parameters: building a SELECT
# costs about as much CPU as running it on SQLite (bench/HISTORY.md, "Prebuilt queries and
# the answer write").

_OPEN_ATTEMPT = select(Attempt).where(
    Attempt.user_id == bindparam("user_id"),
    Attempt.module_id == bindparam("module_id"),
    Attempt.stage != "finished",
)
_LOCKED_OPEN_ATTEMPT = _OPEN_ATTEMPT.with_for_update().execution_options(populate_existing=True)
_LOCKED_ATTEMPT = (
    select(Attempt)
    .where(Attempt.id == bindparam("attempt_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_ATTEMPTS_OF_USER = (
    select(Attempt).where(Attempt.user_id == bindparam("user_id")).order_by(Attempt.module_id, Attempt.number)
)
_ATTEMPTS_OF_USER_AT = _ATTEMPTS_OF_USER.where(Attempt.module_id == bindparam("module_id"))


def open_attempt(session: Session, user_id: int, module_id: str, lock: bool = False):
    query = _LOCKED_OPEN_ATTEMPT if lock else _OPEN_ATTEMPT
    return session.scalars(query, {"user_id": user_id, "module_id": module_id}).first()


def lock(session: Session, attempt: Attempt) -> Attempt:
    """Re-read an attempt holding its row lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    serialises writers) so two racing requests act on it one after the other."""
    return session.scalars(_LOCKED_ATTEMPT, {"attempt_id": attempt.id}).one()


def attempts_of(session: Session, user_id: int, module_id: str | None = None) -> list[Attempt]:
    if module_id is None:
        return list(session.scalars(_ATTEMPTS_OF_USER, {"user_id": user_id}))
    return list(session.scalars(_ATTEMPTS_OF_USER_AT, {"user_id": user_id, "module_id": module_id}))


def by_module(attempts: list[Attempt]) -> dict[str, list[Attempt]]:
    """A learner's attempts grouped by module, each group in the order given (oldest first)."""
    groups: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        groups.setdefault(attempt.module_id, []).append(attempt)
    return groups


def awaiting_acknowledgement(attempts: list[Attempt]) -> Attempt | None:
    """A passed attempt whose acknowledgement is not signed yet (only the newest counts)."""
    finished = [a for a in attempts if a.stage == "finished"]
    if finished and finished[-1].passed and finished[-1].acknowledged_at is None:
        return finished[-1]
    return None


@dataclass(frozen=True)
class ModuleStatus:
    state: str  # not-started | in-progress | passed | failed
    label: str
    passed_on: datetime | None = None


def status_of(attempts: list[Attempt]) -> ModuleStatus:
    done = [a for a in attempts if a.acknowledged_at is not None]
    if done:
        last = max(done, key=lambda a: a.acknowledged_at or datetime.min)  # all are set
        return ModuleStatus("passed", "Passed", last.acknowledged_at)
    if any(a.stage != "finished" for a in attempts):
        return ModuleStatus("in-progress", "In progress")
    if awaiting_acknowledgement(attempts):
        return ModuleStatus("in-progress", "Passed: sign to finish")
    if attempts:
        return ModuleStatus("failed", "Not passed yet")
    return ModuleStatus("not-started", "Not started")


# --- what a learner sees -----------------------------------------------------------------


@dataclass(frozen=True)
class TrainingList:
    """My training: ``current`` is (module, status, open assignment or None) for each module of
    the learner's role, specialty and state and each module assigned to them, assigned ones
    first (soonest due); ``earlier`` is (module as they last took it, status) for modules they
    have attempts at that are no longer on that list (role changed, module withdrawn), so a
    certificate never drops out of sight; ``unreadable`` names earlier modules whose stored
    text no longer parses (left out; the caller logs them)."""

    current: list[tuple[Module, ModuleStatus, Assignment | None]]
    earlier: list[tuple[Module, ModuleStatus]]
    unreadable: list[str]


def training_list(session: Session, library: Library, user: User) -> TrainingList:
    attempts = by_module(attempts_of(session, user.id))
    open_assignments = {a.module_id: a for a in reversed(assignments.of_user(session, user.id)) if a.is_open}
    modules = {m.id: m for m in library.modules_for(user.job_role, user.specialty, user.work_state)}
    modules.update({mid: library.modules[mid] for mid in open_assignments if mid in library.modules})
    current = [(m, status_of(attempts.get(m.id, [])), open_assignments.get(m.id)) for m in modules.values()]
    current.sort(key=lambda r: (r[2] is None, r[2].due_on if r[2] else None, r[0].title.lower()))
    earlier, unreadable = [], []
    for module_id, mine in attempts.items():
        if module_id in modules:
            continue
        try:
            earlier.append((content_for(session, library, mine[-1]).module, status_of(mine)))
        except (LookupError, ValueError):  # not stored, or a stricter parser rejects it now
            unreadable.append(module_id)
    earlier.sort(key=lambda r: r[0].title.lower())
    return TrainingList(current, earlier, unreadable)


def next_up(listing: TrainingList, after: str) -> tuple[Module, ModuleStatus, Assignment | None] | None:
    """What to take after finishing ``after``: the first module on My training, in its order
    (assigned ones by due date first), that is not passed and not ``after`` itself."""
    for row in listing.current:
        if row[0].id != after and row[1].state != "passed":
            return row
    return None


def module_for(session: Session, library: Library, user: User, module_id: str) -> Module | None:
    """The module as this learner may open it, or None (not found, or not theirs).

    Theirs: for their role, specialty and state, assigned to them, or one they have attempts
    at. A module no longer in the library (withdrawn, renamed, its file has errors) is shown to
    those who took it as they last had it: their attempts are pinned to that text, so an
    attempt begun on it can be finished and its certificate stays; it cannot be started again
    (``content_to_start`` is only ever given library modules)."""
    module = library.modules.get(module_id)
    if module is None:
        mine = attempts_of(session, user.id, module_id)
        try:
            return content_for(session, library, mine[-1]).module if mine else None
        except (LookupError, ValueError):  # its stored text no longer parses (training_list)
            return None
    if module.is_for(user.job_role, user.specialty) and module.covers_state(user.work_state):
        return module
    if assignments.open_assignment(session, user.id, module_id) is not None:
        return module
    return module if attempts_of(session, user.id, module_id) else None


# --- the walk ---------------------------------------------------------------------------


def start_attempt(session: Session, user: User, content: AttemptContent) -> Attempt:
    """Begin a new attempt, or return the open one (a double-tapped Start makes one attempt)."""
    module = content.module
    existing = open_attempt(session, user.id, module.id, lock=True)
    if existing is not None:
        return existing
    items: list[Module | Scenario] = [module, *content.scenarios]
    for item in items:
        versions.remember(session, item)
    number = (
        session.scalar(
            select(func.max(Attempt.number)).where(Attempt.user_id == user.id, Attempt.module_id == module.id)
        )
        or 0
    ) + 1
    attempt = Attempt(
        user=user,
        module_id=module.id,
        number=number,
        module_version=module.version,
        policy_version=module.policy_version,
        scenario_versions=json.dumps([s.version for s in content.scenarios]),
        stage="lesson",
        screen=0,
        scenario_index=0,
        step=0,
    )
    try:
        with session.begin_nested():
            session.add(attempt)
            session.flush()
    except IntegrityError:  # another request started it a moment ago
        return open_attempt(session, user.id, module.id)
    _log(
        session,
        attempt,
        content,
        "attempt.started",
        scenarios=[{"id": s.id, "version": s.version, "specialty": s.specialty} for s in content.scenarios],
        policy=module.policy_name,
    )
    return attempt


def _fresh(attempt: Attempt, step: int, stage: str) -> bool:
    return attempt.step == step and attempt.stage == stage


def next_screen(session: Session, attempt: Attempt, content: AttemptContent, step: int) -> bool:
    """The learner has read the current lesson screen: record it and move on."""
    if not _fresh(attempt, step, "lesson"):
        return False
    screens = content.module.screens
    _log(
        session,
        attempt,
        content,
        "lesson.viewed",
        screen=attempt.screen + 1,
        of=len(screens),
        title=screens[attempt.screen].title,
    )
    attempt.screen += 1
    attempt.step += 1
    if attempt.screen >= len(screens):
        _to_the_check(attempt, content)
    return True


def previous_screen(session: Session, attempt: Attempt, step: int) -> bool:
    if not _fresh(attempt, step, "lesson") or attempt.screen == 0:
        return False
    attempt.screen -= 1
    attempt.step += 1
    return True


# --- skipping a lesson read before --------------------------------------------------------
# A learner who takes a module again may go straight to the check when they have viewed every
# one of its lesson screens, word for word (same title, same text), in earlier attempts: the
# lesson.viewed records are what says they did. The lesson stays reachable: before the first
# answer of the check, "Read the lesson again" takes the attempt back to its first screen.

_LESSON_VIEWS = (
    select(Evidence.details)
    .where(
        Evidence.user_id == bindparam("user_id"),
        Evidence.module_id == bindparam("module_id"),
        Evidence.event == "lesson.viewed",
    )
    .order_by(Evidence.seq)
)


def _screens_viewed(session: Session, user_id: int, module_id: str) -> dict[int, set[int]]:
    """Attempt number -> the lesson screens (0-based) its evidence says were viewed."""
    viewed: dict[int, set[int]] = {}
    for details in session.scalars(_LESSON_VIEWS, {"user_id": user_id, "module_id": module_id}):
        record = json.loads(details)
        if isinstance(record.get("attempt"), int) and isinstance(record.get("screen"), int):
            viewed.setdefault(record["attempt"], set()).add(record["screen"] - 1)
    return viewed


@dataclass(frozen=True)
class LessonRead:
    """Which of an open attempt's lesson screens the learner viewed in earlier attempts of the
    module, word for word (the same title and text, in whichever version they were read)."""

    screens: int
    read_before: dict[int, tuple[int, ...]]  # 0-based screen -> earlier attempts that viewed it

    @property
    def skippable(self) -> bool:
        """Every screen was viewed in an earlier attempt: the check may come straight away."""
        return self.screens > 0 and len(self.read_before) == self.screens


def _screens_as_taken(session: Session, library: Library, attempt: Attempt, content: AttemptContent):
    """An earlier attempt's lesson screens, as its module version has them (None: unreadable)."""
    if attempt.module_version == content.module.version:
        return content.module.screens
    try:
        return versions.resolve(session, library, attempt.module_version).screens  # type: ignore[union-attr]
    except (LookupError, ValueError):  # not stored, or a stored text that no longer parses
        return None


def lesson_read(
    session: Session,
    library: Library,
    attempt: Attempt,
    content: AttemptContent,
    attempts: list[Attempt] | None = None,
    viewed: dict[int, set[int]] | None = None,
) -> LessonRead:
    """``attempts``: the learner's attempts at the module, and ``viewed``: what
    ``_screens_viewed`` says of them, when the caller has already read them."""
    if attempts is None:
        attempts = attempts_of(session, attempt.user_id, attempt.module_id)
    earlier = [a for a in attempts if a.number < attempt.number]
    screens = content.module.screens
    if not earlier:  # a first attempt: nothing read before, no need to look
        return LessonRead(len(screens), {})
    if viewed is None:
        viewed = _screens_viewed(session, attempt.user_id, attempt.module_id)
    wanted = {screen: index for index, screen in enumerate(screens)}
    read_before: dict[int, set[int]] = {}
    for before in earlier:
        views = viewed.get(before.number)
        seen = _screens_as_taken(session, library, before, content) if views else None
        if not views or not seen:
            continue
        for i in views:
            if i < len(seen) and seen[i] in wanted:
                read_before.setdefault(wanted[seen[i]], set()).add(before.number)
    return LessonRead(len(screens), {i: tuple(sorted(n)) for i, n in sorted(read_before.items())})


def _to_the_check(attempt: Attempt, content: AttemptContent) -> None:
    attempt.stage = "scenario"
    attempt.scenario_index = 0
    attempt.node_id = content.scenario(0).start


def skip_lesson(session: Session, library: Library, attempt: Attempt, content: AttemptContent, step: int) -> bool:
    """Go straight to the check, if every lesson screen was viewed in an earlier attempt. The
    record names the screens viewed in this attempt, those not, and the attempts each was read in."""
    if not _fresh(attempt, step, "lesson"):
        return False
    viewed = _screens_viewed(session, attempt.user_id, attempt.module_id)
    read = lesson_read(session, library, attempt, content, viewed=viewed)
    if not read.skippable:
        return False
    screens = content.module.screens
    now = viewed.get(attempt.number, set())

    def listed(indices) -> list[dict]:
        return [{"screen": i + 1, "title": screens[i].title} for i in sorted(indices)]

    _log(
        session,
        attempt,
        content,
        "lesson.skipped",
        of=len(screens),
        viewed=listed(now),
        not_viewed=listed(set(range(len(screens))) - now),
        read_before=[{"screen": i + 1, "attempts": list(numbers)} for i, numbers in read.read_before.items()],
    )
    attempt.step += 1
    _to_the_check(attempt, content)
    return True


def can_reopen_lesson(attempt: Attempt, content: AttemptContent) -> bool:
    """The lesson can be opened again from the check until its first answer."""
    return (
        attempt.stage == "scenario"
        and attempt.scenario_index == 0
        and attempt.node_id == content.scenario(0).start
        and not attempt.answers
    )


def reopen_lesson(session: Session, attempt: Attempt, content: AttemptContent, step: int) -> bool:
    """Back from the first question of the check to the lesson's first screen."""
    if not _fresh(attempt, step, "scenario") or not can_reopen_lesson(attempt, content):
        return False
    _log(session, attempt, content, "lesson.reopened", of=len(content.module.screens))
    attempt.step += 1
    attempt.stage = "lesson"
    attempt.screen = 0
    attempt.node_id = None
    return True


def current_node(attempt: Attempt, content: AttemptContent) -> Node:
    return content.scenario(attempt.scenario_index).nodes[_node_id(attempt)]


def _node_id(attempt: Attempt) -> str:
    if attempt.node_id is None:
        raise ValueError(f"attempt {attempt.id} is not at a decision (it is in its {attempt.stage})")
    return attempt.node_id


def choices_in_order(attempt: Attempt, content: AttemptContent) -> list[Choice]:
    """The current node's choices as the learner sees them: shuffled so that position gives
    nothing away (the right answer is not always first), and in the same order every time the
    same attempt comes back to the node, so a reload or a resumed session does not reshuffle.
    The shuffle is seeded with the attempt's secret key: nobody can work it out from the file."""
    node = current_node(attempt, content)
    order = list(node.choices)
    random.Random(f"{attempt.choice_key}:{attempt.scenario_index}:{node.id}").shuffle(order)
    return order


def _choice_value(attempt: Attempt, node_id: str, choice: Choice) -> str:
    message = f"{attempt.scenario_index}:{node_id}:{choice.number}".encode()
    return hmac.new(attempt.choice_key.encode(), message, hashlib.sha256).hexdigest()[:16]


def choice_values(attempt: Attempt, content: AttemptContent) -> list[tuple[str, Choice]]:
    """The current node's choices in the learner's order, each with the value its radio button
    posts: a code made with the attempt's secret key, so it tells nothing of the choice's
    number in the file or whether it is right, and differs from one attempt to the next."""
    node_id = current_node(attempt, content).id
    return [(_choice_value(attempt, node_id, c), c) for c in choices_in_order(attempt, content)]


def posted_choice(attempt: Attempt, content: AttemptContent, value: str) -> Choice | None:
    """The choice at the current node that ``value`` names, or None: a page served before the
    attempt reached this node, or before the way choices are named changed."""
    node = current_node(attempt, content)
    posted = value.encode()
    return next(
        (c for c in node.choices if hmac.compare_digest(_choice_value(attempt, node.id, c).encode(), posted)), None
    )


_LAST_ANSWER = select(Answer).where(Answer.attempt_id == bindparam("attempt_id")).order_by(Answer.step.desc()).limit(1)
_ANSWERED_AT = (
    select(Answer.id)
    .where(
        Answer.attempt_id == bindparam("attempt_id"),
        Answer.scenario_index == bindparam("scenario_index"),
        Answer.node_id == bindparam("node_id"),
    )
    .limit(1)
)


def last_answer(session: Session, attempt: Attempt) -> Answer | None:
    """The answer that led to the node on screen now (its feedback is shown above it).

    Only the newest answer is read: an attempt that loops can hold many.
    """
    last = session.scalars(_LAST_ANSWER, {"attempt_id": attempt.id}).first()
    if last is not None and last.scenario_index == attempt.scenario_index and last.to_node == attempt.node_id:
        return last
    return None


def _visited(session: Session, attempt: Attempt, node_id: str) -> bool:
    """Whether this decision was answered before in this attempt (only the first visit scores)."""
    params = {"attempt_id": attempt.id, "scenario_index": attempt.scenario_index, "node_id": node_id}
    return session.connection().scalar(_ANSWERED_AT, params) is not None


@dataclass(frozen=True)
class PlannedChoice:
    """A choice graded against the attempt as read: what ``record_choice`` will write."""

    step: int
    scenario: Scenario
    node: Node
    choice: Choice
    first_visit: bool

    @property
    def points(self) -> int:
        return self.choice.points if self.first_visit else 0


def plan_choice(
    session: Session, attempt: Attempt, content: AttemptContent, step: int, choice_number: int
) -> PlannedChoice | None:
    """Grade a choice without writing anything; None when the step token is stale.

    Only reads, so a request can do it before taking the write lock. The plan holds while the
    attempt's step does: ``record_choice`` updates the attempt checked against that step.
    """
    if not _fresh(attempt, step, "scenario"):
        return None
    scenario = content.scenario(attempt.scenario_index)
    node = scenario.nodes[_node_id(attempt)]
    choice = node.choice(choice_number)
    if choice is None:
        raise ValueError(f"no choice {choice_number} at {node.id}")
    # A decision off every loop cannot have been answered before in this walk: no query.
    first_visit = node.id not in scenario.revisitable or not _visited(session, attempt, node.id)
    return PlannedChoice(step, scenario, node, choice, first_visit=first_visit)


#: Moving an attempt on after a choice, as a compare-and-set on its step token: the row
#: changes only if no other request moved the attempt since it was read. Written as plain
#: statements, not through the ORM's unit of work: this is the busiest write in the app, and
#: the unit of work cost more CPU than both statements together (bench/HISTORY.md, as above).
#: Plain statements on this path run on the session's connection, in its transaction:
#: ``session.execute`` adds the ORM's execution layer, which cost about as much again as
#: running the statement (bench/HISTORY.md, "A much slower machine").
_ATTEMPTS = cast(Table, Attempt.__table__)
_MOVE_ON = (
    update(_ATTEMPTS)
    .where(_ATTEMPTS.c.id == bindparam("attempt_id"), _ATTEMPTS.c.step == bindparam("read_step"))
    .values(step=bindparam("new_step"), node_id=bindparam("new_node"), stage=bindparam("new_stage"))
)
_INSERT_ANSWER = insert(cast(Table, Answer.__table__))


def record_choice(session: Session, attempt: Attempt, content: AttemptContent, plan: PlannedChoice) -> Answer:
    """Write a planned choice: the attempt moved on, the answer, and their evidence.

    The attempt is moved on first, checked against the step it was read with: a request that
    was overtaken (a double tap, another tab) raises StaleDataError before anything of it is
    written. The returned answer is not in the session: it is what was written, for showing.
    """
    scenario, node, choice, step = plan.scenario, plan.node, plan.choice, plan.step
    target = scenario.nodes[choice.target]
    moved = {"step": step + 1, "node_id": choice.target, "stage": "ending" if target.is_ending else attempt.stage}
    params = {
        "attempt_id": attempt.id,
        "read_step": step,
        "new_step": moved["step"],
        "new_node": moved["node_id"],
        "new_stage": moved["stage"],
    }
    session.flush()  # the statements below skip the ORM: anything it holds unwritten goes first
    connection = session.connection()
    if step != attempt.step or connection.execute(_MOVE_ON, params).rowcount != 1:
        raise StaleDataError(f"attempt {attempt.id} moved on from step {step} meanwhile")
    for name, value in moved.items():
        set_committed_value(attempt, name, value)  # as written: the ORM has nothing to flush
    values = {
        "attempt_id": attempt.id,
        "step": step,
        "scenario_index": attempt.scenario_index,
        "scenario_id": scenario.id,
        "scenario_version": scenario.version,
        "node_id": node.id,
        "objective": node.objective,
        "choice_number": choice.number,
        "to_node": choice.target,
        "first_visit": plan.first_visit,
        "points": plan.points,
        "correct": choice.correct,
        "critical": choice.critical,
        "answered_at": utcnow(),
    }
    answer_id = connection.execute(_INSERT_ANSWER, values).inserted_primary_key[0]
    answer = Answer(id=answer_id, **values)
    session.expire(attempt, ["answers"])  # read again, with this answer, when next needed
    _log(
        session,
        attempt,
        content,
        "choice.made",
        scenario=scenario.id,
        scenario_version=scenario.version,
        node=node.id,
        objective=node.objective,
        choice=choice.number,
        choice_text=choice.label,
        to_node=choice.target,
        points=plan.points,
        correct=choice.correct,
        critical=choice.critical,
        first_visit=plan.first_visit,
        step=step,
    )
    if target.is_ending:
        _log(
            session,
            attempt,
            content,
            "scenario.finished",
            scenario=scenario.id,
            scenario_version=scenario.version,
            ending=target.id,
            outcome=target.outcome,
            score=scenario_score(attempt, attempt.scenario_index),
        )
    return answer


def choose(session: Session, attempt: Attempt, content: AttemptContent, step: int, choice_number: int) -> Answer | None:
    """Record one choice, graded here on the server, and move to where it leads.

    Returns the new answer, or None when the step token is stale (nothing changes).
    """
    plan = plan_choice(session, attempt, content, step, choice_number)
    return None if plan is None else record_choice(session, attempt, content, plan)


def scenario_score(attempt: Attempt, index: int) -> int:
    return sum(a.points for a in attempt.answers if a.scenario_index == index)


def continue_after_ending(session: Session, attempt: Attempt, content: AttemptContent, step: int) -> bool:
    """Leave an ending: on to the next scenario, or finish and grade the module."""
    if not _fresh(attempt, step, "ending"):
        return False
    attempt.step += 1
    if attempt.scenario_index + 1 < len(content.scenarios):
        attempt.scenario_index += 1
        attempt.node_id = content.scenario(attempt.scenario_index).start
        attempt.stage = "scenario"
        return True
    _finish(session, attempt, content)
    return True


def _finish(session: Session, attempt: Attempt, content: AttemptContent) -> None:
    module = content.module
    total = sum(a.points for a in attempt.answers)
    criticals = [a for a in attempt.answers if a.critical]
    attempt.score = total
    attempt.passed = total >= module.pass_score and not criticals
    attempt.stage = "finished"
    attempt.finished_at = utcnow()
    _log(
        session,
        attempt,
        content,
        "module.passed" if attempt.passed else "module.failed",
        score=total,
        pass_score=module.pass_score,
        critical_choices=[{"scenario": a.scenario_id, "node": a.node_id, "choice": a.choice_number} for a in criticals],
    )


@dataclass(frozen=True)
class MissedDecision:
    """A decision not answered right: wrong the first time, or a critical choice at any visit."""

    title: str
    critical: bool


@dataclass(frozen=True)
class ObjectiveOutcome:
    """One of the module's objectives in one attempt.

    ``met``: every first answer at its decisions was right (and no critical choice was made at
    them); ``missed``: one was not; ``not-reached``: the walk met none of its decisions, so the
    attempt shows nothing either way."""

    objective: str
    text: str
    state: str  # met | missed | not-reached
    missed_at: tuple[MissedDecision, ...] = ()

    @property
    def critical(self) -> bool:
        return any(d.critical for d in self.missed_at)


@dataclass(frozen=True)
class Result:
    """What an attempt showed: its score out of the highest the versions it walked allow, the
    pass mark, and each of the module's objectives once, met, missed or not reached.

    ``highest`` is None when a version's score range could not be worked out (its graph has
    errors, or is too complex to search): then no "of" is claimed."""

    score: int
    highest: int | None
    pass_score: int
    passed: bool
    critical: bool  # a critical choice was made, which fails the attempt whatever the score
    objectives: tuple[ObjectiveOutcome, ...]

    def _in(self, state: str) -> list[ObjectiveOutcome]:
        return [o for o in self.objectives if o.state == state]

    @property
    def met(self) -> list[ObjectiveOutcome]:
        return self._in("met")

    @property
    def missed(self) -> list[ObjectiveOutcome]:
        return self._in("missed")

    @property
    def not_reached(self) -> list[ObjectiveOutcome]:
        return self._in("not-reached")


def highest_score(content: AttemptContent) -> int | None:
    """The highest score the attempt's scenario versions allow together (None: not known)."""
    ranges = [s.scores for s in content.scenarios]
    if any(r is None for r in ranges):
        return None
    return sum(r.highest for r in ranges if r is not None)


def result(attempt: Attempt, content: AttemptContent) -> Result:
    """The result of a finished attempt (or the answers so far of an open one)."""
    module = content.module
    reached: set[str] = set()
    missed: dict[str, dict[tuple[int, str], MissedDecision]] = {}
    order = list(module.objectives)
    for a in attempt.answers:
        objective = a.objective or ""
        if objective not in order:  # cannot happen with validated content; kept, not hidden
            order.append(objective)
        reached.add(objective)
        if (a.first_visit and not a.correct) or a.critical:
            at = missed.setdefault(objective, {})
            key = (a.scenario_index, a.node_id)
            node = content.scenario(a.scenario_index).nodes[a.node_id]
            earlier = at.get(key)
            at[key] = MissedDecision(node.title, a.critical or (earlier is not None and earlier.critical))
    outcomes = []
    for objective in order:
        state = "missed" if objective in missed else "met" if objective in reached else "not-reached"
        text = module.objectives.get(objective) or objective
        outcomes.append(ObjectiveOutcome(objective, text, state, tuple(missed.get(objective, {}).values())))
    score = attempt.score if attempt.score is not None else sum(a.points for a in attempt.answers)
    return Result(
        score=score,
        highest=highest_score(content),
        pass_score=module.pass_score,
        passed=bool(attempt.passed),
        critical=any(a.critical for a in attempt.answers),
        objectives=tuple(outcomes),
    )


#: What phones type in place of the apostrophe and hyphen in a name: iOS and Android keyboards
#: turn ' into a curly quote and -- into a dash as you type, so "O'Brien" arrives as "O’Brien".
_TYPED_LOOKALIKES = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "`": "'",
        "\u00b4": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
    }
)


def _normalize_name(name: str) -> str:
    """Compare names as people can type them: with or without accents (a desktop keyboard may
    have no "á"), phone-typed apostrophes and dashes, any spacing, any case. The signature is
    kept exactly as typed; this only decides whether it is the learner's name."""
    name = unicodedata.normalize("NFKD", name.translate(_TYPED_LOOKALIKES))
    name = "".join(c for c in name if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", name).strip().casefold()


def name_matches(user: User, typed: str) -> bool:
    """The typed signature must be the learner's full name as the account has it."""
    return _normalize_name(typed) == _normalize_name(user.name)


def acknowledge(
    session: Session,
    attempt: Attempt,
    content: AttemptContent,
    typed_name: str,
    state_statement: assignments.SignedStatement | None = None,
    *,
    signed_in_with_admin_set_password: bool,
) -> bool:
    """Sign the acknowledgement of a passed attempt. Signing twice records once. With
    ``state_statement`` (assignments.signed_statement_for), the signature is also that state's
    signed statement of completion: the attempt and its evidence record say so, and until when
    it is kept. ``signed_in_with_admin_set_password``, from the caller (the web layer knows how
    the session began): anyone who knew a password an admin set could have typed this name, so
    the attempt and the record say so, for an auditor."""
    if attempt.stage != "finished" or not attempt.passed or attempt.acknowledged_at:
        return False
    if not name_matches(attempt.user, typed_name):
        raise ValueError("typed name does not match the learner's name")
    module = content.module
    attempt.acknowledged_at = utcnow()
    attempt.acknowledged_name = typed_name.strip()
    attempt.signed_in_with_admin_set_password = signed_in_with_admin_set_password
    # The certificate's public code, named in the signature's record (quiz/certificate_codes.py)
    attempt.certificate_code = certificate_codes.unused_code(session)
    kept: dict = {}
    if state_statement is not None:
        signed_on = assignments.org_day(attempt.acknowledged_at)
        attempt.signed_statement = state_statement.words(signed_on)
        until = state_statement.keep_until(signed_on)
        kept = {
            "state_statement": {
                "state": state_statement.state,
                "law": state_statement.law,
                "keep_until": until.isoformat() if until else None,
            }
        }
    _log(
        session,
        attempt,
        content,
        "acknowledgement.signed",
        statement=module.acknowledgement,
        typed_name=attempt.acknowledged_name,
        policy=module.policy_name,
        score=attempt.score,
        signed_in_with_admin_set_password=signed_in_with_admin_set_password,
        certificate_code=attempt.certificate_code,
        **kept,
    )
    assignments.complete(session, attempt)
    return True


@dataclass(frozen=True)
class Certificate:
    """What a certificate states about the learner: as the evidence record of their signature
    has them (name, job role at signing), not as their account is now, so a later change of
    name or role never rewrites what was certified."""

    attempt: Attempt
    learner_name: str
    job_role: str
    record: Evidence | None  # the acknowledgement.signed record the certificate names


def signed_attempt(session: Session, user_id: int, module_id: str, number: int) -> Attempt | None:
    """This person's attempt ``number`` at the module, if they signed it (it has a certificate)."""
    return next(
        (a for a in attempts_of(session, user_id, module_id) if a.number == number and a.acknowledged_at is not None),
        None,
    )


def certificate(session: Session, attempt: Attempt) -> Certificate | None:
    """The certificate of a signed attempt; None if the attempt is not signed."""
    if attempt.acknowledged_at is None:
        return None
    records = evidence.for_attempt(
        session, attempt.user_id, attempt.module_id, attempt.number, "acknowledgement.signed"
    )
    if not records:  # cannot happen (signing and its record commit together); show the account
        return Certificate(attempt, attempt.user.name, attempt.user.job_role, None)
    record = records[0]
    return Certificate(
        attempt, record.learner_name or attempt.user.name, record.job_role or attempt.user.job_role, record
    )

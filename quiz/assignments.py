"""Assignment rules: who owes which module by when, and why.

Plain Python over a session, the curricula (content/curricula.yml) and the content library.
Every rule is idempotent: running it twice creates nothing new, so the daily
``assignments refresh`` and every roster import can call it freely. Every assignment created,
completed, waived or gone overdue is written to the evidence log in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from . import clock, evidence, jobs
from .content import Library, Module, label
from .content.curricula import Curricula
from .content_names import ContentNames
from .db import Steps
from .models import Answer, Assignment, Attempt, TriggerEvent, User, as_utc, utcnow
from .words import ngettext


def add_months(day: date, months: int) -> date:
    """Same day of the month, ``months`` later (the 31st becomes the month's last day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover


def _log(
    session: Session, event: str, a: Assignment, library: Library | None, attempt: Attempt | None = None, **details
) -> None:
    module = library.modules.get(a.module_id) if library else None
    version = attempt.module_version if attempt else (module.version if module else None)
    policy = attempt.policy_version if attempt else (module.policy_version if module else None)
    evidence.append(
        session,
        event,
        user=a.user,
        module_id=a.module_id,
        content_version=version,
        policy_version=policy,
        details={
            "assignment": a.id,
            "reason": a.reason,
            "due_on": a.due_on.isoformat(),
            "detail": a.detail,
            "assigned_by": a.assigned_by.email if a.assigned_by else "rules",
            "trigger_event": a.trigger_event_id,
            **({"objective": a.objective} if a.objective else {}),
            **details,
        },
    )


# --- reading ---------------------------------------------------------------------------------


def open_assignment(session: Session, user_id: int, module_id: str) -> Assignment | None:
    return session.scalar(
        select(Assignment).where(
            Assignment.user_id == user_id,
            Assignment.module_id == module_id,
            Assignment.state.in_(("open", "overdue")),
        )
    )


def of_user(session: Session, user_id: int) -> list[Assignment]:
    return list(
        session.scalars(
            select(Assignment).where(Assignment.user_id == user_id).order_by(Assignment.due_on, Assignment.id)
        )
    )


#: Reasons and states as a manager reads them; the codes stay in the database and the evidence.
REASON_LABELS = {
    "onboarding": "Onboarding",
    "refresher": "Refresher plan",
    "objective-follow-up": "Missed objective",
    "annual-refresher": "Annual refresher",  # the refresher plan's name before December 2026
    "policy-change": "Policy change",
    "trigger-event": "Trigger event",
    "manager-choice": "Manager's choice",
    "state-mandate": "State mandate",
}
STATE_LABELS = {"open": "Open", "overdue": "Overdue", "done": "Done", "waived": "Waived"}


def state_as_of(state: str, due_on: date, today: date, *, active: bool = True) -> str:
    """An assignment's state as it is true on ``today``, for everything shown or counted: open and
    past its due date, for someone still here, is overdue whether or not the daily job has marked
    it yet; marked overdue but not yet past its due date (marked for a day that had not come, as
    an old ``--today`` could) is open, due that day. A departed person's open training does not
    become overdue (assignments.refresh, the same rule); one marked before they left stays so."""
    if state == "overdue" and due_on >= today:
        return "open"
    if state == "open" and due_on < today and active:
        return "overdue"
    return state


def state_of(a: Assignment, today: date) -> str:
    """``state_as_of`` for one assignment (its person loaded with it)."""
    return state_as_of(a.state, a.due_on, today, active=a.user.active)


def reason_label(code: str) -> str:
    """An assignment's reason in words; an unknown code as it is."""
    return REASON_LABELS.get(code, code)


def state_label(code: str) -> str:
    """An assignment's state in words; an unknown code as it is."""
    return STATE_LABELS.get(code, code)


def why(a: Assignment) -> str:
    """Why a learner owes this module, in their words (shown on My training). Never a trigger
    event's title or a manager's note: those are written for managers and can name people."""
    if a.reason == "onboarding":
        return "Part of your onboarding."
    if a.reason == "state-mandate":
        return f"Required by state law: {a.detail}." if a.detail else "Required by state law."
    if a.reason == "annual-refresher":
        return "Your regular refresher."
    if a.reason == "refresher":
        return f"Your refresher plan: {a.detail}." if a.detail else "Your refresher plan."
    if a.reason == "objective-follow-up":
        return (
            f"A short refresher on something you missed: {a.detail}."
            if a.detail
            else "A short refresher on something you missed."
        )
    if a.reason == "policy-change":
        change = re.search(r"version (\S+) -> (\S+)$", a.detail or "")
        if change:
            return f"The policy changed (version {change[1]} to {change[2]}) since you last took it."
        return "The policy changed since you last took it."
    if a.reason == "trigger-event":
        return "Assigned after something that happened at work."
    if a.reason == "manager-choice":
        return "Assigned by your manager."
    return ""


def completions(session: Session, user_id: int, module_id: str) -> list[Attempt]:
    """Signed (completed) attempts, oldest first."""
    return list(
        session.scalars(
            select(Attempt)
            .where(
                Attempt.user_id == user_id,
                Attempt.module_id == module_id,
                Attempt.acknowledged_at.is_not(None),
            )
            .order_by(Attempt.acknowledged_at)
        )
    )


def org_day(moment: datetime) -> date:
    """The organization's day of a stored moment (TIME_ZONE: quiz/clock.py)."""
    return clock.org_day(as_utc(moment))


# --- writing ---------------------------------------------------------------------------------


def ensure(
    session: Session,
    user: User,
    module_id: str,
    due_on: date,
    reason: str,
    *,
    library: Library | None = None,
    detail: str | None = None,
    by: User | None = None,
    event: TriggerEvent | None = None,
    objective: str | None = None,
) -> Assignment | None:
    """Assign unless the person already has this module open. Returns the new assignment.
    The database holds the rule too (one open assignment per person and module): one made
    meanwhile by someone else is found there, and then none is made here."""
    if open_assignment(session, user.id, module_id) is not None:
        return None
    session.flush()  # what the caller changed stays outside the savepoint below
    try:
        with session.begin_nested():  # a savepoint: a clash undoes this insert only
            a = Assignment(
                user=user,
                module_id=module_id,
                due_on=due_on,
                reason=reason,
                detail=detail,
                objective=objective,
                assigned_by=by,
                trigger_event=event,
                state="open",
            )
            session.add(a)
    except IntegrityError:
        return None
    _log(session, "assignment.created", a, library)
    return a


def complete(session: Session, attempt: Attempt, library: Library | None = None) -> list[Assignment]:
    """A signed attempt closes every open assignment of that module for that person."""
    closed = []
    for a in session.scalars(
        select(Assignment).where(
            Assignment.user_id == attempt.user_id,
            Assignment.module_id == attempt.module_id,
            Assignment.state.in_(("open", "overdue")),
        )
    ):
        a.state = "done"
        a.closed_at = utcnow()
        a.closed_by_attempt_id = attempt.id
        _log(
            session,
            "assignment.completed",
            a,
            library,
            attempt,
            attempt_number=attempt.number,
            late=a.due_on < org_day(a.closed_at),
        )
        closed.append(a)
    return closed


def waive(session: Session, a: Assignment, by: User, reason: str, library: Library | None = None) -> None:
    if not reason.strip():
        raise ValueError("a waiver needs a reason")
    if not a.is_open:
        raise ValueError("only an open assignment can be waived")
    a.state = "waived"
    a.waived_reason = reason.strip()
    a.closed_at = utcnow()
    _log(session, "assignment.waived", a, library, waived_by=by.email, why=a.waived_reason)


# --- the rules -------------------------------------------------------------------------------
#
# Set-based: each rule works out what is owed (``Due``) from a handful of queries for everyone
# at once (``_Known``), not one per person and module; ``_create`` then makes the assignments
# (and their evidence) in the caller's transaction, checking again what matters when it writes.
# The daily job (``refresh``) reads with no write lock held and writes in short batches.

#: Assignments made (or marked overdue) per writing transaction of a daily job: about 40-60 ms
#: of SQLite's write lock on a 2-core machine, evidence included (bench/README.md, jobs_scale).
BATCH = 200
#: Ids per IN (...) list when reading for many people at once.
_CHUNK = 900
OPEN_STATES = ("open", "overdue")


@dataclass(frozen=True)
class Due:
    """An assignment a rule says is owed and not yet open."""

    user_id: int
    module_id: str
    due_on: date
    reason: str
    rule: str  # the RefreshReport list it counts in: onboarding, recurring, follow_up, policy_change
    detail: str | None = None
    objective: str | None = None


@dataclass(frozen=True)
class _Person:
    """What the rules read of a person (a User has the same attributes)."""

    id: int
    job_role: str
    specialty: str | None
    work_state: str | None
    hire_date: date | None
    created_at: datetime | None
    active: bool = True


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _active_people(session: Session) -> list[_Person]:
    return [
        _Person(*row)
        for row in session.execute(
            select(User.id, User.job_role, User.specialty, User.work_state, User.hire_date, User.created_at)
            .where(User.active.is_(True))
            .order_by(User.id)
        )
    ]


@dataclass
class _Known:
    """Open assignments and completions of many people, read at once: ``open`` holds (person,
    module) pairs with an open assignment (and each one planned: a rule never plans what
    another already did); ``done`` maps (person, module) to each policy version signed and
    when it was last signed."""

    open: set[tuple[int, str]] = field(default_factory=set)
    done: dict[tuple[int, str], dict[str, datetime]] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, user_ids: list[int] | None) -> _Known:
        """For everyone (``user_ids`` None) or for these people."""
        known = cls()
        opened = select(Assignment.user_id, Assignment.module_id).where(Assignment.state.in_(OPEN_STATES))
        signed = (
            select(Attempt.user_id, Attempt.module_id, Attempt.policy_version, func.max(Attempt.acknowledged_at))
            .where(Attempt.acknowledged_at.is_not(None))
            .group_by(Attempt.user_id, Attempt.module_id, Attempt.policy_version)
        )
        batches: list[list[int] | None] = [None] if user_ids is None else list(_chunks(sorted(user_ids)))
        for ids in batches:
            o = opened if ids is None else opened.where(Assignment.user_id.in_(ids))
            s = signed if ids is None else signed.where(Attempt.user_id.in_(ids))
            known.open.update((u, m) for u, m in session.execute(o))
            for u, m, policy, at in session.execute(s):
                known.done.setdefault((u, m), {})[policy] = as_utc(at)
        return known

    def last_done(self, user_id: int, module_id: str) -> tuple[datetime, str] | None:
        """When the person last signed the module, and its policy version then."""
        signed = self.done.get((user_id, module_id))
        if not signed:
            return None
        policy, at = max(signed.items(), key=lambda item: item[1])
        return at, policy

    def plan(self, wanted: list[Due], due: Due) -> None:
        """Add ``due`` unless the person has (or was just planned) this module open."""
        key = (due.user_id, due.module_id)
        if key not in self.open:
            self.open.add(key)
            wanted.append(due)


def _onboarding(
    person, curricula: Curricula, library: Library, today: date, new: bool, known: _Known, wanted: list[Due]
) -> None:
    """Onboarding and state-mandate modules the person should hold (on add, import, change; and
    daily, for anything missing). A new hire's dates count from the hire date; a changed
    person's from today. Modules the person has completed are not assigned again."""
    start = (person.hire_date or today) if new else today
    plan = curricula.plan(person.job_role)
    items: list[tuple[str, date, str, str | None]] = [
        (m, start + timedelta(days=plan.onboarding_days), "onboarding", None) for m in plan.onboarding
    ]
    rule = curricula.states.get(person.work_state or "")
    if rule is not None:
        items += [
            (m, start + timedelta(days=rule.within_days_of_hire), "state-mandate", rule.law) for m in rule.modules
        ]
    for module_id, due, reason, detail in items:
        module = library.modules.get(module_id)
        if module is None or not module.is_for(person.job_role, person.specialty) and reason == "onboarding":
            continue
        if (person.id, module_id) in known.done:
            continue
        known.plan(wanted, Due(person.id, module_id, due, reason, "onboarding", detail=detail))


def _refreshers(person, curricula: Curricula, library: Library, today: date, known: _Known, wanted: list[Due]) -> None:
    """The person's refresher plan (their role's, and everyone's): each module falls due
    ``every_months`` after its last completion, or, never taken and with ``first_after_days``,
    that many days after their hire date and then on that day each year. It is assigned once it
    is within the due-soon window, so the learner sees it coming."""
    start = person.hire_date or org_day(person.created_at or utcnow())
    for item, whose in curricula.refreshers(person.job_role):
        module = library.modules.get(item.module)
        if (
            module is None
            or not module.is_for(person.job_role, person.specialty)
            or not module.covers_state(person.work_state)
        ):
            continue
        last = known.last_done(person.id, item.module)
        if last is not None:
            due = add_months(org_day(last[0]), item.every_months)
        elif item.first_after_days is None:
            continue  # never trained: onboarding covers it
        else:
            due = start + timedelta(days=item.first_after_days)
            while due < today:  # the next of its days, not one long gone
                due = add_months(due, item.every_months)
        if due - timedelta(days=curricula.due_soon_days) > today:
            continue
        plan = "everyone" if whose == "everyone" else f"{label(whose).lower()} staff"
        known.plan(
            wanted,
            Due(
                person.id,
                item.module,
                due,
                "refresher",
                "recurring",
                detail=ngettext(
                    "every %(num)d month, for %(plan)s",
                    "every %(num)d months, for %(plan)s",
                    item.every_months,
                    plan=plan,
                ),
            ),
        )


def _policy_changes(
    people, curricula: Curricula, library: Library, today: date, known: _Known, wanted: list[Due]
) -> None:
    """Material change: whoever completed an earlier policy version of a module, and holds a
    role it covers, is assigned the module again, with the change recorded as the reason."""
    for module in library.modules.values():
        for person in people:
            signed = known.done.get((person.id, module.id))
            if not signed or module.policy_version in signed:
                continue
            if not module.is_for(person.job_role, person.specialty) or not module.covers_state(person.work_state):
                continue
            due = today + timedelta(days=curricula.policy_change_days)
            rule = curricula.states.get(person.work_state or "")
            if rule is not None and module.id in rule.modules and rule.after_law_change_days:
                due = min(due, today + timedelta(days=rule.after_law_change_days))
            _, before = known.last_done(person.id, module.id) or (None, "?")
            known.plan(
                wanted,
                Due(
                    person.id,
                    module.id,
                    due,
                    "policy-change",
                    "policy_change",
                    detail=f"{module.policy_name}: version {before} -> {module.policy_version}",
                ),
            )


def _follow_ups(
    session: Session,
    curricula: Curricula,
    library: Library,
    today: date,
    known: _Known,
    people: dict[int, _Person] | None,
    wanted: list[Due],
) -> None:
    """Missed objectives come back, spaced. A first answer that was wrong (or critical) in a
    finished attempt is a miss of its decision's objective. The first miss of an objective is
    followed, ``after_days[0]`` days later, by a refresher that trains it (a refresher module the
    person may take that declares the same objective id); a miss after that follow-up was
    assigned brings the next one ``after_days[1]`` days after it, and so on down the list. Each
    is due ``due_days`` after it is assigned. Read with two queries for everyone at once."""
    plan = curricula.follow_up
    misses = session.execute(
        select(Attempt.user_id, Answer.objective, func.max(Answer.answered_at), Attempt.module_id)
        .join(Attempt, Answer.attempt_id == Attempt.id)
        .join(User, Attempt.user_id == User.id)
        .where(
            User.active.is_(True),
            Attempt.stage == "finished",
            Answer.objective.is_not(None),
            or_(and_(Answer.first_visit.is_(True), Answer.correct.is_(False)), Answer.critical.is_(True)),
        )
        .group_by(Attempt.user_id, Answer.objective, Attempt.module_id)
    ).all()
    if not misses:
        return
    last_miss: dict[tuple[int, str], tuple[datetime, str]] = {}
    for user_id, objective, at, module_id in misses:
        key = (user_id, objective)
        if key not in last_miss or as_utc(at) > last_miss[key][0]:
            last_miss[key] = (as_utc(at), module_id)
    earlier: dict[tuple[int, str], tuple[int, datetime]] = {
        (user_id, objective): (count, as_utc(latest))
        for user_id, objective, count, latest in session.execute(
            select(Assignment.user_id, Assignment.objective, func.count(Assignment.id), func.max(Assignment.created_at))
            .where(Assignment.reason == "objective-follow-up", Assignment.objective.is_not(None))
            .group_by(Assignment.user_id, Assignment.objective)
        )
    }
    if people is None:
        ids = sorted({user_id for user_id, _ in last_miss})
        people = {
            p.id: p
            for chunk in _chunks(ids)
            for p in (
                _Person(*row)
                for row in session.execute(
                    select(
                        User.id, User.job_role, User.specialty, User.work_state, User.hire_date, User.created_at
                    ).where(User.id.in_(chunk), User.active.is_(True))
                )
            )
        }
    names = ContentNames(library, session)
    for (user_id, objective), (missed_at, module_id) in sorted(last_miss.items()):
        count, latest = earlier.get((user_id, objective), (0, None))
        if latest is not None and missed_at <= latest:
            continue  # followed up since: only a new miss brings the next one
        if count >= len(plan.after_days):
            continue  # the list is used up: the manager's results show it
        if org_day(missed_at) + timedelta(days=plan.after_days[count]) > today:
            continue
        person = people.get(user_id)
        if person is None:
            continue
        refresher = _refresher_for(library, curricula, person, objective, module_id)
        if refresher is None:
            continue
        text = refresher.objectives.get(objective, objective)
        known.plan(
            wanted,
            Due(
                user_id,
                refresher.id,
                today + timedelta(days=plan.due_days),
                "objective-follow-up",
                "follow_up",
                objective=objective,
                detail=f"\u201c{text}\u201d, missed in {names.module(module_id)} on {org_day(missed_at):%d %b %Y}",
            ),
        )


def _create(
    session: Session, wanted: list[Due], library: Library | None, *, since: datetime | None = None
) -> list[Assignment]:
    """Make the ``wanted`` assignments, with their evidence, in the caller's transaction; but not
    one the person has open by now, nor one whose module they signed since ``since`` (when the
    rules were read), nor one for a person no longer active. Reads in a few queries."""
    if not wanted:
        return []
    ids = sorted({d.user_id for d in wanted})
    people: dict[int, User] = {}
    open_now: set[tuple[int, str]] = set()
    signed_since: set[tuple[int, str]] = set()
    for chunk in _chunks(ids):
        people.update(
            (u.id, u)
            for u in session.scalars(select(User).options(joinedload(User.supervisor)).where(User.id.in_(chunk)))
        )
        open_now.update(
            session.execute(
                select(Assignment.user_id, Assignment.module_id).where(
                    Assignment.user_id.in_(chunk), Assignment.state.in_(OPEN_STATES)
                )
            ).tuples()
        )
        if since is not None:
            signed_since.update(
                session.execute(
                    select(Attempt.user_id, Attempt.module_id).where(
                        Attempt.user_id.in_(chunk), Attempt.acknowledged_at >= since
                    )
                ).tuples()
            )
    rows = []
    for d in wanted:
        person = people.get(d.user_id)
        key = (d.user_id, d.module_id)
        if person is None or not person.active or key in open_now or key in signed_since:
            continue
        open_now.add(key)
        rows.append(
            {
                "user_id": d.user_id,
                "module_id": d.module_id,
                "due_on": d.due_on,
                "reason": d.reason,
                "detail": d.detail,
                "objective": d.objective,
                "state": "open",
                "created_at": utcnow(),
            }
        )
    if not rows:
        return []
    session.flush()  # the caller's changes first (people just made, when a roster is imported)
    # Inserted in a few statements (not one per assignment), then read back as objects, by id;
    # each one's person is already in the session, with their supervisor, for the evidence.
    table = cast(Table, Assignment.__table__)
    ids = sorted(session.execute(insert(table).returning(table.c.id), rows).scalars())
    made = [
        a
        for chunk in _chunks(ids)
        for a in session.scalars(select(Assignment).where(Assignment.id.in_(chunk)).order_by(Assignment.id))
    ]
    for a in made:
        _log(session, "assignment.created", a, library)
    return made


def _rule_of(wanted: list[Due], made: list[Assignment]) -> dict[int, str]:
    rules = {(d.user_id, d.module_id): d.rule for d in wanted}
    return {id(a): rules[(a.user_id, a.module_id)] for a in made}


def for_people(
    session: Session,
    people: list[User],
    curricula: Curricula,
    library: Library,
    today: date,
    *,
    new: bool = False,
) -> list[Assignment]:
    """``for_person`` for many people at once (a roster import), in a few queries."""
    clock.check_not_future(today)
    people = [p for p in people if p.active]
    if not people:
        return []
    known = _Known.read(session, [p.id for p in people])
    wanted: list[Due] = []
    for person in people:
        _onboarding(person, curricula, library, today, new, known, wanted)
    return _create(session, wanted, library)


def for_person(
    session: Session,
    person: User,
    curricula: Curricula,
    library: Library,
    today: date,
    *,
    new: bool = False,
) -> list[Assignment]:
    """Onboarding and state-mandate assignments a person should hold (on add, import, change).

    A new hire's dates count from the hire date; a changed person's (new role, new state) from
    today. Modules the person has already completed are not assigned again. ``today`` may be a
    past day, never one to come (ValueError: clock.check_not_future). In the caller's transaction.
    """
    return for_people(session, [person], curricula, library, today, new=new)


@dataclass(frozen=True)
class Made:
    """An assignment a job made or marked, as it was then (a job's report keeps these, not the
    database objects, so that the session does not grow with every batch)."""

    id: int
    user_id: int
    module_id: str
    due_on: date
    reason: str
    detail: str | None
    objective: str | None
    state: str

    @classmethod
    def of(cls, a: Assignment) -> Made:
        return cls(a.id, a.user_id, a.module_id, a.due_on, a.reason, a.detail, a.objective, a.state)


@dataclass
class RefreshReport:
    overdue: list[Made] = field(default_factory=list)
    recurring: list[Made] = field(default_factory=list)
    policy_change: list[Made] = field(default_factory=list)
    onboarding: list[Made] = field(default_factory=list)
    follow_up: list[Made] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"assignments refreshed: {len(self.onboarding)} onboarding/state, "
            f"{len(self.recurring)} refresher, {len(self.follow_up)} missed-objective, "
            f"{len(self.policy_change)} policy-change created; {len(self.overdue)} marked overdue"
        )


def _write_in_batches(
    session: Session,
    steps: Steps,
    wanted: list[Due],
    library: Library,
    since: datetime,
    report: RefreshReport | None = None,
) -> list[Made]:
    """Make ``wanted`` in short writing steps of ``BATCH``, each checking again what it writes
    (``_create``). A batch that meets an assignment made meanwhile by someone else (the unique
    rule: one open per person and module) is read again and retried."""
    made: list[Made] = []
    for batch in _chunks(wanted, BATCH):
        for attempt in range(3):
            try:
                with steps.write():
                    created = _create(session, batch, library, since=since)
                    rules = _rule_of(batch, created)
                    done = [(Made.of(a), rules[id(a)]) for a in created]
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        made += [m for m, _ in done]
        if report is not None:
            for m, rule in done:
                getattr(report, rule).append(m)
    return made


def refresh(
    session: Session, curricula: Curricula, library: Library, today: date, *, steps: Steps | None = None
) -> RefreshReport:
    """The daily job: missing onboarding, recurring refreshers, missed objectives, policy
    changes, overdue marks. ``today`` may be a day the job missed, never one to come
    (ValueError, nothing written).

    One run at a time (the run lock ``assignments-refresh``: a second meanwhile raises
    jobs.AlreadyRunning). It reads what everyone owes in one read step (a few queries, no write
    lock), then writes in short steps of ``BATCH`` assignments; run again, it finds nothing to
    do. ``steps``: as the caller's layer runs them (by default ``db.Steps``)."""
    clock.check_not_future(today)
    steps = steps or Steps(session)
    report = RefreshReport()
    with jobs.exclusive_run(session, "assignments-refresh", "assignments refresh", steps):
        since = utcnow()
        with steps.read():
            people = _active_people(session)
            known = _Known.read(session, None)
            wanted: list[Due] = []
            for person in people:
                _onboarding(person, curricula, library, today, False, known, wanted)
                _refreshers(person, curricula, library, today, known, wanted)
            _follow_ups(session, curricula, library, today, known, {p.id: p for p in people}, wanted)
            _policy_changes(people, curricula, library, today, known, wanted)
            late = list(
                session.scalars(
                    select(Assignment.id)
                    .join(User, Assignment.user_id == User.id)
                    .where(Assignment.state == "open", Assignment.due_on < today, User.active.is_(True))
                    .order_by(Assignment.id)
                )
            )  # a deactivated person's training is not "overdue": they no longer work here
        _write_in_batches(session, steps, wanted, library, since, report)
        for batch in _chunks(late, BATCH):
            with steps.write():
                report.overdue += _mark_overdue(session, batch, library, today)
    return report


def _mark_overdue(session: Session, ids: list[int], library: Library, today: date) -> list[Made]:
    """Mark these assignments overdue, if they are still open, late, and their person active."""
    marked = list(
        session.scalars(
            select(Assignment)
            .join(User, Assignment.user_id == User.id)
            .options(joinedload(Assignment.user).joinedload(User.supervisor), joinedload(Assignment.assigned_by))
            .where(Assignment.id.in_(ids), Assignment.state == "open", Assignment.due_on < today, User.active.is_(True))
            .order_by(Assignment.id)
        )
    )
    for a in marked:
        a.state = "overdue"
        _log(session, "assignment.overdue", a, library, days_late=(today - a.due_on).days)
    return [Made.of(a) for a in marked]


def follow_ups(session: Session, curricula: Curricula, library: Library, today: date) -> list[Assignment]:
    """The missed-objective follow-ups owed ``today`` (``_follow_ups``), made in the caller's
    transaction."""
    clock.check_not_future(today)
    wanted: list[Due] = []
    _follow_ups(session, curricula, library, today, _Known.read(session, None), None, wanted)
    return _create(session, wanted, library)


def _refresher_for(library: Library, curricula: Curricula, person, objective: str, missed_in: str) -> Module | None:
    """The refresher to follow a missed objective up with: one the person may take that declares
    the objective; of those, one in their role's own plan first (it tells their job's story),
    then everyone's, then any other; another module than the one it was missed in if there is
    one; then the shortest."""
    plan = {item.module: 0 if whose != "everyone" else 1 for item, whose in curricula.refreshers(person.job_role)}
    found = [
        m
        for m in library.modules.values()
        if m.kind == "refresher"
        and objective in m.objectives
        and m.is_for(person.job_role, person.specialty)
        and m.covers_state(person.work_state)
    ]
    found.sort(key=lambda m: (m.id == missed_in, plan.get(m.id, 2), m.minutes, m.id))
    return found[0] if found else None


def policy_changes(
    session: Session,
    curricula: Curricula,
    library: Library,
    today: date,
    people: list[User] | None = None,
) -> list[Assignment]:
    """Material change (``_policy_changes``), made in the caller's transaction: whoever
    completed an earlier policy version of a module, and holds a role it covers, is assigned the
    module again. ``today`` may be a past day, never one to come (ValueError)."""
    clock.check_not_future(today)
    who: list = people if people is not None else _active_people(session)
    wanted: list[Due] = []
    _policy_changes(who, curricula, library, today, _Known.read(session, [p.id for p in who]), wanted)
    return _create(session, wanted, library)


def policy_change_preview(
    session: Session, curricula: Curricula, library: Library, module_id: str, today: date
) -> list[Due]:
    """A dry run of ``_policy_changes`` for one module of ``library`` (a draft's, before it is
    published): who would be assigned it again, and by when. Nothing is written."""
    module = library.modules.get(module_id)
    if module is None:
        return []
    wanted: list[Due] = []
    people = _active_people(session)
    only = Library(modules={module_id: module}, scenarios=library.scenarios)
    _policy_changes(people, curricula, only, today, _Known.read(session, None), wanted)
    return wanted


def retrain_after_policy_changes(
    session: Session, curricula: Curricula, library: Library, today: date, *, steps: Steps | None = None
) -> list[Made]:
    """``policy_changes`` for a job (``content load``): read in one step with no write lock
    held, written in short steps of ``BATCH``. The caller holds the job's run lock."""
    clock.check_not_future(today)
    steps = steps or Steps(session)
    since = utcnow()
    with steps.read():
        people = _active_people(session)
        wanted: list[Due] = []
        _policy_changes(people, curricula, library, today, _Known.read(session, None), wanted)
    return _write_in_batches(session, steps, wanted, library, since)


# --- state signed statements -----------------------------------------------------------------


@dataclass(frozen=True)
class SignedStatement:
    """A state's signed statement of completion (curricula.yml: ``signed_statement: true``):
    signing the module's acknowledgement is that statement, kept ``retain_years``."""

    state: str
    law: str
    retain_years: int | None

    def keep_until(self, signed_on: date) -> date | None:
        return add_months(signed_on, 12 * self.retain_years) if self.retain_years else None

    def words(self, signed_on: date) -> str:
        """As the attempt, the certificate and the training report keep it."""
        until = self.keep_until(signed_on)
        kept = f"; kept until {until.isoformat()}" if until else ""
        return f"Signed statement of completion under {self.law}{kept}"


def signed_statement_for(curricula: Curricula, person: User, module_id: str) -> SignedStatement | None:
    """The statement a person's signature on this module also is: their work state's, when that
    state asks for a signed statement of completion of this module."""
    rule = curricula.states.get(person.work_state or "")
    if rule is None or not rule.signed_statement or module_id not in rule.modules:
        return None
    return SignedStatement(person.work_state or "", rule.law, rule.retain_years)


# --- people's standing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    state: str  # one of STANDINGS
    label: str


#: Every standing, in the order the team page's filter offers them.
STANDINGS: dict[str, str] = {
    "overdue": "Overdue",
    "due-soon": "Due soon",
    "never-trained": "Never trained",
    "attempted": "Attempted, not passed",
    "not-yet-due": "Not yet due",
    "current": "Current",
}


def _standing(state: str) -> Standing:
    return Standing(state, STANDINGS[state])


def standing(session: Session, person: User, today: date, due_soon_days: int = 14) -> Standing:
    """A person's training in one word, the first that holds:

    * overdue: an open assignment is past its due date;
    * never signed a module:
      - attempted: they have attempts (failed, or not finished or signed yet);
      - not yet due: no attempt, and every open assignment falls due after today (a new
        hire inside their onboarding window);
      - never trained: no attempt, and training due today or nothing assigned at all;
    * signed one before: due soon (an open assignment due within ``due_soon_days``), else current.
    """
    mine = of_user(session, person.id)
    attempts, signed = session.execute(
        select(func.count(Attempt.id), func.count(Attempt.acknowledged_at)).where(Attempt.user_id == person.id)
    ).one()
    open_ = [a for a in mine if a.is_open]
    if any(state_as_of(a.state, a.due_on, today) == "overdue" for a in open_):
        return _standing("overdue")
    if not signed:
        if attempts:
            return _standing("attempted")
        if open_ and all(a.due_on > today for a in open_):
            return _standing("not-yet-due")
        return _standing("never-trained")
    if any(a.due_on <= today + timedelta(days=due_soon_days) for a in open_):
        return _standing("due-soon")
    return _standing("current")


def onboarding_done(session: Session, person: User) -> bool:
    """Cleared for PHI access needs every onboarding (and state) assignment done, and at least one."""
    onboarding = [a for a in of_user(session, person.id) if a.reason in ("onboarding", "state-mandate")]
    return bool(onboarding) and all(a.state in ("done", "waived") for a in onboarding)


def clear_for_phi(session: Session, person: User, by: User) -> None:
    if not onboarding_done(session, person):
        raise ValueError(f"{person.name} has onboarding training still open")
    person.cleared_at = utcnow()
    person.cleared_by_id = by.id
    evidence.append(
        session,
        "person.cleared-for-phi",
        user=person,
        details={"cleared_by": by.email},
    )


def may_take(curricula: Curricula, module: Module, person) -> bool:
    """Whether a person may be assigned a module: the module's audience takes them in (a job role
    and a specialty it is written for, and for a state-law module one of its states), or the
    curricula ask it of everyone who works in their state. A role's plan in the curricula does not
    widen a module's audience: its modules are held to it too (``_refreshers``)."""
    rule = curricula.states.get(person.work_state or "")
    if rule is not None and module.id in rule.modules:
        return True
    return module.is_for(person.job_role, person.specialty) and module.covers_state(person.work_state)


@dataclass(frozen=True)
class Offer:
    """A module the manager's refresher list offers for a missed objective, and who of the people
    who missed it may take it (``may_take``)."""

    module: Module
    takers: frozenset[int]
    trains: bool  # it declares the objective (else: offered only because none that does fits)


def refresher_offers(
    library: Library, curricula: Curricula, objective: str, people: list, missed_in: str | None = None
) -> list[Offer]:
    """What a manager may assign to ``people`` who missed ``objective``: the modules that train it
    (declare the same objective id) that at least one of them may take; when none does, every
    module one of them may take. Best first: one all of them may take; a refresher before a full
    module; one in their role's own plan, then everyone's; another than the module it was missed
    in; the shortest. A module none of them may take is never offered (a front-desk learner is not
    sent the business associates' module)."""

    def offers(candidates: list[Module], trains: bool) -> list[Offer]:
        found = []
        for m in candidates:
            takers = frozenset(p.id for p in people if may_take(curricula, m, p))
            if takers:
                found.append(Offer(m, takers, trains))
        return found

    found = offers([m for m in library.modules.values() if objective in m.objectives], True)
    if not found:
        found = offers(list(library.modules.values()), False)
    plans: dict[str, int] = {}
    for role in {p.job_role for p in people}:
        for item, whose in curricula.refreshers(role):
            plans[item.module] = min(plans.get(item.module, 2), 0 if whose != "everyone" else 1)
    everyone = len({p.id for p in people})
    found.sort(
        key=lambda o: (
            len(o.takers) < everyone,
            o.module.kind != "refresher",
            plans.get(o.module.id, 2),
            o.module.id == missed_in,
            o.module.minutes,
            o.module.title.lower(),
        )
    )
    return found

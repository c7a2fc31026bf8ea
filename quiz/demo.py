"""The demonstration organization (``flask --app app demo seed``, which ``make run`` runs): a small
clinic whose every page has something true to show on the first visit.

Made through the product's own functions, never by writing rows or evidence by hand: accounts by
``accounts.create_user``, training owed by ``assignments.for_person`` (dated from each person's
hire date, which is in the past for most of them, so some training is already late), modules
taken through ``engine`` screen by screen and choice by choice, the trigger event by
``triggers.record``, and then the daily jobs as cron would run them (``daily_jobs``: the
assignments refresh, which marks late training overdue, and the reminders). The evidence log is
appended to in the order things are done, each record stamped with the real time it was made:
what is in the past is only what the product itself lets be dated (a hire date, the day an event
happened, the due dates that follow from them). The attempts are taken now, at seeding.

Who is who (README.md, "The demo organization", says what each account sees):

- Dana Whitfield, front desk, hired 20 days ago: failed her onboarding module on the first try
  (a critical choice), took it again, passed and signed; also did the refresher the trigger
  event assigned her.
- Luis Ortega, dental front desk, hired 3 days ago: nothing taken; training not yet due.
- Priya Raman, case manager, hired 70 days ago: onboarding due 40 days ago, not started: overdue.
- Sam Okafor, pharmacy, hired 12 days ago: failed his onboarding module and has not retried.
- Jordan Lee, a business associate's staff member (Clearwater Billing Services, recorded as
  ``ba-staff`` with that firm): passed and signed onboarding, 20 days after it was due.
- Morgan Manager, their supervisor: recorded the trigger event (an audit finding, five days ago)
  that assigned the records-request refresher to the front desk; sees the team's standing, and
  the missed objectives of Dana's and Sam's first tries with a refresher to assign.

Plain Python over a session (no Flask); ``seed`` writes in the caller's transaction and commits
nothing. Content missing from the library (a test library, say) leaves its part of the story out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import accounts, assignments, engine, reminders, team, triggers
from .content import Choice, Library, Module, label
from .content.curricula import Curricula
from .db import Steps
from .models import Attempt, User

#: The firm whose staff member the demo records as business associate staff.
BA_FIRM = "Clearwater Billing Services"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: str  # account role
    job_role: str
    specialty: str | None
    department: str
    supervisor: str | None
    hired_days_ago: int = 0
    kind: str = "employee"  # models.PERSON_KINDS
    vendor: str | None = None


MANAGER = "manager@demo.rounds"

PEOPLE = (
    Person("admin@demo.rounds", "Avery Admin", "admin", "leadership", None, "Compliance", None),
    Person(MANAGER, "Morgan Manager", "manager", "leadership", None, "Patient Access", None),
    Person("trainer@demo.rounds", "Riley Chen", "trainer", "leadership", None, "Privacy Office", None),
    Person("compliance@demo.rounds", "Jamie Brooks", "compliance", "leadership", None, "Privacy Office", None),
    Person(
        "frontdesk@demo.rounds", "Dana Whitfield", "learner", "front-desk", "medical", "Patient Access", MANAGER, 20
    ),
    Person("dental@demo.rounds", "Luis Ortega", "learner", "front-desk", "dental", "Dental Clinic", MANAGER, 3),
    Person("casemanager@demo.rounds", "Priya Raman", "learner", "case-manager", None, "Care Coordination", MANAGER, 70),
    Person("pharmacy@demo.rounds", "Sam Okafor", "learner", "pharmacy", "pharmacy", "Outpatient Pharmacy", MANAGER, 12),
    Person(
        "vendor@demo.rounds",
        "Jordan Lee",
        "learner",
        "business-associate",
        None,
        "Billing Vendor",
        MANAGER,
        50,
        kind="ba-staff",
        vendor=BA_FIRM,
    ),
)

#: The trigger event Morgan records: when it happened, and what it assigns.
EVENT_DAYS_AGO = 5
EVENT_DUE_IN_DAYS = 14


@dataclass
class Account:
    email: str
    password: str
    role: str
    job_role: str
    specialty: str | None

    def line(self) -> str:
        shown = self.specialty if self.specialty and self.specialty != self.job_role else None
        what = f"{self.role}, {label(self.job_role).lower()}" + (f" ({label(shown)})" if shown else "")
        return f"  {self.email:<26} {self.password}   {what}"


@dataclass
class Seeded:
    """What ``seed`` made: the accounts with their passwords, and the story in words."""

    accounts: list[Account] = field(default_factory=list)
    story: list[str] = field(default_factory=list)


def exists(session: Session) -> bool:
    """Whether the database has any account (then there is nothing to seed)."""
    return session.scalar(select(User.id).limit(1)) is not None


def is_demo(session: Session) -> bool:
    """Whether this database holds the demo organization (its manager's account)."""
    return accounts.find_by_email(session, MANAGER) is not None


def seed(session: Session, curricula: Curricula, library: Library, today: date) -> Seeded | None:
    """Make the demo organization in the caller's transaction; None, doing nothing, if the
    database has any account already."""
    if exists(session):
        return None
    made = Seeded()
    people: dict[str, User] = {}
    for p in PEOPLE:
        secret = accounts.generate_password(email=p.email, name=p.name)
        user = accounts.create_user(
            session,
            email=p.email,
            name=p.name,
            password=secret,
            role=p.role,
            job_role=p.job_role,
            specialty=p.specialty,
            department=p.department,
            supervisor_email=p.supervisor,
        )
        # What HR knows of them, set as the account is made (the roster import's fields; no
        # evidence is written about them before this).
        user.hire_date = today - timedelta(days=p.hired_days_ago)
        user.person_kind = p.kind
        user.vendor = p.vendor
        assignments.for_person(session, user, curricula, library, today, new=True)
        people[p.email] = user
        made.accounts.append(Account(p.email, secret, p.role, p.job_role, p.specialty))

    dana, sam, jordan = people["frontdesk@demo.rounds"], people["pharmacy@demo.rounds"], people["vendor@demo.rounds"]
    manager = people[MANAGER]

    onboarding = _first_owed(session, library, dana)
    if onboarding is not None:
        first = _take(session, library, curricula, dana, onboarding, fail=True)
        second = _take(session, library, curricula, dana, onboarding)
        made.story.append(
            f"{dana.name} {_outcome(first)} {onboarding.title} at her first try, then {_outcome(second)} it."
        )

    reports = team.reports_of(session, manager)
    front_desk = triggers.people_in_scope(session, "job-role", "front-desk", reports)
    refresher = _refresher_for(library, curricula, "front-desk", front_desk) if front_desk else None
    if refresher is not None:
        event = triggers.record(
            session,
            by=manager,
            kind="audit-finding",
            title="Two records requests answered after 30 days",
            description="Found in the quarterly review of the request log. Refresher for the front desk.",
            occurred_on=today - timedelta(days=EVENT_DAYS_AGO),
            scope_kind="job-role",
            scope_value="front-desk",
            module_ids=[refresher.id],
            due_in_days=EVENT_DUE_IN_DAYS,
            library=library,
            today=today,
            within=reports,
        )
        done = ""
        if dana.id in {a.user_id for a in event.assignments}:
            _take(session, library, curricula, dana, refresher)
            done = f"; {dana.name} has done it"
        made.story.append(
            f"{manager.name} recorded a trigger event ({event.title}), assigning {refresher.title} to "
            f"{len(event.assignments)} people{done}."
        )

    pharmacy = _first_owed(session, library, sam)
    if pharmacy is not None:
        made.story.append(
            f"{sam.name} {_outcome(_take(session, library, curricula, sam, pharmacy, fail=True))} {pharmacy.title}."
        )

    priya = people["casemanager@demo.rounds"]
    late_for_priya = [a for a in assignments.of_user(session, priya.id) if a.is_open and a.due_on < today]
    if late_for_priya:
        made.story.append(
            f"{priya.name} has not started her onboarding, due {(today - late_for_priya[0].due_on).days} days ago."
        )

    duties = _first_owed(session, library, jordan)
    if duties is not None:
        late = assignments.open_assignment(session, jordan.id, duties.id)
        _take(session, library, curricula, jordan, duties)
        days = (today - late.due_on).days if late is not None else 0
        made.story.append(
            f"{jordan.name} ({BA_FIRM}) signed {duties.title}"
            + (f", {days} days after it was due." if days > 0 else ".")
        )
    return made


def daily_jobs(
    session: Session,
    curricula: Curricula,
    library: Library,
    today: date,
    settings: reminders.Settings,
    *,
    steps: Steps | None = None,
) -> list[str]:
    """Run the day's jobs once, as cron would after the demo is made: the assignments refresh
    (it marks late training overdue) and, only when no SMTP server is set (the messages stay in
    the outbox: never mail sent to the demo's made-up addresses), the reminders. What each did,
    in words."""
    done = [str(assignments.refresh(session, curricula, library, today, steps=steps))]
    if settings.smtp is None:
        done.append(str(reminders.send_all(session, today, library, settings, steps=steps)))
    return done


# --- taking a module, as a learner would ---------------------------------------------------------


def _first_owed(session: Session, library: Library, person: User) -> Module | None:
    """The module of the person's soonest open assignment (their onboarding), if in the library."""
    for a in assignments.of_user(session, person.id):
        module = library.modules.get(a.module_id)
        if a.is_open and module is not None and engine.content_to_start(library, module, person) is not None:
            return module
    return None


def _refresher_for(library: Library, curricula: Curricula, job_role: str, people: list[User]) -> Module | None:
    """The first refresher of the role's own plan that every one of ``people`` may take."""
    for item, _whose in curricula.refreshers(job_role):
        module = library.modules.get(item.module)
        if (
            module is not None
            and module.kind == "refresher"
            and all(module.is_for(p.job_role, p.specialty) for p in people)
            and all(engine.content_to_start(library, module, p) is not None for p in people)
        ):
            return module
    return None


def _outcome(attempt: Attempt) -> str:
    return "passed" if attempt.passed else "failed"


#: A walk that has not reached an ending after this many choices gives up choosing badly.
_MAX_CHOICES = 200


def _pick(choices: tuple[Choice, ...], seen: dict[str, int], *, fail: bool) -> Choice:
    """The choice a learner makes: failing, a critical one if there is one, else the one worth
    least; passing (or back at a decision twice), the safe one worth most. A way not taken yet
    before one that loops back."""

    def fresh(c: Choice) -> bool:
        return seen.get(c.target, 0) == 0

    if fail:
        critical = [c for c in choices if c.critical]
        if critical:
            return max(critical, key=fresh)
        return min(choices, key=lambda c: (c.points, not fresh(c)))
    safe = [c for c in choices if not c.critical] or list(choices)
    return max(safe, key=lambda c: (c.points, fresh(c)))


def _take(
    session: Session, library: Library, curricula: Curricula, person: User, module: Module, *, fail: bool = False
) -> Attempt:
    """One attempt at ``module`` through the engine, as the learner's pages make it: the lesson
    (skipped when every screen was read in an earlier attempt, as the page offers), each choice,
    each ending, and the signed acknowledgement if it passes. ``fail``: the first wrong turn is
    a critical choice, then the learner chooses well. Returns the finished attempt."""
    content = engine.content_to_start(library, module, person)
    if content is None:
        raise LookupError(f"{module.id} has no check for {person.email}")
    attempt = engine.start_attempt(session, person, content)
    if not engine.skip_lesson(session, library, attempt, content, attempt.step):
        while attempt.stage == "lesson":
            engine.next_screen(session, attempt, content, attempt.step)
    seen: dict[str, int] = {}
    wrong_turn = fail
    for _ in range(_MAX_CHOICES):
        if attempt.stage == "finished":
            break
        if attempt.stage == "ending":
            engine.continue_after_ending(session, attempt, content, attempt.step)
            continue
        node = engine.current_node(attempt, content)
        seen[node.id] = seen.get(node.id, 0) + 1
        choice = _pick(node.choices, seen, fail=wrong_turn and seen[node.id] == 1)
        if choice.critical or not choice.correct:
            wrong_turn = False  # one wrong turn; then back on track
        engine.choose(session, attempt, content, attempt.step, choice.number)
    else:
        raise RuntimeError(f"{module.id}: no ending after {_MAX_CHOICES} choices")
    if attempt.passed:
        engine.acknowledge(
            session,
            attempt,
            content,
            person.name,
            assignments.signed_statement_for(curricula, person, module.id),
            signed_in_with_admin_set_password=False,
        )
    return attempt


# --- the passwords file ---------------------------------------------------------------------------


def write_passwords(path: Path, made: Seeded, database: str) -> None:
    """Keep the demo passwords in ``path``, readable by its owner only (mode 0600), replacing
    any earlier file whole (written beside it, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "Rounds demo organization: the accounts and their passwords.",
        f"Database: {database}",
        "Sign in at /auth/login. Delete this file when you no longer need it.",
        "",
        *(a.line() for a in made.accounts),
        "",
    ]
    partial = path.with_name(path.name + ".part")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines))
    os.chmod(partial, 0o600)  # whatever the umask
    partial.replace(path)

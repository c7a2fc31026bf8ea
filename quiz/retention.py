"""Retention and legal hold: how long each kind of record is kept, the holds that stop the purge,
and the purge itself (``flask retention purge``). docs/operations.md, "Retention and legal hold".

HIPAA's rule (45 CFR 164.530(j)(2)): a required record is kept six years from the date it was
made or the date it was last in effect, whichever is later. So, with ``years`` = RETENTION_YEARS
(six, never fewer):

- **training records** (an attempt, its acknowledgement, its certificate): ``years`` from the day
  it was signed (an attempt never signed: from the day it ended, or began);
- **assignments**: ``years`` from the day they closed (done or waived: when they were last in
  effect); an open one is in effect, so kept while open (a person who is gone: from the day they
  went);
- **state signed statements of completion** (Texas Health and Safety Code 181.101, kept six
  years by the curricula's ``retain_years``): the later of the statement's own date and ``years``
  after it was last in effect: until the same person signed the module again (superseded), or
  left. While it is the person's current statement it is in effect, and kept;
- **the personal fields of a person gone** (name, email, employee id, hire date, vendor, the
  password): ``years`` from the later of the day they were deactivated and their last record.
  Then they are replaced by a pseudonym; the account stays, so that every record pointing at it
  still does. The evidence keeps its own copies (below);
- **outbox message bodies**: operational mail, not a required record: ``outbox_days`` (90) after
  the message was made, then the body is blanked (recipient, subject and dates stay, with the
  day it was purged);
- **uploaded roster files**: ``roster_upload_days`` (400) after the upload, then the contents are
  blanked (file name and SHA-256 stay: the evidence of the import names that hash);
- **evidence**: ``years`` after it was recorded, but never purged by this version: the chain is
  append-only and each record's hash covers the one before it, so a record can only go with every
  record before it, as a whole segment anchored beforehand. That costs privacy: names and emails
  in old records stay (docs/operations.md says so, and the purge counts them).

A day is the organization's (quiz/clock.py). A record is past its keep-until date the day after
that date. A **legal hold** in force stops the purge: one on everything refuses it outright; one on
a person or a department holds back what is theirs. Placing and releasing a hold, and each purge,
are evidence records (the purge's with counts only: no personal data).

Core: no Flask, never commits. The purge runs in steps (``db.Steps``), one run at a time
(``jobs.exclusive_run``), reading first and writing in batches of ``BATCH`` that check again,
as they write, what may have changed since (a hold placed meanwhile).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from . import clock, evidence, jobs
from .assignments import add_months
from .db import Steps
from .models import (
    LEGAL_HOLD_SCOPES,
    NO_PASSWORD,
    Assignment,
    Attempt,
    Evidence,
    LegalHold,
    MfaFactor,
    MfaRecoveryCode,
    OutboxMessage,
    RosterUpload,
    User,
    as_utc,
    utcnow,
)
from .words import ngettext

#: HIPAA's minimum (45 CFR 164.530(j)(2)), and the default.
MIN_YEARS = DEFAULT_YEARS = 6
DEFAULT_OUTBOX_DAYS = 90
DEFAULT_ROSTER_UPLOAD_DAYS = 400
#: Rows changed in one writing transaction of the purge.
BATCH = 200
#: The purge's run lock (job_locks).
JOB = "retention-purge"

HOLD_PLACED = "retention.hold-placed"
HOLD_RELEASED = "retention.hold-released"
PURGED = "retention.purged"
#: A person's own records: not the holds on them (a hold does not make their records newer).
_THEIR_RECORDS = Evidence.event.not_in((HOLD_PLACED, HOLD_RELEASED))

#: Each kind of record, in words, as the pages and the purge name them.
KINDS = {
    "training": "Training records (attempts, acknowledgements, certificates)",
    "assignment": "Assignments",
    "statement": "State signed statements of completion",
    "person": "Personal fields of people gone",
    "outbox": "Outbox message bodies",
    "roster-upload": "Uploaded roster files",
    "evidence": "Evidence records",
}


def counted(kind: str, n: int) -> str:
    """``n`` records of ``kind``, in words ("1 outbox message body", "2 uploaded roster files")."""
    if kind == "training":
        return ngettext("%(num)d training record", "%(num)d training records", n)
    if kind == "assignment":
        return ngettext("%(num)d assignment", "%(num)d assignments", n)
    if kind == "statement":
        return ngettext("%(num)d signed statement", "%(num)d signed statements", n)
    if kind == "person":
        return ngettext("%(num)d person's personal fields", "%(num)d people's personal fields", n)
    if kind == "outbox":
        return ngettext("%(num)d outbox message body", "%(num)d outbox message bodies", n)
    if kind == "roster-upload":
        return ngettext("%(num)d uploaded roster file", "%(num)d uploaded roster files", n)
    return ngettext("%(num)d evidence record", "%(num)d evidence records", n)


#: The kinds the purge removes (the others are required records, kept as they are).
PURGED_KINDS = ("outbox", "roster-upload", "person")
#: A pseudonym's email (never a real domain: .invalid).
PSEUDONYM_DOMAIN = "purged.invalid"


def check_years(value: object) -> int:
    """RETENTION_YEARS as a number, at least six; ValueError citing the rule otherwise."""
    try:
        years = int(str(value).strip())
    except ValueError:
        years = 0
    if years < MIN_YEARS:
        raise ValueError(
            f"RETENTION_YEARS must be a whole number of years, at least {MIN_YEARS}: HIPAA (45 CFR "
            "164.530(j)(2)) requires its records to be kept six years from the date they were made or "
            f"last in effect, whichever is later; not {value!r}"
        )
    return years


@dataclass(frozen=True)
class Policy:
    """How long things are kept (README's RETENTION_* settings)."""

    years: int = DEFAULT_YEARS
    outbox_days: int = DEFAULT_OUTBOX_DAYS
    roster_upload_days: int = DEFAULT_ROSTER_UPLOAD_DAYS

    def __post_init__(self) -> None:
        check_years(self.years)
        if self.outbox_days < 1 or self.roster_upload_days < 1:
            raise ValueError("RETENTION_OUTBOX_DAYS and RETENTION_ROSTER_UPLOAD_DAYS must be at least 1")

    @classmethod
    def from_config(cls, config: Mapping) -> Policy:
        return cls(
            years=check_years(config.get("RETENTION_YEARS", DEFAULT_YEARS)),
            outbox_days=int(config.get("RETENTION_OUTBOX_DAYS", DEFAULT_OUTBOX_DAYS)),
            roster_upload_days=int(config.get("RETENTION_ROSTER_UPLOAD_DAYS", DEFAULT_ROSTER_UPLOAD_DAYS)),
        )

    def rules(self) -> dict[str, str]:
        """Each kind's rule, in words."""
        y = f"{self.years} years"
        return {
            "training": f"{y} from the day it was signed",
            "assignment": f"{y} from the day it closed; an open one is kept while open",
            "statement": f"{y} from the later of the day it was signed and the day it was last in effect (until the module was signed again, or the person left)",
            "person": f"{y} from the later of the day they were deactivated and their last record; then replaced by a pseudonym",
            "outbox": f"{self.outbox_days} days from when the message was made; then the body is removed",
            "roster-upload": f"{self.roster_upload_days} days from the upload; then the file's contents are removed",
            "evidence": f"{y} from when it was recorded; never purged in this version (the chain stays whole)",
        }


# --- keep-until dates ---------------------------------------------------------------------------


def after_years(day: date, years: int) -> date:
    return add_months(day, 12 * years)


def first_day_kept(today: date, years: int) -> date:
    """The earliest day whose records, kept ``years`` from it, are still kept ``today``: a record
    of an earlier day is past its keep-until date."""
    day = add_months(today, -12 * years)
    while after_years(day, years) < today:
        day += timedelta(days=1)
    return day


def day_start(day: date) -> datetime:
    """When the organization's ``day`` begins, in UTC (for comparing with stored times)."""
    return datetime.combine(day, time(0), tzinfo=clock.time_zone()).astimezone(UTC)


def _day(moment: datetime) -> date:
    return clock.org_day(moment)


def _recorded_day(recorded_at: str) -> date:
    return _day(datetime.fromisoformat(recorded_at.replace("Z", "+00:00")))


def _latest(*days: date | None) -> date | None:
    found = [d for d in days if d is not None]
    return max(found) if found else None


def training_until(attempt: Attempt, policy: Policy) -> date:
    made = attempt.acknowledged_at or attempt.finished_at or attempt.started_at
    return after_years(_day(made), policy.years)


def assignment_until(a: Assignment, policy: Policy, gone_on: date | None = None) -> date | None:
    """None: open, so in effect and kept (a person gone: their assignments ended when they went)."""
    if a.state in ("done", "waived"):
        return after_years(_day(a.closed_at or a.created_at), policy.years)
    return after_years(gone_on, policy.years) if gone_on else None


_STATED = re.compile(r"kept until (\d{4}-\d{2}-\d{2})")


def stated_until(statement: str | None) -> date | None:
    """The keep-until date a signed statement names itself (assignments.SignedStatement.words)."""
    found = _STATED.search(statement or "")
    return date.fromisoformat(found.group(1)) if found else None


def statement_until(
    attempt: Attempt, policy: Policy, *, superseded_on: date | None = None, gone_on: date | None = None
) -> date | None:
    """A signed statement's keep-until date: None while it is in effect (the person's current
    statement of that module, and the person still here)."""
    last_in_effect = superseded_on or gone_on
    if last_in_effect is None:
        return None
    signed = training_until(attempt, policy)
    return _latest(signed, stated_until(attempt.signed_statement), after_years(last_in_effect, policy.years))


def outbox_until(message: OutboxMessage, policy: Policy) -> date:
    return _day(message.created_at) + timedelta(days=policy.outbox_days)


def roster_upload_until(upload: RosterUpload, policy: Policy) -> date:
    return _day(upload.uploaded_at) + timedelta(days=policy.roster_upload_days)


def person_until(person: User, gone_on: date | None, last_record_on: date | None, policy: Policy) -> date | None:
    """None while they are active."""
    if person.active:
        return None
    latest = _latest(gone_on, last_record_on, _day(person.created_at))
    return after_years(latest, policy.years) if latest else None


def evidence_until(recorded_at: str, policy: Policy) -> date:
    return after_years(_recorded_day(recorded_at), policy.years)


def gone_on(session: Session, person: User) -> date | None:
    """The day a person who is not active was deactivated (their last "Person deactivated"
    record; without one, their last record of any kind, or the day the account was made)."""
    if person.active:
        return None
    last = session.scalar(
        select(func.max(Evidence.recorded_at)).where(
            Evidence.user_id == person.id, Evidence.event == "person.deactivated"
        )
    ) or session.scalar(select(func.max(Evidence.recorded_at)).where(Evidence.user_id == person.id, _THEIR_RECORDS))
    return _recorded_day(last) if last else _day(person.created_at)


# --- legal holds --------------------------------------------------------------------------------


class HoldError(ValueError):
    """A hold that cannot be placed or released as asked (the message says why)."""


def holds_in_force(session: Session) -> list[LegalHold]:
    return list(session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None)).order_by(LegalHold.id)))


def all_holds(session: Session, limit: int = 200) -> list[LegalHold]:
    """Holds in force first, then released ones, newest first."""
    return list(
        session.scalars(
            select(LegalHold).order_by(LegalHold.released_at.is_not(None), LegalHold.id.desc()).limit(limit)
        )
    )


def hold_words(hold: LegalHold) -> str:
    """What a hold covers, in words."""
    if hold.scope == "everything":
        return "everything"
    if hold.scope == "department":
        return f"the department {hold.department}"
    person = hold.user
    return f"{person.name} <{person.email}>" if person else "a person"


def hold_details(hold: LegalHold) -> str:
    """A hold as the purge's refusal names it: which, over what, by whom, when, why."""
    when = clock.local_text(hold.placed_at, clock.time_zone(), with_utc=True)
    return f"legal hold {hold.id} on {hold_words(hold)}, placed by {hold.placed_by} on {when}: {hold.reason}"


MAX_REASON = 2000


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise HoldError("Give the reason (the matter, the request or who asked).")
    if len(reason) > MAX_REASON:
        raise HoldError(f"The reason is longer than {MAX_REASON} characters.")
    return reason


def place(
    session: Session,
    scope: str,
    *,
    reason: str | None,
    by: str,
    person: User | None = None,
    department: str | None = None,
) -> LegalHold:
    """Put a person, a department or everything on legal hold, with an evidence record."""
    if scope not in LEGAL_HOLD_SCOPES:
        raise HoldError("Choose what the hold is on: a person, a department or everything.")
    reason = _reason(reason)
    department = (department or "").strip() or None
    if scope == "person" and person is None:
        raise HoldError("Name the person the hold is on (their email).")
    if scope == "department" and not department:
        raise HoldError("Name the department the hold is on.")
    if department and len(department) > 120:
        raise HoldError("A department's name is at most 120 characters.")
    hold = LegalHold(
        scope=scope,
        user_id=person.id if scope == "person" and person else None,
        department=department if scope == "department" else None,
        reason=reason,
        placed_by=by,
        placed_at=utcnow(),
    )
    session.add(hold)
    session.flush()  # its id, for the record
    evidence.append(
        session,
        HOLD_PLACED,
        user=person if scope == "person" else None,
        details={"hold": hold.id, "scope": scope, "department": hold.department, "reason": reason, "by": by},
    )
    return hold


def release(session: Session, hold: LegalHold, *, reason: str | None, by: str) -> bool:
    """Release a hold in force, with an evidence record. False: it was released already."""
    reason = _reason(reason)
    if hold.released_at is not None:
        return False
    hold.released_at, hold.released_by, hold.release_reason = utcnow(), by, reason
    evidence.append(
        session,
        HOLD_RELEASED,
        user=hold.user if hold.scope == "person" else None,
        details={"hold": hold.id, "scope": hold.scope, "department": hold.department, "reason": reason, "by": by},
    )
    return True


def holds_on(session: Session, person: User) -> list[LegalHold]:
    """The holds in force that cover ``person``."""
    return [
        h
        for h in holds_in_force(session)
        if h.scope == "everything"
        or (h.scope == "person" and h.user_id == person.id)
        or (h.scope == "department" and person.department and h.department == person.department)
    ]


def _held_people(session: Session, holds: Iterable[LegalHold]) -> set[int]:
    """Everyone a person or department hold covers (the people in the department now)."""
    held = {h.user_id for h in holds if h.scope == "person" and h.user_id is not None}
    departments = sorted({h.department for h in holds if h.scope == "department" and h.department})
    if departments:
        held |= set(session.scalars(select(User.id).where(User.department.in_(departments))))
    return held


def _everything(holds: Iterable[LegalHold]) -> LegalHold | None:
    return next((h for h in holds if h.scope == "everything"), None)


class HeldEverything(RuntimeError):
    """The purge is refused: a hold on everything is in force."""

    def __init__(self, hold: LegalHold):
        self.hold = hold
        super().__init__(f"purge refused: {hold_details(hold)}. Nothing was purged; release the hold first.")


# --- what is past its keep-until date -----------------------------------------------------------


@dataclass
class Plan:
    """What a purge on ``today`` would remove, what holds keep back, and the required records past
    their keep-until date that it keeps (never purged: the module's doc says why)."""

    today: date
    policy: Policy
    holds: list[LegalHold]
    everything: LegalHold | None
    outbox: list[int] = field(default_factory=list)
    roster_uploads: list[int] = field(default_factory=list)
    people: list[int] = field(default_factory=list)
    held_back: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"outbox": len(self.outbox), "roster-upload": len(self.roster_uploads), "person": len(self.people)}

    @property
    def total(self) -> int:
        return sum(self.counts().values())


@dataclass(frozen=True)
class _Cutoffs:
    outbox: datetime  # made before: body past keep-until
    roster: datetime
    years: datetime  # made (or last in effect) before: past keep-until
    years_text: str  # the same, as evidence.recorded_at text

    @classmethod
    def of(cls, today: date, policy: Policy) -> _Cutoffs:
        years = day_start(first_day_kept(today, policy.years))
        return cls(
            outbox=day_start(today - timedelta(days=policy.outbox_days)),
            roster=day_start(today - timedelta(days=policy.roster_upload_days)),
            years=years,
            years_text=evidence.utc_timestamp(years),
        )


def _outbox_due(c: _Cutoffs):
    return select(OutboxMessage.id).where(OutboxMessage.body_purged_at.is_(None), OutboxMessage.created_at < c.outbox)


def _outbox_held(held: set[int]):
    """Messages to the people held, or to their supervisors (an escalation names its reports)."""
    ids = sorted(held)
    supervisors = select(User.supervisor_id).where(User.id.in_(ids), User.supervisor_id.is_not(None))
    return OutboxMessage.to_user_id.in_(ids) | OutboxMessage.to_user_id.in_(supervisors)


def _roster_due(c: _Cutoffs):
    return select(RosterUpload.id).where(RosterUpload.content_purged_at.is_(None), RosterUpload.uploaded_at < c.roster)


_CELL = re.compile(r'[,;\t\r\n"]+')


def _uploads_naming(session: Session, ids: list[int], held: set[int]) -> set[int]:
    """The uploads among ``ids`` whose file names a person held (by email or employee id)."""
    if not held or not ids:
        return set()
    needles: set[str] = set()
    for email, employee_id in session.execute(select(User.email, User.employee_id).where(User.id.in_(sorted(held)))):
        needles.add(email.strip().casefold())
        if employee_id:
            needles.add(employee_id.strip().casefold())
    naming = set()
    for upload_id, content in session.execute(
        select(RosterUpload.id, RosterUpload.content).where(RosterUpload.id.in_(ids))
    ):
        cells = {cell.strip().casefold() for cell in _CELL.split(content)}
        if cells & needles:
            naming.add(upload_id)
    return naming


def _last_records():
    return (
        select(Evidence.user_id, func.max(Evidence.recorded_at).label("last"))
        .where(Evidence.user_id.is_not(None), _THEIR_RECORDS)
        .group_by(Evidence.user_id)
        .subquery()
    )


def _people_due(c: _Cutoffs):
    """People gone whose every record is past its keep-until date: inactive, not purged yet, made
    before the cutoff, and their last record (the deactivation's, or later) before it too."""
    last = _last_records()
    return (
        select(User.id)
        .outerjoin(last, last.c.user_id == User.id)
        .where(
            User.active.is_(False),
            User.purged_at.is_(None),
            User.created_at < c.years,
            (last.c.last.is_(None)) | (last.c.last < c.years_text),
        )
    )


def _kept_counts(session: Session, c: _Cutoffs, today: date, policy: Policy) -> dict[str, int]:
    """Required records past their keep-until date: counted, never purged."""
    made = func.coalesce(Attempt.acknowledged_at, Attempt.finished_at, Attempt.started_at)
    training = session.scalar(select(func.count(Attempt.id)).where(made < c.years)) or 0
    assignments = (
        session.scalar(
            select(func.count(Assignment.id)).where(
                Assignment.state.in_(("done", "waived")),
                func.coalesce(Assignment.closed_at, Assignment.created_at) < c.years,
            )
        )
        or 0
    )
    statements = sum(
        1 for until in statement_dates(session, policy, before=c.years) if until is not None and until < today
    )
    records = session.scalar(select(func.count(Evidence.seq)).where(Evidence.recorded_at < c.years_text)) or 0
    return {"training": training, "assignment": assignments, "statement": statements, "evidence": records}


def statement_dates(session: Session, policy: Policy, *, before: datetime | None = None, user_id: int | None = None):
    """Each signed statement's keep-until date (None: in effect), signed before ``before`` or of
    one person. A statement is superseded by the same person's next signed attempt of the module."""
    query = select(Attempt).where(Attempt.signed_statement.is_not(None), Attempt.acknowledged_at.is_not(None))
    if before is not None:
        query = query.where(Attempt.acknowledged_at < before)
    if user_id is not None:
        query = query.where(Attempt.user_id == user_id)
    statements = list(session.scalars(query.order_by(Attempt.id)))
    if not statements:
        return []
    users = {a.user_id for a in statements}
    signed: dict[tuple[int, str], list[datetime]] = {}
    for uid, module_id, at in session.execute(
        select(Attempt.user_id, Attempt.module_id, Attempt.acknowledged_at).where(
            Attempt.user_id.in_(sorted(users)), Attempt.acknowledged_at.is_not(None)
        )
    ):
        signed.setdefault((uid, module_id), []).append(as_utc(at))
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(sorted(users))))}
    found: list[date | None] = []
    for a in statements:
        mine = as_utc(a.acknowledged_at or a.started_at)
        later = sorted(t for t in signed.get((a.user_id, a.module_id), []) if t > mine)
        superseded = _day(later[0]) if later else None
        person = people[a.user_id]
        found.append(
            statement_until(
                a, policy, superseded_on=superseded, gone_on=gone_on(session, person) if not person.active else None
            )
        )
    return found


def plan(session: Session, today: date, policy: Policy) -> Plan:
    """What is past its keep-until date on ``today`` and not held back (reads only)."""
    holds = holds_in_force(session)
    found = Plan(today=today, policy=policy, holds=holds, everything=_everything(holds))
    c = _Cutoffs.of(today, policy)
    held = _held_people(session, holds)
    outbox_all = list(session.scalars(_outbox_due(c).order_by(OutboxMessage.id)))
    roster_all = list(session.scalars(_roster_due(c).order_by(RosterUpload.id)))
    people_all = list(session.scalars(_people_due(c).order_by(User.id)))
    if held:
        held_messages = set(session.scalars(_outbox_due(c).where(_outbox_held(held))))
        found.outbox = [i for i in outbox_all if i not in held_messages]
        naming = _uploads_naming(session, roster_all, held)
        found.roster_uploads = [i for i in roster_all if i not in naming]
        found.people = [i for i in people_all if i not in held]
    else:
        found.outbox, found.roster_uploads, found.people = outbox_all, roster_all, people_all
    found.held_back = {
        "outbox": len(outbox_all) - len(found.outbox),
        "roster-upload": len(roster_all) - len(found.roster_uploads),
        "person": len(people_all) - len(found.people),
    }
    found.kept = _kept_counts(session, c, today, policy)
    return found


# --- the purge ----------------------------------------------------------------------------------


@dataclass
class Report:
    run: str
    purged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PURGED_KINDS, 0))
    held_back: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        done = ", ".join(counted(k, n) for k, n in self.purged.items())
        lines = [f"retention purge {self.run}: purged {done}"]
        if any(self.held_back.values()):
            held = ", ".join(counted(k, n) for k, n in self.held_back.items() if n)
            lines.append(f"held back by legal holds: {held}")
        if any(self.kept.values()):
            kept = ", ".join(counted(k, n) for k, n in self.kept.items() if n)
            lines.append(f"past their keep-until date but kept (required records, never purged here): {kept}")
        return "\n".join(lines)


def pseudonym(user_id: int) -> tuple[str, str]:
    """The name and email a purged person's account gets: their account number, nothing else."""
    return f"Former person {user_id}", f"purged-{user_id}@{PSEUDONYM_DOMAIN}"


def _purge_person(session: Session, person: User, now: datetime) -> None:
    name, email = pseudonym(person.id)
    person.name, person.email = name, email
    person.employee_id = person.hire_date = person.vendor = None
    person.password_hash = NO_PASSWORD
    person.locked_until = None
    person.failed_logins = 0
    person.session_version += 1
    person.purged_at = now
    unsynchronised = {"synchronize_session": False}
    session.execute(
        update(Attempt)
        .where(Attempt.user_id == person.id, Attempt.acknowledged_name.is_not(None))
        .values(acknowledged_name=name),
        execution_options=unsynchronised,
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.to_user_id == person.id)
        .values(to_address=email, body="", body_purged_at=func.coalesce(OutboxMessage.body_purged_at, now)),
        execution_options=unsynchronised,
    )
    session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == person.id))
    session.execute(delete(MfaFactor).where(MfaFactor.user_id == person.id))


def _batch(
    session: Session, kind: str, ids: list[int], today: date, policy: Policy, now: datetime, run: str, number: int
) -> int:
    """Purge one batch of ``kind``, checking each row again as it writes: still past its date, not
    purged meanwhile, not under a hold placed meanwhile. Refused outright by a hold on everything."""
    holds = holds_in_force(session)
    if (everything := _everything(holds)) is not None:
        raise HeldEverything(everything)
    held = _held_people(session, holds)
    c = _Cutoffs.of(today, policy)
    if kind == "outbox":
        due = _outbox_due(c).where(OutboxMessage.id.in_(ids))
        if held:
            due = due.where(~_outbox_held(held))
        chosen = list(session.scalars(due))
        if chosen:
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(chosen)).values(body="", body_purged_at=now),
                execution_options={"synchronize_session": False},
            )
    elif kind == "roster-upload":
        candidates = list(session.scalars(_roster_due(c).where(RosterUpload.id.in_(ids))))
        naming = _uploads_naming(session, candidates, held)
        chosen = [i for i in candidates if i not in naming]
        if chosen:
            session.execute(
                update(RosterUpload).where(RosterUpload.id.in_(chosen)).values(content="", content_purged_at=now),
                execution_options={"synchronize_session": False},
            )
    else:
        chosen = [i for i in session.scalars(_people_due(c).where(User.id.in_(ids))) if i not in held]
        for person in session.scalars(select(User).where(User.id.in_(chosen)).with_for_update()):
            _purge_person(session, person, now)
    if chosen:
        evidence.append(session, PURGED, details={"run": run, "batch": number, "kind": kind, "purged": len(chosen)})
    return len(chosen)


def purge(session: Session, today: date, policy: Policy, *, by: str, steps: Steps | None = None) -> Report:
    """The purge (``flask retention purge``): read what is due, then purge it in batches, each a
    transaction with its evidence record; then one record for the run (counts only). Raises
    HeldEverything, before anything is changed, under a hold on everything (and stops there if
    one is placed during the run); jobs.AlreadyRunning if another run holds the lock."""
    clock.check_not_future(today)
    steps = steps or Steps(session)
    report = Report(run=secrets.token_hex(4))
    with jobs.exclusive_run(session, JOB, "retention purge", steps):
        with steps.read():
            found = plan(session, today, policy)
            if found.everything is not None:
                raise HeldEverything(found.everything)
        report.held_back, report.kept = found.held_back, found.kept
        number = 0
        for kind, ids in (("outbox", found.outbox), ("roster-upload", found.roster_uploads), ("person", found.people)):
            for start in range(0, len(ids), BATCH):
                number += 1
                with steps.write():
                    report.purged[kind] += _batch(
                        session, kind, ids[start : start + BATCH], today, policy, utcnow(), report.run, number
                    )
        with steps.write():
            evidence.append(
                session,
                PURGED,
                details={
                    "run": report.run,
                    "finished": True,
                    "day": today.isoformat(),
                    "purged": report.purged,
                    "held_back": report.held_back,
                    "past_keep_until_kept": report.kept,
                    "policy": {
                        "years": policy.years,
                        "outbox_days": policy.outbox_days,
                        "roster_upload_days": policy.roster_upload_days,
                    },
                    "by": by,
                },
            )
    return report


# --- what the pages show ------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One kind of a person's records: how many, and their keep-until dates (soonest, latest);
    ``in_effect``: how many are kept while in effect (no date yet)."""

    kind: str
    count: int
    soonest: date | None
    latest: date | None
    in_effect: int = 0
    note: str = ""
    years: int = DEFAULT_YEARS

    @property
    def label(self) -> str:
        return KINDS[self.kind]


def _line(kind: str, dates: list[date | None], years: int) -> Line:
    known = [d for d in dates if d is not None]
    return Line(
        kind, len(dates), min(known, default=None), max(known, default=None), len(dates) - len(known), years=years
    )


def for_person(session: Session, person: User, policy: Policy) -> list[Line]:
    """The keep-until dates of a person's records, by kind (the person's page)."""
    gone = gone_on(session, person)
    attempts = list(session.scalars(select(Attempt).where(Attempt.user_id == person.id)))
    assigned = list(session.scalars(select(Assignment).where(Assignment.user_id == person.id)))
    messages = list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_user_id == person.id, OutboxMessage.body_purged_at.is_(None))
        )
    )
    first, last, count = session.execute(
        select(func.min(Evidence.recorded_at), func.max(Evidence.recorded_at), func.count(Evidence.seq)).where(
            Evidence.user_id == person.id, _THEIR_RECORDS
        )
    ).one()
    last_day = _recorded_day(last) if last else None
    if person.purged_at is not None:
        personal = Line(
            "person", 1, None, None, note=f"replaced by a pseudonym on {_day(person.purged_at).isoformat()}"
        )
    else:
        until = person_until(person, gone, last_day, policy)
        personal = Line("person", 1, until, until, note="" if until else "kept while they are active")
    return [
        _line("training", [training_until(a, policy) for a in attempts], policy.years),
        _line("assignment", [assignment_until(a, policy, gone) for a in assigned], policy.years),
        _line("statement", statement_dates(session, policy, user_id=person.id), policy.years),
        personal,
        _line("outbox", [outbox_until(m, policy) for m in messages], policy.years),
        Line(
            "evidence",
            count,
            evidence_until(first, policy) if first else None,
            evidence_until(last, policy) if last else None,
            note="never purged: the chain stays whole",
        ),
    ]


def last_purge(session: Session) -> Evidence | None:
    """The newest record of a finished purge run."""
    for record in session.scalars(
        select(Evidence).where(Evidence.event == PURGED).order_by(Evidence.seq.desc()).limit(50)
    ):
        if '"finished":true' in record.details:
            return record
    return None

"""The training report: every assignment across the workforce, and how it ended.

What an auditor asks a covered entity first is not one record but the whole picture: "show me
that every member of the workforce was trained, and when" (45 CFR 164.530(b)(2)(ii) asks for
the training to be documented). One row per assignment: who (as their account is now), what
module and why, when it was due, its state, and for a done one the attempt that closed it: its
score, when and under which name it was signed (and whether in a session begun with a password
an admin set, which anyone who knew it could have begun), and the exact content version. Read-only; the
evidence log stays the record of what happened, this is its summary by assignment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from . import csvtext
from .assignments import org_day, reason_label, state_as_of
from .content_names import ContentNames
from .models import Assignment, Attempt, User, as_utc

#: The states a report row can be in, as of the day it is made (assignments.state_as_of): "overdue"
#: includes an open assignment past its due date that the daily job has not marked yet, so the
#: report never shows less than the truth, and never one not yet past its due date (shown open);
#: as in that job, a person who has left (deactivated) does not become overdue (one marked before
#: they left stays so).
STATES = ("open", "overdue", "done", "waived")
#: The states in words, as the report shows and filters by them.
STATE_LABELS = {"open": "Open (not yet due)", "overdue": "Overdue", "done": "Done", "waived": "Waived"}


@dataclass(frozen=True)
class Filters:
    user_id: int | None = None
    state: str | None = None
    module_id: str | None = None
    department: str | None = None
    job_role: str | None = None
    person_kind: str | None = None  # employee | contractor | ba-staff (models.PERSON_KINDS)
    vendor: str | None = None  # a contractor's or business associate's firm
    due_since: date | None = None
    due_until: date | None = None


@dataclass(frozen=True)
class Row:
    person: User
    assignment: Assignment
    attempt: Attempt | None  # the attempt that completed it, for a done one
    state: str  # as of today: open | overdue | done | waived

    @property
    def completed_on(self) -> date | None:
        """The UTC day it was done (as the evidence and the CSV have it), for a done one."""
        closed = self.assignment.closed_at
        return org_day(closed) if self.state == "done" and closed is not None else None

    @property
    def late(self) -> bool:
        return self.completed_on is not None and self.completed_on > self.assignment.due_on

    def label(self, today: date) -> str:
        """The state in words; a departed person's open training past its date says so."""
        if self.state == "open" and self.assignment.due_on < today:
            return "Open, past due"
        return STATE_LABELS[self.state]


def state_of(a: Assignment, person: User, today: date) -> str:
    return state_as_of(a.state, a.due_on, today, active=person.active)


def _overdue(today: date):
    """``assignments.state_as_of``'s "overdue" in SQL: past its due date, and marked overdue, or
    open for someone who still works here."""
    return (Assignment.due_on < today) & (
        (Assignment.state == "overdue") | ((Assignment.state == "open") & User.active.is_(True))
    )


#: The filters that ask for one value of a column.
_EQUALS = (
    ("user_id", Assignment.user_id),
    ("module_id", Assignment.module_id),
    ("department", User.department),
    ("job_role", User.job_role),
    ("person_kind", User.person_kind),
    ("vendor", User.vendor),
)


def _query(filters: Filters, today: date):
    closing = aliased(Attempt)
    query = (
        select(Assignment, User, closing)
        .join(User, Assignment.user_id == User.id)
        .outerjoin(closing, Assignment.closed_by_attempt_id == closing.id)
    )
    if filters.state == "open":
        query = query.where(Assignment.state.in_(("open", "overdue")), ~_overdue(today))
    elif filters.state == "overdue":
        query = query.where(_overdue(today))
    elif filters.state:
        query = query.where(Assignment.state == filters.state)
    for name, column in _EQUALS:
        if (wanted := getattr(filters, name)) is not None and wanted != "":
            query = query.where(column == wanted)
    if filters.due_since:
        query = query.where(Assignment.due_on >= filters.due_since)
    if filters.due_until:
        query = query.where(Assignment.due_on <= filters.due_until)
    return query


def _ordered(filters: Filters, today: date):
    return _query(filters, today).order_by(func.lower(User.name), User.email, Assignment.due_on, Assignment.id)


def rows(session: Session, filters: Filters, today: date, *, offset: int = 0, limit: int | None = None) -> list[Row]:
    """Report rows, by person (name, then email) and then due date."""
    query = _ordered(filters, today).offset(offset).limit(limit)
    return [Row(user, a, attempt, state_of(a, user, today)) for a, user, attempt in session.execute(query)]


def _empty() -> dict[str, int]:
    return {state: 0 for state in (*STATES, "all")}


def counts(session: Session, filters: Filters, today: date) -> dict[str, int]:
    """How many assignments the filters find in each state (and "all")."""
    return by_department(session, filters, today)[1]


def by_department(
    session: Session, filters: Filters, today: date
) -> tuple[list[tuple[str | None, dict[str, int]]], dict[str, int]]:
    """The same counts for each department (by name; people with none last), and in total: one
    read of the rows the filters find, so the parts always add up to the whole."""
    departments: dict[str | None, dict[str, int]] = {}
    total = _empty()
    base = _query(filters, today).with_only_columns(User.department, Assignment.state, Assignment.due_on, User.active)
    for department, state, due_on, active in session.execute(base):
        state = state_as_of(state, due_on, today, active=active)
        tally = departments.setdefault(department, _empty())
        for found in (tally, total):
            found[state] += 1
            found["all"] += 1
    ordered = sorted(departments.items(), key=lambda item: (item[0] is None, (item[0] or "").lower()))
    return ordered, total


def departments(session: Session) -> list[str]:
    return sorted(d for d in session.scalars(select(User.department).distinct()) if d)


def vendors(session: Session) -> list[str]:
    """The firms whose contractors or business associates' staff have accounts (the evidence
    that a business associate's people were trained is asked for by name of the firm)."""
    return sorted((v for v in session.scalars(select(User.vendor).distinct()) if v), key=str.lower)


#: The CSV's columns, one row per assignment. Words first (the module's title, the reason and its
#: detail as people read them), each id in a column of its own beside them (content_names).
COLUMNS = (
    "person_name",
    "email",
    "employee_id",
    "person_kind",
    "vendor",
    "job_role",
    "department",
    "active",
    "module",
    "module_id",
    "reason",
    "reason_code",
    "detail",
    "objective_id",
    "assigned_on",
    "due_on",
    "state",
    "completed_on",
    "late",
    "attempt",
    "score",
    "signed_at",
    "signed_name",
    "content_version",
    "waived_reason",
    "state_statement",
    "signed_in_with_admin_set_password",
)


def _cells(row: Row, names: ContentNames) -> tuple:
    a, p, t = row.assignment, row.person, row.attempt
    return (
        p.name,
        p.email,
        p.employee_id,
        p.person_kind,
        p.vendor,
        p.job_role,
        p.department,
        "yes" if p.active else "no",
        names.module(a.module_id),
        a.module_id,
        reason_label(a.reason),
        a.reason,
        names.detail(a.detail),
        a.objective,
        org_day(a.created_at).isoformat(),
        a.due_on.isoformat(),
        row.state,
        row.completed_on.isoformat() if row.completed_on else None,
        ("yes" if row.late else "no") if row.state == "done" else None,
        t.number if t else None,
        t.score if t else None,
        utc_stamp(t.acknowledged_at) if t and t.acknowledged_at else None,
        t.acknowledged_name if t else None,
        t.module_version if t else None,
        a.waived_reason,
        t.signed_statement if t else None,
        _yes_no(t.signed_in_with_admin_set_password) if t and t.acknowledged_at else None,
    )


def _yes_no(flag: bool | None) -> str | None:
    """yes, no, or empty: signed before Rounds kept it."""
    return None if flag is None else ("yes" if flag else "no")


def utc_stamp(moment: datetime) -> str:
    """A stored time as the CSVs write it: 2026-12-04T20:15:00Z."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def streamed(session: Session, filters: Filters, today: date, batch: int = 500) -> Iterator[Row]:
    """Every report row, in the report's order, from one query read in batches, so a large
    workforce never sits in memory at once. Nothing is read until the first row is asked for."""
    result = session.execute(_ordered(filters, today).execution_options(yield_per=batch))
    return (Row(user, a, attempt, state_of(a, user, today)) for a, user, attempt in result)


def csv_cells(row: Row, names: ContentNames) -> list:
    """One row's CSV cells (COLUMNS), safe to open in a spreadsheet; ``names``: the words for
    the content's ids."""
    return [csvtext.spreadsheet_safe(cell) for cell in _cells(row, names)]


def csv_lines(session: Session, filters: Filters, today: date, names: ContentNames, batch: int = 500) -> Iterator[str]:
    """The report as CSV text, the header first (a download reads as it sends)."""
    rows = (csv_cells(row, names) for row in streamed(session, filters, today, batch))
    yield from csvtext.lines(COLUMNS, rows, batch)

"""The roster: people imported from an HRIS export (CSV), previewed first, applied all or nothing.

Plain Python over a session (no Flask); the admin pages and ``flask --app app roster import``
both call ``preview`` and ``apply``.

The file is the whole HR roster. A header row names the columns (any order, any case, extra
columns ignored); ``employee_id``, ``email``, ``name`` and ``job_role`` are required, the
others optional. An optional column missing from the header leaves that field as it is in
Rounds; present but empty, it clears the field. People are matched by ``employee_id``, or
else by email when the account has no employee_id yet (it is then linked). People who have an
employee_id and are not in the file are deactivated; people without one (accounts made by
hand, such as the first admin) are never touched. Nothing is ever deleted.

``preview`` changes nothing and reports who would be created, changed and deactivated, and
every bad row by its line in the file (the header is line 1). ``apply`` refuses while any row
is bad; otherwise it makes every change, gives new and changed people their assignments, and
writes the evidence, all in the caller's one transaction. Importing the same file again finds
nothing to change and writes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy import text as text_
from sqlalchemy.orm import Session

from . import accounts, assignments, clock, evidence
from .content import JOB_ROLES, SPECIALTIES, US_STATES, Library
from .content.curricula import Curricula
from .db import is_postgresql
from .models import NO_PASSWORD, PERSON_KINDS, User

MAX_BYTES = 5 * 1024 * 1024
#: Arbitrary constant naming the PostgreSQL advisory lock that serialises roster imports.
_PG_IMPORT_LOCK = 0x52_6F_73_74  # "Rost"
REQUIRED_COLUMNS = ("employee_id", "email", "name", "job_role")
OPTIONAL_COLUMNS = (
    "specialty",
    "department",
    "supervisor_email",
    "hire_date",
    "work_state",
    "kind",
    "vendor",
    "active",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_SQUEEZED = {c.replace("_", ""): c for c in COLUMNS}
#: Fields a change to which calls for the person's assignments to be worked out again.
ASSIGNMENT_FIELDS = ("job_role", "specialty", "work_state", "active")

_EMAIL = accounts.EMAIL  # the same rule as accounts made one by one
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}
_MAX_LENGTH = {"employee_id": 64, "email": 254, "name": 200, "department": 120, "vendor": 200}
#: CSV column -> User attribute, for the plain fields (supervisor and employee_id are special).
_ATTRIBUTE = {
    "email": "email",
    "name": "name",
    "job_role": "job_role",
    "specialty": "specialty",
    "department": "department",
    "hire_date": "hire_date",
    "work_state": "work_state",
    "kind": "person_kind",
    "vendor": "vendor",
    "active": "active",
}
_DEFAULTS: dict[str, Any] = {
    "specialty": None,
    "department": None,
    "hire_date": None,
    "work_state": None,
    "kind": "employee",
    "vendor": None,
    "active": True,
}


class RosterFileError(ValueError):
    """The upload as a whole is unusable (empty, too big, not UTF-8 text)."""


class RosterError(ValueError):
    """Apply refused: the file has bad rows. ``errors`` lists them."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        listed = "\n".join(str(e) for e in errors)
        super().__init__(f"the roster has {len(errors)} bad row(s); nothing was changed:\n{listed}")


@dataclass(frozen=True)
class RowError:
    line: int | None  # the line in the file (header = 1); None: the file as a whole
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass
class PersonPlan:
    """One person the import creates, changes, deactivates or skips."""

    employee_id: str
    email: str
    name: str
    line: int | None = None  # None: absent from the file
    #: created: every field's value; changed/deactivated: field -> (old, new), as text
    values: dict[str, str] = field(default_factory=dict)
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    reason: str | None = None  # why deactivated
    user_id: int | None = None  # the existing account, if any
    _row: _Row | None = field(default=None, repr=False)


@dataclass
class Preview:
    sha256: str
    rows: int = 0
    created: list[PersonPlan] = field(default_factory=list)
    changed: list[PersonPlan] = field(default_factory=list)
    deactivated: list[PersonPlan] = field(default_factory=list)
    #: inactive in the file and not in Rounds: nobody to create
    skipped: list[PersonPlan] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    assignments: int = 0  # set by apply
    _supervisors: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def has_changes(self) -> bool:
        return bool(self.created or self.changed or self.deactivated)

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "created": len(self.created),
            "changed": len(self.changed),
            "deactivated": len(self.deactivated),
            "unchanged": self.unchanged,
            "skipped_inactive": len(self.skipped),
            "bad_rows": len({e.line for e in self.errors}),
        }

    def summary(self) -> str:
        if self.errors:
            return (
                f"{len(self.errors)} problem(s) in {len({e.line for e in self.errors})} row(s): "
                "nothing can be applied until they are fixed"
            )
        if not self.has_changes:
            return f"no changes ({self.rows} people in the file, all up to date)"
        text = (
            f"{len(self.created)} created, {len(self.changed)} changed, "
            f"{len(self.deactivated)} deactivated, {self.unchanged} unchanged"
        )
        if self.skipped:
            text += f", {len(self.skipped)} inactive not created"
        return text


# --- reading the file ----------------------------------------------------------------------


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decode(data: bytes) -> str:
    """Bytes of an upload or file -> text, or RosterFileError saying what is wrong with it.

    The text keeps a UTF-8 byte-order mark, so ``sha256(text)`` is the file's own sha256."""
    if not data.strip():
        raise RosterFileError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise RosterFileError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RosterFileError("The file is UTF-16 text: export the roster as \"CSV UTF-8\" instead.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RosterFileError(
            "The file is not UTF-8 text: export the roster as \"CSV UTF-8\" (comma-separated values)."
        ) from None
    if "\x00" in text:
        raise RosterFileError("This is not a CSV file: it contains binary data.")
    return text


@dataclass
class _Row:
    line: int
    cells: dict[str, str]  # the present columns' raw (stripped) text
    values: dict[str, Any] = field(default_factory=dict)  # column -> normalised value
    errors: list[str] = field(default_factory=list)
    user: User | None = None  # matched existing account
    key: tuple | None = None  # ("u", user id) or ("n", line)

    @property
    def employee_id(self) -> str:
        return self.values.get("employee_id") or self.cells.get("employee_id", "")

    @property
    def email(self) -> str:
        return self.values.get("email") or self.cells.get("email", "").lower()


def _column(cell: str) -> str:
    """A header cell -> our column name, ignoring case, spaces, hyphens and underscores
    ("Employee ID", "E-mail", "Job Role")."""
    squeezed = re.sub(r"[\s_\-]+", "", cell.lower())
    return _SQUEEZED.get(squeezed, cell.strip().lower())


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read(text: str) -> tuple[list[str] | None, list[_Row], list[RowError]]:
    """Header columns, data rows, and whole-file errors (after which nothing else is checked)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        return None, [], [RowError(None, "This is not a CSV file: it contains binary data.")]
    if not text.strip():
        return None, [], [RowError(None, "The file is empty.")]
    first = text.lstrip("\r\n").splitlines()[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first), strict=True)
    header: list[str] | None = None
    header_line = 1
    rows: list[_Row] = []
    previous = 0
    try:
        for cells in reader:
            line, previous = previous + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank line
            if header is None:
                header, header_line = [_column(c) for c in cells], line
                problem = _check_header(header, header_line)
                if problem:
                    return None, [], [problem]
                continue
            row = _Row(line=line, cells={})
            if len(cells) != len(header):
                row.errors.append(
                    f"has {len(cells)} values but the header has {len(header)} columns "
                    "(a value with a comma in it needs double quotes around it)"
                )
            for index, name in enumerate(header):
                if name in COLUMNS:
                    row.cells[name] = cells[index].strip() if index < len(cells) else ""
            rows.append(row)
    except csv.Error as exc:
        return None, [], [RowError(reader.line_num, f"this is not valid CSV: {exc}")]
    if header is None:
        return None, [], [RowError(None, "The file is empty.")]
    if not rows:
        return None, [], [
            RowError(None, "The file has a header but no people: importing it would deactivate everyone.")
        ]
    return header, rows, []


def _check_header(header: list[str], line: int) -> RowError | None:
    known = [c for c in header if c in COLUMNS]
    if not known:
        return RowError(
            line,
            "this is not a roster CSV: the first row must be a header naming the columns "
            f"{', '.join(REQUIRED_COLUMNS)} (and optionally {', '.join(OPTIONAL_COLUMNS)})",
        )
    twice = sorted({c for c in known if known.count(c) > 1})
    if twice:
        return RowError(line, f"the header names the column(s) {', '.join(twice)} more than once")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return RowError(line, f"the header lacks the required column(s) {', '.join(missing)}")
    return None


def _one_of(choices) -> str:
    return ", ".join(choices)


def _normalise(row: _Row) -> None:
    """Check each present cell on its own; fill row.values with the normalised values."""
    cells, values, errors = row.cells, row.values, row.errors
    for name, limit in _MAX_LENGTH.items():
        if len(cells.get(name, "")) > limit:
            errors.append(f"{name} is longer than {limit} characters")
    employee_id = cells["employee_id"]
    if not employee_id:
        errors.append("employee_id is empty")
    values["employee_id"] = employee_id

    email = cells["email"].lower()
    if not email:
        errors.append("email is empty")
    elif not _EMAIL.match(email):
        errors.append(f"email '{cells['email']}' is not an email address")
    values["email"] = email

    name = " ".join(cells["name"].split())
    if not name:
        errors.append("name is empty")
    values["name"] = name

    job_role = cells["job_role"].lower()
    if not job_role:
        errors.append(f"job_role is empty (one of {_one_of(JOB_ROLES)})")
    elif job_role not in JOB_ROLES:
        errors.append(f"job_role '{cells['job_role']}' is not one of {_one_of(JOB_ROLES)}")
    values["job_role"] = job_role

    if "specialty" in cells:
        specialty = cells["specialty"].lower() or None
        if specialty and specialty not in SPECIALTIES:
            errors.append(f"specialty '{cells['specialty']}' is not one of {_one_of(SPECIALTIES)} (or empty)")
        values["specialty"] = specialty
    if "department" in cells:
        values["department"] = " ".join(cells["department"].split()) or None
    if "supervisor_email" in cells:
        supervisor = cells["supervisor_email"].lower() or None
        if supervisor and not _EMAIL.match(supervisor):
            errors.append(f"supervisor_email '{cells['supervisor_email']}' is not an email address")
        values["supervisor_email"] = supervisor
    if "hire_date" in cells:
        raw = cells["hire_date"]
        hired = None
        if raw:
            try:
                if not _ISO_DATE.match(raw):
                    raise ValueError
                hired = date.fromisoformat(raw)
            except ValueError:
                errors.append(f"hire_date '{raw}' is not a date in the form YYYY-MM-DD")
        values["hire_date"] = hired
    if "work_state" in cells:
        state = cells["work_state"].upper() or None
        if state and state not in US_STATES:
            errors.append(f"work_state '{cells['work_state']}' is not a two-letter US state code such as TX")
        values["work_state"] = state
    if "kind" in cells:
        kind = cells["kind"].lower() or "employee"
        if kind not in PERSON_KINDS:
            errors.append(f"kind '{cells['kind']}' is not one of {_one_of(PERSON_KINDS)}")
        values["kind"] = kind
    if "vendor" in cells:
        values["vendor"] = " ".join(cells["vendor"].split()) or None
    if "active" in cells:
        raw = cells["active"].lower()
        if not raw or raw in _YES:
            values["active"] = True
        elif raw in _NO:
            values["active"] = False
        else:
            errors.append(f"active '{cells['active']}' is not yes or no")
            values["active"] = True


def _effective(row: _Row, column: str) -> Any:
    """The value the person will have: the file's if the column is present, else Rounds'."""
    if column in row.values:
        return row.values[column]
    if row.user is not None:
        return getattr(row.user, _ATTRIBUTE[column])
    return _DEFAULTS[column]


# --- preview -------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def preview(session: Session, text: str, by_user: User | None = None) -> Preview:
    """What importing ``text`` would do, changing nothing. ``by_user``: who would import it (an
    import that would deactivate its own importer is refused)."""
    result = Preview(sha256=sha256(text))
    _, rows, file_errors = _read(text)
    if file_errors:
        result.errors = file_errors
        return result
    result.rows = len(rows)
    people = list(session.scalars(select(User)))
    by_id = {u.id: u for u in people}
    by_employee_id = {u.employee_id: u for u in people if u.employee_id is not None}
    by_email = {u.email.lower(): u for u in people}

    for row in rows:
        miscounted = list(row.errors)
        _normalise(row)
        if miscounted:  # the values are shifted: their own complaints would only confuse
            row.errors = miscounted

    # Duplicates within the file
    for column in ("employee_id", "email"):
        seen: dict[str, list[int]] = {}
        for row in rows:
            value = row.values.get(column)
            if value:
                seen.setdefault(value.lower() if column == "email" else value, []).append(row.line)
        for value, lines in seen.items():
            if len(lines) > 1:
                for row in rows:
                    if row.line in lines:
                        others = ", ".join(str(n) for n in lines if n != row.line)
                        row.errors.append(f"{column} '{value}' is also on line {others}")

    # Match each row to an existing account
    for row in rows:
        eid, email = row.values["employee_id"], row.values["email"]
        user = by_employee_id.get(eid) if eid else None
        holder = by_email.get(email) if email else None
        if user is None and holder is not None:
            if holder.employee_id is None:
                user = holder  # an account made by hand: link it to its HR record
            else:
                row.errors.append(
                    f"email {email} belongs to {holder.name}, employee_id {holder.employee_id}, "
                    f"not {eid}"
                )
        elif user is not None and holder is not None and holder.id != user.id:
            row.errors.append(
                f"email {email} already belongs to {holder.name}"
                + (f" (employee_id {holder.employee_id})" if holder.employee_id else "")
            )
        row.user = user
        row.key = ("u", user.id) if user is not None else ("n", row.line)

    # Kind and vendor, with the values the person will end up with
    for row in rows:
        kind, vendor = _effective(row, "kind"), _effective(row, "vendor")
        if kind == "ba-staff" and not vendor:
            row.errors.append("vendor is required when kind is ba-staff")
        elif kind == "employee" and vendor and "vendor" in row.values:
            row.errors.append(f"vendor '{vendor}' is only for contractor or ba-staff rows")

    # Supervisors: someone in this file (by their email in it) or already in Rounds
    rows_by_email = {}
    for row in rows:
        if row.values["email"]:
            rows_by_email.setdefault(row.values["email"], row)
    parent: dict[tuple, tuple | None] = {("u", u.id): ("u", u.supervisor_id) if u.supervisor_id else None for u in people}
    email_of: dict[tuple, str] = {("u", u.id): u.email for u in people}
    target_of: dict[int, tuple | None] = {}
    for row in rows:
        email_of[row.key] = row.values["email"] or row.employee_id
        if "supervisor_email" not in row.values:
            parent[row.key] = ("u", row.user.supervisor_id) if row.user is not None and row.user.supervisor_id else None
            continue
        wanted = row.values["supervisor_email"]
        target = None
        if wanted:
            if wanted in rows_by_email:
                boss = rows_by_email[wanted]
                target = boss.key
                if boss.user is None and boss.values.get("active", True) is False:
                    row.errors.append(
                        f"supervisor_email {wanted} is inactive on line {boss.line} and not in Rounds"
                    )
            elif wanted in by_email:
                target = ("u", by_email[wanted].id)
            elif _EMAIL.match(wanted):
                row.errors.append(f"supervisor_email {wanted} is not anyone in this file or in Rounds")
        parent[row.key] = target
        target_of[row.line] = target
    for row in rows:
        if parent.get(row.key) == row.key:
            row.errors.append("a person cannot be their own supervisor")
            continue
        chain, current = [row.key], parent.get(row.key)
        while current is not None and current not in chain and len(chain) <= len(parent):
            chain.append(current)
            current = parent.get(current)
        if current == row.key:
            loop = " -> ".join(email_of.get(k, "?") for k in chain + [row.key])
            row.errors.append(f"supervisor loop: {loop}")

    # What changes
    in_file = {row.values["employee_id"] for row in rows if row.values["employee_id"]}
    for row in rows:
        if row.errors:
            continue
        values = row.values
        plan = PersonPlan(
            employee_id=values["employee_id"], email=values["email"], name=values["name"], line=row.line, _row=row
        )
        supervisor_email = None
        if "supervisor_email" in values:
            target = target_of.get(row.line)
            supervisor_email = email_of.get(target) if target else None
        if row.user is None:
            if not values.get("active", True):
                result.skipped.append(plan)
                continue
            plan.values = {
                column: _shown(values.get(column, _DEFAULTS.get(column)))
                for column in COLUMNS
                if column != "supervisor_email"
            }
            plan.values["supervisor"] = supervisor_email or ""
            result.created.append(plan)
            continue
        user = row.user
        plan.user_id = user.id
        if user.employee_id != values["employee_id"]:
            plan.changes["employee_id"] = (_shown(user.employee_id), values["employee_id"])
        for column, attribute in _ATTRIBUTE.items():
            if column not in values:
                continue
            old, new = getattr(user, attribute), values[column]
            if column == "email":
                old = old.lower() if old else old
            if old != new and not (old in (None, "") and new in (None, "")):
                plan.changes[column] = (_shown(old), _shown(new))
        if "supervisor_email" in values:
            old_target = ("u", user.supervisor_id) if user.supervisor_id else None
            if old_target != target_of.get(row.line):
                old_email = by_id[user.supervisor_id].email if user.supervisor_id in by_id else ""
                plan.changes["supervisor"] = (old_email, supervisor_email or "")
        if not plan.changes:
            result.unchanged += 1
        elif user.active and values.get("active", True) is False:
            plan.reason = "inactive in the file"
            result.deactivated.append(plan)
        else:
            result.changed.append(plan)
    for user in people:
        if user.employee_id is not None and user.active and user.employee_id not in in_file:
            result.deactivated.append(
                PersonPlan(
                    employee_id=user.employee_id,
                    email=user.email,
                    name=user.name,
                    changes={"active": ("yes", "no")},
                    reason="not in the file",
                    user_id=user.id,
                )
            )
    result._supervisors = target_of

    if by_user is not None and any(p.user_id == by_user.id for p in result.deactivated):
        mine = next(p for p in result.deactivated if p.user_id == by_user.id)
        result.errors.append(
            RowError(mine.line, f"importing this would deactivate your own account ({by_user.email})")
        )
    for row in rows:
        result.errors.extend(RowError(row.line, message) for message in row.errors)
    result.errors.sort(key=lambda e: (e.line or 0))
    result.created.sort(key=lambda p: p.line or 0)
    result.changed.sort(key=lambda p: p.line or 0)
    result.deactivated.sort(key=lambda p: (p.line is None, p.line or 0, p.name))
    return result


# --- apply ---------------------------------------------------------------------------------


def apply(
    session: Session,
    text: str,
    curricula: Curricula,
    library: Library,
    today: date,
    by_user: User | None,
    *,
    by_label: str | None = None,
    filename: str | None = None,
) -> Preview:
    """Make the changes ``preview`` shows, in the caller's transaction (the caller commits).

    Raises RosterError, changing nothing, if any row is bad. ``by_label`` names the importer
    when there is no signed-in user (the command line). ``today`` may be a past day, never one to
    come (ValueError, before anything is changed: clock.check_not_future)."""
    clock.check_not_future(today)
    if is_postgresql(session):  # one import at a time; SQLite's BEGIN IMMEDIATE already is
        session.execute(text_("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_IMPORT_LOCK})
    result = preview(session, text, by_user=by_user)
    if result.errors:
        raise RosterError(result.errors)
    if not result.has_changes:
        return result
    by = by_user.email if by_user is not None else (by_label or "command line")

    created: dict[int, User] = {}  # line -> new account
    for plan in result.created:
        values = plan._row.values
        user = User(
            email=values["email"],
            name=values["name"],
            password_hash=NO_PASSWORD,
            role="learner",
            job_role=values["job_role"],
            employee_id=values["employee_id"],
            active=True,
            session_version=1,
            failed_logins=0,
        )
        for column in OPTIONAL_COLUMNS:
            if column in values and column in _ATTRIBUTE and column != "active":
                setattr(user, _ATTRIBUTE[column], values[column])
        if user.person_kind is None:
            user.person_kind = "employee"
        session.add(user)
        created[plan.line] = user
    session.flush()

    def account(key: tuple | None) -> User | None:
        if key is None:
            return None
        return session.get(User, key[1]) if key[0] == "u" else created[key[1]]

    for plan in result.created:
        if plan.line in result._supervisors:
            created[plan.line].supervisor = account(result._supervisors[plan.line])
    for plan in result.changed + result.deactivated:
        user = session.get(User, plan.user_id)
        row = plan._row
        if row is None:  # absent from the file
            user.active = False
            continue
        user.employee_id = row.values["employee_id"]
        for column, attribute in _ATTRIBUTE.items():
            if column in row.values:
                setattr(user, attribute, row.values[column])
        if "supervisor" in plan.changes:
            user.supervisor = account(result._supervisors.get(plan.line))
    session.flush()

    evidence.append(
        session,
        "roster.imported",
        details={"sha256": result.sha256, "filename": filename, "by": by, **result.counts()},
    )
    given = 0
    for plan in result.created:
        user = created[plan.line]
        evidence.append(
            session,
            "person.created",
            user=user,
            details={"employee_id": plan.employee_id, "fields": plan.values, "import": result.sha256, "by": by},
        )
        given += len(assignments.for_person(session, user, curricula, library, today, new=True))
    for plan in result.changed:
        user = session.get(User, plan.user_id)
        evidence.append(
            session,
            "person.changed",
            user=user,
            details={
                "employee_id": plan.employee_id,
                "changes": {k: list(v) for k, v in plan.changes.items()},
                "import": result.sha256,
                "by": by,
            },
        )
        if user.active and any(column in plan.changes for column in ASSIGNMENT_FIELDS):
            given += len(assignments.for_person(session, user, curricula, library, today, new=False))
    for plan in result.deactivated:
        evidence.append(
            session,
            "person.deactivated",
            user=session.get(User, plan.user_id),
            details={
                "employee_id": plan.employee_id,
                "reason": plan.reason,
                "changes": {k: list(v) for k, v in plan.changes.items()},
                "import": result.sha256,
                "by": by,
            },
        )
    result.assignments = given
    return result

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy import text as text_
from sqlalchemy.orm import Session, joinedload

from . import accounts, assignments, clock, evidence
from .content import JOB_ROLES, SPECIALTIES, US_STATES, Library
from .content.curricula import Curricula
from .db import is_postgresql
from .models import NO_PASSWORD, PERSON_KINDS, User
from .words import ngettext

MAX_BYTES = 5 * 1024 * 1024
#: Arbitrary constant naming the PostgreSQL advisory lock that serialises roster imports.
_PG_IMPORT_LOCK = 0x52_6F_73_74  # "Rost"
#: Fields a change to which calls for the person's assignments to be worked out again.
ASSIGNMENT_FIELDS = ("job_role", "specialty", "work_state", "active")

_EMAIL = accounts.EMAIL  # the same rule as accounts made one by one
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}
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
        bad = ngettext("the roster has %(num)d bad row", "the roster has %(num)d bad rows", len(errors))
        super().__init__(f"{bad}; nothing was changed:\n{listed}")


@dataclass(frozen=True)
class RowError:
    line: int | None  # the line in the file (header = 1); None: the file as a whole
    message: str
    #: The rule it breaks, to group problems by: "file", "shape", a column's name (its check in
    #: COLUMN_RULES), "duplicate", "account", "kind and vendor", "supervisor", "importer".
    rule: str = field(default="file", compare=False)

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

    def problems_by_rule(self) -> dict[str, list[RowError]]:
        """The problems grouped by the rule each breaks, rules in the order first met."""
        grouped: dict[str, list[RowError]] = {}
        for error in self.errors:
            grouped.setdefault(error.rule, []).append(error)
        return grouped

    def problem_rows(self):
        """Every problem as a CSV row: line, rule, problem."""
        return ((e.line, e.rule, e.message) for e in self.errors)

    def change_rows(self):
        """Every change as a CSV row: what, line, employee_id, name, email, the change."""
        for what, plans in (
            ("create", self.created),
            ("change", self.changed),
            ("deactivate", self.deactivated),
            ("not created (inactive)", self.skipped),
        ):
            for p in plans:
                if what == "create":
                    detail = "; ".join(f"{k}: {v}" for k, v in p.values.items() if v)
                elif what == "not created (inactive)":
                    detail = ""
                else:
                    detail = "; ".join(f"{k}: {old} -> {new}" for k, (old, new) in p.changes.items())
                    if p.reason:
                        detail = f"{p.reason}; {detail}"
                yield (what, p.line, p.employee_id, p.name, p.email, detail)

    def summary(self) -> str:
        if self.errors:
            rows = ngettext("%(num)d row", "%(num)d rows", len({e.line for e in self.errors}))
            return ngettext(
                "%(num)d problem in %(rows)s: nothing can be applied until it is fixed",
                "%(num)d problems in %(rows)s: nothing can be applied until they are fixed",
                len(self.errors),
                rows=rows,
            )
        if not self.has_changes:
            return ngettext(
                "no changes (%(num)d person in the file, all up to date)",
                "no changes (%(num)d people in the file, all up to date)",
                self.rows,
            )
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
        raise RosterFileError('The file is UTF-16 text: export the roster as "CSV UTF-8" instead.')
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RosterFileError(
            'The file is not UTF-8 text: export the roster as "CSV UTF-8" (comma-separated values).'
        ) from None
    if "\x00" in text:
        raise RosterFileError("This is not a CSV file: it contains binary data.")
    return text


@dataclass
class _Row:
    line: int
    cells: dict[str, str]  # the present columns' raw (stripped) text
    values: dict[str, Any] = field(default_factory=dict)  # column -> normalized value
    errors: list[tuple[str, str]] = field(default_factory=list)  # (rule, problem)
    user: User | None = None  # matched existing account
    key: tuple = ()  # ("u", user id) or ("n", line), set by _match_accounts

    def problem(self, rule: str, message: str) -> None:
        self.errors.append((rule, message))

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
                row.problem(
                    "shape",
                    ngettext(
                        "has %(num)d value but the header has %(columns)s",
                        "has %(num)d values but the header has %(columns)s",
                        len(cells),
                        columns=ngettext("%(num)d column", "%(num)d columns", len(header)),
                    )
                    + " (a value with a comma in it needs double quotes around it)",
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
        return (
            None,
            [],
            [RowError(None, "The file has a header but no people: importing it would deactivate everyone.")],
        )
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
        return RowError(
            line,
            ngettext(
                "the header names the column %(names)s more than once",
                "the header names the columns %(names)s more than once",
                len(twice),
                names=", ".join(twice),
            ),
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return RowError(
            line,
            ngettext(
                "the header lacks the required column %(names)s",
                "the header lacks the required columns %(names)s",
                len(missing),
                names=", ".join(missing),
            ),
        )
    return None


def _one_of(choices) -> str:
    return ", ".join(choices)


# --- the column checks: one cell at a time ---------------------------------------------------
# Each check takes a cell's text (stripped) and gives the value Rounds keeps and, if the cell is
# bad, the problem in words. A required column is in every file (the header check sees to it);
# an optional one is checked only when the file has it.


def _text(raw: str) -> tuple[Any, str | None]:
    return raw, None


def _words(raw: str) -> tuple[Any, str | None]:
    """Spaces squeezed; empty is None."""
    return " ".join(raw.split()) or None, None


def _required(column: str, check: Callable[[str], tuple[Any, str | None]]) -> Callable[[str], tuple[Any, str | None]]:
    def checked(raw: str) -> tuple[Any, str | None]:
        value, problem = check(raw)
        return value, problem or (None if raw else f"{column} is empty")

    return checked


def _email(column: str, *, empty: Any) -> Callable[[str], tuple[Any, str | None]]:
    def check(raw: str) -> tuple[Any, str | None]:
        value = raw.lower() or empty
        if value and not _EMAIL.match(value):
            return value, f"{column} '{raw}' is not an email address"
        return value, None

    return check


def _name(raw: str) -> tuple[Any, str | None]:
    return " ".join(raw.split()), None


def _job_role(raw: str) -> tuple[Any, str | None]:
    value = raw.lower()
    if not value:
        return value, f"job_role is empty (one of {_one_of(JOB_ROLES)})"
    if value not in JOB_ROLES:
        return value, f"job_role '{raw}' is not one of {_one_of(JOB_ROLES)}"
    return value, None


def _specialty(raw: str) -> tuple[Any, str | None]:
    value = raw.lower() or None
    if value and value not in SPECIALTIES:
        return value, f"specialty '{raw}' is not one of {_one_of(SPECIALTIES)} (or empty)"
    return value, None


def _hire_date(raw: str) -> tuple[Any, str | None]:
    if not raw:
        return None, None
    if _ISO_DATE.match(raw):
        try:
            return date.fromisoformat(raw), None
        except ValueError:
            pass
    return None, f"hire_date '{raw}' is not a date in the form YYYY-MM-DD"


def _work_state(raw: str) -> tuple[Any, str | None]:
    value = raw.upper() or None
    if value and value not in US_STATES:
        return value, f"work_state '{raw}' is not a two-letter US state code such as TX"
    return value, None


def _kind(raw: str) -> tuple[Any, str | None]:
    value = raw.lower() or "employee"
    if value not in PERSON_KINDS:
        return value, f"kind '{raw}' is not one of {_one_of(PERSON_KINDS)}"
    return value, None


def _active(raw: str) -> tuple[Any, str | None]:
    value = raw.lower()
    if not value or value in _YES:
        return True, None
    if value in _NO:
        return False, None
    return True, f"active '{raw}' is not yes or no"


@dataclass(frozen=True)
class ColumnRule:
    column: str
    required: bool
    check: Callable[[str], tuple[Any, str | None]]  # the cell's text -> (value, problem or None)
    max_length: int | None = None


#: Every column of a roster file, in the order its cells are checked: whether the header must
#: name it, how a cell is checked (and read), and its longest value. The messages are in the
#: checks above.
COLUMN_RULES: tuple[ColumnRule, ...] = (
    ColumnRule("employee_id", True, _required("employee_id", _text), 64),
    ColumnRule("email", True, _required("email", _email("email", empty="")), 254),
    ColumnRule("name", True, _required("name", _name), 200),
    ColumnRule("job_role", True, _job_role),
    ColumnRule("specialty", False, _specialty),
    ColumnRule("department", False, _words, 120),
    ColumnRule("supervisor_email", False, _email("supervisor_email", empty=None)),
    ColumnRule("hire_date", False, _hire_date),
    ColumnRule("work_state", False, _work_state),
    ColumnRule("kind", False, _kind),
    ColumnRule("vendor", False, _words, 200),
    ColumnRule("active", False, _active),
)
REQUIRED_COLUMNS = tuple(r.column for r in COLUMN_RULES if r.required)
OPTIONAL_COLUMNS = tuple(r.column for r in COLUMN_RULES if not r.required)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_SQUEEZED = {c.replace("_", ""): c for c in COLUMNS}


def _normalize(row: _Row) -> None:
    """Check each present cell on its own (COLUMN_RULES); fill row.values with the values.
    Lengths first, then each column's own check."""
    for rule in COLUMN_RULES:
        if rule.max_length is not None and len(row.cells.get(rule.column, "")) > rule.max_length:
            row.problem(
                rule.column,
                ngettext(
                    "%(column)s is longer than %(num)d character",
                    "%(column)s is longer than %(num)d characters",
                    rule.max_length,
                    column=rule.column,
                ),
            )
    for rule in COLUMN_RULES:
        if rule.column in row.cells:
            row.values[rule.column], problem = rule.check(row.cells[rule.column])
            if problem:
                row.problem(rule.column, problem)


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


@dataclass
class _Rounds:
    """Everyone in Rounds, read once, by id, employee_id and email."""

    people: list[User]
    by_id: dict[int, User]
    by_employee_id: dict[str, User]
    by_email: dict[str, User]

    @classmethod
    def read(cls, session: Session) -> _Rounds:
        people = list(session.scalars(select(User)))
        return cls(
            people,
            {u.id: u for u in people},
            {u.employee_id: u for u in people if u.employee_id is not None},
            {u.email.lower(): u for u in people},
        )


def preview(session: Session, text: str, by_user: User | None = None) -> Preview:
    """What importing ``text`` would do, changing nothing. ``by_user``: who would import it (an
    import that would deactivate its own importer is refused).

    The rules, in order: the file's shape (``_read``); each cell on its own (COLUMN_RULES); no
    employee_id or email twice in the file; each row matched to its account; kind and vendor
    together; supervisors exist and form no loop; then what changes for each person, and who is
    deactivated. Every problem names its line and its rule (``RowError.rule``)."""
    result = Preview(sha256=sha256(text))
    _, rows, file_errors = _read(text)
    if file_errors:
        result.errors = file_errors
        return result
    result.rows = len(rows)
    rounds = _Rounds.read(session)
    for row in rows:
        miscounted = list(row.errors)
        _normalize(row)
        if miscounted:  # the values are shifted: their own complaints would only confuse
            row.errors = miscounted
    _no_duplicates_in_file(rows)
    _match_accounts(rows, rounds)
    _kind_and_vendor(rows)
    supervisors = _supervisors(rows, rounds)
    _changes(rows, rounds, supervisors, result)
    _absent_are_deactivated(rows, rounds, result)
    result._supervisors = supervisors.target_of
    _not_the_importer(by_user, result)
    for row in rows:
        result.errors.extend(RowError(row.line, message, rule) for rule, message in row.errors)
    result.errors.sort(key=lambda e: (e.line or 0))
    result.created.sort(key=lambda p: p.line or 0)
    result.changed.sort(key=lambda p: p.line or 0)
    result.deactivated.sort(key=lambda p: (p.line is None, p.line or 0, p.name))
    return result


def _no_duplicates_in_file(rows: list[_Row]) -> None:
    """An employee_id or email on two lines: both lines are bad."""
    for column in ("employee_id", "email"):
        seen: dict[str, list[int]] = {}
        for row in rows:
            value = row.values.get(column)
            if value:
                seen.setdefault(value.lower() if column == "email" else value, []).append(row.line)
        twice = {line: lines for lines in seen.values() if len(lines) > 1 for line in lines}
        for row in rows:
            if row.line in twice:
                value = row.values[column].lower() if column == "email" else row.values[column]
                others = ", ".join(str(n) for n in twice[row.line] if n != row.line)
                row.problem("duplicate", f"{column} '{value}' is also on line {others}")


def _match_accounts(rows: list[_Row], rounds: _Rounds) -> None:
    """Each row's account: by employee_id, else by email when that account has no employee_id
    yet (made by hand: it is linked); an email that is someone else's is a bad row."""
    for row in rows:
        eid, email = row.values["employee_id"], row.values["email"]
        user = rounds.by_employee_id.get(eid) if eid else None
        holder = rounds.by_email.get(email) if email else None
        if user is None and holder is not None:
            if holder.employee_id is None:
                user = holder  # an account made by hand: link it to its HR record
            else:
                row.problem(
                    "account", f"email {email} belongs to {holder.name}, employee_id {holder.employee_id}, not {eid}"
                )
        elif user is not None and holder is not None and holder.id != user.id:
            row.problem(
                "account",
                f"email {email} already belongs to {holder.name}"
                + (f" (employee_id {holder.employee_id})" if holder.employee_id else ""),
            )
        row.user = user
        row.key = ("u", user.id) if user is not None else ("n", row.line)


def _kind_and_vendor(rows: list[_Row]) -> None:
    """With the values the person will end up with: ba-staff name their vendor; employees none."""
    for row in rows:
        kind, vendor = _effective(row, "kind"), _effective(row, "vendor")
        if kind == "ba-staff" and not vendor:
            row.problem("kind and vendor", "vendor is required when kind is ba-staff")
        elif kind == "employee" and vendor and "vendor" in row.values:
            row.problem("kind and vendor", f"vendor '{vendor}' is only for contractor or ba-staff rows")


@dataclass
class _Supervisors:
    """Who reports to whom once the file is applied: people by key (("u", account id) or
    ("n", line) for someone new), ``target_of`` each line's supervisor as the file names it."""

    parent: dict[tuple, tuple | None]
    email_of: dict[tuple, str]
    target_of: dict[int, tuple | None]


def _supervisors(rows: list[_Row], rounds: _Rounds) -> _Supervisors:
    """A supervisor is someone in this file (by their email in it) or already in Rounds, not
    inactive and new; nobody is their own supervisor, and there is no loop."""
    rows_by_email: dict[str, _Row] = {}
    for row in rows:
        if row.values["email"]:
            rows_by_email.setdefault(row.values["email"], row)
    tree = _Supervisors(
        parent={("u", u.id): ("u", u.supervisor_id) if u.supervisor_id else None for u in rounds.people},
        email_of={("u", u.id): u.email for u in rounds.people},
        target_of={},
    )
    for row in rows:
        tree.email_of[row.key] = row.values["email"] or row.employee_id
        if "supervisor_email" not in row.values:
            tree.parent[row.key] = (
                ("u", row.user.supervisor_id) if row.user is not None and row.user.supervisor_id else None
            )
            continue
        wanted = row.values["supervisor_email"]
        target = None
        if wanted:
            if wanted in rows_by_email:
                boss = rows_by_email[wanted]
                target = boss.key
                if boss.user is None and boss.values.get("active", True) is False:
                    row.problem(
                        "supervisor", f"supervisor_email {wanted} is inactive on line {boss.line} and not in Rounds"
                    )
            elif wanted in rounds.by_email:
                target = ("u", rounds.by_email[wanted].id)
            elif _EMAIL.match(wanted):
                row.problem("supervisor", f"supervisor_email {wanted} is not anyone in this file or in Rounds")
        tree.parent[row.key] = target
        tree.target_of[row.line] = target
    for row in rows:
        if tree.parent.get(row.key) == row.key:
            row.problem("supervisor", "a person cannot be their own supervisor")
            continue
        chain, current = [row.key], tree.parent.get(row.key)
        while current is not None and current not in chain and len(chain) <= len(tree.parent):
            chain.append(current)
            current = tree.parent.get(current)
        if current == row.key:
            loop = " -> ".join(tree.email_of.get(k, "?") for k in chain + [row.key])
            row.problem("supervisor", f"supervisor loop: {loop}")
    return tree


def _changes(rows: list[_Row], rounds: _Rounds, supervisors: _Supervisors, result: Preview) -> None:
    """For each good row: someone to create (or, inactive and new, to skip), or an account whose
    fields change (deactivated when the file says inactive), or unchanged."""
    for row in rows:
        if row.errors:
            continue
        values = row.values
        plan = PersonPlan(
            employee_id=values["employee_id"], email=values["email"], name=values["name"], line=row.line, _row=row
        )
        supervisor_email = None
        if "supervisor_email" in values:
            target = supervisors.target_of.get(row.line)
            supervisor_email = supervisors.email_of.get(target) if target else None
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
            if old_target != supervisors.target_of.get(row.line):
                old_email = rounds.by_id[user.supervisor_id].email if user.supervisor_id in rounds.by_id else ""
                plan.changes["supervisor"] = (old_email, supervisor_email or "")
        if not plan.changes:
            result.unchanged += 1
        elif user.active and values.get("active", True) is False:
            plan.reason = "inactive in the file"
            result.deactivated.append(plan)
        else:
            result.changed.append(plan)


def _absent_are_deactivated(rows: list[_Row], rounds: _Rounds, result: Preview) -> None:
    """Active people with an employee_id who are not in the file are deactivated (people
    without one, made by hand, are never touched)."""
    in_file = {row.values["employee_id"] for row in rows if row.values["employee_id"]}
    for user in rounds.people:
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


def _not_the_importer(by_user: User | None, result: Preview) -> None:
    """An import may not deactivate the person importing it."""
    if by_user is not None and any(p.user_id == by_user.id for p in result.deactivated):
        mine = next(p for p in result.deactivated if p.user_id == by_user.id)
        result.errors.append(
            RowError(mine.line, f"importing this would deactivate your own account ({by_user.email})", "importer")
        )


# --- apply ---------------------------------------------------------------------------------


def _in_file(plan: PersonPlan) -> tuple[int, _Row]:
    """The line and row in the file of a person to create (every one has them)."""
    if plan.line is None or plan._row is None:
        raise ValueError(f"employee_id {plan.employee_id}: a person to create has no line in the file")
    return plan.line, plan._row


def _create_people(session: Session, result: Preview) -> dict[int, User]:
    """The preview's new people, in a few statements (not one per person), with their
    supervisors; then read back as accounts, by line. In the caller's transaction."""
    if not result.created:
        return {}
    table = cast(Table, User.__table__)
    rows = []
    for plan in result.created:
        values = _in_file(plan)[1].values
        row = {
            "email": values["email"],
            "name": values["name"],
            "password_hash": NO_PASSWORD,
            "role": "learner",
            "job_role": values["job_role"],
            "employee_id": values["employee_id"],
            "active": True,
            "session_version": 1,
            "failed_logins": 0,
        }
        for column in OPTIONAL_COLUMNS:
            if column in _ATTRIBUTE and column != "active":
                row[_ATTRIBUTE[column]] = values.get(column, _DEFAULTS[column])
        rows.append(row)
    session.flush()  # the caller's changes first
    ids = {eid: uid for eid, uid in session.execute(insert(table).returning(table.c.employee_id, table.c.id), rows)}
    line_ids = {_in_file(plan)[0]: ids[plan.employee_id] for plan in result.created}

    def account_id(key: tuple) -> int:
        return key[1] if key[0] == "u" else line_ids[key[1]]

    bosses = [
        {"person": line_ids[line], "boss": account_id(key)}
        for line, key in result._supervisors.items()
        if line in line_ids and key is not None
    ]
    if bosses:
        session.execute(
            update(table).where(table.c.id == bindparam("person")).values(supervisor_id=bindparam("boss")), bosses
        )
    by_id: dict[int, User] = {}
    wanted = sorted(line_ids.values())
    for start in range(0, len(wanted), 900):
        by_id.update(
            (u.id, u)
            for u in session.scalars(
                select(User).options(joinedload(User.supervisor)).where(User.id.in_(wanted[start : start + 900]))
            )
        )
    return {line: by_id[user_id] for line, user_id in line_ids.items()}


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

    created = _create_people(session, result)  # line -> new account

    def account(key: tuple | None) -> User | None:
        if key is None:
            return None
        return session.get(User, key[1]) if key[0] == "u" else created[key[1]]

    for plan in result.changed + result.deactivated:
        user = session.get_one(User, plan.user_id)
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
    for plan in result.created:
        evidence.append(
            session,
            "person.created",
            user=created[_in_file(plan)[0]],
            details={"employee_id": plan.employee_id, "fields": plan.values, "import": result.sha256, "by": by},
        )
    retrain = []
    for plan in result.changed:
        user = session.get_one(User, plan.user_id)
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
            retrain.append(user)
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
    # Everyone's assignments at once: a few queries, not a few per person.
    given = assignments.for_people(
        session, [created[_in_file(p)[0]] for p in result.created], curricula, library, today, new=True
    )
    given += assignments.for_people(session, retrain, curricula, library, today, new=False)
    result.assignments = len(given)
    return result

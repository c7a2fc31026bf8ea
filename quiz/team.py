"""Who a manager may see (their direct and indirect reports; admins see everyone), and the pages
of people they look at: searched, filtered and paged in the database, a page at a time.

Sized for an organization of 10,000 people and years of history: a page of people is two
queries (the page's ids with how many match, then their figures), whatever the size of the
team; a person's standing is worked out in SQL (``standing_sql`` for the rows shown,
``in_standing`` for a filter over everyone: the same rule as ``assignments.standing``), so a
filter on it pages too. The manager tree is walked by a recursive query in the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import Session, aliased

from . import accounts, assignments, evidence
from .content import Library, label
from .content.curricula import Curricula
from .listing import Page, page_number, search_condition  # noqa: F401  (page_number: for the views)
from .models import Assignment, Attempt, User
from .words import ngettext

#: People on one page of the team, the roster and the other lists.
PER_PAGE = 50

#: Which people the roster shows (the team page shows active people only).
SHOW = {
    "all": "Everyone",
    "active": "Active people",
    "inactive": "Deactivated people",
    "not-cleared": "Active, not cleared for PHI access",
}


# --- the tree ----------------------------------------------------------------------------------


def scope_ids(viewer: User, *, admin_sees_self: bool = False) -> Select:
    """A SELECT of the ids of the people ``viewer`` may see: an admin everyone (but themselves,
    unless ``admin_sees_self``), anyone else the people below them in the supervisor tree, found
    by a recursive query (a loop in bad data ends it: UNION keeps each id once)."""
    if viewer.role == "admin":
        query = select(User.id)
        return query if admin_sees_self else query.where(User.id != viewer.id)
    tree = select(User.id.label("id")).where(User.supervisor_id == viewer.id).cte("tree", recursive=True)
    below = aliased(User)
    tree = tree.union(select(below.id).join(tree, below.supervisor_id == tree.c.id))
    return select(tree.c.id).where(tree.c.id != viewer.id)


def member_ids(session: Session, viewer: User, include_inactive: bool = False) -> set[int]:
    """The ids of everyone ``viewer`` may see, in one query (no person loaded)."""
    query = select(User.id).where(User.id.in_(scope_ids(viewer)))
    if not include_inactive:
        query = query.where(User.active.is_(True))
    return set(session.scalars(query))


def reports_of(session: Session, manager: User, include_inactive: bool = False) -> list[User]:
    """Everyone below ``manager`` in the supervisor tree, by name (an admin: everyone else).
    Loads every one of them: for small forms; pages use ``people_page``."""
    if manager.role != "admin":  # a fast answer for someone who manages no one
        has_reports = session.scalar(select(exists().where(User.supervisor_id == manager.id)))
        if not has_reports:
            return []
    query = select(User).where(User.id.in_(scope_ids(manager)))
    if not include_inactive:
        query = query.where(User.active.is_(True))
    return list(session.scalars(query.order_by(User.name, User.id)))


def can_see(session: Session, viewer: User, person: User) -> bool:
    if viewer.role == "admin":
        return True
    return bool(session.scalar(select(exists().where(User.id == person.id, User.id.in_(scope_ids(viewer))))))


# --- a person's standing, in SQL ---------------------------------------------------------------


def _open(*more):
    return and_(Assignment.user_id == User.id, Assignment.state.in_(("open", "overdue")), *more)


def standing_sql(today: date, due_soon_days: int):
    """``assignments.standing`` as one SQL expression over ``User`` (correlated subqueries on
    the indexed ``user_id`` columns): the standing's code, one of ``assignments.STANDINGS``."""
    signed = exists().where(Attempt.user_id == User.id, Attempt.acknowledged_at.is_not(None))
    tried = exists().where(Attempt.user_id == User.id)
    return case(
        (exists().where(_open(Assignment.due_on < today)), "overdue"),
        (and_(not_(signed), tried), "attempted"),
        (
            and_(not_(signed), exists().where(_open()), not_(exists().where(_open(Assignment.due_on <= today)))),
            "not-yet-due",
        ),
        (not_(signed), "never-trained"),
        (exists().where(_open(Assignment.due_on <= today + timedelta(days=due_soon_days))), "due-soon"),
        else_="current",
    )


def in_standing(standing: str, today: date, due_soon_days: int):
    """A condition on ``User`` that holds for everyone in ``standing``: ``standing_sql``'s rule
    as set membership (``IN`` uncorrelated subqueries, each read once), which is what a filter
    over a whole organization needs; per-person subqueries would run for every person."""
    is_open = Assignment.state.in_(("open", "overdue"))

    def open_ids(*more):
        return User.id.in_(select(Assignment.user_id).where(is_open, *more))

    late = open_ids(Assignment.due_on < today)
    signed = User.id.in_(select(Attempt.user_id).where(Attempt.acknowledged_at.is_not(None)))
    tried = User.id.in_(select(Attempt.user_id))
    has_open, due_now = open_ids(), open_ids(Assignment.due_on <= today)
    due_soon = open_ids(Assignment.due_on <= today + timedelta(days=due_soon_days))
    never_signed = and_(not_(late), not_(signed))
    return {
        "overdue": late,
        "attempted": and_(never_signed, tried),
        "not-yet-due": and_(never_signed, not_(tried), has_open, not_(due_now)),
        "never-trained": and_(never_signed, not_(tried), or_(not_(has_open), due_now)),
        "due-soon": and_(not_(late), signed, due_soon),
        "current": and_(not_(late), signed, not_(due_soon)),
    }[standing]


def _onboarding_done_sql():
    """``assignments.onboarding_done`` in SQL: at least one onboarding (or state) assignment,
    and each of them done or waived."""
    mine = and_(Assignment.user_id == User.id, Assignment.reason.in_(("onboarding", "state-mandate")))
    return and_(
        exists().where(mine),
        not_(exists().where(mine, Assignment.state.not_in(("done", "waived")))),
    )


# --- pages of people ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a list of people is narrowed to; every field optional ("" is "any")."""

    q: str = ""  # a part of the name, email, employee id or department
    standing: str = ""
    department: str = ""
    job_role: str = ""
    work_state: str = ""
    show: str = "active"  # one of SHOW
    show_default: str = "active"  # what "show" is when the query string does not say

    @classmethod
    def from_args(cls, args, *, show_default: str = "active", shows: Iterable[str] = SHOW) -> Filters:
        """From a query string; an unknown value of a closed list is ignored."""
        standing = args.get("standing", "")
        show = args.get("show", show_default)
        return cls(
            q=(args.get("q") or "").strip()[:200],
            standing=standing if standing in assignments.STANDINGS else "",
            department=(args.get("department") or "")[:120],
            job_role=(args.get("job_role") or "")[:40],
            work_state=(args.get("work_state") or "")[:2],
            show=show if show in shows else show_default,
            show_default=show_default,
        )

    def args(self) -> dict[str, str]:
        """The query-string arguments that say these filters (for the page links)."""
        kept = {k: v for k, v in self.__dict__.items() if v and k != "show_default"}
        if self.show == self.show_default:
            del kept["show"]
        return kept


@dataclass
class PersonLine:
    person: User
    supervisor_name: str | None
    standing: assignments.Standing
    open_count: int
    next_due: date | None
    onboarding_done: bool


def _where(viewer: User, filters: Filters, today: date, due_soon_days: int, *, admin_sees_self: bool) -> list:
    where: list[ColumnElement[bool]] = [User.id.in_(scope_ids(viewer, admin_sees_self=admin_sees_self))]
    if filters.show == "active":
        where.append(User.active.is_(True))
    elif filters.show == "inactive":
        where.append(User.active.is_(False))
    elif filters.show == "not-cleared":
        where += [User.active.is_(True), User.cleared_at.is_(None)]
    found = search_condition(filters.q, User.name, User.email, User.employee_id, User.department)
    if found is not None:
        where.append(found)
    if filters.department:
        where.append(User.department == filters.department)
    if filters.job_role:
        where.append(User.job_role == filters.job_role)
    if filters.work_state:
        where.append(User.work_state == filters.work_state)
    if filters.standing:
        where.append(in_standing(filters.standing, today, due_soon_days))
    return where


def people_page(
    session: Session,
    viewer: User,
    filters: Filters,
    today: date,
    due_soon_days: int,
    page: int = 1,
    *,
    per_page: int = PER_PAGE,
    admin_sees_self: bool = False,
) -> Page:
    """One page of the people ``viewer`` may see, by name, with their standing, open
    assignments and next due date: two queries, whatever the number of people."""
    where = _where(viewer, filters, today, due_soon_days, admin_sees_self=admin_sees_self)
    # The page's ids and how many match, in one query (a window count: the filters run once);
    # then their figures, as a database works out the columns of the rows an OFFSET skips too,
    # and the standing's subqueries are the costly part.
    ids_and_total = (
        select(User.id, func.count().over().label("total"))
        .where(*where)
        .order_by(User.name, User.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    found = session.execute(ids_and_total).all()
    if found:
        total = found[0].total
    else:  # no one, or a page past the end: count them, and show the last page
        total = session.scalar(select(func.count(User.id)).where(*where)) or 0
        last = max(1, -(-total // per_page))
        if page > last:
            page = last
            found = session.execute(ids_and_total.offset((page - 1) * per_page)).all()
    ids = [row.id for row in found]
    boss = aliased(User)
    open_count = select(func.count(Assignment.id)).where(_open()).scalar_subquery()
    next_due = select(func.min(Assignment.due_on)).where(_open()).scalar_subquery()
    if not ids:
        return Page(items=[], total=total, page=page, per_page=per_page)
    rows = session.execute(
        select(
            User,
            boss.name,
            standing_sql(today, due_soon_days),
            open_count,
            next_due,
            _onboarding_done_sql(),
        )
        .outerjoin(boss, User.supervisor_id == boss.id)
        .where(User.id.in_(ids))
        .order_by(User.name, User.id)
    ).all()
    lines = [
        PersonLine(
            person=person,
            supervisor_name=boss_name,
            standing=assignments.Standing(code, assignments.STANDINGS[code]),
            open_count=count or 0,
            next_due=_as_date(due),
            onboarding_done=bool(done),
        )
        for person, boss_name, code, count, due, done in rows
    ]
    return Page(items=lines, total=total, page=page, per_page=per_page)


def _as_date(value) -> date | None:
    """A date from an aggregate (SQLite may hand back its text)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class Choices:
    """The values the filters offer, from the people in scope."""

    departments: list[str]
    job_roles: list[str]
    work_states: list[str]

    @property
    def job_role_words(self) -> dict[str, str]:
        return {role: label(role) for role in self.job_roles}


def choices(session: Session, viewer: User, *, admin_sees_self: bool = False) -> Choices:
    """Departments, job roles and work states among the people ``viewer`` may see (one query)."""
    rows = session.execute(
        select(User.department, User.job_role, User.work_state)
        .where(User.id.in_(scope_ids(viewer, admin_sees_self=admin_sees_self)))
        .distinct()
    ).all()
    return Choices(
        departments=sorted({d for d, _, _ in rows if d}),
        job_roles=sorted({r for _, r, _ in rows if r}),
        work_states=sorted({s for _, _, s in rows if s}),
    )


def count_not_cleared(session: Session) -> int:
    """Active people not cleared for PHI access (the roster's warning)."""
    return session.scalar(select(func.count(User.id)).where(User.active.is_(True), User.cleared_at.is_(None))) or 0


# --- choosing people for a bulk action ----------------------------------------------------------


class SelectionError(ValueError):
    """The people chosen for a bulk action cannot be acted on (the message says why)."""


#: The most people one bulk action takes (a department larger than this is refused).
MAX_BULK = 5000


def chosen_people(
    session: Session,
    viewer: User,
    *,
    ids: Iterable[int] = (),
    department: str = "",
    admin_sees_self: bool = False,
) -> list[User]:
    """The active people a bulk action is for: the ``ids`` chosen, or everyone in ``department``,
    each one ``viewer`` may see (one query). SelectionError: no one, or too many."""
    ids = sorted({int(i) for i in ids})
    if department and ids:
        raise SelectionError("Choose people or a department, not both.")
    scope = User.id.in_(scope_ids(viewer, admin_sees_self=admin_sees_self))
    if department:
        where = [User.department == department]
    elif ids:
        if len(ids) > MAX_BULK:
            raise SelectionError(
                ngettext(
                    "Choose at most %(num)d person at a time.", "Choose at most %(num)d people at a time.", MAX_BULK
                )
            )
        where = [User.id.in_(ids)]
    else:
        raise SelectionError("Choose at least one person, or a department.")
    people = list(
        session.scalars(select(User).where(scope, User.active.is_(True), *where).order_by(User.name, User.id))
    )
    if not people:
        raise SelectionError(
            f"No active person in {department} is in your team."
            if department
            else "None of the people chosen is an active member of your team."
        )
    if len(people) > MAX_BULK:
        raise SelectionError(
            ngettext(
                "%(department)s has %(num)d person: at most %(most)d at a time.",
                "%(department)s has %(num)d people: at most %(most)d at a time.",
                len(people),
                department=department,
                most=MAX_BULK,
            )
        )
    return people


def find_people(session: Session, viewer: User, names: Iterable[str]) -> tuple[list[User], list[str]]:
    """The active people ``viewer`` may see named by employee id or email (any case), in one
    query; and the names that found no one."""
    wanted = {n.strip().lower(): n.strip() for n in names if n.strip()}
    if not wanted:
        return [], []
    found = list(
        session.scalars(
            select(User)
            .where(
                User.id.in_(scope_ids(viewer)),
                User.active.is_(True),
                func.lower(User.employee_id).in_(wanted) | func.lower(User.email).in_(wanted),
            )
            .order_by(User.name, User.id)
        )
    )
    known = {p.email.lower() for p in found} | {(p.employee_id or "").lower() for p in found}
    return found, [shown for key, shown in wanted.items() if key not in known]


@dataclass
class BulkAssigned:
    made: list[Assignment]
    already_open: int
    #: People the module is not for (``assignments.may_take``), left out: asked with ``curricula``.
    not_for: list[User] = field(default_factory=list)


def assign_many(
    session: Session,
    people: list[User],
    module_id: str,
    due_on: date,
    *,
    by: User,
    library: Library,
    detail: str,
    curricula: Curricula | None = None,
    objective: str | None = None,
) -> BulkAssigned:
    """Assign a module to each person who does not already have it open, each with its evidence
    record (``assignments.ensure``); who already has it open is found with one query. With
    ``curricula``, only to those who may take it (``assignments.may_take``): the others are
    refused, and listed in ``not_for``. ``objective``: the missed objective it is assigned for."""
    if module_id not in library.modules:
        raise SelectionError("That module is not offered.")
    module = library.modules[module_id]
    not_for = [p for p in people if curricula is not None and not assignments.may_take(curricula, module, p)]
    people = [p for p in people if p not in not_for]
    busy = (
        set(
            session.scalars(
                select(Assignment.user_id).where(
                    Assignment.module_id == module_id,
                    Assignment.state.in_(("open", "overdue")),
                    Assignment.user_id.in_([p.id for p in people]),
                )
            )
        )
        if people
        else set()
    )
    made = []
    for person in people:
        if person.id in busy:
            continue
        a = assignments.ensure(
            session,
            person,
            module_id,
            due_on,
            "manager-choice",
            library=library,
            by=by,
            detail=detail,
            objective=objective,
        )
        if a is not None:
            made.append(a)
    return BulkAssigned(made=made, already_open=len(people) - len(made), not_for=not_for)


def set_inactive(session: Session, people: list[User], *, by: User) -> list[User]:
    """An admin sets people inactive: each is deactivated (their sessions end) with a
    ``person.deactivated`` evidence record naming the admin, as the roster import records it.
    Already inactive people are left as they are; the admin's own account is refused."""
    if any(p.id == by.id for p in people):
        raise SelectionError("You cannot set your own account inactive.")
    changed = []
    for person in people:
        if not person.active:
            continue
        person.active = False
        accounts.end_all_sessions(person)
        evidence.append(
            session,
            "person.deactivated",
            user=person,
            details={
                "employee_id": person.employee_id,
                "reason": "set inactive by an admin",
                "changes": {"active": ["yes", "no"]},
                "by": by.email,
            },
        )
        changed.append(person)
    return changed


def departments_of(people: Iterable[User]) -> dict[str, int]:
    """How many of ``people`` are in each department (for a confirmation)."""
    counts: dict[str, int] = defaultdict(int)
    for p in people:
        counts[p.department or "(no department)"] += 1
    return dict(sorted(counts.items()))

"""Long lists a page at a time: the paging, the search, and the lists of the admin and manager
pages that are not people (the outbox, the trigger events). Each page is a fixed number of
queries, whatever the size of the organization (docs/architecture.md, "Pages of people")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from .models import Assignment, OutboxMessage, TriggerEvent, User
from .triggers import EventProgress

#: Items on one page of a list.
PER_PAGE = 50


@dataclass
class Page:
    """One page of a longer list."""

    items: list
    total: int
    page: int
    per_page: int = PER_PAGE
    extra: dict = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first(self) -> int:
        """The number of the page's first item (1-based; 0 for an empty list)."""
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def page_number(value: str | None) -> int:
    """A page number from a query string: a bad or missing one is the first page."""
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_condition(q: str, *columns):
    """Each word of ``q`` is found, case-insensitively, in one of ``columns``."""
    conditions = []
    for word in q.split():
        pattern = _like(word)
        conditions.append(or_(*(func.lower(column).like(pattern, escape="\\") for column in columns)))
    return and_(*conditions) if conditions else None


def clamp(page: int, total: int, per_page: int) -> int:
    """A page number past the end is the last page."""
    return min(page, max(1, -(-total // per_page)))


# --- the outbox --------------------------------------------------------------------------------

#: The outbox's status filter: words, and the condition.
OUTBOX_STATUSES = {
    "sent": "Sent by SMTP",
    "failed": "Not sent",
    "kept": "Kept in the outbox",
}


def outbox_page(
    session: Session,
    *,
    q: str = "",
    kind: str = "",
    status: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page:
    """Messages newest first, found by the recipient's address, name, employee id or
    department, or the subject; of one kind; of one status. Two queries."""
    where = []
    found = search_condition(
        q, OutboxMessage.to_address, OutboxMessage.subject, User.name, User.employee_id, User.department
    )
    if found is not None:
        where.append(found)
    if kind:
        where.append(OutboxMessage.kind == kind)
    if status == "sent":
        where.append(OutboxMessage.sent_at.is_not(None))
    elif status == "failed":
        where += [OutboxMessage.sent_at.is_(None), OutboxMessage.error.is_not(None)]
    elif status == "kept":
        where += [OutboxMessage.sent_at.is_(None), OutboxMessage.error.is_(None)]
    joined = select(func.count(OutboxMessage.id)).outerjoin(User, OutboxMessage.to_user_id == User.id)
    total = session.scalar(joined.where(*where)) or 0
    page = clamp(page, total, per_page)
    items = list(
        session.scalars(
            select(OutboxMessage)
            .outerjoin(User, OutboxMessage.to_user_id == User.id)
            .where(*where)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return Page(items=items, total=total, page=page, per_page=per_page)


# --- trigger events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventLine:
    event: TriggerEvent
    progress: EventProgress


def events_page(
    session: Session,
    today: date,
    *,
    viewer_id: int,
    members=None,
    q: str = "",
    kind: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page:
    """Trigger events, latest first, with their progress; ``members``: a SELECT of the ids a
    manager may see (None: an admin, who sees every event). A manager sees the events they
    recorded and those that assigned someone in their team; the progress counts every
    assignment of the event (``triggers.progress``'s rule, in SQL). Found by title; of one kind.
    Three queries."""
    where = []
    if members is not None:
        where.append(
            or_(
                TriggerEvent.recorded_by_id == viewer_id,
                TriggerEvent.id.in_(select(Assignment.trigger_event_id).where(Assignment.user_id.in_(members))),
            )
        )
    found = search_condition(q, TriggerEvent.title)
    if found is not None:
        where.append(found)
    if kind:
        where.append(TriggerEvent.kind == kind)
    total = session.scalar(select(func.count(TriggerEvent.id)).where(*where)) or 0
    page = clamp(page, total, per_page)
    events = list(
        session.scalars(
            select(TriggerEvent)
            .where(*where)
            .order_by(TriggerEvent.occurred_on.desc(), TriggerEvent.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    counts: dict[int, tuple[int, int, int]] = {}
    if events:
        overdue = case(  # assignments.state_as_of: overdue on ``today``
            (and_(Assignment.state.in_(("open", "overdue")), Assignment.due_on < today, User.active.is_(True)), 1),
            (and_(Assignment.state == "overdue", Assignment.due_on < today), 1),
            else_=0,
        )
        progress = (
            select(
                Assignment.trigger_event_id,
                func.count(Assignment.id),
                func.sum(case((Assignment.state.in_(("done", "waived")), 1), else_=0)),
                func.sum(overdue),
            )
            .join(User, Assignment.user_id == User.id)
            .where(Assignment.trigger_event_id.in_([e.id for e in events]))
            .group_by(Assignment.trigger_event_id)
        )
        counts = {eid: (n, closed or 0, late or 0) for eid, n, closed, late in session.execute(progress)}
    items = [EventLine(e, EventProgress(*counts.get(e.id, (0, 0, 0)))) for e in events]
    return Page(items=items, total=total, page=page, per_page=per_page)

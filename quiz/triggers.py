"""Trigger events: an incident, a new system, an audit finding... and the refreshers it calls for.

Recording an event assigns its modules to everyone in its scope (named people, a department or
a job role), so the event, its assignments and how many are closed can be shown together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import assignments, clock, evidence
from .content import Library
from .models import TRIGGER_KINDS, TriggerEvent, User
from .words import ngettext

SCOPE_KINDS = ("people", "department", "job-role")


def people_in_scope(session: Session, scope_kind: str, scope_value, within: list[User] | None) -> list[User]:
    """Active people the scope names, limited to ``within`` (a manager's reports) when given."""
    query = select(User).where(User.active.is_(True))
    if scope_kind == "people":
        query = query.where(User.id.in_([int(v) for v in scope_value]))
    elif scope_kind == "department":
        query = query.where(User.department == scope_value)
    elif scope_kind == "job-role":
        query = query.where(User.job_role == scope_value)
    else:
        raise ValueError(f"scope must be one of {', '.join(SCOPE_KINDS)}")
    people = list(session.scalars(query.order_by(User.name)))
    if within is not None:
        allowed = {p.id for p in within}
        people = [p for p in people if p.id in allowed]
    return people


def record(
    session: Session,
    *,
    by: User,
    kind: str,
    title: str,
    description: str | None,
    occurred_on: date,
    scope_kind: str,
    scope_value,
    module_ids: list[str],
    due_in_days: int,
    library: Library,
    today: date,
    within: list[User] | None = None,
) -> TriggerEvent:
    """Record the event and assign its modules, due ``due_in_days`` after ``today``. Neither the
    day it happened nor ``today`` may be a day to come (ValueError: clock.check_not_future)."""
    clock.check_not_future(today)
    try:
        clock.check_not_future(occurred_on)
    except ValueError as exc:
        raise ValueError(f"the day it happened: {exc}") from None
    if kind not in TRIGGER_KINDS:
        raise ValueError(f"kind must be one of {', '.join(TRIGGER_KINDS)}")
    unknown = [m for m in module_ids if m not in library.modules]
    if unknown:
        raise ValueError(
            ngettext("unknown module: %(ids)s", "unknown modules: %(ids)s", len(unknown), ids=", ".join(unknown))
        )
    people = people_in_scope(session, scope_kind, scope_value, within)
    event = TriggerEvent(
        kind=kind,
        title=title.strip(),
        description=(description or "").strip() or None,
        occurred_on=occurred_on,
        scope_kind=scope_kind,
        scope_value=json.dumps(scope_value),
        module_ids=json.dumps(module_ids),
        recorded_by=by,
    )
    session.add(event)
    session.flush()
    evidence.append(
        session,
        "trigger.recorded",
        details={
            "event": event.id,
            "kind": kind,
            "title": event.title,
            "occurred_on": occurred_on.isoformat(),
            "scope": {"kind": scope_kind, "value": scope_value},
            "modules": module_ids,
            "people": len(people),
            "recorded_by": by.email,
        },
    )
    due = today + timedelta(days=due_in_days)
    for person in people:
        for module_id in module_ids:
            assignments.ensure(
                session,
                person,
                module_id,
                due,
                "trigger-event",
                library=library,
                detail=f"{kind}: {event.title}",
                by=by,
                event=event,
            )
    return event


@dataclass(frozen=True)
class EventProgress:
    total: int
    closed: int
    overdue: int

    @property
    def share_closed(self) -> float:
        return self.closed / self.total if self.total else 1.0


def progress(event: TriggerEvent, today: date) -> EventProgress:
    """How many of the event's assignments are closed, and overdue on ``today``."""
    states = [assignments.state_of(a, today) for a in event.assignments]
    return EventProgress(
        total=len(states),
        closed=sum(s in ("done", "waived") for s in states),
        overdue=sum(s == "overdue" for s in states),
    )

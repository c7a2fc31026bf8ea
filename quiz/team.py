"""Who a manager may see: their direct and indirect reports (admins see everyone)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import User


def reports_of(session: Session, manager: User, include_inactive: bool = False) -> list[User]:
    """Everyone below ``manager`` in the supervisor tree (loops in bad data are ignored)."""
    if manager.role == "admin":
        query = select(User).where(User.id != manager.id)
        if not include_inactive:
            query = query.where(User.active.is_(True))
        return list(session.scalars(query.order_by(User.name)))
    below: dict[int | None, list[int]] = defaultdict(list)
    for uid, sup in session.execute(select(User.id, User.supervisor_id)):
        below[sup].append(uid)
    seen: set[int] = set()
    frontier = [manager.id]
    while frontier:
        nxt = []
        for uid in frontier:
            for child in below.get(uid, []):
                if child not in seen and child != manager.id:
                    seen.add(child)
                    nxt.append(child)
        frontier = nxt
    if not seen:
        return []
    query = select(User).where(User.id.in_(seen))
    if not include_inactive:
        query = query.where(User.active.is_(True))
    return list(session.scalars(query.order_by(User.name)))


def can_see(session: Session, viewer: User, person: User) -> bool:
    return viewer.role == "admin" or any(p.id == person.id for p in reports_of(session, viewer, True))

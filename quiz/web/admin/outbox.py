"""Admin: the outbox, every email Rounds sent or would have sent (read-only, newest first).

With no SMTP server configured this is where reminders are read; with one, it shows what went
out and what the server refused (with its error; the next ``reminders send`` the same day
tries again). Plain links and pages: works without JavaScript. A page at a time, searched by
the recipient or the subject, filtered by kind and status (listing.outbox_page).
"""

from __future__ import annotations

from datetime import datetime

from flask import render_template, request

from ... import listing
from ...accounts import QUEUED
from ...db import db
from ...models import OutboxMessage, as_utc
from ..common import ADMIN_SECTIONS
from ..units import reads
from . import bp

ADMIN_SECTIONS.append(("admin.outbox", "Outbox", "Every email Rounds sent or would have sent"))

PER_PAGE = 50
KINDS = {
    "digest": "Reminder",
    "escalation": "Escalation",
    "chain-alert": "Chain check failed",
    "chain-head": "Chain head (daily)",
    "password-set": "Password set by an admin",
    "invitation": "Invitation",
    "password-reset": "Password reset",
}


def when(moment: datetime | None) -> str:
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def status(m: OutboxMessage) -> tuple[str, str]:
    """(badge state, words) for a message."""
    if m.sent_at is not None:
        return "current", "Sent by SMTP"
    if m.error == QUEUED:
        return "due-soon", "Queued for the SMTP server"
    if m.error:
        return "overdue", "Not sent"
    return "due-soon", "Kept in the outbox"


@bp.get("/outbox")
@reads
def outbox():
    """Newest first, a page at a time; found by the recipient (address, name, employee id,
    department) or the subject; of one kind; of one status."""
    q = (request.args.get("q") or "").strip()[:200]
    kind = request.args.get("kind", "")
    kind = kind if kind in KINDS else ""
    state = request.args.get("status", "")
    state = state if state in listing.OUTBOX_STATUSES else ""
    page = listing.outbox_page(
        db.session,
        q=q,
        kind=kind,
        status=state,
        page=listing.page_number(request.args.get("page")),
        per_page=PER_PAGE,
    )
    args = {k: v for k, v in (("q", q), ("kind", kind), ("status", state)) if v}
    return render_template(
        "admin/outbox.html",
        page=page,
        kinds=KINDS,
        when=when,
        status=status,
        q=q,
        kind=kind,
        state=state,
        statuses=listing.OUTBOX_STATUSES,
        args=args,
    )


@bp.get("/outbox/<int:message_id>")
@reads
def outbox_message(message_id: int):
    message = db.get_or_404(OutboxMessage, message_id)
    return render_template("admin/outbox_message.html", m=message, kinds=KINDS, when=when, status=status)

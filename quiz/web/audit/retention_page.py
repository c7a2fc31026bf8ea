"""Compliance: retention. How long each kind of record is kept (quiz/retention.py), how many are
past their keep-until date today (what the next ``flask retention purge`` removes, what legal
holds keep back, and the required records it keeps), the holds in force and the last purge.
Read-only: admins place and release holds in Admin > Legal holds."""

from __future__ import annotations

from flask import current_app, render_template

from ... import clock, retention
from ...db import db
from ..units import reads
from . import bp


@bp.get("/retention")
@reads
def retention_page():
    policy = retention.Policy.from_config(current_app.config)
    today = clock.org_today()
    found = retention.plan(db.session, today, policy)
    due = found.counts()
    return render_template(
        "audit/retention.html",
        policy=policy,
        today=today,
        found=found,
        due=due,
        kinds=retention.KINDS,
        rules=policy.rules(),
        purged_kinds=retention.PURGED_KINDS,
        words=retention.hold_words,
        last=retention.last_purge(db.session),
    )

"""Admin: the xAPI outbox, the statements on their way to the learning record store.

How many are queued, sent, refused and skipped; each statement the LRS refused, with its
answer, and each one waiting after a failed try (the LRS down or misconfigured), with a Retry
button: queued again, it goes at the next ``xapi send`` (a timer, every few minutes). The page
never talks to the LRS itself. Plain forms with their CSRF token: works without JavaScript.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm

from ... import xapi
from ...db import db
from ...words import ngettext
from ..common import ADMIN_SECTIONS
from ..units import reads, writes
from . import bp
from .outbox import when

ADMIN_SECTIONS.append(("admin.xapi_outbox", "xAPI", "Statements sent to the learning record store, and any it refused"))

STATES = {"queued": "Queued", "sent": "Sent", "refused": "Refused", "skipped": "Not sent (no statement)"}


class RetryForm(FlaskForm):
    """Only the CSRF token: the row is in the URL."""


@bp.get("/xapi")
@reads
def xapi_outbox():
    settings = xapi.settings_from_config(current_app.config)
    return render_template(
        "admin/xapi.html",
        overview=xapi.overview(db.session),
        configured=bool(settings.url),
        lrs_url=settings.url,
        states=STATES,
        when=when,
        form=RetryForm(),
    )


@bp.post("/xapi/<int:row_id>/retry")
@writes
def xapi_retry(row_id: int):
    if not RetryForm().validate_on_submit():
        abort(400)
    if xapi.retry(db.session, row_id):
        flash(f"Statement {row_id} is queued: it goes at the next run of xapi send.", "info")
    else:
        flash(f"Statement {row_id} was already sent, or is not in the outbox.", "info")
    return redirect(url_for("admin.xapi_outbox"), code=303)


@bp.post("/xapi/retry-refused")
@writes
def xapi_retry_refused():
    if not RetryForm().validate_on_submit():
        abort(400)
    count = xapi.retry_refused(db.session)
    flash(
        ngettext(
            "%(num)d refused statement queued again: it goes at the next run of xapi send.",
            "%(num)d refused statements queued again: they go at the next run of xapi send.",
            count,
        ),
        "info",
    )
    return redirect(url_for("admin.xapi_outbox"), code=303)

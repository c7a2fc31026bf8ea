"""Admin: invite people by email to set a password (or to sign in with single sign-on), from
the roster: the people ticked, a department, or everyone who has never signed in
(quiz/invitations.py).

The messages are kept in the outbox in the request, a batch of people per short writing
transaction, never one SMTP round trip per person in it. A few (up to ``SEND_NOW``) are handed
to the SMTP server right after the response; more wait for the ``users send-invitations`` job
(its timer runs it every few minutes: deploy/systemd/rounds-invitations.timer).

More people than INVITATIONS_IN_REQUEST (``Settings.in_request``) are not invited in the request
at all: it records who is to be invited, by whom (``invitations.request_invitations``: one row a
person and an evidence record of the request), answers at once, and the job makes the
invitations in batches before sending them.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ... import invitations, jobs, team
from ...db import Steps, db
from ...words import ngettext
from ..later import after_the_response
from ..units import reads_then_writes, writing
from . import bp

#: Invitations sent right after the response; more are left to the job.
SEND_NOW = 50


class InviteForm(FlaskForm):
    """A one-button POST: only the CSRF token."""


def _send_queued(settings: invitations.Settings) -> None:
    try:
        # Only what this page queued (and any other queued): large requests are the job's work.
        invitations.send_invitations(db.session, settings, steps=Steps(db.session), make_requested=False)
    except jobs.AlreadyRunning:  # the job is sending them now
        pass


def _people(count: int) -> str:
    return ngettext("%(num)d person", "%(num)d people", count)


@bp.post("/roster/invite")
@reads_then_writes
def roster_invite():
    """First a page saying who will be invited and who skipped; then, confirmed, the
    invitations kept in the outbox, a batch at a time, each with its evidence record."""
    filters = team.Filters.from_args(request.form, show_default="all")
    back = redirect(url_for("admin.roster", **filters.args()), code=303)
    if not InviteForm().validate_on_submit():
        abort(400)
    department = (request.form.get("invite_department") or "").strip()[:120]
    everyone = request.form.get("invite_everyone") == "yes" and not department
    try:
        ids = [] if department or everyone else [int(i) for i in request.form.getlist("person")]
    except ValueError:
        abort(400)
    settings = invitations.settings_from_config(current_app.config)
    try:
        selection = invitations.select_people(db.session, ids=ids, department=department or None, everyone=everyone)
        invitations.can_invite(settings)
    except invitations.InvitationError as exc:
        flash(str(exc), "error")
        return back
    skipped = f"{selection.signed_in} who have signed in before and {selection.inactive} deactivated"
    if not selection.to_invite:
        flash(f"No one to invite: skipped {skipped}.", "info")
        return back
    if request.form.get("confirmed") != "yes":
        return render_template(
            "admin/roster_invite.html",
            selection=selection,
            ids=ids,
            department=department,
            everyone=everyone,
            filters=filters,
            form=InviteForm(),
            settings=settings,
        )
    admin = current_user._get_current_object()
    skipped_counts = f"Skipped {selection.signed_in} who have signed in before and {selection.inactive} deactivated."
    if len(selection.to_invite) > settings.in_request:
        if everyone:
            scope: dict[str, object] = {"everyone_never_signed_in": True}
        elif department:
            scope = {"department": department}
        else:
            scope = {"people_ticked": len(ids)}
        scope.update(skipped_signed_in=selection.signed_in, skipped_inactive=selection.inactive)
        with writing(db.session):
            asked = invitations.request_invitations(
                db.session, selection.to_invite, by=admin, settings=settings, scope=scope
            )
        count = len(selection.to_invite)
        said = ngettext(
            "Inviting %(num)s person: the email goes out over the next minutes; Admin > Outbox shows it.",
            "Inviting %(num)s people: the emails go out over the next minutes; Admin > Outbox shows them.",
            count,
            num=format(count, ","),
        )
        if asked.already:
            said += " " + ngettext(
                "%(num)s of them was already waiting from an earlier request and is invited once.",
                "%(num)s of them were already waiting from an earlier request and are invited once.",
                asked.already,
                num=format(asked.already, ","),
            )
        flash(f"{said} {skipped_counts}", "success")
        return back
    result = invitations.Invited()
    for start in range(0, len(selection.to_invite), invitations.BATCH):
        with writing(db.session):
            done = invitations.invite(
                db.session, selection.to_invite[start : start + invitations.BATCH], by=admin, settings=settings
            )
        for name in ("invited", "with_link", "signed_in", "inactive", "replaced"):
            setattr(result, name, getattr(result, name) + getattr(done, name))
    when = "in a moment"
    if result.invited <= SEND_NOW:
        after_the_response(lambda: _send_queued(settings), "sending invitations")
    else:
        when = "within a few minutes (the invitations job sends them in batches)"
    sso = result.invited - result.with_link
    how = f"{result.with_link} with a link to set a password" + (
        f", {sso} told to sign in with {settings.sso.provider_name}" if sso else ""
    )
    flash(
        f"Invited {_people(result.invited)} ({how}); the emails go out {when}, and Admin > Outbox shows each one. "
        f"Skipped {selection.signed_in + result.signed_in} who have signed in before and "
        f"{selection.inactive + result.inactive} deactivated.",
        "success",
    )
    return back

"""Admin: the roster (who is cleared for PHI access) and the HRIS import (upload, preview, apply).

Plain forms and redirects: every page works without JavaScript. An upload is stored as a
RosterUpload, previewed against the database as it is when the page is shown, and applied all
or nothing by a separate POST.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms.validators import ValidationError

from ... import assignments, clock, csvtext, roster, team
from ...db import db
from ...models import PERSON_KIND_LABELS, RosterUpload, User, as_utc, utcnow
from ...words import ngettext
from ..common import ADMIN_SECTIONS, curricula, library
from ..units import reads, reads_then_writes, writes, writing
from . import bp

ADMIN_SECTIONS.append(("admin.roster", "Roster", "Import from HR, see who is cleared for PHI access"))

SHOW = team.SHOW


class UploadForm(FlaskForm):
    file = FileField("Roster file (CSV, UTF-8, up to 5 MB)")

    def validate_file(self, field):
        upload = field.data
        if upload is None or not getattr(upload, "filename", None):
            raise ValidationError("Choose the roster CSV file to upload.")
        data = upload.stream.read(roster.MAX_BYTES + 1)
        try:
            self.text = roster.decode(data)
        except roster.RosterFileError as exc:
            raise ValidationError(str(exc)) from None


class ActionForm(FlaskForm):
    """A one-button POST: only the CSRF token."""


# --- the roster ------------------------------------------------------------------------------


def _roster_page(filters: team.Filters, status: int = 200, error: str | None = None):
    """Everyone, a page at a time: searched, filtered; each line with its standing and whether
    onboarding is done, worked out in the same two queries (team.people_page)."""
    page = team.people_page(
        db.session,
        current_user,
        filters,
        clock.org_today(),
        curricula().due_soon_days,
        team.page_number(request.args.get("page")),
        admin_sees_self=True,
    )
    return (
        render_template(
            "admin/roster.html",
            page=page,
            filters=filters,
            shows=SHOW,
            show=filters.show,
            choices=team.choices(db.session, current_user, admin_sees_self=True),
            standings=assignments.STANDINGS,
            not_cleared=team.count_not_cleared(db.session),
            kinds=PERSON_KIND_LABELS,
            form=ActionForm(),
            error=error,
        ),
        status,
    )


def _roster_filters(args) -> team.Filters:
    return team.Filters.from_args(args, show_default="all")


@bp.get("/roster", endpoint="roster")
@reads
def roster_page():
    return _roster_page(_roster_filters(request.args))


@bp.post("/roster/deactivate")
@reads_then_writes
def roster_deactivate():
    """Set the people ticked on the roster inactive: first a confirmation naming them, then
    each deactivated (their sessions end) with its evidence record naming the admin."""
    filters = _roster_filters(request.form)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        ids = [int(i) for i in request.form.getlist("person")]
    except ValueError:
        abort(400)
    try:
        people = team.chosen_people(db.session, current_user, ids=ids, admin_sees_self=True)
        if any(p.id == current_user.id for p in people):
            raise team.SelectionError("You cannot set your own account inactive: untick it.")
    except team.SelectionError as exc:
        return _roster_page(filters, 422, error=str(exc))
    if request.form.get("confirmed") != "yes":
        return render_template(
            "admin/roster_deactivate.html",
            people=people,
            ids=ids,
            filters=filters,
            form=ActionForm(),
            departments=team.departments_of(people),
        )
    with writing(db.session):
        people = team.chosen_people(db.session, current_user, ids=ids, admin_sees_self=True)
        changed = team.set_inactive(db.session, people, by=current_user._get_current_object())
    flash(
        ngettext(
            "Set %(num)d person inactive; their sessions have ended.",
            "Set %(num)d people inactive; their sessions have ended.",
            len(changed),
        ),
        "success",
    )
    return redirect(url_for("admin.roster", **filters.args()), code=303)


@bp.post("/roster/<int:user_id>/clear")
@writes
def roster_clear(user_id: int):
    person = db.session.get(User, user_id) or abort(404)
    kept: dict[str, Any] = _roster_filters(request.args).args() | {"page": team.page_number(request.args.get("page"))}
    back = redirect(url_for("admin.roster", **kept, _anchor=f"p{user_id}"), code=303)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not person.active:
        flash(f"{person.name} is deactivated: only active people can be cleared for PHI access.", "error")
        return back
    if person.cleared_at is not None:
        flash(f"{person.name} was already cleared for PHI access.", "info")
        return back
    try:
        assignments.clear_for_phi(db.session, person, current_user)
    except ValueError:  # raised before anything is changed
        flash(
            f"{person.name} cannot be cleared for PHI access yet: their onboarding training is not "
            "done. Clear them once every onboarding assignment is done or waived.",
            "error",
        )
        return back
    flash(f"{person.name} is cleared for PHI access.", "success")
    return back


# --- the import ------------------------------------------------------------------------------


def _recent_uploads() -> list[RosterUpload]:
    return list(db.session.scalars(select(RosterUpload).order_by(RosterUpload.id.desc()).limit(10)))


@bp.route("/roster/import", methods=["GET", "POST"])
@writes
def roster_import():
    form = UploadForm()
    if form.validate_on_submit():
        text = form.text
        upload = RosterUpload(
            filename=(form.file.data.filename or "roster.csv")[:255],
            sha256=roster.sha256(text),
            content=text,
            uploaded_by_id=current_user.id,
        )
        db.session.add(upload)
        db.session.flush()  # its id, for the address
        return redirect(url_for("admin.roster_upload", upload_id=upload.id), code=303)
    status = 400 if form.is_submitted() else 200
    return render_template("admin/roster_import.html", form=form, uploads=_recent_uploads()), status


#: The preview page shows the first problems of each rule and the first people of each list;
#: the CSV downloads have them all (a file of 89,000 people made a 20 MB page).
PREVIEW_PROBLEMS_PER_RULE = 20
PREVIEW_PEOPLE_PER_LIST = 100


def _purged(upload: RosterUpload):
    """An upload whose contents the retention purge removed: nothing to preview or apply."""
    if upload.content_purged_at is None:
        return None
    flash(
        f"The contents of {upload.filename} were removed on {_when(upload.content_purged_at)}, past their "
        "keep-until date (Compliance > Retention); its SHA-256 stays in the evidence of the import.",
        "info",
    )
    return redirect(url_for("admin.roster_import"), code=303)


def _previewed(upload_id: int) -> tuple[RosterUpload, roster.Preview | None]:
    """The upload (404 if there is none) and what importing it would do now; None when the
    retention purge removed its contents (``_purged`` says so)."""
    upload = db.session.get(RosterUpload, upload_id) or abort(404)
    if upload.content_purged_at is not None:
        return upload, None
    return upload, roster.preview(db.session, upload.content, by_user=current_user)


@bp.get("/roster/import/<int:upload_id>")
@reads
def roster_upload(upload_id: int):
    upload, result = _previewed(upload_id)
    if result is None:
        return _purged(upload)
    uploader = db.session.get(User, upload.uploaded_by_id) if upload.uploaded_by_id else None
    return render_template(
        "admin/roster_preview.html",
        upload=upload,
        uploader=uploader,
        result=result,
        form=ActionForm(),
        per_rule=PREVIEW_PROBLEMS_PER_RULE,
        per_list=PREVIEW_PEOPLE_PER_LIST,
    )


@bp.get("/roster/import/<int:upload_id>/problems.csv")
@reads
def roster_upload_problems(upload_id: int):
    """Every problem of the file, as the preview finds it now: line, rule, problem."""
    upload, result = _previewed(upload_id)
    if result is None:
        return _purged(upload)
    rows = ((line, rule, csvtext.spreadsheet_safe(message)) for line, rule, message in result.problem_rows())
    return _csv(csvtext.lines(("line", "rule", "problem"), rows), f"roster-{upload.id}-problems")


@bp.get("/roster/import/<int:upload_id>/changes.csv")
@reads
def roster_upload_changes(upload_id: int):
    """Everyone the import would create, change, deactivate or skip, as the preview finds it now."""
    upload, result = _previewed(upload_id)
    if result is None:
        return _purged(upload)
    rows = (tuple(csvtext.spreadsheet_safe(cell) for cell in row) for row in result.change_rows())
    return _csv(
        csvtext.lines(("action", "line", "employee_id", "name", "email", "detail"), rows), f"roster-{upload.id}-changes"
    )


def _csv(lines, name: str) -> Response:
    return Response(
        "".join(lines),  # the preview is in memory already; the page's transaction ends with it
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@bp.post("/roster/import/<int:upload_id>/apply")
@writes
def roster_apply(upload_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    # Lock the upload row so two clicks cannot both apply it (SQLite: BEGIN IMMEDIATE already).
    upload = db.session.scalar(select(RosterUpload).where(RosterUpload.id == upload_id).with_for_update()) or abort(404)
    if (gone := _purged(upload)) is not None:
        return gone
    back = redirect(url_for("admin.roster_upload", upload_id=upload_id), code=303)
    if upload.applied_at is not None:
        flash(
            f"This file was already applied on {_when(upload.applied_at)}. Upload a new export to import again.",
            "error",
        )
        return back
    try:
        result = roster.apply(
            db.session,
            upload.content,
            curricula(),
            library(),
            clock.org_today(),
            current_user,
            filename=upload.filename,
        )
    except roster.RosterError as exc:  # raised before anything is changed
        flash(
            ngettext(
                "Nothing was imported: the file has %(num)d problem. Fix it and upload the file again.",
                "Nothing was imported: the file has %(num)d problems. Fix them and upload the file again.",
                len(exc.errors),
            ),
            "error",
        )
        return back
    upload.applied_at = utcnow()
    if result.has_changes:
        given = ngettext("%(num)d assignment given", "%(num)d assignments given", result.assignments)
        flash(f"Roster imported: {result.summary()}; {given}.", "success")
    else:
        flash("Roster imported: no changes. Everyone in the file was already up to date.", "info")
    return redirect(url_for("admin.roster"), code=303)


def _when(moment: datetime) -> str:
    return as_utc(moment).strftime("%d %b %Y %H:%M UTC")

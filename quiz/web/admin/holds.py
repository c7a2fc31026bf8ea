"""Admin: legal holds. While a hold is in force the retention purge (``flask retention purge``)
removes nothing of the person or the department it is on, and nothing at all under a hold on
everything (quiz/retention.py). Placing and releasing one each need a reason and are evidence
records naming the admin. Plain forms: works without JavaScript."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ... import accounts, retention, training_report
from ...db import db
from ...models import LegalHold, User
from ..common import ADMIN_SECTIONS
from ..units import writes
from . import bp

ADMIN_SECTIONS.append(
    ("admin.holds", "Legal holds", "Keep a person's, a department's or everyone's records from the retention purge")
)

SCOPES = [
    ("person", "A person"),
    ("department", "A department"),
    ("everything", "Everything (the purge is refused)"),
]


class PlaceForm(FlaskForm):
    scope = RadioField("What the hold is on", choices=SCOPES, validators=[InputRequired("Choose what the hold is on.")])
    email = StringField("The person's email (for a hold on a person)", validators=[Optional(), Length(max=254)])
    department = StringField("The department (for a hold on a department)", validators=[Optional(), Length(max=120)])
    reason = TextAreaField(
        "Reason (the matter, the request, who asked)",
        validators=[DataRequired("Give the reason for the hold."), Length(max=retention.MAX_REASON)],
    )
    person: User | None = None

    def validate_email(self, field):
        if self.scope.data != "person":
            return
        if not field.data:
            raise ValidationError("Give the email of the person the hold is on.")
        self.person = accounts.find_by_email(db.session, field.data)
        if self.person is None:
            raise ValidationError("No account has this email.")

    def validate_department(self, field):
        if self.scope.data == "department" and not (field.data or "").strip():
            raise ValidationError("Give the department the hold is on.")


class ReleaseForm(FlaskForm):
    release_reason = StringField(
        "Why it is released",
        validators=[DataRequired("Give the reason for releasing the hold."), Length(max=retention.MAX_REASON)],
    )


def _page(form: PlaceForm, release_failed: tuple[int, ReleaseForm] | None = None):
    status = 422 if form.errors or release_failed else 200
    return (
        render_template(
            "admin/holds.html",
            form=form,
            release_form=ReleaseForm(formdata=None),
            release_failed=release_failed,
            holds=retention.all_holds(db.session),
            words=retention.hold_words,
            departments=training_report.departments(db.session),
        ),
        status,
    )


@bp.route("/holds", methods=["GET", "POST"])
@writes
def holds():
    form = PlaceForm()
    if form.validate_on_submit():
        try:
            hold = retention.place(
                db.session,
                form.scope.data,
                reason=form.reason.data,
                by=current_user.email,
                person=form.person,
                department=form.department.data,
            )
        except retention.HoldError as exc:
            form.reason.errors = [*form.reason.errors, str(exc)]
        else:
            flash(f"Legal hold {hold.id} placed on {retention.hold_words(hold)}.", "success")
            return redirect(url_for("admin.holds"), code=303)
    return _page(form)


@bp.post("/holds/<int:hold_id>/release")
@writes
def release_hold(hold_id: int):
    hold = db.session.get(LegalHold, hold_id) or abort(404)
    form = ReleaseForm()
    if not form.validate_on_submit():
        return _page(PlaceForm(formdata=None), release_failed=(hold.id, form))
    if retention.release(db.session, hold, reason=form.release_reason.data, by=current_user.email):
        flash(f"Legal hold {hold.id} on {retention.hold_words(hold)} released.", "success")
    else:
        flash(f"Legal hold {hold.id} was already released.", "info")
    return redirect(url_for("admin.holds"), code=303)

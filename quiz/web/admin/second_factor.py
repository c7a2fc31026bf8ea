"""Admin: a person's second factor (quiz/mfa.py), and its reset when their phone is lost.

A reset clears the factor and the recovery codes and ends every session of theirs; they set one
up again at their next sign-in with their password. It is an evidence record naming the admin.
Nobody resets their own: another admin does, or, for the only admin, the command line
(``flask users reset-mfa``).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ... import mfa
from ...db import db
from ...models import User
from ..second_factor import required as role_needs_one
from ..units import writes
from . import bp


class ResetForm(FlaskForm):
    pass


@bp.route("/people/<int:user_id>/second-factor", methods=["GET", "POST"])
@writes
def second_factor(user_id: int):
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    yourself = person.id == current_user.id
    form = ResetForm()
    error = None
    if form.validate_on_submit():
        try:
            cleared = mfa.reset(db.session, person, by=current_user._get_current_object())
        except mfa.MfaError as exc:
            error = str(exc)
        else:
            flash(
                f"{person.name}'s second factor is reset and every session of theirs has ended: they set it up again "
                "when they next sign in with their password."
                if cleared
                else f"{person.name} had no second factor: nothing to reset.",
                "info",
            )
            return redirect(url_for("admin.roster", _anchor=f"p{person.id}"), code=303)
    return (
        render_template(
            "admin/second_factor.html",
            person=person,
            form=form,
            status=mfa.status(db.session, person.id),
            required=role_needs_one(person.role),
            yourself=yourself,
            error=error,
        ),
        422 if error else 200,
    )

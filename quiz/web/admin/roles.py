"""Admin: a person's account role (what they may open besides My training), with evidence of
every change: the roster import sets job roles, never account roles."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms.validators import InputRequired

from ... import accounts
from ...db import db
from ...models import ACCOUNT_ROLES, User
from ..units import writes
from . import bp


class RoleForm(FlaskForm):
    role = RadioField(
        "Account role",
        choices=[(role, accounts.ROLE_NAMES[role]) for role in ACCOUNT_ROLES],
        validators=[InputRequired("Choose an account role.")],
    )


@bp.route("/people/<int:user_id>/role", methods=["GET", "POST"])
@writes
def role(user_id: int):
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    form = RoleForm(role=person.role)
    if form.validate_on_submit():
        try:
            changed = accounts.set_role(db.session, person, form.role.data, by=current_user)
        except accounts.AccountError as exc:
            form.role.errors = [*form.role.errors, str(exc)]
        else:
            name = accounts.ROLE_NAMES[person.role]
            flash(f"{person.name} is now: {name}." if changed else f"{person.name} was already: {name}.", "info")
            return redirect(url_for("admin.roster", _anchor=f"p{person.id}"), code=303)
    return (
        render_template(
            "admin/role.html",
            person=person,
            form=form,
            names=accounts.ROLE_NAMES,
            descriptions=accounts.ROLE_DESCRIPTIONS,
            yourself=person.id == current_user.id,
        ),
        422 if form.errors else 200,
    )

"""Admin: set a person's password (people imported from HR have none until this is done)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from ... import accounts
from ...db import db
from ...models import NO_PASSWORD, User
from ..units import writes
from . import bp


class PasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[
            DataRequired("Type the new password."),
            Length(min=accounts.MIN_PASSWORD_LENGTH, max=1024,
                   message=f"The password needs at least {accounts.MIN_PASSWORD_LENGTH} characters."),
        ],
    )
    confirm = PasswordField(
        "Type it again",
        validators=[DataRequired("Type the password again."), EqualTo("password", "The two passwords differ.")],
    )


@bp.route("/people/<int:user_id>/password", methods=["GET", "POST"])
@writes
def password(user_id: int):
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    form = PasswordForm()
    if form.validate_on_submit():
        accounts.set_password(person, form.password.data)  # also ends their other sessions
        flash(f"Password set for {person.name}. Give it to them in person or by a channel you trust.", "info")
        return redirect(url_for("admin.roster", _anchor=f"p{person.id}"), code=303)
    return (
        render_template("admin/password.html", person=person, form=form, has_password=person.password_hash != NO_PASSWORD),
        422 if form.errors else 200,
    )

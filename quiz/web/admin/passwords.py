"""Admin: set a person's password (people imported from HR have none until this is done).

It is an evidence record naming the admin; the person is told by email (SMTP when configured,
else the outbox), and must choose their own at their next sign-in (accounts.set_password).
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ... import accounts, mailer
from ...db import Steps, db
from ...models import NO_PASSWORD, User
from ..common import new_password_fields
from ..units import reads_then_writes, writing
from . import bp


class PasswordForm(FlaskForm):
    password, confirm = new_password_fields()


@bp.route("/people/<int:user_id>/password", methods=["GET", "POST"])
@reads_then_writes
def password(user_id: int):
    """The password is hashed in the read; the account is read again, locked, to set it, with
    its evidence record and the email to the person kept in the outbox; then the email is
    handed to the SMTP server with no transaction open."""
    person = db.session.get(User, user_id)
    if person is None:
        abort(404)
    if person.id == current_user.id:  # your own is yours to choose, with your current password
        return redirect(url_for("auth.password"), code=303)
    form = PasswordForm()
    chosen = None
    if form.validate_on_submit() and form.password.data is not None:
        try:
            chosen = accounts.new_password(form.password.data, person=person)
        except accounts.AccountError as exc:
            form.password.errors.append(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")  # type: ignore[attr-defined]
    if chosen is not None:
        smtp = mailer.settings_from_config(current_app.config)
        with writing(db.session):
            locked = db.session.get_one(User, user_id, populate_existing=True, with_for_update=True)
            notice = accounts.set_password(
                db.session,
                locked,
                chosen,
                by=current_user._get_current_object(),
                smtp=smtp,
                base_url=current_app.config["BASE_URL"],
            )
            name, address = locked.name, locked.email
        error = accounts.send_password_notice(db.session, notice, smtp, steps=Steps(db.session))
        if smtp is None:
            told = "The email telling them is in the outbox (no SMTP server is set up): tell them yourself."
        elif error:
            told = f"The email telling them could not be sent ({error}): it is in the outbox; tell them yourself."
        else:
            told = f"They were told by email at {address}."
        flash(
            f"Password set for {name}. Give it to them in person or by a channel you trust; they choose "
            f"their own when they next sign in. {told}",
            "info",
        )
        return redirect(url_for("admin.roster", _anchor=f"p{user_id}"), code=303)
    return (
        render_template(
            "admin/password.html",
            person=person,
            form=form,
            has_password=person.password_hash != NO_PASSWORD,
            rule=accounts.PASSWORD_RULE,
        ),
        422 if form.errors else 200,
    )

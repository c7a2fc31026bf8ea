"""Forgot password, and the page an emailed link opens to set a password (quiz/invitations.py).

- ``/auth/forgot``: asks for an email address and always gives the same answer, with the same
  status, whether or not the address has an account (or it is deactivated, or has passwords
  off): each case is one short writing transaction with its evidence record, and the one email
  there may be is handed to the SMTP server after the response has gone (``call_on_close``), so
  neither the answer nor its time says which case it was. Every request counts against the rate
  limit (PASSWORD_RESET_RATE_LIMIT), not only some.
- ``/auth/link?token=...``: a GET shows the form and uses nothing up (mail scanners fetch
  links); the POST, with the token in the form (not the address), sets the password and uses
  the link. Learners and managers are then signed in; admins, compliance officers and trainers
  are sent to the sign-in page. Both pages send ``Referrer-Policy: no-referrer`` (and, as every
  page, ``Cache-Control: no-store``), and the app never logs a token.
"""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    after_this_request,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_user
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField
from wtforms.validators import DataRequired, Length

from .. import accounts, invitations
from ..db import Steps, db
from ..models import utcnow
from ..words import ngettext
from .common import SignedIn, begin_session, landing_page, new_password_fields
from .later import after_the_response
from .limits import limiter
from .units import reads_then_writes, writes, writing

bp = Blueprint("invitations", __name__, url_prefix="/auth")

#: The one answer to every reset request.
RESET_ASKED = (
    "If that address has an account here, we sent it an email. With a password, it has a link to "
    "choose a new one, good for {hours}; with single sign-on, it says how to sign in. Nothing "
    "arrived? Check your junk mail, or ask your Rounds administrator."
)


class ForgotForm(FlaskForm):
    email = EmailField("Your email address", validators=[DataRequired("Enter your email address."), Length(max=254)])


class LinkForm(FlaskForm):
    token = HiddenField(validators=[DataRequired(), Length(max=100)])
    password, confirm = new_password_fields()


def _settings() -> invitations.Settings:
    return invitations.settings_from_config(current_app.config)


def _reset_limit() -> str:
    return current_app.config["PASSWORD_RESET_RATE_LIMIT"]


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _no_referrer(response):
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
@writes
def forgot():
    """One short writing transaction either way (the record; for a real account also the link
    and the email kept in the outbox), then the same answer."""
    after_this_request(_no_referrer)
    form = ForgotForm()
    settings = _settings()
    if form.validate_on_submit() and form.email.data:
        message_id = invitations.request_reset(db.session, form.email.data, settings)
        if message_id is not None:  # sent once the answer has gone: its time says nothing
            after_the_response(
                lambda: invitations.hand_over(db.session, [message_id], settings, steps=Steps(db.session)),
                f"password reset email {message_id}",
            )
        return render_template(
            "auth/forgot.html", form=None, asked=RESET_ASKED.format(hours=_hours(settings.reset_hours))
        )
    return render_template("auth/forgot.html", form=form, asked=None), (422 if form.errors else 200)


def _hours(n: int) -> str:
    return ngettext("%(num)d hour", "%(num)d hours", n)


def _failed(response) -> bool:
    return response.status_code != 303


@bp.route("/link", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@reads_then_writes
def link():
    """GET: the form, if the link works (nothing is used up). POST: the new password hashed in
    the read, then set in a short write that uses the link."""
    after_this_request(_no_referrer)
    settings = _settings()
    form = LinkForm()
    token = request.args.get("token", "") if request.method == "GET" else (form.token.data or "")
    if request.method == "GET":
        form.token.data = token
    checked = invitations.check_link(db.session, token, settings)
    if not checked.ok:
        return render_template(
            "auth/link.html", form=None, problem=invitations.PROBLEMS[checked.problem or "unknown"]
        ), 410
    chosen = None
    if form.validate_on_submit() and form.password.data:
        try:
            person = accounts.find_by_email(db.session, checked.email or "")
            chosen = accounts.new_password(form.password.data, person=person)  # (not their email or name)
        except accounts.AccountError as exc:
            form.password.errors.append(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    if chosen is None:
        return render_template(
            "auth/link.html",
            form=form,
            checked=checked,
            rule=f"A password of {accounts.PASSWORD_RULE}: a few words you will remember work well.",
        ), (422 if form.errors else 200)
    direct = invitations.signs_in_directly(checked)
    new_session = secrets.token_urlsafe(12)
    try:
        with writing(db.session):
            user = invitations.use_link(db.session, token, chosen, settings, session_id=new_session if direct else None)
            direct = invitations.signs_in_directly(user)  # (as the account is now)
            if direct:  # the session begun with the password they just chose
                accounts.record_sign_in(
                    db.session,
                    accounts.PasswordCheck(utcnow(), user.id, accepted=True, refused=None),
                    session_id=new_session,
                )
            signed_in, role = user.get_id(), user.role
    except invitations.LinkError as exc:  # used or replaced meanwhile: nothing was changed
        return render_template("auth/link.html", form=None, problem=str(exc)), 410
    session.clear()  # a new session (and CSRF token), whoever was signed in in this browser
    if not direct:
        flash("Your password is set. Sign in with it now.", "info")
        return redirect(url_for("auth.login"), code=303)
    login_user(SignedIn(signed_in, user))
    begin_session(new_session, admin_set_password=False)
    flash("Your password is set, and you are signed in.", "info")
    return redirect(landing_page(role), code=303)

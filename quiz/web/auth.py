"""Sign in, sign out, and choosing your own password (required after an admin set one).

Each is an evidence record (accounts.record_sign_in, sign_out, choose_own_password), naming
the session by the id it keeps in the cookie (common.SESSION_ID).
"""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from .. import accounts, sso
from ..db import db
from ..models import User
from . import oidc
from .common import SignedIn as _SignedIn
from .common import begin_session, landing_page, new_password_fields, safe_next, session_id
from .limits import limiter
from .units import reads_then_writes, writes, writing

bp = Blueprint("auth", __name__, url_prefix="/auth")

SIGN_IN_FAILED = "That email and password do not match an account we can sign you in to."


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254)])
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=accounts.MAX_PASSWORD_LENGTH)]
    )


class SignOutForm(FlaskForm):
    pass


class ChoosePasswordForm(FlaskForm):
    """Choosing your own password. ``current`` is asked only when it is not required (the
    person signed in with a password an admin set a moment ago)."""

    current = PasswordField("Your current password", validators=[Length(max=accounts.MAX_PASSWORD_LENGTH)])
    password, confirm = new_password_fields()


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _failed(response) -> bool:
    """Only failed sign-ins count against an address: a whole ward behind one hospital address
    signing in at the start of a shift must not lock each other out."""
    return response.status_code != 303


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@reads_then_writes
def login():
    """The password is checked in a read (~100 ms of Argon2id: on SQLite no writer waits on
    it), then the outcome is kept in a short write: the failure count, or its reset."""
    if current_user.is_authenticated:
        return redirect(landing_page(current_user.role))
    form = SignInForm()
    failed = False
    settings = oidc.settings()
    if settings.local_passwords == "off" and request.method == "POST":  # nothing is checked
        return render_template("auth/login.html", form=form, sso=settings, passwords_off=True), 403
    if form.validate_on_submit():
        policy = accounts.LockoutPolicy(
            current_app.config["LOGIN_LOCKOUT_FAILURES"], current_app.config["LOGIN_LOCKOUT_MINUTES"]
        )
        checked = accounts.check_password(db.session, form.email.data, form.password.data)
        checked = sso.limit_password(db.session, checked, settings)  # off, or admins only
        new_session = secrets.token_urlsafe(12)
        with writing(db.session):  # kept either way, with its evidence record
            user = accounts.record_sign_in(db.session, checked, policy, session_id=new_session)
            if user is not None:
                signed_in, admin_set, must_change = user.get_id(), user.password_set_by_admin, user.password_must_change
                role = user.role
        if user is not None:
            next_url = safe_next(request.args.get("next"))
            session.clear()  # a new session (and CSRF token) at sign-in
            login_user(_SignedIn(signed_in, user))
            begin_session(new_session, admin_set_password=bool(admin_set))
            if must_change:  # the only page they can open until it is done
                return redirect(url_for("auth.password", next=next_url), code=303)
            return redirect(next_url or landing_page(role), code=303)
        failed = True
    provider_sign_out = session.pop(oidc.PROVIDER_SIGN_OUT, None) if request.method == "GET" else None
    return render_template(
        "auth/login.html",
        form=form,
        failed=failed,
        failed_message=SIGN_IN_FAILED,
        sso=settings,
        provider_sign_out=provider_sign_out,
    ), (401 if failed else 200)


@bp.post("/logout")
@login_required
@writes
def logout():
    form = SignOutForm()
    if form.validate_on_submit():
        accounts.sign_out(db.session, current_user, session_id=session_id())  # kept when the view returns
    provider_sign_out = oidc.provider_sign_out_url(url_for("auth.login", _external=True))
    logout_user()
    session.clear()
    if provider_sign_out:  # a session begun with single sign-on: the sign-in page offers the provider's
        session[oidc.PROVIDER_SIGN_OUT] = provider_sign_out
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/password", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@login_required
@reads_then_writes
def password():
    """Choose your own password: required, before any other page, after an admin set one (the
    web layer's gate sends every page here); otherwise open to anyone signed in, with their
    current password. The new one is hashed in the read, then kept in a short write that ends
    every other session; this one goes on."""
    required = bool(current_user.password_must_change)
    next_url = safe_next(request.args.get("next"))
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        chosen = None
        if not required and not accounts.password_matches(current_user, form.current.data or ""):
            form.current.errors.append("That is not your current password.")
        else:
            try:
                chosen = accounts.new_password(form.password.data, person=current_user)
            except accounts.AccountError as exc:
                form.password.errors.append(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
        if chosen is not None:
            with writing(db.session):
                user = db.session.get(User, current_user.id, populate_existing=True, with_for_update=True)
                accounts.choose_own_password(db.session, user, chosen, required=required, session_id=session_id())
                signed_in, role = user.get_id(), user.role
            login_user(_SignedIn(signed_in, user))  # this session, on the new session version
            flash("Your new password is set. Any other session of yours has ended.", "info")
            return redirect(next_url or landing_page(role), code=303)
    return render_template(
        "auth/password.html",
        form=form,
        required=required,
        rule=f"A password of {accounts.PASSWORD_RULE}: a few words you will remember work well.",
    ), (422 if form.errors else 200)

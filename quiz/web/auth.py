"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from .. import accounts
from ..db import db
from .limits import limiter
from .units import reads_then_writes, writes, writing

bp = Blueprint("auth", __name__, url_prefix="/auth")

SIGN_IN_FAILED = "That email and password do not match an account we can sign you in to."


class _SignedIn:
    """What login_user needs, read before the commit, so signing in after it takes no new
    (write-locking) transaction just to read the id back."""

    is_active = True
    is_authenticated = True
    is_anonymous = False

    def __init__(self, user_id: str, user):
        self._id = user_id

    def get_id(self) -> str:
        return self._id


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=1024)])


class SignOutForm(FlaskForm):
    pass


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: never a full URL or a protocol-relative one."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


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
        return redirect(url_for("learn.index"))
    form = SignInForm()
    failed = False
    if form.validate_on_submit():
        policy = accounts.LockoutPolicy(
            current_app.config["LOGIN_LOCKOUT_FAILURES"], current_app.config["LOGIN_LOCKOUT_MINUTES"]
        )
        checked = accounts.check_password(db.session, form.email.data, form.password.data)
        with writing(db.session):  # kept either way
            user = accounts.record_sign_in(db.session, checked, policy)
            signed_in = user.get_id() if user is not None else None
        if user is not None:
            next_url = safe_next(request.args.get("next"))
            session.clear()  # a new session (and CSRF token) at sign-in
            login_user(_SignedIn(signed_in, user))
            session.permanent = True
            return redirect(next_url or url_for("learn.index"), code=303)
        failed = True
    return render_template("auth/login.html", form=form, failed=failed, failed_message=SIGN_IN_FAILED), (
        401 if failed else 200
    )


@bp.post("/logout")
@login_required
@writes
def logout():
    form = SignOutForm()
    if form.validate_on_submit():
        accounts.end_all_sessions(current_user)  # kept when the view returns
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"), code=303)

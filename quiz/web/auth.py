"""Sign in, sign out, choosing your own password (required after an admin set one), and the
second factor of the account roles that need one (quiz/mfa.py): its code after the password,
setting it up, asked again on privileged pages, and recovery codes.

Each is an evidence record (accounts.record_sign_in, sign_out, choose_own_password), naming
the session by the id it keeps in the cookie (common.SESSION_ID).
"""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from .. import accounts, mfa, sso
from ..db import db
from ..models import User
from ..words import ngettext
from . import oidc, second_factor
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
        factor_asked = _second_factor_asked(checked)
        if factor_asked == "ask":  # nothing recorded yet: the sign-in is the code's to finish
            return _to_second_step(checked)
        new_session = secrets.token_urlsafe(12)
        with writing(db.session):  # kept either way, with its evidence record
            user = accounts.record_sign_in(
                db.session, checked, policy, session_id=new_session, second_factor=factor_asked
            )
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


# --- the second factor (quiz/mfa.py; web/second_factor.py) -----------------------------------

#: What a sign-in record says when the account role needs a second factor and none is set up
#: yet: the person is signed in, and sets one up before any other page opens.
NONE_YET = "none yet: set up before any other page"


class CodeForm(FlaskForm):
    code = StringField(
        "Code",
        validators=[DataRequired("Type the code from your app, or a recovery code."), Length(max=40)],
    )


class RenewCodesForm(FlaskForm):
    pass


def _second_factor_asked(checked: accounts.PasswordCheck) -> str | None:
    """For a right password: "ask" if a code must follow it, NONE_YET if the account role needs
    a second factor that is not set up yet, None if none is needed (a read)."""
    if not checked.accepted or checked.user_id is None:
        return None
    user = db.session.get(User, checked.user_id)
    if user is None or not second_factor.required(user.role):
        return None
    return "ask" if mfa.is_enrolled(db.session, user.id) else NONE_YET


def _to_second_step(checked: accounts.PasswordCheck):
    """The password was right: the code next. Nothing is recorded and no one is signed in until
    it is typed (the failures so far stay counted); a password hash with older parameters is
    kept hashed again now, while the password is at hand."""
    user = db.session.get_one(User, checked.user_id)
    version = user.session_version
    if checked.new_hash is not None:
        with writing(db.session):
            locked = db.session.get_one(User, checked.user_id, populate_existing=True, with_for_update=True)
            locked.password_hash = checked.new_hash
    next_url = safe_next(request.args.get("next"))
    session.clear()
    session[second_factor.PENDING] = {
        "user": checked.user_id,
        "version": version,
        "at": int(time.time()),
        "next": next_url,
    }
    return redirect(url_for("auth.second_step"), code=303)


def _lockout_policy() -> accounts.LockoutPolicy:
    return accounts.LockoutPolicy(
        current_app.config["LOGIN_LOCKOUT_FAILURES"], current_app.config["LOGIN_LOCKOUT_MINUTES"]
    )


def _code_refused(form: CodeForm, checked: mfa.Checked) -> None:
    if checked.refused == "second-factor-code-used-before":
        message = "That code was used already. Wait for the next code in your app, then type it."
    elif checked.refused == "second-factor-unreadable":
        message = "Your second factor cannot be checked here. Ask another administrator to reset it."
    else:
        message = "That is not the code your app shows now, nor an unused recovery code."
    form.code.errors = [*form.code.errors, message]


def _recovery_code_used(checked: mfa.Checked) -> None:
    if checked.factor == mfa.RECOVERY_CODE:
        left = checked.recovery_codes_left or 0
        flash(
            "You used a recovery code: it will not work again. "
            + ngettext("%(num)d recovery code left.", "%(num)d recovery codes left.", left)
            + " "
            + (
                "Make new ones (Second factor, beside Sign out) or, if your phone is lost, ask another administrator to reset your second factor."
                if left < 4
                else ""
            ),
            "info",
        )


@bp.route("/second-factor", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@reads_then_writes
def second_step():
    """Signing in, after the password: the code from the app (or a recovery code). The account
    is read again, locked, to check it: the code's time step kept as used, or the failure
    counted toward the lockout; then the sign-in is recorded, naming the factor used."""
    if current_user.is_authenticated:
        return redirect(landing_page(current_user.role))
    pending = session.get(second_factor.PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > second_factor.PENDING_SECONDS:
        session.pop(second_factor.PENDING, None)
        flash("Sign in again: the code must follow your password within five minutes.", "info")
        return redirect(url_for("auth.login"), code=303)
    form = CodeForm()
    if form.validate_on_submit():
        policy, now, new_session = _lockout_policy(), mfa.now(), secrets.token_urlsafe(12)
        checked = None
        with writing(db.session):
            user = db.session.get(User, pending["user"], populate_existing=True, with_for_update=True)
            if user is not None and user.active and user.session_version == pending["version"]:
                try:
                    checked = mfa.verify(
                        db.session,
                        user,
                        form.code.data or "",
                        second_factor.keys(),
                        policy,
                        at=now,
                        where=mfa.SIGN_IN,
                        session_id=new_session,
                    )
                except mfa.MfaError:  # reset since the password was typed
                    checked = None
                if checked is not None and checked.accepted:
                    password_right = accounts.PasswordCheck(now, user.id, accepted=True, refused=None)
                    accounts.record_sign_in(
                        db.session, password_right, policy, session_id=new_session, second_factor=checked.factor
                    )
                    signed_in, admin_set, must_change, role = (
                        user.get_id(),
                        user.password_set_by_admin,
                        user.password_must_change,
                        user.role,
                    )
        if checked is None or checked.refused == "locked" or checked.locked_until:
            session.pop(second_factor.PENDING, None)
            flash(
                "Too many wrong codes: signing in to this account is locked for a while."
                if checked is not None
                else "Sign in again.",
                "info",
            )
            return redirect(url_for("auth.login"), code=303)
        if checked.accepted:
            session.clear()  # a new session (and CSRF token) at sign-in
            login_user(_SignedIn(signed_in))
            begin_session(new_session, admin_set_password=bool(admin_set))
            second_factor.verified_now()
            _recovery_code_used(checked)
            if must_change:
                return redirect(url_for("auth.password", next=pending.get("next")), code=303)
            return redirect(pending.get("next") or landing_page(role), code=303)
        _code_refused(form, checked)
    return render_template("auth/second_factor.html", form=form, again=False), (401 if form.errors else 200)


@bp.route("/second-factor/again", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@login_required
@reads_then_writes
def mfa_again():
    """The code again, for a privileged page, MFA_STEP_UP_MINUTES after the last one. Wrong codes
    count toward the lockout; the one that locks the account ends its sessions."""
    next_url = safe_next(request.args.get("next"))
    if session.get(oidc.METHOD) == "oidc" or not second_factor.required(current_user.role):
        return redirect(next_url or landing_page(current_user.role), code=303)
    if not mfa.is_enrolled(db.session, current_user.id):
        return redirect(url_for("auth.mfa_enroll", next=next_url), code=303)
    form = CodeForm()
    if form.validate_on_submit():
        with writing(db.session):
            user = db.session.get_one(User, current_user.id, populate_existing=True, with_for_update=True)
            checked = mfa.verify(
                db.session,
                user,
                form.code.data or "",
                second_factor.keys(),
                _lockout_policy(),
                at=mfa.now(),
                where=mfa.STEP_UP,
                session_id=session_id(),
            )
            role = user.role
        if checked.accepted:
            second_factor.verified_now()
            _recovery_code_used(checked)
            return redirect(next_url or landing_page(role), code=303)
        if checked.refused == "locked" or checked.locked_until:
            logout_user()
            session.clear()
            flash("Too many wrong codes: you are signed out, and signing in is locked for a while.", "info")
            return redirect(url_for("auth.login"), code=303)
        _code_refused(form, checked)
    return render_template("auth/second_factor.html", form=form, again=True), (401 if form.errors else 200)


@bp.route("/second-factor/set-up", methods=["GET", "POST"])
@login_required
@reads_then_writes
def mfa_enroll():
    """Setting up the second factor: required, before any other page, for the account roles in
    MFA_ROLES signed in with a password (the web layer's gate sends every page here). The
    secret is made here and kept in the session, encrypted, until its first code is typed; then
    it is kept, with ten recovery codes shown once."""
    next_url = safe_next(request.args.get("next"))
    if session.get(oidc.METHOD) == "oidc" or not second_factor.required(current_user.role):
        flash("Your account does not use a Rounds second factor.", "info")
        return redirect(next_url or landing_page(current_user.role), code=303)
    if mfa.is_enrolled(db.session, current_user.id):  # (a session from before it was set up)
        return redirect(url_for("auth.mfa_again", next=next_url), code=303)
    keys = second_factor.keys()
    secret = keys.decrypt(session.get(second_factor.NEW_SECRET) or "")
    if secret is None:
        secret = mfa.new_secret()
        session[second_factor.NEW_SECRET] = keys.encrypt(secret)
    form = CodeForm()
    if form.validate_on_submit():
        now = mfa.now()
        if not mfa.check_enrollment_code(secret, form.code.data or "", now):
            form.code.errors.append(
                "That is not the code your app shows now. Check the app has the account, then type its current code."
            )
        else:
            try:
                with writing(db.session):
                    user = db.session.get_one(User, current_user.id, populate_existing=True, with_for_update=True)
                    codes = mfa.enroll(
                        db.session, user, secret, form.code.data or "", keys, at=now, session_id=session_id()
                    )
            except mfa.MfaError as exc:
                form.code.errors.append(str(exc))
            else:
                session.pop(second_factor.NEW_SECRET, None)
                second_factor.verified_now()
                return render_template(
                    "auth/recovery_codes.html",
                    codes=codes,
                    enrolled=True,
                    next_url=next_url or landing_page(current_user.role),
                )
    return render_template(
        "auth/mfa_enroll.html",
        form=form,
        secret=second_factor.grouped(secret),
        qr=second_factor.qr_code(mfa.provisioning_uri(secret, current_user.email)),
        issuer=mfa.ISSUER,
    ), (422 if form.errors else 200)


@bp.route("/second-factor/recovery-codes", methods=["GET", "POST"])
@login_required
@reads_then_writes
def mfa_codes():
    """Your second factor: when it was set up, how many recovery codes are left, and new ones
    (which void the old). A privileged page: the code is asked again after MFA_STEP_UP_MINUTES."""
    if session.get(oidc.METHOD) == "oidc" or not second_factor.required(current_user.role):
        abort(404)
    form = RenewCodesForm()
    if form.validate_on_submit():
        with writing(db.session):
            user = db.session.get_one(User, current_user.id, populate_existing=True, with_for_update=True)
            try:
                codes = mfa.renew_recovery_codes(
                    db.session, user, second_factor.keys(), at=mfa.now(), session_id=session_id()
                )
            except mfa.MfaError:
                codes = None
        if codes is None:
            return redirect(url_for("auth.mfa_enroll"), code=303)
        return render_template(
            "auth/recovery_codes.html", codes=codes, enrolled=False, next_url=url_for("auth.mfa_codes")
        )
    return render_template("auth/mfa_status.html", form=form, status=mfa.status(db.session, current_user.id))

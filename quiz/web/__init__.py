"""Wiring of the web layer: extensions, security headers, sessions, blueprints.

One blueprint per audience: ``auth`` (sign in/out), ``learn`` (staff taking training),
``manage`` (managers), ``author`` (trainers: the content as served), ``audit`` (compliance
officers: the training report and the evidence), ``admin``, and ``check`` (anyone: a
certificate's code checked). This module only builds the web
part of the app; what the blueprints share is in ``common`` (and ``access``, ``htmx``,
``certificates``), which never imports a blueprint (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, g, has_app_context, redirect, request, session, url_for
from flask_babel import Babel, get_translations
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from .. import accounts, assignments, certificate_codes, words
from ..content import ContentStore, label, role_label
from ..db import READS, db
from ..models import User
from . import oidc, second_factor
from .common import (  # noqa: F401  (library: the content being served)
    ADMIN_SECTIONS,
    BEGAN,
    LAST_SEEN,
    library,
    local_day,
    local_time,
    session_id,
)
from .htmx import error_page, htmx, is_htmx, redirect_anywhere
from .limits import init_app as init_limits
from .units import init_app as init_units
from .units import instead_of_the_view, reads

login_manager = LoginManager()
csrf = CSRFProtect()

#: The static files' endpoints (web/assets.py): no session to end, no password to choose first.
ASSETS = ("assets.serve", "assets.manifest", "assets.icon")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def init_web(app: Flask) -> None:
    proxies = app.config.get("PROXIES", 0)
    if app.config.get("TRUST_PROXY") and not proxies:  # (set by a test or an older config)
        proxies = 1
    if proxies:  # behind nginx (and a load balancer): docs/deploy.md, "nginx"
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Each proxy adds the address it was reached from to X-Forwarded-For; the one next to
        # the app (nginx) sets X-Forwarded-Proto and -Host whole, from what reached it.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=1, x_host=1)  # type: ignore[method-assign]  # as Flask documents
    init_units(app)  # first: every request runs as the unit its view declares
    # Counted words (quiz/words.py): Jinja's ngettext in templates, and the same catalog for
    # words.ngettext in every layer while an app with Babel is at work
    Babel(app)
    words.use_translations(_translations)
    htmx.init_app(app)
    csrf.init_app(app)
    init_limits(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.session_protection = "basic"
    app.extensions["content_store"] = ContentStore(
        Path(app.config["CONTENT_DIR"]), min_interval=app.config["CONTENT_REFRESH_SECONDS"], watch=True
    )

    from . import admin, assets, audit, auth, author, check, drafts, health, invitations, learn, manage, preview, sso

    oidc.init_app(app)  # single sign-on's settings checked (a bad one stops the server) and its client

    app.register_blueprint(assets.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(admin.bp)
    app.jinja_env.globals["asset_url"] = assets.asset_url
    app.jinja_env.globals["manifest_url"] = assets.manifest_url
    app.jinja_env.globals["admin_sections"] = ADMIN_SECTIONS
    app.jinja_env.filters["lookup"] = lambda key, mapping: mapping.get(key, key)
    app.jinja_env.filters["label"] = label
    app.jinja_env.globals["role_label"] = role_label
    # Stored times (UTC) as people read them, in the organization's time zone (TIME_ZONE)
    app.jinja_env.filters["local_day"] = local_day
    app.jinja_env.filters["local_time"] = local_time
    # (a session begun with single sign-on has no Rounds password to change: the menu leaves it out)
    app.jinja_env.globals["signed_in_with_sso"] = lambda: session.get(oidc.METHOD) == "oidc"
    app.jinja_env.filters["why"] = assignments.why
    app.jinja_env.filters["reason_label"] = assignments.reason_label
    app.jinja_env.filters["state_label"] = assignments.state_label
    app.jinja_env.filters["state_on"] = assignments.state_of  # an assignment's state as of the page's today
    # A certificate's code as printed (7KQ2-M9XD-4T), and the public page that checks it
    app.jinja_env.filters["certificate_code"] = certificate_codes.grouped
    app.jinja_env.globals["certificate_check_url"] = lambda code: certificate_codes.check_url(
        app.config["BASE_URL"], code
    )
    app.register_blueprint(auth.bp)
    app.register_blueprint(sso.bp)
    app.register_blueprint(invitations.bp)  # forgot password, and the emailed links
    app.register_blueprint(learn.bp)
    app.register_blueprint(manage.bp)
    app.register_blueprint(author.bp)
    app.register_blueprint(drafts.bp)
    app.register_blueprint(preview.bp)  # trainers playing a module as a learner
    app.register_blueprint(audit.bp)
    app.register_blueprint(check.bp)
    app.add_url_rule("/", "index", reads(lambda: redirect(url_for("learn.index"))))

    app.before_request(_end_idle_sessions)
    app.before_request(_password_to_choose)
    second_factor.init_app(app)
    app.before_request(_second_factor_to_type)
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    for code in (403, 404, 413, 429):
        app.register_error_handler(code, _error_page)


def _translations() -> words.Translations:
    """The catalog of the app at work (Flask-Babel's, per request); English as written outside
    one, or in an app built without the web layer."""
    if has_app_context() and "babel" in current_app.extensions:
        return get_translations()
    return words.english()


#: The user loader's queries, built once (it runs on every signed-in request). A unit that
#: writes almost always records evidence, which names the learner's supervisor: it loads them
#: in the same query, not in a second one inside the writing transaction (on SQLite, under the
#: write lock). Units that only read leave them out.
_USER = select(User).where(User.id == bindparam("user_id"))
_USER_AND_SUPERVISOR = _USER.options(joinedload(User.supervisor))


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    query = _USER if g.get("unit", READS) == READS else _USER_AND_SUPERVISOR
    user = db.session.scalars(query, {"user_id": uid}).first()
    if user is None or not user.active or user.session_version != version:
        return None  # logged out elsewhere, password changed, or deactivated
    return user


def _back_here() -> str | None:
    """The page to come back to after signing in again: this one, or for a form sent from a
    page (a POST cannot be repeated by a redirect), that page: htmx names it in HX-Current-URL,
    a browser in Referer. Same site only."""
    if request.method in ("GET", "HEAD"):
        return request.full_path.rstrip("?")
    for header in ("HX-Current-URL", "Referer"):
        parts = urlsplit(request.headers.get(header, ""))
        if parts.netloc == request.host and parts.path.startswith("/") and not parts.path.startswith("/auth/"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return None


def _to_sign_in(message: str, sent_message: str | None = None):
    """To the sign-in page, with why, and back to where the learner was afterwards. A form
    sent while signed out was not acted on: say so (``sent_message`` in place of ``message``)."""
    if request.method not in ("GET", "HEAD") and request.blueprint != "auth":
        message = f"{sent_message or message} What you just sent was not recorded: send it again once you are back."
    flash(message, "info")
    return redirect_anywhere(url_for("auth.login", next=_back_here()))


@login_manager.unauthorized_handler
def _unauthorized():
    return _to_sign_in(login_manager.login_message, "You were signed out.")


def _end_idle_sessions():
    """Sign out after SESSION_IDLE_MINUTES without a request, or SESSION_MAX_HOURS after the
    session began (its absolute lifetime, however busy), even with a copied cookie.

    The session keeps the time of its last request to the second (``LAST_SEEN``, re-signed into
    the cookie when it moves on), so the sign-out comes exactly at the limit: a request N
    minutes after the last one, to the second, finds the session ended. The cookie outlives the
    limit (config: PERMANENT_SESSION_LIFETIME), so that the browser's next request, which finds
    it ended, is recorded (``accounts.timed_out``); a session whose browser never comes back
    ended all the same, unrecorded.
    """
    if request.endpoint in ("static", *ASSETS, "health.healthz") or not current_user.is_authenticated:
        return None
    now = int(time.time())
    last_seen = session.get(LAST_SEEN)
    limit = current_app.config["SESSION_IDLE_MINUTES"]
    began = session.get(BEGAN)
    max_hours = current_app.config["SESSION_MAX_HOURS"]
    if isinstance(began, int) and now - began >= max_hours * 3600:
        user, ended = current_user._get_current_object(), session_id()
        with instead_of_the_view():
            accounts.lifetime_ended(
                db.session, user, session_id=ended, began=datetime.fromtimestamp(began, UTC), max_hours=max_hours
            )
        logout_user()
        session.clear()
        return _to_sign_in(
            words.ngettext(
                "You were signed out: a session lasts at most %(num)d hour. Please sign in again.",
                "You were signed out: a session lasts at most %(num)d hours. Please sign in again.",
                max_hours,
            )
        )
    if not isinstance(began, int):  # a cookie from before sessions had a lifetime: it starts now
        session[BEGAN] = now
    if not isinstance(last_seen, int) or now - last_seen >= limit * 60:
        if isinstance(last_seen, int):  # (a cookie without it predates the record: nothing to say)
            user, ended = current_user._get_current_object(), session_id()
            with instead_of_the_view():
                accounts.timed_out(
                    db.session,
                    user,
                    session_id=ended,
                    idle_minutes=limit,
                    last_request=datetime.fromtimestamp(last_seen, UTC),
                )
        logout_user()
        session.clear()
        return _to_sign_in("You were signed out after a period of inactivity. Please sign in again.")
    if last_seen != now:
        session[LAST_SEEN] = now
    if not session.permanent:
        session.permanent = True
    return None


#: Pages someone who must choose a new password can still open.
_OPEN_BEFORE_A_NEW_PASSWORD = ("auth.password", "auth.logout", "static", *ASSETS, "health.healthz")


def _password_to_choose():
    """After an admin set their password, choosing their own is the only page a person can
    open (the account says so on every request; the cookie cannot get round it)."""
    if request.endpoint in _OPEN_BEFORE_A_NEW_PASSWORD or not current_user.is_authenticated:
        return None
    if not current_user.password_must_change or session.get(oidc.METHOD) == "oidc":
        return None  # (signed in with single sign-on: no password was used)
    if request.method not in ("GET", "HEAD"):
        flash("Choose your new password first. What you just sent was not recorded.", "info")
    return redirect_anywhere(url_for("auth.password", next=_back_here()))


#: Pages someone who must set up or type their second factor can still open.
_OPEN_BEFORE_THE_SECOND_FACTOR = (
    "auth.mfa_enroll",
    "auth.mfa_again",
    "auth.logout",
    "static",
    *ASSETS,
    "health.healthz",
)


def _second_factor_to_type():
    """A session begun with a Rounds password by someone whose account role needs a second
    factor (MFA_ROLES) opens no page until one is set up and typed in it, and a privileged page
    only within MFA_STEP_UP_MINUTES of the last code (web/second_factor.py). Single sign-on
    leaves the second factor to the identity provider."""
    if request.endpoint in _OPEN_BEFORE_THE_SECOND_FACTOR or not current_user.is_authenticated:
        return None
    if session.get(oidc.METHOD) == "oidc" or not second_factor.required(current_user.role):
        return None
    if request.endpoint == "auth.password" and current_user.password_must_change:
        return None  # choosing their own password comes first (_password_to_choose)
    if not isinstance(session.get(second_factor.VERIFIED_AT), int):
        if request.method not in ("GET", "HEAD"):
            flash("Set up your second factor first. What you just sent was not recorded.", "info")
        return redirect_anywhere(url_for("auth.mfa_enroll", next=_back_here()))
    privileged = request.blueprint in second_factor.PRIVILEGED_BLUEPRINTS
    if (privileged or request.endpoint in second_factor.PRIVILEGED_ENDPOINTS) and not (
        second_factor.verified_within_step_up()
    ):
        if request.method not in ("GET", "HEAD"):
            flash("Type your code again first. What you just sent was not recorded.", "info")
        return redirect_anywhere(url_for("auth.mfa_again", next=_back_here()))
    return None


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint not in ("static", *ASSETS):
        headers.setdefault("Cache-Control", "no-store")  # pages carry PHI-adjacent records
    return response


def _csrf_error(error: CSRFError):
    if not current_user.is_authenticated and request.blueprint != "auth":
        # The form's session has ended: signed out in another tab, or the page was left open
        # past the idle limit (the cookie is gone). Straight to signing in, and back.
        return _to_sign_in("You were signed out (in another tab, or the page was open too long).")
    if is_htmx():  # the page reloads (error_page); say why there
        flash(
            "That was not recorded: the page had expired (you signed in again since it " "opened). Here it is again.",
            "info",
        )
    return error_page(
        400,
        "This form has expired",
        "The page was open too long or was sent twice. Go back, reload the page and try again. Nothing was recorded from this submission.",
    )


def _error_page(error):
    titles = {
        403: ("Not allowed", "You do not have access to this page."),
        404: ("Not found", "There is nothing at this address."),
        413: ("Too large", "What was sent is too large for this form. Go back and send something smaller."),
        429: ("Too many attempts", "Too many attempts. Wait a minute, then try again."),
    }
    title, message = titles.get(error.code, ("Error", str(error)))
    return error_page(error.code, title, message)

"""What every blueprint of the web layer shares: the content being served, the curricula, the
admin area's list of page groups, and what the session cookie says about the session itself.

Blueprints import these from here, never from ``quiz.web`` (whose ``__init__`` builds the web
part of the app and imports every blueprint), and never from one another
(docs/architecture.md, "Layers").
"""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app, session, url_for
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from .. import accounts, clock
from ..content import Library

#: (endpoint, title, description) of each admin page group; page modules append to it.
ADMIN_SECTIONS: list[tuple[str, str, str]] = []


def library() -> Library:
    """The current content, kept up to date with the files on disk (see ContentStore)."""
    return current_app.extensions["content_store"].library


def curricula():
    """The curricula file, re-read only when it changes (cheap: one small YAML file)."""
    from ..content.curricula import FILENAME, load_curricula

    path = Path(current_app.config["CONTENT_DIR"]) / FILENAME
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    cached = current_app.extensions.get("curricula")
    if cached is None or cached[0] != stamp:
        loaded, errors = load_curricula(Path(current_app.config["CONTENT_DIR"]), library())
        for err in errors:
            current_app.logger.error("curricula: %s", err)
        cached = (stamp, loaded)
        current_app.extensions["curricula"] = cached
    return cached[1]


# --- the organization's clock (quiz/clock.py) ---------------------------------------------------


def local_day(moment: date | datetime) -> date:
    """The day a stored time fell on where the organization is (a date stays as it is)."""
    return clock.org_day(moment) if isinstance(moment, datetime) else moment


def local_time(moment: datetime | str, *, seconds: bool = False, with_utc: bool = False, long: bool = False) -> str:
    """A stored time as people read it: ``2026-12-05 09:03 EST`` (clock.local_text)."""
    return clock.local_text(moment, clock.time_zone(), seconds=seconds, with_utc=with_utc, long=long)


# --- the session itself (besides Flask-Login's account id and session version) -------------

#: Names the session in its evidence records: signed in, signed out, timed out, password chosen.
SESSION_ID = "sid"
#: When the last request came, in whole seconds since the epoch: the idle limit counts from it.
LAST_SEEN = "seen"
#: When the session began, in whole seconds since the epoch: it ends SESSION_MAX_HOURS later
#: however busy it is (the absolute lifetime, beside the idle one).
BEGAN = "began"
#: The session began with a password someone else set (an admin, or the command line): whoever
#: knew it could have begun it, so what is signed in it is marked (engine.acknowledge).
ADMIN_SET_PASSWORD = "admin_set_password"


def begin_session(session_id: str, *, admin_set_password: bool) -> None:
    """What a new session keeps from its sign-in (after ``login_user``): the cookie is signed,
    so the person cannot unset the mark."""
    session[SESSION_ID] = session_id
    session[LAST_SEEN] = session[BEGAN] = int(time.time())
    session[ADMIN_SET_PASSWORD] = admin_set_password
    session.permanent = True


def session_id() -> str | None:
    return session.get(SESSION_ID)


def signed_in_with_admin_set_password() -> bool:
    """Whether this session began with a password someone else set (kept for the whole
    session, even after the person chose their own in it)."""
    return bool(session.get(ADMIN_SET_PASSWORD, False))


# --- where each person lands after signing in -------------------------------------------------

#: The page where each account role's work is: learners' own training, a manager's team, a
#: trainer's content, a compliance officer's training report, an admin's roster. Everyone reaches
#: My training from the menu.
LANDING = {
    "learner": "learn.index",
    "manager": "manage.index",
    "trainer": "author.index",
    "compliance": "audit.training",
    "admin": "admin.roster",
}


def landing_page(role: str | None) -> str:
    """Where someone with this account role lands after signing in (when no ``next=`` names a
    page of its own)."""
    return url_for(LANDING.get(role or "", "learn.index"))


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: never a full URL or a protocol-relative one."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


class SignedIn:
    """What login_user needs, read before the commit, so signing in after it takes no new
    (write-locking) transaction just to read the id back."""

    is_active = True
    is_authenticated = True
    is_anonymous = False

    def __init__(self, user_id: str, user=None):
        self._id = user_id

    def get_id(self) -> str:
        return self._id


def new_password_fields() -> tuple[PasswordField, PasswordField]:
    """A new password and the same again, with the account rules' messages: the fields of every
    form that sets a password (your own at sign-in or later, or an admin's for someone)."""
    password = PasswordField(
        "New password",
        validators=[
            DataRequired("Type the new password."),
            Length(
                min=accounts.MIN_PASSWORD_LENGTH,
                max=accounts.MAX_PASSWORD_LENGTH,
                message=f"The password needs {accounts.PASSWORD_RULE}.",
            ),
        ],
    )
    confirm = PasswordField(
        "Type it again",
        validators=[DataRequired("Type the new password again."), EqualTo("password", "The two passwords differ.")],
    )
    return password, confirm

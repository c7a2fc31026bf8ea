"""What the sign-in pages, the web layer's gate and the admin area share about the second factor
(quiz/mfa.py): who must use one, its keys, and what the session keeps of it.

The session (a signed cookie) keeps when a code was last typed in it (``VERIFIED_AT``): a session
begun with a Rounds password by someone whose account role is in MFA_ROLES opens no page without
it (they set a factor up first), and a privileged page opens only within MFA_STEP_UP_MINUTES of
it. A reset by an admin ends every session of the person (their session version), so the cookie
can never outlive the factor it was verified with.
"""

from __future__ import annotations

import functools
import time

import segno
from flask import Flask, current_app, session
from markupsafe import Markup

from .. import mfa

#: When a second factor was last typed in this session (whole seconds since the epoch).
VERIFIED_AT = "mfa_at"
#: Between the password and the code: whose password was right (id and session version), when,
#: and the page asked for. No one is signed in until the code is typed too.
PENDING = "mfa_pending"
#: How long the code may take after the password, before the password is asked again.
PENDING_SECONDS = 300
#: A secret being set up, encrypted, until the first code from it is typed.
NEW_SECRET = "mfa_new"
#: Blueprints, and pages, that ask again for the factor after MFA_STEP_UP_MINUTES: the admin
#: area (roles, passwords, the roster), compliance's records and packages, the content area,
#: and the page that renews one's own recovery codes.
PRIVILEGED_BLUEPRINTS = ("admin", "audit", "author")
PRIVILEGED_ENDPOINTS = ("auth.mfa_codes",)


def init_app(app: Flask) -> None:
    """Read MFA_ROLES once (an unknown role stops the server) and check the keys can be made."""
    app.extensions["mfa_roles"] = mfa.roles_from(app.config["MFA_ROLES"])
    if app.config.get("SECRET_KEY"):
        _keys(app.config["SECRET_KEY"])


def required(role: str | None) -> bool:
    """Whether someone with this account role must use a second factor with a Rounds password."""
    return (role or "") in current_app.extensions["mfa_roles"]


def keys() -> mfa.Keys:
    return _keys(current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=8)
def _keys(secret_key: str | bytes) -> mfa.Keys:
    return mfa.Keys.from_secret_key(secret_key)


def verified_now() -> None:
    session[VERIFIED_AT] = int(time.time())


def verified_within_step_up() -> bool:
    verified = session.get(VERIFIED_AT)
    limit = current_app.config["MFA_STEP_UP_MINUTES"] * 60
    return isinstance(verified, int) and time.time() - verified < limit


def qr_code(uri: str) -> Markup:
    """The QR code of ``uri`` as inline SVG, made here: no script, no image request."""
    code = segno.make(uri, error="m")
    return Markup(code.svg_inline(scale=4, light="#fff", title="QR code for your authenticator app"))


def grouped(secret: str) -> str:
    """The secret in groups of four, to be typed into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))

"""Signing in with the organization's identity provider (OpenID Connect, authorization code
flow with PKCE): ``/auth/sso/start`` sends the browser to the provider, which sends it back to
``/auth/sso/callback`` with a code. Authlib checks the answer (web/oidc.py says what it checks);
quiz/sso.py decides who it is on the roster and records the sign-in, or the refusal, as evidence
with the method ``oidc``. Plain links and redirects: it works without JavaScript.

The callback is a GET (the provider redirects the browser, OAuth 2.0, RFC 6749 section 4.1.2),
so its unit only reads, and the sign-in is kept in a short writing transaction of its own
(``instead_of_the_view``), as the web layer records a session found ended at the idle limit.
"""

from __future__ import annotations

import secrets

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import login_user
from joserfc.errors import JoseError

from .. import sso
from ..db import db
from . import oidc
from .common import SignedIn, begin_session, landing_page, safe_next
from .limits import limiter
from .units import instead_of_the_view, reads

bp = Blueprint("sso", __name__, url_prefix="/auth/sso")

#: Where to go after signing in (a safe ``next=``), kept in the session across the provider.
NEXT = "sso_next"
#: What the person is told when they are refused (never why: the record says).
REFUSED = "We could not sign you in to Rounds with {provider}."


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _failed(response) -> bool:
    return response.status_code != 303


def _refused(settings: sso.SsoSettings, status: int, hint: str):
    return render_template(
        "auth/sso_refused.html", message=REFUSED.format(provider=settings.provider_name), hint=hint, sso=settings
    ), status


@bp.get("/start")
@reads
def start():
    """To the provider, with a new state, nonce and PKCE verifier (Authlib keeps them in the
    signed session cookie until the browser comes back)."""
    settings = oidc.settings()
    if not settings.enabled:
        abort(404)
    session[NEXT] = safe_next(request.args.get("next"))
    try:
        return oidc.client().authorize_redirect(url_for("sso.callback", _external=True))
    except (requests.RequestException, AuthlibBaseError, ValueError, KeyError):
        current_app.logger.warning("single sign-on: the provider's discovery failed", exc_info=True)
        return _refused(settings, 502, f"{settings.provider_name} could not be reached. Try again in a minute.")


@bp.get("/callback")
@limiter.limit(_login_limit, deduct_when=_failed)
@reads
def callback():
    settings = oidc.settings()
    if not settings.enabled:
        abort(404)
    client = oidc.client()
    try:
        issuer = client.load_server_metadata()["issuer"]
        token = client.authorize_access_token(
            claims_options=oidc.claims_options(settings, issuer), leeway=oidc.LEEWAY_SECONDS
        )
        claims = token.get("userinfo")  # the ID token's claims, checked; no ID token: no sign-in
        if not claims:
            raise JoseError("the provider's answer had no ID token")
    except (MismatchingStateError, JoseError) as exc:
        with instead_of_the_view():
            sso.refuse(db.session, settings, "provider-answer-refused", _described(exc))
        return _refused(settings, 401, "Start again from the sign-in page.")
    except (AuthlibBaseError, requests.RequestException, KeyError, ValueError) as exc:
        with instead_of_the_view():
            sso.refuse(db.session, settings, "provider-error", _described(exc))
        return _refused(settings, 401, "Start again from the sign-in page.")

    check = sso.find_account(db.session, dict(claims), settings)
    new_session = secrets.token_urlsafe(12)
    with instead_of_the_view():
        user = sso.record_sign_in(db.session, check, settings, session_id=new_session)
        signed_in, role = (user.get_id(), user.role) if user is not None else (None, None)
    if signed_in is None:
        return _refused(settings, 403, "Ask your Rounds administrator: you need an active account on the roster.")
    next_url = session.get(NEXT)
    session.clear()  # a new session (and CSRF token) at sign-in
    login_user(SignedIn(signed_in))
    begin_session(new_session, admin_set_password=False)
    session[oidc.METHOD] = sso.OIDC
    session[oidc.ID_TOKEN] = token.get("id_token")
    return redirect(next_url or landing_page(role), code=303)


def _described(exc: Exception) -> str:
    """The failed check, as Authlib or joserfc name it (kept in the refusal's record)."""
    name = getattr(exc, "error", None) or type(exc).__name__
    description = getattr(exc, "description", None) or str(exc)
    return f"{name}: {description}" if description and description != name else str(name)

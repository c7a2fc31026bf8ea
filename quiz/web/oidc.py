"""The OpenID Connect client that the sign-in pages share: Authlib's Flask integration, set up
once per app from the settings (quiz/sso.py), and what the sign-in and sign-out pages need to
know about it. The views of the flow itself are the ``sso`` blueprint (web/sso.py).

Authlib does the protocol's checks; they are configured here, not written here:

- discovery (``server_metadata_url``): the endpoints, the issuer and the JWKS come from the
  provider's discovery document;
- PKCE (``code_challenge_method="S256"``), ``state`` and ``nonce``: made by Authlib for each
  sign-in and kept in the (signed) session cookie until the provider sends the browser back;
- the ID token: its signature checked against the provider's JWKS (only the algorithms its
  discovery document names), and its claims by ``CLAIMS_OPTIONS`` (issuer, audience = our
  client id, expiry, subject), with Authlib's default leeway for clocks (``LEEWAY_SECONDS``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, session

from ..sso import SsoSettings, settings_from

#: The name Authlib keeps the client under (and the prefix of its state keys in the session).
CLIENT = "sso"
#: Clock skew allowed on the ID token's expiry and issue time (Authlib's default, made explicit).
LEEWAY_SECONDS = 120
#: Kept in the session of a sign-in made with single sign-on: the ID token, as the provider's
#: sign-out asks for it (``id_token_hint``).
ID_TOKEN = "sso_id_token"
#: Kept across the sign-out, for the sign-in page to offer the provider's sign-out once.
PROVIDER_SIGN_OUT = "sso_sign_out"
#: How this session was begun: "oidc" for single sign-on (a password's session has none).
METHOD = "signed_in_with"


def init_app(app: Flask) -> None:
    """Check the settings (a bad one stops the server, naming it) and register the client."""
    settings = settings_from(app.config)
    app.extensions["rounds_sso"] = settings
    if not settings.enabled:
        return
    oauth = OAuth(app)
    oauth.register(
        CLIENT,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.discovery_url,
        client_kwargs={
            "scope": settings.scopes,
            "code_challenge_method": "S256",
            "timeout": app.config.get("OIDC_TIMEOUT_SECONDS", 10),
        },
    )
    app.extensions["rounds_sso_client"] = oauth.create_client(CLIENT)


def settings() -> SsoSettings:
    return current_app.extensions["rounds_sso"]


def client():
    """Authlib's client for the provider (only when single sign-on is configured)."""
    return current_app.extensions["rounds_sso_client"]


def claims_options(settings: SsoSettings, issuer: str) -> dict:
    """What Authlib checks in the ID token's claims besides its signature and nonce."""
    return {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": settings.client_id},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "sub": {"essential": True},
    }


def provider_sign_out_url(post_logout_redirect_uri: str) -> str | None:
    """The provider's sign-out (RP-initiated logout), for a session begun with single sign-on,
    when discovery names an ``end_session_endpoint``; else None. Read before the session is
    cleared (it needs the ID token kept in it)."""
    current = settings()
    if not current.enabled or session.get(METHOD) != "oidc":
        return None
    try:
        endpoint = client().load_server_metadata().get("end_session_endpoint")
    except Exception:  # the provider cannot be reached: Rounds' own sign-out still happens
        current_app.logger.warning("single sign-on: discovery failed while signing out", exc_info=True)
        return None
    if not endpoint:
        return None
    params = {"client_id": current.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
    if session.get(ID_TOKEN):
        params["id_token_hint"] = session[ID_TOKEN]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

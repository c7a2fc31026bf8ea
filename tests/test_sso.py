"""Single sign-on against a real OpenID provider on loopback.

The provider is oidc-provider-mock (a test extra): a Flask app built on Authlib's authorization
server, with discovery, a JWKS, authorization, token, userinfo and end-session endpoints, and
RS256-signed ID tokens. The tests start it on a free loopback port on a thread, tell it each
person's claims (PUT /users/<sub>), and "sign in" at its authorization form by POSTing the
subject, as a browser would. Nothing of Rounds is mocked.

The failure cases are made with the provider's own means: it puts the claims a test gives a
person into their ID token (registered ones too), so a person whose claims say ``aud`` is
another client, ``exp`` is in the past, or ``nonce`` is another sign-in's gets a token signed by
the provider that says so; a token signed by another key is the provider signing with a new key
under the key id Rounds already fetched from its JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from urllib.parse import parse_qs, quote, urlsplit

import flask
import oidc_provider_mock
import pytest
import requests
import time_machine
from authlib.jose import RSAKey
from sqlalchemy import func, select
from werkzeug.serving import make_server

from quiz.db import db
from quiz.models import Evidence, User
from quiz.sso import SsoConfigError, settings_from

from .conftest import PASSWORD, add_user, close_app, csrf_token, make_app, page_text, sign_in


class Provider:
    """oidc-provider-mock served on 127.0.0.1, with the token requests it was sent kept (to
    check PKCE's verifier against the challenge)."""

    def __init__(self):
        self.app = oidc_provider_mock.app(require_nonce=True)
        self.token_requests: list[dict] = []
        inner = self.app.wsgi_app

        def recording(environ, start_response):
            if environ.get("PATH_INFO") == "/oauth2/token":
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                self.token_requests.append({k: v[0] for k, v in parse_qs(body.decode()).items()})
                import io

                environ["wsgi.input"] = io.BytesIO(body)
            return inner(environ, start_response)

        self.app.wsgi_app = recording
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        for _ in range(100):  # wait for its discovery document
            try:
                if requests.get(f"{self.url}/.well-known/openid-configuration", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("the OpenID provider did not start")

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def person(self, sub: str, **claims) -> str:
        response = requests.put(f"{self.url}/users/{quote(sub, safe='')}", json=claims, timeout=5)
        assert response.status_code == 204
        return sub

    def storage(self):
        """The provider's own storage (its signing key), as its requests see it."""
        with self.app.test_request_context("/"):
            self.app.preprocess_request()
            return flask.g.oidc_provider_mock_storage


@pytest.fixture(scope="module")
def provider():
    with Provider() as running:
        yield running


def sso_app(database_url, tmp_path, monkeypatch, provider, **config):
    settings = {
        "OIDC_ISSUER": provider.url,
        "OIDC_CLIENT_ID": "rounds",
        "OIDC_CLIENT_SECRET": "rounds-secret",
        "OIDC_PROVIDER_NAME": "Northwind Health ID",
    }
    settings.update(config)
    return make_app(database_url, tmp_path, monkeypatch, **settings)


@pytest.fixture
def app(database_url, tmp_path, monkeypatch, provider):
    app = sso_app(database_url, tmp_path, monkeypatch, provider)
    yield app
    close_app(app)


def begin(client, next_url: str | None = None):
    """Start at Rounds: the redirect to the provider's authorization endpoint."""
    response = client.get("/auth/sso/start" + (f"?next={quote(next_url)}" if next_url else ""))
    assert response.status_code == 302
    return response.headers["Location"]


def authorize(authorization_url: str, sub: str) -> str:
    """The person signs in at the provider: its redirect back to Rounds (with code and state)."""
    response = requests.post(authorization_url, data={"sub": sub}, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def sso_sign_in(client, sub: str, next_url: str | None = None):
    back = authorize(begin(client, next_url), sub)
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")


def records(app, event: str) -> list[tuple[Evidence, dict]]:
    with app.app_context():
        found = list(db.session.scalars(select(Evidence).where(Evidence.event == event).order_by(Evidence.seq)))
        db.session.expunge_all()
    return [(record, json.loads(record.details)) for record in found]


def assert_signed_out(client) -> None:
    response = client.get("/learn/")
    assert response.status_code in (302, 303) and response.headers["Location"].startswith("/auth/login")


def form_token(app, client) -> str:
    """A CSRF token for a form the page does not show (Flask-WTF's, as its forms carry it)."""
    from itsdangerous import URLSafeTimedSerializer

    with client.session_transaction() as session:
        session["csrf_token"] = "a" * 40
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps("a" * 40)


def count_users(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


# --- discovery and the happy path --------------------------------------------------------------


def test_the_sign_in_page_offers_the_provider_by_its_name_as_a_plain_link(client):
    page = client.get("/auth/login")
    assert page.status_code == 200
    assert '<a class="button primary" href="/auth/sso/start">Sign in with Northwind Health ID</a>' in page.text
    assert 'name="password"' in page.text  # passwords are on by default


def test_discovery_names_the_endpoint_and_the_request_carries_pkce_state_and_nonce(client, provider):
    discovery = requests.get(f"{provider.url}/.well-known/openid-configuration", timeout=5).json()
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint"):
        assert discovery[endpoint].startswith(provider.url)
    assert requests.get(discovery["jwks_uri"], timeout=5).json()["keys"][0]["kty"] == "RSA"

    location = begin(client)
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == discovery["authorization_endpoint"]
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == "rounds"
    assert query["scope"].split() == ["openid", "email", "profile"]
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    assert query["redirect_uri"] == "http://localhost/auth/sso/callback"


def test_the_code_flow_with_pkce_signs_a_learner_in_to_my_training(app, client, provider):
    uid = add_user(app, email="ana.lima@example.org", name="Ana Lima")
    provider.person("ana-sub", email="Ana.Lima@example.org", email_verified=True, name="Ana Lima")
    location = begin(client)
    challenge = parse_qs(urlsplit(location).query)["code_challenge"][0]
    provider.token_requests.clear()

    back = authorize(location, "ana-sub")
    parts = urlsplit(back)
    response = client.get(f"{parts.path}?{parts.query}")

    assert response.status_code == 303
    assert response.headers["Location"] == "/learn/"
    page = client.get("/learn/")
    assert page.status_code == 200 and "Ana Lima" in page.text and "My training" in page.text
    assert "Change password" not in page.text  # no Rounds password in this session
    # PKCE: the token request carried the verifier whose S256 hash is the challenge sent
    [token_request] = provider.token_requests
    verifier = token_request["code_verifier"]
    assert base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode() == challenge
    assert token_request["grant_type"] == "authorization_code"
    [(record, details)] = records(app, "session.signed-in")
    assert record.user_id == uid
    assert details["method"] == "oidc" and details["subject"] == "ana-sub" and details["matched_by"] == "email"
    assert details["issuer"] == provider.url and details["session"]


def test_a_safe_next_wins_and_an_unsafe_one_is_ignored(app, client, provider):
    add_user(app, email="next@example.org", role="manager", job_role="leadership")
    provider.person("next-sub", email="next@example.org")
    response = sso_sign_in(client, "next-sub", next_url="/learn/")
    assert response.status_code == 303 and response.headers["Location"] == "/learn/"

    other = app.test_client()
    response = sso_sign_in(other, "next-sub", next_url="https://evil.example/")
    assert response.headers["Location"] == "/manage/"  # a manager lands on their team


def test_the_role_comes_from_rounds_never_from_a_claim(app, client, provider):
    add_user(app, email="claims@example.org")
    provider.person("claims-sub", email="claims@example.org", role="admin", roles=["admin"], groups=["Rounds Admins"])
    assert sso_sign_in(client, "claims-sub").headers["Location"] == "/learn/"
    assert client.get("/admin/").status_code == 403


# --- the provider's answer, refused -------------------------------------------------------------


def assert_refused(app, response, refused: str, error_has: str | None = None, signed_in_before: int = 0) -> dict:
    assert response.status_code in (401, 403)
    assert "We could not sign you in to Rounds with Northwind Health ID." in page_text(response.text)
    [(record, details)] = records(app, "session.sign-in-refused")
    assert details["method"] == "oidc" and details["refused"] == refused
    if error_has:
        assert error_has in details["error"]
    assert len(records(app, "session.signed-in")) == signed_in_before
    return details


def test_a_token_signed_by_another_key_is_refused(app, provider):
    add_user(app, email="key@example.org")
    provider.person("key-sub", email="key@example.org")
    first = app.test_client()
    assert sso_sign_in(first, "key-sub").status_code == 303  # Rounds has the provider's JWKS now
    storage = provider.storage()
    published = storage.jwk
    kid = published.as_dict()["kid"]
    storage.jwk = RSAKey.generate_key(is_private=True, options={"kid": kid})  # same key id, another key
    try:
        response = sso_sign_in(app.test_client(), "key-sub")
    finally:
        storage.jwk = published
    assert_refused(app, response, "provider-answer-refused", "bad_signature", signed_in_before=1)


def test_a_nonce_from_another_sign_in_is_refused(app, client, provider):
    add_user(app, email="nonce@example.org")
    provider.person("nonce-sub", email="nonce@example.org", nonce="a-nonce-from-another-sign-in")
    assert_refused(app, sso_sign_in(client, "nonce-sub"), "provider-answer-refused", "nonce")


def test_a_state_that_is_not_this_browsers_is_refused(app, provider):
    """Login CSRF: a code and state from a sign-in begun in one browser, sent to another."""
    add_user(app, email="state@example.org")
    provider.person("state-sub", email="state@example.org")
    attacker, victim = app.test_client(), app.test_client()
    back = urlsplit(authorize(begin(attacker), "state-sub"))
    begin(victim)  # the victim has a sign-in of their own under way
    response = victim.get(f"{back.path}?{back.query}")
    assert_refused(app, response, "provider-answer-refused", "mismatching_state")
    assert_signed_out(victim)  # not signed in


def test_a_token_for_another_audience_is_refused(app, client, provider):
    add_user(app, email="aud@example.org")
    provider.person("aud-sub", email="aud@example.org", aud="another-client", azp="rounds")
    assert_refused(app, sso_sign_in(client, "aud-sub"), "provider-answer-refused", "aud")


def test_an_expired_token_is_refused(app, client, provider):
    add_user(app, email="old@example.org")
    an_hour_ago = int(time.time()) - 3600
    provider.person("old-sub", email="old@example.org", iat=an_hour_ago - 600, exp=an_hour_ago)
    assert_refused(app, sso_sign_in(client, "old-sub"), "provider-answer-refused", "expired")


def test_a_denied_authorization_is_refused(app, client):
    location = begin(client)
    response = requests.post(location, data={"action": "deny"}, allow_redirects=False, timeout=5)
    back = urlsplit(response.headers["Location"])
    assert_refused(app, client.get(f"{back.path}?{back.query}"), "provider-error", "access_denied")


# --- who may sign in -----------------------------------------------------------------------------


def test_an_unknown_person_is_refused_and_no_account_is_made(app, client, provider):
    add_user(app, email="someone@example.org")
    before = count_users(app)
    provider.person("stranger-sub", email="stranger@example.org", name="A Stranger")
    details = assert_refused(app, sso_sign_in(client, "stranger-sub"), "no-such-account")
    assert details["email"] == "stranger@example.org" and details["subject"] == "stranger-sub"
    assert count_users(app) == before


def test_a_deactivated_person_is_refused(app, client, provider):
    uid = add_user(app, email="gone@example.org")
    with app.app_context():
        db.session.get(User, uid).active = False
        db.session.commit()
    provider.person("gone-sub", email="gone@example.org")
    response = sso_sign_in(client, "gone-sub")
    assert_refused(app, response, "deactivated")
    [(record, _)] = records(app, "session.sign-in-refused")
    assert record.user_id == uid


def test_an_unverified_email_is_refused(app, client, provider):
    add_user(app, email="unverified@example.org")
    provider.person("unverified-sub", email="unverified@example.org", email_verified=False)
    assert_refused(app, sso_sign_in(client, "unverified-sub"), "email-not-verified")


def test_people_can_be_matched_by_employee_id(database_url, tmp_path, monkeypatch, provider):
    app = sso_app(
        database_url,
        tmp_path,
        monkeypatch,
        provider,
        OIDC_MATCH_CLAIM="employee_id",
        OIDC_EMPLOYEE_ID_CLAIM="employeeNumber",
    )
    try:
        uid = add_user(app, email="roster.email@example.org")
        with app.app_context():
            db.session.get(User, uid).employee_id = "E-1042"
            db.session.commit()
        # the provider's email differs from the roster's: only the employee id matters
        provider.person("emp-sub", email="personal@example.com", employeeNumber="E-1042")
        client = app.test_client()
        assert sso_sign_in(client, "emp-sub").status_code == 303
        [(record, details)] = records(app, "session.signed-in")
        assert record.user_id == uid and details["matched_by"] == "employeeNumber"

        provider.person("no-emp-sub", email="roster.email@example.org")  # no employee id claim
        assert_refused(app, sso_sign_in(app.test_client(), "no-emp-sub"), "claim-missing", signed_in_before=1)
    finally:
        close_app(app)


def test_unknown_people_are_made_learners_when_the_deployment_says_so(database_url, tmp_path, monkeypatch, provider):
    app = sso_app(
        database_url, tmp_path, monkeypatch, provider, OIDC_CREATE_UNKNOWN=True, OIDC_NEW_PERSON_JOB_ROLE="clinical"
    )
    try:
        provider.person("new-sub", email="new.nurse@example.org", name="New Nurse", role="admin")
        client = app.test_client()
        response = sso_sign_in(client, "new-sub")
        assert response.status_code == 303 and response.headers["Location"] == "/learn/"
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == "new.nurse@example.org"))
            assert (user.role, user.job_role, user.name, user.password_hash) == (
                "learner",
                "clinical",
                "New Nurse",
                "!",
            )
        [(_, created)] = records(app, "person.created")
        assert created["by"] == "single sign-on" and created["fields"]["role"] == "learner"
        assert records(app, "session.signed-in")[0][1]["method"] == "oidc"
    finally:
        close_app(app)


def test_a_person_made_by_two_sign_ins_at_once_is_made_once(database_url, tmp_path, monkeypatch, provider):
    """Both sign-ins checked the claims before either made the account: the second signs in the
    account the first made (one person, one person.created record), rather than failing."""
    from quiz import sso

    app = sso_app(
        database_url, tmp_path, monkeypatch, provider, OIDC_CREATE_UNKNOWN=True, OIDC_NEW_PERSON_JOB_ROLE="clinical"
    )
    try:
        claims = {"iss": provider.url, "sub": "twin-sub", "email": "twin@example.org", "name": "Twin Tab"}
        with app.app_context():
            settings = app.extensions["rounds_sso"]
            first, second = (sso.find_account(db.session, claims, settings) for _ in range(2))
            db.session.rollback()
            assert first.create and second.create
            made = sso.record_sign_in(db.session, first, settings, session_id="one")
            db.session.commit()
            again = sso.record_sign_in(db.session, second, settings, session_id="two")
            db.session.commit()
            assert made is not None and again is not None and again.id == made.id
            assert db.session.scalar(select(func.count(User.id)).where(User.email == "twin@example.org")) == 1
        assert len(records(app, "person.created")) == 1
        assert [d["session"] for _, d in records(app, "session.signed-in")] == ["one", "two"]
    finally:
        close_app(app)


def test_two_servers_making_the_same_person_at_the_same_moment_make_one(database_url, tmp_path, monkeypatch, provider):
    """PostgreSQL, two transactions at once: the second's insert waits on the first's unique
    email, fails when it commits, and the second takes the account the first made."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: the sequential case above covers it")
    from sqlalchemy.orm import Session

    from quiz import sso

    app = sso_app(
        database_url, tmp_path, monkeypatch, provider, OIDC_CREATE_UNKNOWN=True, OIDC_NEW_PERSON_JOB_ROLE="clinical"
    )
    try:
        claims = {"iss": provider.url, "sub": "twin-sub", "email": "twin@example.org", "name": "Twin Tab"}
        with app.app_context():
            settings, engine = app.extensions["rounds_sso"], db.engine
            with Session(engine) as one, Session(engine) as two:
                first, second = sso.find_account(one, claims, settings), sso.find_account(two, claims, settings)
                made = sso.record_sign_in(one, first, settings, session_id="one")  # not yet committed
                outcome: dict = {}

                def other_server():
                    try:
                        outcome["user"] = sso.record_sign_in(two, second, settings, session_id="two").id
                        two.commit()
                    except Exception as exc:  # reported below
                        outcome["error"] = exc

                thread = threading.Thread(target=other_server)
                thread.start()
                thread.join(0.5)
                assert thread.is_alive()  # waiting on the first's unique email
                one.commit()
                thread.join(10)
                assert "error" not in outcome, outcome.get("error")
                assert outcome["user"] == made.id
        assert len(records(app, "person.created")) == 1
        assert sorted(d["session"] for _, d in records(app, "session.signed-in")) == ["one", "two"]
    finally:
        close_app(app)


# --- local passwords ------------------------------------------------------------------------------


def test_with_local_passwords_off_the_password_form_refuses(database_url, tmp_path, monkeypatch, provider):
    app = sso_app(database_url, tmp_path, monkeypatch, provider, LOCAL_PASSWORDS="off")
    try:
        add_user(app, email="admin@example.org", role="admin", job_role="leadership")
        client = app.test_client()
        page = client.get("/auth/login")
        assert 'name="password"' not in page.text and "Sign in with Northwind Health ID" in page.text
        response = client.post(
            "/auth/login",
            data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": form_token(app, client)},
        )
        assert response.status_code == 403
        assert "Signing in with a password is turned off here" in page_text(response.text)
        assert_signed_out(client)  # not signed in
        assert records(app, "session.signed-in") == []
    finally:
        close_app(app)


def test_admins_only_keeps_a_break_glass_admin_and_refuses_everyone_else(database_url, tmp_path, monkeypatch, provider):
    app = sso_app(database_url, tmp_path, monkeypatch, provider, LOCAL_PASSWORDS="admins")
    try:
        add_user(app, email="breakglass@example.org", role="admin", job_role="it")
        learner = add_user(app, email="nurse@example.org")
        admin_client, learner_client = app.test_client(), app.test_client()
        assert "For a break-glass administrator account only" in admin_client.get("/auth/login").text
        response = sign_in(admin_client, "breakglass@example.org")
        assert response.status_code == 303 and response.headers["Location"] == "/admin/roster"

        response = sign_in(learner_client, "nurse@example.org")  # the right password, but not an admin
        assert response.status_code == 401
        assert_signed_out(learner_client)
        [(record, details)] = records(app, "session.sign-in-refused")
        assert record.user_id == learner and details == {"method": "password", "refused": "password-not-allowed"}
        with app.app_context():
            assert db.session.get(User, learner).failed_logins == 0  # not counted towards a lockout
    finally:
        close_app(app)


# --- signing out ------------------------------------------------------------------------------------


def test_sign_out_ends_the_session_and_offers_the_providers_sign_out(app, client, provider):
    add_user(app, email="out@example.org")
    provider.person("out-sub", email="out@example.org")
    sso_sign_in(client, "out-sub")
    page = client.get("/learn/")
    response = client.post("/auth/logout", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 303
    login = client.get("/auth/login")
    assert "You are signed out of Rounds" in page_text(login.text)
    end_session = requests.get(f"{provider.url}/.well-known/openid-configuration", timeout=5).json()[
        "end_session_endpoint"
    ]
    link = next(part.split('"')[0] for part in login.text.split('href="')[1:] if part.startswith(end_session))
    query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert query["client_id"] == ["rounds"]
    assert query["post_logout_redirect_uri"] == ["http://localhost/auth/login"]
    assert query["id_token_hint"][0].count(".") == 2  # the ID token the provider issued
    assert requests.get(link.replace("&amp;", "&"), timeout=5).status_code == 200  # the provider's sign-out page
    assert_signed_out(client)  # Rounds' session is over
    assert "You are signed out of Rounds" not in client.get("/auth/login").text  # offered once
    [(_, details)] = records(app, "session.signed-out")
    assert details["how"] == "signed out"


def test_a_password_session_is_not_offered_the_providers_sign_out(app, client):
    add_user(app, email="pw@example.org")
    sign_in(client, "pw@example.org")
    page = client.get("/learn/")
    assert "Change password" in page.text
    client.post("/auth/logout", data={"csrf_token": csrf_token(page.text)})
    assert "You are signed out of Rounds" not in client.get("/auth/login").text


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"LOCAL_PASSWORDS": "off"}, "LOCAL_PASSWORDS=off needs single sign-on"),
        (
            {"LOCAL_PASSWORDS": "sometimes", "OIDC_ISSUER": "https://id.example", "OIDC_CLIENT_ID": "r"},
            "LOCAL_PASSWORDS must be one of on, off, admins",
        ),
        ({"OIDC_ISSUER": "https://id.example"}, "needs both OIDC_ISSUER and OIDC_CLIENT_ID"),
        (
            {"OIDC_ISSUER": "https://id.example", "OIDC_CLIENT_ID": "r", "OIDC_MATCH_CLAIM": "name"},
            "OIDC_MATCH_CLAIM must be one of email, employee_id",
        ),
        ({"OIDC_ISSUER": "https://id.example", "OIDC_CLIENT_ID": "r", "OIDC_SCOPES": "email"}, "must include openid"),
        (
            {"OIDC_ISSUER": "https://id.example", "OIDC_CLIENT_ID": "r", "OIDC_CREATE_UNKNOWN": True},
            "OIDC_CREATE_UNKNOWN needs OIDC_NEW_PERSON_JOB_ROLE",
        ),
    ],
)
def test_a_setting_that_cannot_work_is_refused_with_its_name(config, message):
    with pytest.raises(SsoConfigError, match=message):
        settings_from(config)


def test_the_discovery_url_is_the_issuers_unless_given_whole():
    assert settings_from({"OIDC_ISSUER": "https://login.example/t/v2.0/", "OIDC_CLIENT_ID": "r"}).discovery_url == (
        "https://login.example/t/v2.0/.well-known/openid-configuration"
    )
    whole = "https://id.example/oauth2/default/.well-known/openid-configuration"
    assert settings_from({"OIDC_ISSUER": whole, "OIDC_CLIENT_ID": "r"}).discovery_url == whole


def test_without_single_sign_on_its_pages_are_not_there(database_url, tmp_path, monkeypatch):
    app = make_app(database_url, tmp_path, monkeypatch)
    try:
        client = app.test_client()
        assert "Sign in with" not in client.get("/auth/login").text
        assert client.get("/auth/sso/start").status_code == 404
        assert client.get("/auth/sso/callback?code=x&state=y").status_code == 404
    finally:
        close_app(app)


def test_a_single_sign_on_session_is_not_sent_to_choose_a_password(app, client, provider):
    """An admin set a temporary password on this account; signed in with single sign-on, no
    password was used, so the page to choose one does not stand in the way."""
    from quiz import accounts

    uid = add_user(app, email="temp@example.org")
    with app.app_context():
        user = db.session.get(User, uid)
        accounts.set_password(db.session, user, accounts.new_password("a temporary one here"), by="test")
        db.session.commit()
    provider.person("temp-sub", email="temp@example.org")
    assert sso_sign_in(client, "temp-sub").headers["Location"] == "/learn/"
    assert client.get("/learn/").status_code == 200
    password_client = app.test_client()  # with the password, it is still required
    assert (
        sign_in(password_client, "temp@example.org", "a temporary one here")
        .headers["Location"]
        .startswith("/auth/password")
    )


def test_a_single_sign_on_session_is_not_asked_for_a_rounds_second_factor(
    database_url, tmp_path, monkeypatch, provider
):
    """The identity provider does the second factor of single sign-on: an admin signed in with
    it opens the admin pages at once, and they are not asked again later; with their Rounds
    password (the break-glass way in), the same admin must set up Rounds' own (tests/test_mfa.py)."""
    app = sso_app(
        database_url, tmp_path, monkeypatch, provider, MFA_ROLES="admin,compliance,trainer", MFA_STEP_UP_MINUTES=1
    )
    try:
        add_user(app, email="sso.admin@example.org", role="admin", job_role="leadership")
        provider.person("sso-admin-sub", email="sso.admin@example.org")
        client = app.test_client()
        assert sso_sign_in(client, "sso-admin-sub").headers["Location"] == "/admin/roster"
        assert client.get("/admin/roster").status_code == 200
        with time_machine.travel(time.time() + 120):  # past MFA_STEP_UP_MINUTES
            assert client.get("/audit/training").status_code == 200
        assert "second_factor" not in records(app, "session.signed-in")[0][1]

        password_client = app.test_client()
        assert sign_in(password_client, "sso.admin@example.org").status_code == 303
        assert password_client.get("/admin/roster").headers["Location"].startswith("/auth/second-factor/set-up")
    finally:
        close_app(app)

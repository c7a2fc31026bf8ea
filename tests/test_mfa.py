"""The second factor of privileged roles (quiz/mfa.py), through the real app and its pages.

The codes are made here the way the person's phone would make them: pyotp from the secret the
set-up page shows. MFA_ROLES is on in these tests only (tests/helpers.py turns it off for the
rest of the suite, whose admins, compliance officers and trainers sign in with a password).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from quiz import mfa
from quiz.db import db
from quiz.models import Evidence, MfaFactor, MfaRecoveryCode, User

from .helpers import PASSWORD, add_user, close_app, csrf_token, make_app, page_text, run_cli, sign_in

ROLES = "admin,compliance,trainer"


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    app = make_app(database_url, tmp_path, monkeypatch, MFA_ROLES=ROLES, LOGIN_LOCKOUT_FAILURES=3)
    yield app
    close_app(app)


def records(app, event: str) -> list[tuple[Evidence, dict]]:
    with app.app_context():
        found = list(db.session.scalars(select(Evidence).where(Evidence.event == event).order_by(Evidence.seq)))
        db.session.expunge_all()
    return [(record, json.loads(record.details)) for record in found]


def account(app, email: str) -> User:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        db.session.expunge(user)
        return user


def add_admin(app, email="admin@example.org", name="Avery Admin", role="admin") -> int:
    return add_user(app, email=email, name=name, role=role, job_role="leadership")


def post_form(client, url: str, **data):
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code, page.headers.get("Location"))
    return client.post(url, data={**data, "csrf_token": csrf_token(page.text)})


def enroll(client) -> tuple[str, list[str]]:
    """Set up the second factor on the set-up page as a person would: the secret read off the
    page into the 'app' (pyotp), its current code typed. Returns the secret and recovery codes."""
    page = client.get("/auth/second-factor/set-up")
    assert page.status_code == 200
    secret = re.search(r'<code id="mfa-secret">([A-Z2-7 ]+)</code>', page.text).group(1).replace(" ", "")
    done = client.post(
        "/auth/second-factor/set-up", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(page.text)}
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def enrolled_admin(app, email="admin@example.org", **kw):
    """An admin with a second factor set up, signed in: (client, secret, recovery codes)."""
    add_admin(app, email=email, **kw)
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    secret, codes = enroll(client)
    return client, secret, codes


def next_code(secret: str) -> str:
    """The code of the next time step (taken: within one step of now), never the one set-up used."""
    return pyotp.TOTP(secret).at(datetime.now(UTC), counter_offset=1)


def type_code(client, code: str):
    return post_form(client, "/auth/second-factor", code=code)


# --- setting it up ---------------------------------------------------------------------------


def test_an_admin_with_a_password_opens_no_page_until_a_second_factor_is_set_up(app):
    add_admin(app)
    client = app.test_client()
    signed = sign_in(client, "admin@example.org")
    assert signed.status_code == 303 and signed.headers["Location"] == "/admin/roster"
    [(_, details)] = records(app, "session.signed-in")
    assert details["second_factor"] == "none yet: set up before any other page"

    for path in ("/admin/roster", "/learn/", "/audit/training", "/manage/", "/auth/password"):
        response = client.get(path)
        assert response.status_code in (302, 303), path
        assert response.headers["Location"].startswith("/auth/second-factor/set-up"), path
    sent = client.post("/auth/logout", data={})  # signing out stays open (CSRF refuses this one)
    assert not sent.headers.get("Location", "").startswith("/auth/second-factor")

    page = client.get("/auth/second-factor/set-up")
    assert page.status_code == 200
    assert "<svg" in page.text and "<script" not in page.text.split("<main", 1)[1]  # the QR code, drawn here
    assert "img-src 'self' data:" in page.headers["Content-Security-Policy"]
    wrong = client.post("/auth/second-factor/set-up", data={"code": "000000", "csrf_token": csrf_token(page.text)})
    assert wrong.status_code == 422 and "That is not the code your app shows now" in page_text(wrong.text)
    assert records(app, "person.mfa-enrolled") == []

    secret, codes = enroll(client)
    assert client.get("/admin/roster").status_code == 200
    [(record, details)] = records(app, "person.mfa-enrolled")
    assert record.learner_email == "admin@example.org"
    assert details["factor"] == "totp" and details["recovery_codes_made"] == 10 and details["session"]


def test_the_secret_and_recovery_codes_are_not_kept_in_the_clear(app):
    client, secret, codes = enrolled_admin(app)
    user = account(app, "admin@example.org")
    with app.app_context():
        factor = db.session.get(MfaFactor, user.id)
        hashes = list(db.session.scalars(select(MfaRecoveryCode.code_hash).where(MfaRecoveryCode.user_id == user.id)))
    assert secret not in factor.secret_encrypted
    assert mfa.Keys.from_secret_key("test-secret-key").decrypt(factor.secret_encrypted) == secret
    assert mfa.Keys.from_secret_key("another-secret-key").decrypt(factor.secret_encrypted) is None
    assert len(hashes) == 10 and not {c.replace("-", "") for c in codes} & set(hashes)
    assert all(c not in json.dumps([d for _, d in records(app, "person.mfa-enrolled")]) for c in codes)


def test_a_new_secret_key_makes_the_factor_unreadable_and_says_so(app, database_url, tmp_path, monkeypatch):
    enrolled_admin(app)
    other = make_app(database_url, tmp_path, monkeypatch, MFA_ROLES=ROLES, SECRET_KEY="a-new-secret-key")
    try:
        client = other.test_client()
        assert sign_in(client, "admin@example.org").headers["Location"] == "/auth/second-factor"
        response = client.get("/auth/second-factor")
        refused = client.post("/auth/second-factor", data={"code": "123456", "csrf_token": csrf_token(response.text)})
        assert refused.status_code == 401
        assert "Ask another administrator to reset it" in page_text(refused.text)
        details = records(other, "session.sign-in-refused")[-1][1]
        assert details["refused"] == "second-factor-unreadable"
        assert account(other, "admin@example.org").failed_logins == 0  # not counted: no code could be right
    finally:
        close_app(other)


# --- signing in with it ----------------------------------------------------------------------


def test_signing_in_asks_for_the_code_after_the_password_and_records_the_factor(app):
    _, secret, _ = enrolled_admin(app)
    client = app.test_client()
    first = sign_in(client, "admin@example.org")
    assert first.status_code == 303 and first.headers["Location"] == "/auth/second-factor"
    assert len(records(app, "session.signed-in")) == 1  # the first sign-in's only: none until the code
    assert client.get("/admin/roster").headers["Location"].startswith("/auth/login")  # not signed in yet

    done = type_code(client, next_code(secret))
    assert done.status_code == 303 and done.headers["Location"] == "/admin/roster"
    assert client.get("/admin/roster").status_code == 200
    details = records(app, "session.signed-in")[-1][1]
    assert details["method"] == "password" and details["second_factor"] == "totp" and details["session"]


def test_a_wrong_code_is_refused_recorded_and_counted_toward_the_lockout(app):
    _, secret, _ = enrolled_admin(app)
    client = app.test_client()
    sign_in(client, "admin@example.org")
    refused = type_code(client, "000000")
    assert refused.status_code == 401
    assert "not the code your app shows now" in page_text(refused.text)
    assert account(app, "admin@example.org").failed_logins == 1
    [(record, details)] = records(app, "session.sign-in-refused")
    assert record.learner_email == "admin@example.org"
    assert details["refused"] == "wrong-second-factor" and details["failures_in_a_row"] == 1

    # The right password again does not wipe the count: only a whole sign-in does.
    client = app.test_client()
    assert sign_in(client, "admin@example.org").headers["Location"] == "/auth/second-factor"
    assert account(app, "admin@example.org").failed_logins == 1
    type_code(client, "111111")
    locked = type_code(client, "222222")  # the third (LOGIN_LOCKOUT_FAILURES=3): locked
    assert locked.status_code == 303 and locked.headers["Location"] == "/auth/login"
    details = records(app, "session.sign-in-refused")[-1][1]
    assert details["failures_in_a_row"] == 3 and details["locked_until"]
    assert account(app, "admin@example.org").locked_until is not None
    # Locked: not even the right password and code sign in.
    assert sign_in(client, "admin@example.org").status_code == 401


def test_a_code_is_not_taken_twice(app):
    _, secret, _ = enrolled_admin(app)
    client = app.test_client()
    sign_in(client, "admin@example.org")
    same = pyotp.TOTP(secret).now()  # the code set-up just took
    with app.app_context():
        used_step = db.session.get(MfaFactor, account(app, "admin@example.org").id).last_step
    if pyotp.TOTP(secret).timecode(datetime.now(UTC)) != used_step:
        same = pyotp.TOTP(secret).generate_otp(used_step)  # the clock moved on a step since
    replayed = type_code(client, same)
    assert replayed.status_code == 401 and "used already" in page_text(replayed.text)
    assert records(app, "session.sign-in-refused")[-1][1]["refused"] == "second-factor-code-used-before"

    code = next_code(secret)
    assert type_code(client, code).status_code == 303
    other = app.test_client()
    sign_in(other, "admin@example.org")
    assert type_code(other, code).status_code == 401  # that one too, now


def test_a_recovery_code_signs_in_once_and_says_how_many_are_left(app):
    _, secret, codes = enrolled_admin(app)
    client = app.test_client()
    sign_in(client, "admin@example.org")
    done = type_code(client, codes[3].upper().replace("-", " "))  # as typed off paper
    assert done.status_code == 303
    page = client.get(done.headers["Location"])
    assert "You used a recovery code: it will not work again. 9 recovery codes left." in page_text(page.text)
    [(record, details)] = records(app, "person.mfa-recovery-code-used")
    assert details == {"where": "sign-in", "recovery_codes_left": 9, "session": details["session"]}
    assert records(app, "session.signed-in")[-1][1]["second_factor"] == "recovery-code"

    again = app.test_client()
    sign_in(again, "admin@example.org")
    assert type_code(again, codes[3]).status_code == 401
    assert records(app, "session.sign-in-refused")[-1][1]["refused"] == "wrong-second-factor"
    assert type_code(again, codes[4]).status_code == 303


def test_new_recovery_codes_void_the_old_ones(app):
    client, secret, codes = enrolled_admin(app)
    status = client.get("/auth/second-factor/recovery-codes")
    assert status.status_code == 200 and "10 of your recovery codes are unused" in page_text(status.text)
    renewed = client.post("/auth/second-factor/recovery-codes", data={"csrf_token": csrf_token(status.text)})
    assert renewed.status_code == 200
    new = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", renewed.text)
    assert len(new) == 10 and not set(new) & set(codes)
    [(_, details)] = records(app, "person.mfa-recovery-codes-renewed")
    assert details["recovery_codes_made"] == 10 and details["unused_codes_voided"] == 10

    other = app.test_client()
    sign_in(other, "admin@example.org")
    assert type_code(other, codes[0]).status_code == 401
    assert type_code(other, new[0]).status_code == 303


# --- asked again -----------------------------------------------------------------------------


def test_a_privileged_page_asks_for_the_code_again_after_the_set_time(database_url, tmp_path, monkeypatch):
    app = make_app(database_url, tmp_path, monkeypatch, MFA_ROLES=ROLES, MFA_STEP_UP_MINUTES=5)
    try:
        start = datetime.now(UTC)
        with time_machine.travel(start, tick=True) as clock:
            client, secret, _ = enrolled_admin(app)
            clock.shift(timedelta(minutes=4))
            assert client.get("/admin/roster").status_code == 200  # within five minutes
            clock.shift(timedelta(minutes=2))
            asked = client.get("/admin/roster")
            assert (
                asked.status_code in (302, 303)
                and asked.headers["Location"] == "/auth/second-factor/again?next=/admin/roster"
            )
            assert client.get("/audit/training").headers["Location"].startswith("/auth/second-factor/again")
            assert client.get("/learn/").status_code == 200  # not a privileged page

            page = client.get("/auth/second-factor/again?next=/admin/roster")
            wrong = client.post(
                "/auth/second-factor/again?next=/admin/roster",
                data={"code": "000000", "csrf_token": csrf_token(page.text)},
            )
            assert wrong.status_code == 401
            [(_, details)] = records(app, "session.step-up-refused")
            assert details["refused"] == "wrong-second-factor" and details["session"]
            done = client.post(
                "/auth/second-factor/again?next=/admin/roster",
                data={"code": next_code(secret), "csrf_token": csrf_token(page.text)},
            )
            assert done.status_code == 303 and done.headers["Location"] == "/admin/roster"
            assert client.get("/admin/roster").status_code == 200
            assert account(app, "admin@example.org").failed_logins == 0
    finally:
        close_app(app)


# --- reset by someone else -------------------------------------------------------------------


def test_an_admin_resets_another_persons_factor_but_not_their_own(app):
    theirs, _, _ = enrolled_admin(app, email="lost.phone@example.org", name="Lee Lost")
    mine, _, _ = enrolled_admin(app)
    lee = account(app, "lost.phone@example.org")
    me = account(app, "admin@example.org")

    own = post_form(mine, f"/admin/people/{me.id}/second-factor")
    assert own.status_code == 422 and "You cannot reset your own second factor" in page_text(own.text)
    assert records(app, "person.mfa-reset") == []

    page = mine.get(f"/admin/people/{lee.id}/second-factor")
    assert "An authenticator app, set up" in page_text(page.text) and "10 unused recovery codes" in page_text(page.text)
    reset = mine.post(f"/admin/people/{lee.id}/second-factor", data={"csrf_token": csrf_token(page.text)})
    assert reset.status_code == 303
    [(record, details)] = records(app, "person.mfa-reset")
    assert record.learner_email == "lost.phone@example.org"
    assert details["by"] == "admin@example.org" and details["every_session_ended"] is True
    assert details["unused_recovery_codes_voided"] == 10
    with app.app_context():
        assert db.session.get(MfaFactor, lee.id) is None
    assert theirs.get("/learn/").headers["Location"].startswith("/auth/login")  # their session ended

    again = app.test_client()
    assert sign_in(again, "lost.phone@example.org").headers["Location"] == "/admin/roster"  # no code asked
    assert again.get("/admin/roster").headers["Location"].startswith("/auth/second-factor/set-up")


def test_the_command_line_resets_the_only_admins_factor(app):
    client, _, _ = enrolled_admin(app)
    result = run_cli(app, "users", "reset-mfa", "admin@example.org")
    assert result.exit_code == 0, result.output
    assert "second factor reset for admin@example.org" in result.output
    [(_, details)] = records(app, "person.mfa-reset")
    assert details["by"].startswith("the command line (flask users reset-mfa, as ")
    assert client.get("/admin/roster").headers["Location"].startswith("/auth/login")
    again = run_cli(app, "users", "reset-mfa", "admin@example.org")
    assert "has no second factor: nothing changed" in again.output
    assert len(records(app, "person.mfa-reset")) == 1
    assert run_cli(app, "users", "reset-mfa", "nobody@example.org").exit_code != 0


# --- who is asked ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["compliance", "trainer"])
def test_compliance_officers_and_trainers_are_asked_too(app, role):
    add_admin(app, email=f"{role}@example.org", role=role)
    client = app.test_client()
    sign_in(client, f"{role}@example.org")
    assert client.get("/learn/").headers["Location"].startswith("/auth/second-factor/set-up")


@pytest.mark.parametrize("role", ["learner", "manager"])
def test_learners_and_managers_are_never_asked(app, role):
    add_user(app, email="someone@example.org", role=role, job_role="leadership")
    client = app.test_client()
    signed = sign_in(client, "someone@example.org")
    assert signed.status_code == 303 and not signed.headers["Location"].startswith("/auth/second-factor")
    assert client.get("/learn/").status_code == 200
    assert "second_factor" not in records(app, "session.signed-in")[0][1]
    assert client.get("/auth/second-factor/set-up").headers["Location"] in ("/learn/", "/manage/")  # not for them


def test_an_unknown_role_in_mfa_roles_stops_the_server(database_url, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="MFA_ROLES names superuser"):
        make_app(database_url, tmp_path, monkeypatch, MFA_ROLES="admin,superuser")


def test_the_password_is_asked_again_if_the_code_comes_too_late(app):
    _, secret, _ = enrolled_admin(app)
    client = app.test_client()
    sign_in(client, "admin@example.org")
    page = client.get("/auth/second-factor")
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=6)):
        late = client.post("/auth/second-factor", data={"code": next_code(secret), "csrf_token": csrf_token(page.text)})
    assert late.status_code == 303 and late.headers["Location"] == "/auth/login"
    assert len(records(app, "session.signed-in")) == 1


def test_wrong_codes_when_asked_again_lock_the_account_and_end_its_sessions(database_url, tmp_path, monkeypatch):
    app = make_app(
        database_url, tmp_path, monkeypatch, MFA_ROLES=ROLES, MFA_STEP_UP_MINUTES=1, LOGIN_LOCKOUT_FAILURES=2
    )
    try:
        with time_machine.travel(datetime.now(UTC), tick=True) as clock:
            client, secret, _ = enrolled_admin(app)
            other = app.test_client()
            sign_in(other, "admin@example.org")
            assert type_code(other, next_code(secret)).status_code == 303  # a second session
            clock.shift(timedelta(minutes=2))
            url = "/auth/second-factor/again?next=/admin/roster"
            assert post_form(client, url, code="000000").status_code == 401
            locked = post_form(client, url, code="111111")
            assert locked.status_code == 303 and locked.headers["Location"] == "/auth/login"
            details = records(app, "session.step-up-refused")[-1][1]
            assert details["every_session_ended"] is True and details["locked_until"]
            assert other.get("/learn/").headers["Location"].startswith("/auth/login")  # that one ended too
            assert client.get("/learn/").headers["Location"].startswith("/auth/login")
    finally:
        close_app(app)


def test_the_page_asked_for_before_signing_in_is_kept_through_the_code(app):
    _, secret, _ = enrolled_admin(app)
    client = app.test_client()
    page = client.get("/auth/login?next=/audit/training")
    sent = client.post(
        "/auth/login?next=/audit/training",
        data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert sent.headers["Location"] == "/auth/second-factor"
    assert type_code(client, next_code(secret)).headers["Location"] == "/audit/training"

"""The accounts hold up: a password may not be a common or breached one, a pattern, or the
person's own email or name, wherever it is set; a session ends at its absolute lifetime however
busy it is. (The session cookie's ``__Host-`` prefix over HTTPS: tests/test_security.py and
tests/test_nginx.py; lockout and rate limits across servers: tests/test_two_servers.py.)"""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from quiz import accounts, password_rules
from quiz.db import db
from quiz.models import Evidence

from .helpers import PASSWORD, add_user, close_app, csrf_token, make_app, run_cli, sign_in

EMAIL, NAME = "nurse.dw@example.org", "Dana Whitfield"


def _records(app, event: str) -> list[dict]:
    with app.app_context():
        query = select(Evidence).where(Evidence.event == event).order_by(Evidence.seq)
        return [json.loads(e.details) for e in db.session.scalars(query)]


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("password1234", "common and breached passwords"),  # on the shipped list as it is
        ("Password1234", "common and breached passwords"),  # in any mix of capitals
        ("Sunshine2024!!", "common and breached passwords"),  # a listed one with digits and symbols added
        ("!!1234iloveyou", "common and breached passwords"),
        ("aaaaaaaaaaaa", "at least 5 different characters"),
        ("abcdabcdabcd", "at least 5 different characters"),
        ("abcdefabcdef", "easy to guess"),  # a part repeated
        ("qwertyuiopas", "easy to guess"),  # along the keyboard
        ("210987654321", "easy to guess"),  # a run, backward
        ("my nurse.dw@example.org", "email address"),
        ("Nurse-DW rocks 12", "email address"),  # the part before the @
        ("DanaWhitfield-password", "your name"),  # the whole name, squashed
        ("whitfield family hikes", "your name"),  # one name of four letters or more
    ],
)
def test_an_easily_guessed_password_is_refused_with_why(password, why):
    with pytest.raises(accounts.AccountError) as refused:
        accounts.check_password_rule(password, email=EMAIL, name=NAME)
    assert why in str(refused.value) and refused.value.field == "password"


@pytest.mark.parametrize(
    "password", ["tall purple ferns at dawn", "correct horse battery staple", "Li's 4 quiet harbor lamps"]
)
def test_a_good_passphrase_is_taken(password):
    accounts.check_password_rule(password, email=EMAIL, name=NAME)
    accounts.check_password_rule(password, email="li@example.org", name="Li Wu")  # short names: not looked for


def test_the_list_ships_with_the_app_and_is_read_without_a_network():
    common = password_rules.common_passwords()
    assert len(common) > 19_000 and "password1234" in common and all(p == p.lower() for p in common)


def test_choosing_your_own_password_refuses_a_weak_one_and_keeps_the_old(app, client):
    add_user(app, email=EMAIL, name=NAME)
    sign_in(client, email=EMAIL)
    for weak, why in [
        ("password1234", "common and breached passwords"),
        ("aaaaaaaaaaaa", "different characters"),
        (EMAIL, "email address"),
        ("dana whitfield 2026", "your name"),
    ]:
        page = client.get("/auth/password").text
        response = client.post(
            "/auth/password",
            data={"csrf_token": csrf_token(page), "current": PASSWORD, "password": weak, "confirm": weak},
        )
        assert response.status_code == 422 and why in response.text, weak
    assert _records(app, "person.password-changed") == []
    assert sign_in(app.test_client(), email=EMAIL).status_code == 303  # the old one still works


def test_an_admin_cannot_set_a_weak_password_for_someone(app):
    person = add_user(app, email=EMAIL, name=NAME)
    add_user(app, email="admin@example.org", name="Avery Admin", role="admin")
    admin = app.test_client()
    sign_in(admin, email="admin@example.org")
    page = admin.get(f"/admin/people/{person}/password").text
    response = admin.post(
        f"/admin/people/{person}/password",
        data={"csrf_token": csrf_token(page), "password": "Whitfield!2026", "confirm": "Whitfield!2026"},
    )
    assert response.status_code == 422 and "may not contain your name" in response.text
    assert _records(app, "person.password-set") == []


def test_the_command_line_refuses_a_weak_password(app):
    app.config.update(SMTP_HOST=None)
    add_user(app, email=EMAIL, name=NAME)
    result = run_cli(app, "users", "set-password", EMAIL, input="password1234\n")
    assert result.exit_code != 0 and "common and breached passwords" in result.output
    assert _records(app, "person.password-set") == []


def test_a_busy_session_still_ends_at_its_lifetime_and_it_is_recorded(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("SESSION_MAX_HOURS", "2")
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "15")
    app = make_app(database_url, tmp_path, monkeypatch)
    try:
        add_user(app)
        client = app.test_client()
        start = int(time.time()) + 1
        clock = {"now": start}
        monkeypatch.setattr(time, "time", lambda: clock["now"])
        sign_in(client)
        for minutes in range(10, 120, 10):  # a request every 10 minutes: never idle
            clock["now"] = start + minutes * 60
            assert client.get("/learn/").status_code == 200, minutes
        clock["now"] = start + 2 * 3600 - 1
        assert client.get("/learn/").status_code == 200
        assert _records(app, "session.signed-out") == []
        clock["now"] = start + 2 * 3600  # two hours after it began, to the second
        response = client.get("/learn/")
        assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]
        assert "a session lasts at most 2 hours" in client.get("/auth/login").text
        [ended] = _records(app, "session.signed-out")
        began = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start))
        assert ended["how"] == "lifetime" and ended["lifetime_hours"] == 2
        assert ended["began_at"] == f"{began}.000000Z"
        assert client.get("/learn/").status_code in (302, 303)  # the cookie was cleared: recorded once
        assert len(_records(app, "session.signed-out")) == 1
        assert sign_in(client).status_code == 303  # signing in again begins a new lifetime
        assert client.get("/learn/").status_code == 200
    finally:
        close_app(app)


def test_a_bad_lifetime_setting_is_refused_at_start(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("SESSION_MAX_HOURS", "0")
    with pytest.raises(ValueError, match="SESSION_MAX_HOURS must be a whole number, at least 1"):
        make_app(database_url, tmp_path, monkeypatch)

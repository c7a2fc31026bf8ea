"""Each person lands where their work is after signing in with a password (single sign-on lands
the same way: tests/test_sso.py), a safe ``next=`` still wins, and everyone can reach My training
from the menu."""

from __future__ import annotations

import pytest

from .conftest import add_user, csrf_token, page_text, sign_in

LANDINGS = [
    ("learner", "/learn/", "My training"),
    ("manager", "/manage/", "My team"),
    ("trainer", "/author/", "Content"),
    ("compliance", "/audit/training", "Training report"),
    ("admin", "/admin/roster", "Roster"),
]


@pytest.mark.parametrize(("role", "landing", "heading"), LANDINGS)
def test_each_role_lands_where_its_work_is_and_can_reach_my_training(app, client, role, landing, heading):
    email = f"{role}@example.org"
    add_user(app, email=email, name=f"Alex {role.title()}", role=role, job_role="leadership")
    response = sign_in(client, email)
    assert response.status_code == 303
    assert response.headers["Location"] == landing
    page = client.get(landing)
    assert page.status_code == 200
    assert heading.lower() in page_text(page.text).lower()
    assert '<a href="/learn/">My training</a>' in page.text  # the menu
    assert client.get("/learn/").status_code == 200
    assert client.get("/auth/login").headers["Location"] == landing  # signed in already: there again


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_a_safe_next_still_wins(app, client, role):
    email = f"{role}@example.org"
    add_user(app, email=email, role=role, job_role="leadership")
    page = client.get("/auth/login?next=/learn/")
    response = client.post(
        "/auth/login?next=/learn/",
        data={"email": email, "password": "correct horse battery staple", "csrf_token": csrf_token(page.text)},
    )
    assert response.headers["Location"] == "/learn/"


def test_an_unsafe_next_is_ignored_and_the_role_landing_used(app, client):
    add_user(app, email="c@example.org", role="compliance", job_role="leadership")
    page = client.get("/auth/login")
    response = client.post(
        "/auth/login?next=//evil.example/x",
        data={
            "email": "c@example.org",
            "password": "correct horse battery staple",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert response.headers["Location"] == "/audit/training"


def test_after_choosing_a_required_password_they_land_where_their_work_is(app, client):
    from quiz import accounts
    from quiz.db import db
    from quiz.models import User

    uid = add_user(app, email="t@example.org", role="trainer", job_role="leadership")
    with app.app_context():
        user = db.session.get(User, uid)
        accounts.set_password(db.session, user, accounts.new_password("a temporary one here"), by="test")
        db.session.commit()
    response = sign_in(client, "t@example.org", "a temporary one here")
    assert response.headers["Location"].startswith("/auth/password")
    page = client.get(response.headers["Location"])
    response = client.post(
        response.headers["Location"],
        data={
            "password": "my very own passphrase",
            "confirm": "my very own passphrase",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == "/author/"

"""Test fixtures. Every test that takes ``app`` runs once per database: SQLite always, and
PostgreSQL too when TEST_DATABASE_URL is set (then an unreachable server fails the run)."""

from __future__ import annotations

import os
import re
from html import unescape
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import flask_migrate
import pytest
from sqlalchemy import create_engine, event, text

from quiz import create_app
from quiz.config import PROJECT_ROOT, normalise_database_url
from quiz.db import db

DATA_CONTENT = Path(__file__).parent / "data" / "content"
PG_URL = os.environ.get("TEST_DATABASE_URL")
PASSWORD = "correct horse battery staple"


def _databases() -> list[str]:
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def reset_postgresql(url: str) -> None:
    engine = create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=_databases())
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    reset_postgresql(PG_URL)
    return PG_URL


def make_app(database_url: str, tmp_path: Path, monkeypatch, **config):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CONTENT_DIR": str(DATA_CONTENT),
        "CONTENT_REFRESH_SECONDS": 0,
        "RATELIMIT_ENABLED": False,
    }
    settings.update(config)
    app = create_app(settings)
    with app.app_context():
        flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"))
    return app


def close_app(app) -> None:
    """End a test app's sessions and close its connections (PostgreSQL would keep them open)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    app = make_app(database_url, tmp_path, monkeypatch)
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


def add_user(app, email="learner@example.org", name="Dana Whitfield", job_role="front-desk", **kw):
    from quiz import accounts

    with app.app_context():
        user = accounts.create_user(
            db.session, email=email, name=name, password=kw.pop("password", PASSWORD), job_role=job_role, **kw
        )
        db.session.commit()
        return user.id



def attempt_at_first_decision(app, **user) -> int:
    """A new learner's attempt at test-callers, through the lesson and at its first decision."""
    from quiz import engine
    from quiz.models import User

    uid = add_user(app, **user)
    with app.app_context():
        lib = app.extensions["content_store"].library
        learner = db.session.get(User, uid)
        content = engine.content_to_start(lib, lib.modules["test-callers"], learner)
        attempt = engine.start_attempt(db.session, learner, content)
        while attempt.stage == "lesson":
            engine.next_screen(db.session, attempt, content, attempt.step)
        db.session.commit()
        return attempt.id


@contextmanager
def recorded_sql(app):
    """The SQL statements the app's engine runs inside the block, in order."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def record(conn, cursor, statement, *rest) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def repeated_ids(html: str) -> dict[str, int]:
    """ids a page uses more than once: a label, a link or an htmx target would find the first."""
    counts = Counter(re.findall(r'\sid="([^"]+)"', html))
    return {name: n for name, n in counts.items() if n > 1}


def sign_in(client, email="learner@example.org", password=PASSWORD):
    page = client.get("/auth/login")
    return client.post(
        "/auth/login", data={"email": email, "password": password, "csrf_token": csrf_token(page.text)}
    )


def signed_in_as(app, role: str):
    """A client signed in as a new account with this account role (email ``<role>@example.org``)."""
    email = f"{role}@example.org"
    add_user(app, email=email, name=f"Alex {role.title()}", role=role, job_role="leadership")
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    return client


def page_text(html: str) -> str:
    """A page's words, tags dropped and spaces collapsed, to look for a sentence in."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def learner(app, client):
    """A signed-in front-desk learner (general specialty)."""
    add_user(app)
    response = sign_in(client)
    assert response.status_code == 303, response.text
    return client

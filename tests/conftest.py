"""Test fixtures. Every test that takes ``app`` runs once per database: SQLite always, and
PostgreSQL too when TEST_DATABASE_URL is set (then an unreachable server fails the run).

The shared helpers live in tests/helpers.py (import them from there); the names below are
re-exported for tests that import them from here. The schema is built once per test session
(tests/helpers.py says how); ``migrated_app`` runs the real migrations for a test that must.
"""

from __future__ import annotations

import pytest

from .helpers import (  # noqa: F401  (re-exported)
    CHEAP_ARGON2,
    CSRF,
    DATA_CONTENT,
    MODULE,
    PASSWORD,
    PG_URL,
    Inbox,
    add_user,
    assign_module,
    at_a_question,
    attempt_at_first_decision,
    best_choice,
    body_of,
    choice_value,
    choose,
    close_app,
    csrf_token,
    disable_evidence_triggers,
    empty_postgresql,
    forget_ready_database,
    free_port,
    make_app,
    page_text,
    pass_and_sign,
    post_an_answer,
    post_step,
    record_seqs,
    recorded_sql,
    repeated_ids,
    reset_postgresql,
    run_cli,
    shipped_library,
    sign_in,
    signed_in_as,
    start_server,
    step_token,
    through_lesson,
    use_smtp,
)


def _databases() -> list[str]:
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(params=_databases())
def database_url(request, tmp_path):
    """A database with the migrated schema and no rows: a new SQLite file (``make_app`` copies
    the template into it), or TEST_DATABASE_URL's database, emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    empty_postgresql(PG_URL)
    yield PG_URL
    forget_ready_database(PG_URL)


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    app = make_app(database_url, tmp_path, monkeypatch)
    yield app
    close_app(app)


@pytest.fixture
def migrated_app(database_url, tmp_path, monkeypatch):
    """``app``, its schema built by running the real migrations from nothing."""
    app = make_app(database_url, tmp_path, monkeypatch, migrate=True)
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def learner(app, client):
    """A signed-in front-desk learner (general specialty)."""
    add_user(app)
    response = sign_in(client)
    assert response.status_code == 303, response.text
    return client

"""Test fixtures. Every test that takes ``app`` runs once per database: SQLite always, and
PostgreSQL too when TEST_DATABASE_URL is set (then an unreachable server fails the run).

The shared helpers live in tests/helpers.py (import them from there); the names below are
re-exported for tests that import them from here. The schema is built once per test session
(tests/helpers.py says how); ``migrated_app`` runs the real migrations for a test that must.
"""

from __future__ import annotations

import os
import tempfile
from zoneinfo import ZoneInfo

import pytest

from quiz import clock

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

#: A RAM-backed folder for the tests' temporary files (their SQLite databases): a commit there
#: costs microseconds instead of a wait for the disk (synchronous=FULL syncs every commit).
RAM_FOLDER = "/dev/shm"


def pytest_configure(config):
    """Temporary files in RAM_FOLDER when there is one and neither TMPDIR nor --basetemp chose
    a place (tmp_path's folder is worked out later, from tempfile.gettempdir())."""
    if os.environ.get("TMPDIR") or config.option.basetemp or not os.access(RAM_FOLDER, os.W_OK | os.X_OK):
        return
    os.environ["TMPDIR"] = RAM_FOLDER
    tempfile.tempdir = None  # gettempdir() looks again


def _databases() -> list[str]:
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(autouse=True)
def _utc_until_an_app_says_otherwise():
    """The organization's time zone is the process's (quiz/clock.py, set by create_app): each
    test starts in UTC, whatever zone the app of the test before it set (tests/unit builds none)."""
    clock.use_zone(ZoneInfo("UTC"))


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

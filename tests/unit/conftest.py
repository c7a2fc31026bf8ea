"""Unit tests of the core rules on a plain SQLAlchemy Session: no Flask app, no request, no
migrations. Each test gets a new in-memory SQLite database whose tables the models' metadata
creates (a few milliseconds); the append-only triggers the migrations add are not there, so a
test can play the attacker who edits a record."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from quiz import evidence, evidence_keys
from quiz.content import load_library
from quiz.content.curricula import load_curricula
from quiz.db import db
from quiz.models import NO_PASSWORD, User

from ..helpers import DATA_CONTENT

#: tests/data/content, parsed once: test-callers (pass mark 4, check test-check) and test-refresher.
LIBRARY = load_library(DATA_CONTENT)
CURRICULA, _ = load_curricula(DATA_CONTENT, LIBRARY)
TODAY = date(2026, 11, 23)
UNIT_KEYS = evidence_keys.from_environment_value("unit:" + "5a" * 32)


def _plain_sqlite():
    """In-memory SQLite with real transactions: pysqlite's own BEGIN handling is switched off and
    BEGIN emitted at the start of each transaction (SQLAlchemy's pysqlite recipe, which makes
    SAVEPOINT work: the pysqlite dialect's "Serializable isolation / Savepoints / Transactional DDL")."""
    engine = create_engine("sqlite://", poolclass=StaticPool)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")

    return engine


@pytest.fixture
def session():
    engine = _plain_sqlite()
    db.metadata.create_all(engine)
    evidence.use_keyring(engine, UNIT_KEYS)  # what create_app does with the evidence key
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def person(session):
    """person(**fields): a new account, flushed (no password: hashing is not what is tested)."""
    count = 0

    def make(**fields) -> User:
        nonlocal count
        count += 1
        values = {
            "email": f"person{count}@example.org",
            "name": f"Person {count}",
            "job_role": "front-desk",
            "password_hash": NO_PASSWORD,
            **fields,
        }
        user = User(**values)
        session.add(user)
        session.flush()
        return user

    return make

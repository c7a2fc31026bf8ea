"""Units of work and the connection rules (docs/architecture.md, "Transactions"): the rules
are on the app's own engines, and survive a fork."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from quiz import db as db_module
from quiz.db import db

from .conftest import add_user


def _sqlite_only():
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's connection rules")


def test_the_connection_rules_are_on_the_apps_engines_and_no_other(app, tmp_path):
    with app.app_context():
        engine = db.engine
        listener = db_module._sqlite_on_begin if engine.dialect.name == "sqlite" else db_module._postgresql_on_begin
        assert event.contains(engine, "begin", listener)
        assert not event.contains(Engine, "begin", listener)  # not on SQLAlchemy's class
        if engine.dialect.name != "sqlite":
            return
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    other = create_engine(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    try:
        with other.connect() as conn:  # an engine the app did not make: left as SQLite has it
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
    finally:
        other.dispose()


def test_a_forked_child_gets_fresh_connections_that_follow_the_same_rules(app):
    """gunicorn --preload forks workers from a built app: each child starts with an empty pool
    of its own, and the rules (pragmas, the write gate) come with it to the new pool."""
    add_user(app)
    with app.app_context():
        _sqlite_only()
        engine = db.engine
        with engine.connect() as conn:  # the parent holds a pooled connection
            conn.execute(text("SELECT 1"))
        parent_pool = engine.pool
    pid = os.fork()
    if pid == 0:  # the child: report by exit code only
        code = 1
        try:
            with app.app_context():
                assert engine.pool is not parent_pool
                with engine.begin() as conn:  # a writing transaction: gate, BEGIN IMMEDIATE
                    assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                    conn.execute(text("UPDATE users SET name = 'Forked Child'"))
                gate = db_module._gate_for(engine.url.database)
                assert gate.acquire(timeout=1)  # given back after the commit
                gate.release()
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with engine.connect() as conn:  # the parent's own connections still work
        assert conn.execute(text("SELECT name FROM users")).scalar() == "Forked Child"

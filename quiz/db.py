"""The database handle and the connection rules that keep SQLite and PostgreSQL honest.

SQLite: WAL with a busy timeout, foreign keys on, synchronous=FULL (evidence must survive a
power cut), and every *writing* transaction starts with BEGIN IMMEDIATE so that a transaction
that reads first never fails with SQLITE_BUSY when it later writes (see
shared/ENGINEERING-NOTES.md). Read-only requests (GET/HEAD) use a plain deferred BEGIN so readers
never queue behind writers.
"""

from __future__ import annotations

import contextvars
import sqlite3
from contextlib import contextmanager

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

#: Whether the current unit of work may write. True by default (CLI, tests, POST requests);
#: the web layer sets it False for GET and HEAD requests.
write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=True)

SQLITE_BUSY_TIMEOUT_MS = 10_000


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy's "begin" event below emit BEGIN itself (the pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn) -> None:
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


def is_postgresql(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@contextmanager
def read_only(session):
    """Run a block in a read transaction (plain BEGIN), then end it.

    For slow reads inside a writing request (a password hash check takes ~100 ms): on SQLite a
    writing transaction holds the database's single write lock from BEGIN IMMEDIATE to commit,
    so nobody else may write meanwhile.
    """
    session.commit()  # end whatever transaction is open (a no-op when none is)
    token = write_intent.set(False)
    try:
        yield
    finally:
        session.commit()  # nothing was written: this just ends the read transaction
        write_intent.reset(token)

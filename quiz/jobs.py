"""Daily jobs: one run at a time.

``reminders send`` and ``evidence verify --alert`` each run from cron, and a slow run may still
be going when a manual one starts; two overlapping runs could send the same message twice.
Each holds its own named lock for the whole run (``exclusive_run``); a second run meanwhile
stops with AlreadyRunning and does nothing.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from .db import is_postgresql


class AlreadyRunning(RuntimeError):
    pass


@contextmanager
def exclusive_run(session: Session, name: str, key: int, command: str) -> Iterator[None]:
    """Hold the lock called ``name`` (PostgreSQL: advisory lock ``key``) for a whole run, or
    raise AlreadyRunning.

    Two overlapping runs (a slow cron job and a manual one) could otherwise both retry the same
    unsent message. PostgreSQL: a session-level advisory lock on a connection of its own (freed
    if the process dies). SQLite: an exclusive flock on a file beside the database.
    """
    engine = session.get_bind()
    if is_postgresql(session):
        # A lock, not a unit of work: no transaction on this connection, so nothing to commit.
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            raise AlreadyRunning(f"another `{command}` is running; nothing done")
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.close()
            except Exception:
                conn.invalidate()  # closes the connection for real, and with it the lock
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # one connection, one process: nothing to race with
        return
    fd = os.open(f"{database}.{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"another `{command}` is running; nothing done") from None
        yield
    finally:
        os.close(fd)  # releases the lock

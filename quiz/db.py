"""The database handle; the units of work the web and command-line layers run; and the
connection rules that keep SQLite and PostgreSQL honest.

docs/architecture.md ("Transactions") has the rules and why. In short:

- Units of work. Each view and each command declares once whether it reads, writes, or reads
  then writes (``quiz/web/units.py``, ``quiz/cli.py``), and that layer alone begins, commits and
  switches transactions, with the tools here (``enter_unit``/``unit_of_work``, ``writing``,
  ``reading``, ``done_writing``, ``Steps``). Core modules only read and write on the session
  they are given; they never import these tools (tests/test_layers.py holds them to it).
- A read transaction is read-only on both databases: a write slipped into a GET fails at once.
- SQLite: WAL with a busy timeout, foreign keys on, synchronous=FULL (evidence must survive a
  power cut); every writing transaction starts with BEGIN IMMEDIATE, so a transaction that
  read first never fails with SQLITE_BUSY when it later writes, and writers queue at a write
  gate rather than in SQLite's busy handler. A unit that reads then writes reads in a read
  transaction and writes in a short one, so a slow read never holds the one write lock.
- PostgreSQL: a unit that reads then writes is one transaction (rows are locked, not the
  database); a snapshot read is REPEATABLE READ.
- A process forked after the app was built (gunicorn --preload) gets connections of its own.
"""

from __future__ import annotations

import contextvars
import fcntl
import os
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import Pool

SQLITE_BUSY_TIMEOUT_MS = 10_000


class Base(DeclarativeBase):
    pass


class _SQLAlchemy(SQLAlchemy):
    if TYPE_CHECKING:
        # For the type checker only: ``db.session`` is a scoped_session, which hands every
        # Session method to the current request's (or command's) Session, so the core's
        # functions take a plain ``Session`` and are called with ``db.session``.
        session: Session  # type: ignore[assignment]


db = _SQLAlchemy(model_class=Base)


def real_session(session):
    """The Session behind Flask-SQLAlchemy's scoped_session (or the session itself)."""
    return session.registry() if hasattr(session, "registry") else session


def is_postgresql(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --- units of work -------------------------------------------------------------------------
# Used by quiz/web (units.py and the views) and quiz/cli.py only.

#: What a view or command declares it does with the database.
READS = "reads"
WRITES = "writes"
READS_THEN_WRITES = "reads then writes"
MODES = (READS, WRITES, READS_THEN_WRITES)

#: Whether the transaction that begins next may write: the "begin" listeners below start it
#: read-only when not. True by default (a test, a Python shell); a unit sets it for its span.
write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=True)
#: The unit being run (one of MODES), None outside any.
_unit: contextvars.ContextVar[str | None] = contextvars.ContextVar("unit", default=None)


def starts_writing(session, mode: str) -> bool:
    """Whether a unit of ``mode`` begins in a writing transaction: a writing unit does; a
    reading one does not; one that reads then writes does on PostgreSQL (one transaction), not
    on SQLite (a read transaction, then ``writing`` blocks)."""
    if mode == READS_THEN_WRITES:
        return is_postgresql(session)
    return mode == WRITES


def enter_unit(session, mode: str) -> tuple:
    """Begin running a unit of ``mode``; what ``leave_unit`` needs to end it. The unit's first
    statement begins its transaction, read-only or writing as the mode says."""
    if mode not in MODES:
        raise ValueError(f"a unit of work reads, writes, or reads then writes, not {mode!r}")
    return _unit.set(mode), write_intent.set(starts_writing(session, mode))


def leave_unit(tokens: tuple) -> None:
    unit_token, intent_token = tokens
    write_intent.reset(intent_token)
    _unit.reset(unit_token)


@contextmanager
def unit_of_work(session, mode: str) -> Iterator[None]:
    """Run the block as one unit of ``mode`` (a command): a writing unit is committed if the
    block ends normally; anything else is rolled back (a reading unit wrote nothing; what a unit
    that reads then writes kept, its ``writing`` blocks committed)."""
    tokens = enter_unit(session, mode)
    try:
        yield
        if mode == WRITES:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        leave_unit(tokens)


def _refuse_in(tool: str, *modes: str) -> None:
    if _unit.get() in modes:
        raise RuntimeError(f"{tool}() does not belong in a unit that {_unit.get()}: declare it {READS_THEN_WRITES!r}")


@contextmanager
def writing(session, *, keep_objects: bool = True) -> Iterator[None]:
    """Make the block's changes in a short writing transaction, then commit.

    For units that read then write. On SQLite, with its one write lock held from BEGIN
    IMMEDIATE to COMMIT, such a unit reads in a plain read transaction: this ends it and takes
    the lock for the block only. (PostgreSQL locks rows, not the database, so there the unit's
    one transaction simply goes on and ends here.) Either way the objects read stay as they are
    after the commits (not expired, not read again). What was read may have changed meanwhile,
    so the block must check what matters when it writes: an attempt's ``step`` is a version
    counter, and updating an attempt that another request moved on raises StaleDataError
    (nothing is kept); an account's failure count is read again, locked, before it is counted.
    With ``keep_objects=False`` (a job's steps) the session expires them on commit as usual, so
    the next step reads them afresh.
    """
    _refuse_in("writing", READS, WRITES)
    if keep_objects:
        real_session(session).expire_on_commit = False  # objects read stay usable after commits
    if not write_intent.get():  # in a read transaction: end it and start a writing one
        session.commit()  # nothing was written in it
    token = write_intent.set(True)
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        write_intent.reset(token)


@contextmanager
def reading(session, *, snapshot: bool = False) -> Iterator[None]:
    """Run the block in a read transaction of its own (plain BEGIN), then end it.

    For a slow read in a unit that then writes, when one transaction will not do: on
    PostgreSQL a unit that reads then writes is one transaction, which is not a snapshot. With
    ``snapshot``, every statement in the block sees the database as it was at the first one
    (SQLite's WAL read transactions do anyway; PostgreSQL needs REPEATABLE READ), for reads that
    must agree with each other, like the parts of an audit package. The writes then go in a
    transaction of their own (``writing``): a REPEATABLE READ one would read the evidence
    chain's head as it was, not as it is.
    """
    _refuse_in("reading", WRITES)
    session.commit()  # end whatever transaction is open (nothing was written in it)
    token = write_intent.set(False)
    try:
        if snapshot and is_postgresql(session):
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        yield
    finally:
        session.commit()  # nothing was written: this just ends the read transaction
        write_intent.reset(token)


def done_writing(session) -> None:
    """The unit's writes are over: commit them; whatever it reads from here on (a page shown
    after a change) is read in a read transaction, on SQLite without the write lock."""
    _refuse_in("done_writing", READS)
    session.commit()
    write_intent.set(False)  # until the unit ends: leave_unit puts back what was before


@contextmanager
def own_transaction(engine: Engine, *, writes: bool) -> Iterator:
    """A short transaction on a connection of its own, apart from any unit's session, committed
    at the block's end: for what the web layer keeps beside a request (the rate limits'
    counters, ``web/limits.py``), which must be counted whether or not the request's own unit
    keeps anything. Never from inside a writing transaction of the same thread: on SQLite it
    would wait for that transaction's write gate."""
    token = write_intent.set(writes)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        write_intent.reset(token)


class Steps:
    """The steps of a job that talks to something slow between its writes (an SMTP server): each
    step a transaction of its own, committed at its end, and nothing open between them.

    The job (``reminders.send_all``, ``chain_check.send``) says what each step reads or writes
    and in which order; the layer that runs the job gives it a ``Steps`` and so decides how a
    step runs. Called as ``with steps.read():`` or ``with steps.write():``.
    """

    def __init__(self, session):
        self.session = session

    def read(self):
        return reading(self.session)

    def write(self):
        return writing(self.session, keep_objects=False)

    def hold(self, name: str):
        """``with steps.hold("reminders") as held:``: the job's run lock, a row of ``job_locks``
        (``job_lock``); ``held`` is False when another run holds it. Ends the session's read
        transaction first (nothing was written in it); refused in a unit that writes, whose
        open write lock the claim would wait for."""
        _refuse_in("hold", READS, WRITES)
        self.session.commit()
        return job_lock(self.session.get_bind(), name)


# --- job run locks: a row in the database, on both databases ---------------------------------

#: How long a claim lasts unless renewed; a run renews it every quarter of that while it lasts,
#: so a run that died (killed, power cut) frees the job at most this long after.
JOB_LOCK_SECONDS = 120


def _job_lock_table():
    from .models import JobLock  # models imports this module

    return JobLock.__table__


def _upsert(engine: Engine):
    from sqlalchemy.dialects import postgresql, sqlite

    table = _job_lock_table()
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    return insert(table), table


def _claim_job_lock(engine: Engine, name: str, holder: str) -> bool:
    """Take the lock ``name`` for ``holder`` in one short transaction of its own: insert its row,
    or take over a row whose holder's time is up. True if ``holder`` has it now."""
    from .models import utcnow

    statement, table = _upsert(engine)
    now = utcnow()
    values = {"name": name, "holder": holder, "taken_at": now, "expires_at": now + timedelta(seconds=JOB_LOCK_SECONDS)}
    statement = statement.values(**values).on_conflict_do_update(
        index_elements=[table.c.name],
        set_={"holder": values["holder"], "taken_at": now, "expires_at": values["expires_at"]},
        where=table.c.expires_at < now,
    )
    token = write_intent.set(True)
    try:
        with engine.begin() as conn:
            conn.execute(statement)
            return conn.execute(select(table.c.holder).where(table.c.name == name)).scalar() == holder
    finally:
        write_intent.reset(token)


def _renew_job_lock(engine: Engine, name: str, holder: str) -> None:
    from .models import utcnow

    table = _job_lock_table()
    token = write_intent.set(True)
    try:
        with engine.begin() as conn:
            conn.execute(
                table.update()
                .where(table.c.name == name, table.c.holder == holder)
                .values(expires_at=utcnow() + timedelta(seconds=JOB_LOCK_SECONDS))
            )
    finally:
        write_intent.reset(token)


def _release_job_lock(engine: Engine, name: str, holder: str) -> None:
    table = _job_lock_table()
    token = write_intent.set(True)
    try:
        with engine.begin() as conn:
            conn.execute(table.delete().where(table.c.name == name, table.c.holder == holder))
    finally:
        write_intent.reset(token)


@contextmanager
def job_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Hold the run lock ``name`` for the block, yielding True; or yield False at once when
    another run holds it (the block decides what to do: ``jobs.exclusive_run`` stops).

    The same on SQLite and PostgreSQL, on one server or several sharing the database: the lock
    is the row ``job_locks.name``, claimed (insert, or take over an expired one) and given back
    (delete) each in a short transaction of its own on a connection of its own, so no
    transaction stays open for the run. While the block runs, a thread renews the claim every
    ``JOB_LOCK_SECONDS / 4``; a run that dies without giving it back frees the job once its
    claim expires. Given back when the block ends, normally or by an exception.
    docs/architecture.md, "Daily jobs".
    """
    holder = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    if not _claim_job_lock(engine, name, holder):
        yield False
        return
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(JOB_LOCK_SECONDS / 4):
            try:
                _renew_job_lock(engine, name, holder)
            except Exception:  # the database is away for a moment: try again at the next tick
                continue

    renewer = threading.Thread(target=keep_alive, name=f"job-lock-{name}", daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        _release_job_lock(engine, name, holder)


# --- connection rules ----------------------------------------------------------------------
# Listeners on the app's own engines (apply_connection_rules, from create_app), never on
# SQLAlchemy's classes.


def _sqlite_on_connect(dbapi_connection, connection_record) -> None:
    # Let the "begin" listener below emit BEGIN itself (the pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _postgresql_on_begin(conn) -> None:
    """Start each transaction as what it is: a read (READ ONLY), or a write."""
    writes = write_intent.get()
    dbapi = conn.connection.dbapi_connection
    if dbapi.read_only != (not writes):
        dbapi.read_only = not writes  # psycopg then sends BEGIN READ ONLY: no extra trip


# --- SQLite's write gate: BEGIN IMMEDIATE, one writer at a time, queued here -----------------


class WriteGate:
    """Queue SQLite writers here instead of in SQLite's busy handler.

    SQLite has one write lock. A writer that finds it taken sleeps in the busy handler, backing
    off 1, 2, 5, 10 ... 100 ms, while the lock is usually free again within a millisecond or
    two: under load the lock sat idle while requests slept (bench/HISTORY.md). Here threads queue
    on a lock that wakes the next one as soon as it is released, and processes on an exclusive
    flock() of ``<database>-writegate``, which the kernel drops if the holder dies. The gate is
    taken just before BEGIN IMMEDIATE and given back when the connection returns to the pool,
    right after COMMIT or ROLLBACK. If it cannot be had within the busy timeout the writer goes
    ahead anyway and SQLite's own timeout decides, as before.
    """

    def __init__(self, database: str):
        self.path = database + "-writegate"
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # never share a lock across fork()
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=timeout):
            return False
        pause = 0.0002
        while True:
            try:
                fcntl.flock(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._thread_lock.release()
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def release(self) -> None:
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()
_HELD = "rounds_write_gate"


def _gate_for(database: str | None) -> WriteGate | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    with _gates_lock:
        return _gates.setdefault(database, WriteGate(database))


def _sqlite_on_begin(conn) -> None:
    """Start each transaction as what it is: a read, or a write.

    A read transaction is read-only on both databases, so a write slipped into a GET fails at
    once, in tests too, instead of only under load (on SQLite a deferred transaction that
    writes late gets SQLITE_BUSY while another writer is active). A writing one on SQLite
    takes the write gate, then the write lock with BEGIN IMMEDIATE.
    """
    writes = write_intent.get()
    info = conn.connection.info
    if info.get("query_only") != (not writes):
        conn.exec_driver_sql(f"PRAGMA query_only={'OFF' if writes else 'ON'}")
        info["query_only"] = not writes
    if not writes:
        conn.exec_driver_sql("BEGIN")
        return
    gate = _gate_for(conn.engine.url.database)
    if gate is not None and _HELD not in info and gate.acquire(SQLITE_BUSY_TIMEOUT_MS / 1000):
        info[_HELD] = gate
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _release_gate(info)
        raise


def _release_gate(info: dict) -> None:
    gate = info.pop(_HELD, None)
    if gate is not None:
        gate.release()


def _sqlite_on_checkin(dbapi_connection, connection_record) -> None:
    _release_gate(connection_record.info)


def _sqlite_on_invalidate(dbapi_connection, connection_record, exception) -> None:
    _release_gate(connection_record.info)


def apply_connection_rules(engine: Engine) -> None:
    """Attach the connection rules above to one of the app's engines (``create_app`` calls
    this for each of ``db.engines``): listeners on this engine and its pool only, never on
    SQLAlchemy's classes, so an engine made elsewhere in the process (a test's, a benchmark's)
    is left as it is. A forked child lets go of the engine's pooled connections
    (``fresh_connections_after_fork``)."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)  # pool events, via the engine
        event.listen(engine, "checkin", _sqlite_on_checkin)
        event.listen(engine, "invalidate", _sqlite_on_invalidate)
        event.listen(engine, "begin", _sqlite_on_begin)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _postgresql_on_begin)
    _engines.add(engine)


# --- forked workers ------------------------------------------------------------------------

#: Every app's engines, so that a forked child can let go of its parent's pooled connections.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
#: The pools a child inherited, kept so their connections are never closed (nor garbage
#: collected, which closes them) in the child: they belong to the parent.
_inherited_pools: list[Pool] = []


def fresh_connections_after_fork() -> None:
    """Give every process forked after an app was built its own connections.

    gunicorn ``--preload`` (docs/operations.md) builds the app once and forks the workers from
    it. A pooled connection the parent had opened would then be shared by several processes,
    each talking over the same socket or file handle. After a fork the child's pools start
    empty: ``dispose(close=False)`` drops the inherited connections without closing them, so
    the parent's stay intact (SQLAlchemy, "Using Connection Pools with Multiprocessing or
    os.fork()"). The pool's listeners go with it to the new pool.
    """
    for engine in list(_engines):
        _inherited_pools.append(engine.pool)
        engine.dispose(close=False)


os.register_at_fork(after_in_child=fresh_connections_after_fork)

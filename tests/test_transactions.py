"""Units of work and the connection rules (docs/architecture.md, "Transactions").

Each view and command declares whether it reads, writes, or reads then writes, and only that
layer begins and ends transactions: a core service called on a plain Session commits nothing.
Also proved elsewhere, not repeated here: the sign-in's Argon2 check holds no write lock
(test_security), nor does building an audit package from the command line, whose parts are one
snapshot (test_audit_package), nor the chain alert while it talks to SMTP (test_chain_check); a
write racing a read-then-write answer is refused by the step counter (test_concurrency).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import nullcontext
from datetime import date

import click
import pytest
from sqlalchemy import create_engine, event, func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from quiz import accounts, assignments, engine, evidence
from quiz import db as db_module
from quiz.db import READS, READS_THEN_WRITES, WRITES, db, reading, unit_of_work, writing
from quiz.models import Assignment, Attempt, Evidence, User
from quiz.web import manage
from quiz.web.units import declared_unit

from .helpers import PASSWORD, add_user, csrf_token, signed_in_as


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


# --- every view and every command declares what it does --------------------------------------


def test_every_view_declares_whether_it_reads_writes_or_reads_then_writes(app):
    undeclared, wrong = [], []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":  # Flask's own: files only
            continue
        mode = declared_unit(app.view_functions[rule.endpoint])
        if mode is None:
            undeclared.append(rule.endpoint)
        elif set(rule.methods) <= {"GET", "HEAD", "OPTIONS"} and mode != READS:
            wrong.append(f"{rule.endpoint} only answers GET but declares {mode!r}")
    assert undeclared == [] and wrong == []


def test_every_command_declares_whether_it_reads_writes_or_reads_then_writes(app):
    def commands(group, path):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from commands(command, f"{path} {name}")
            else:
                yield f"{path} {name}", command

    ours = [(name, c) for name, c in commands(app.cli, "flask") if not name.startswith("flask db ")]  # db: Alembic's
    assert len(ours) >= 13
    assert [name for name, c in ours if getattr(c.callback, "unit", None) is None] == []


# --- (a) core services never commit ----------------------------------------------------------


class _Ends:
    """Every COMMIT and ROLLBACK a session's connections send (a savepoint's release is not
    one: it stays inside the caller's transaction)."""

    def __init__(self, session: Session):
        self.seen: list[str] = []
        bind = session.get_bind()
        event.listen(bind, "commit", lambda conn: self.seen.append("commit"))
        event.listen(bind, "rollback", lambda conn: self.seen.append("rollback"))


def test_authenticate_reads_and_writes_on_the_session_it_is_given_and_commits_nothing(app):
    uid = add_user(app)
    with app.app_context():
        with Session(db.engine) as session:
            ends = _Ends(session)
            assert accounts.authenticate(session, "learner@example.org", "wrong password here") is None
            assert session.in_transaction() and ends.seen == []
            assert session.get(User, uid).failed_logins == 1  # counted, in its transaction
            session.rollback()
            assert accounts.authenticate(session, "learner@example.org", PASSWORD).id == uid
            assert session.in_transaction() and ends.seen == ["rollback"]
            session.rollback()
        with Session(db.engine) as fresh:
            assert fresh.get(User, uid).failed_logins == 0  # nothing was kept


def test_core_services_leave_their_transaction_to_the_caller(app):
    """The learner's walk and the daily assignments job, on a plain Session: evidence is
    appended, rows change, and nothing is committed until the caller says so."""
    uid = add_user(app)
    with app.app_context():
        lib = app.extensions["content_store"].library
        with Session(db.engine) as session:
            ends = _Ends(session)
            learner = session.get(User, uid)
            content = engine.content_to_start(lib, lib.modules["test-callers"], learner)
            attempt = engine.start_attempt(session, learner, content)  # a savepoint inside: fine
            engine.next_screen(session, attempt, content, attempt.step)
            assignments.ensure(session, learner, "test-refresher", date.today(), "manager-choice", library=lib)
            assert session.in_transaction() and ends.seen == []
            session.rollback()
        with Session(db.engine) as fresh:
            assert fresh.scalar(select(func.count(Attempt.id))) == 0
            assert fresh.scalar(select(func.count(Assignment.id))) == 0
            assert fresh.scalar(select(func.count(Evidence.seq))) == 0


# --- (b) a read refuses writes ---------------------------------------------------------------


def test_a_get_that_tries_to_write_fails_at_once_and_writes_nothing(app, monkeypatch):
    client = signed_in_as(app, "manager")
    with app.app_context():
        manager_id = db.session.scalar(select(User.id).where(User.email == "manager@example.org"))

    def team_that_writes(session, *args, **kwargs):
        session.execute(update(User).where(User.id == manager_id).values(name="Changed In A GET"))
        return []

    monkeypatch.setattr(manage.team, "people_page", team_that_writes)
    monkeypatch.setattr(manage.team, "reports_of", team_that_writes)
    monkeypatch.setattr(manage.team, "choices", team_that_writes)  # the new-event form's lists
    with pytest.raises(DBAPIError):  # read-only: SQLite's query_only, PostgreSQL's READ ONLY
        client.get("/manage/")
    with pytest.raises(DBAPIError):  # a view that writes when sent a form still only reads a GET
        client.get("/manage/events/new")
    with app.app_context():
        assert db.session.get(User, manager_id).name == "Alex Manager"


def test_a_writing_view_keeps_nothing_when_it_fails_after_writing(app, monkeypatch):
    client = signed_in_as(app, "manager")
    uid = add_user(app, supervisor_email="manager@example.org")
    page = client.get(f"/manage/people/{uid}").text

    def fail(*args, **kwargs):
        raise RuntimeError("the view failed after its change")

    monkeypatch.setattr(manage, "flash", fail)  # after assignments.ensure wrote the assignment
    with pytest.raises(RuntimeError):
        client.post(
            f"/manage/people/{uid}/assign",
            data={"csrf_token": csrf_token(page), "module_id": "test-refresher", "due_on": date.today().isoformat()},
        )
    with app.app_context():
        assert db.session.scalar(select(func.count(Assignment.id)).where(Assignment.reason == "manager-choice")) == 0
        assert db.session.scalar(select(func.count(Evidence.seq)).where(Evidence.event == "assignment.created")) == 0


def test_a_writing_command_keeps_nothing_when_it_fails(app, monkeypatch):
    add_user(app)
    from quiz import cli

    def fail(*args, **kwargs):
        raise RuntimeError("the command failed after its change")

    monkeypatch.setattr(cli.click, "echo", fail)  # users add echoes after it wrote
    result = app.test_cli_runner().invoke(
        args=["users", "add", "new@example.org", "--name", "Nia New", "--job-role", "front-desk"],
        input="a long enough passphrase\n",
    )
    assert isinstance(result.exception, RuntimeError)
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 1  # only add_user's
        assert db.session.scalar(select(func.count(Assignment.id))) == 0


# --- (c) reading then writing: a short write on SQLite, one transaction on PostgreSQL ---------


def test_signing_in_reads_then_writes_in_two_transactions_on_sqlite_and_one_on_postgresql(app):
    add_user(app)
    client = app.test_client()
    page = client.get("/auth/login").text
    with app.app_context():
        engine_ = db.engine
    begun: list[bool] = []
    listener = lambda conn: begun.append(db_module.write_intent.get())  # noqa: E731
    event.listen(engine_, "begin", listener)
    try:
        response = client.post(
            "/auth/login", data={"email": "learner@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)}
        )
    finally:
        event.remove(engine_, "begin", listener)
    assert response.status_code == 303
    # SQLite: the hash checked in a read, then a short write; PostgreSQL: one writing transaction.
    assert begun == ([True] if engine_.dialect.name == "postgresql" else [False, True])


def test_the_audit_package_page_builds_the_package_holding_no_write_lock(app, monkeypatch):
    """The same as the command line's test in test_audit_package, for the page: a write lock
    is free while the chain is verified and the package written."""
    client = signed_in_as(app, "compliance")
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's single write lock")
        path = db.engine.url.database
    verify, seen = evidence.verify, []

    def verify_while_probing(session):
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            seen.append("lock was free")
        except sqlite3.OperationalError as exc:
            seen.append(str(exc))
        finally:
            probe.close()
        return verify(session)

    monkeypatch.setattr(evidence, "verify", verify_while_probing)
    form = client.get("/audit/package").text
    response = client.post("/audit/package", data={"csrf_token": csrf_token(form)})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert seen == ["lock was free"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Evidence.seq)).where(Evidence.event == "evidence.packaged")) == 1


def test_writing_belongs_only_in_units_that_read_then_write(app):
    with app.app_context():
        for mode in (READS, WRITES):
            with unit_of_work(db.session, mode):
                with pytest.raises(RuntimeError, match="declare it 'reads then writes'"):
                    with writing(db.session):
                        pass
        with unit_of_work(db.session, WRITES):
            with pytest.raises(RuntimeError):
                with reading(db.session):
                    pass

    # In a unit that reads then writes, only what is written inside writing() is kept: outside
    # it, SQLite refuses the write at once (a read transaction); PostgreSQL's is rolled back.
    with app.app_context():
        with pytest.raises(DBAPIError) if db.engine.dialect.name == "sqlite" else nullcontext():
            with unit_of_work(db.session, READS_THEN_WRITES):
                db.session.scalar(select(func.count(User.id)))
                with writing(db.session):
                    db.session.add(User(email="x@example.org", name="X", password_hash="!", job_role="clinical"))
                db.session.execute(update(User).values(name="Y"))
    with app.app_context():
        assert db.session.scalar(select(User.name).where(User.email == "x@example.org")) == "X"

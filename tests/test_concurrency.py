"""Writers that overlap: the attempt's version counter, read-only reads, SQLite's write gate."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from quiz import engine
from quiz.db import _gate_for, db, write_intent, writing
from quiz.models import Answer, Attempt, Evidence
from quiz.web import learn

from .helpers import (
    MODULE,
    add_user,
    attempt_at_first_decision,
    choice_value,
    csrf_token,
    recorded_sql,
    sign_in,
    step_token,
    through_lesson,
)


def test_an_answer_based_on_an_overtaken_read_records_nothing(app):
    """Two requests read the attempt at the same step; the first to write wins, and the
    second (a double tap on another device, say) keeps nothing: no answer, no evidence."""
    attempt_id = attempt_at_first_decision(app)
    with app.app_context():
        lib = app.extensions["content_store"].library
        token = write_intent.set(False)  # as in a reads_first view: read, then write
        try:
            mine = db.session.get(Attempt, attempt_id)
            content = engine.content_for(db.session, lib, mine)
            step = mine.step
            write_intent.set(True)
            with Session(db.engine) as other:  # the other request answers first
                theirs = other.get(Attempt, attempt_id)
                assert engine.choose(other, theirs, content, step, 1) is not None
                other.commit()
            write_intent.set(False)
            with pytest.raises(StaleDataError):
                with writing(db.session):
                    engine.choose(db.session, mine, content, step, 3)
        finally:
            write_intent.reset(token)
        answers = list(db.session.scalars(select(Answer)))
        assert [(a.step, a.choice_number) for a in answers] == [(step, 1)]
        made = db.session.scalar(select(func.count()).select_from(Evidence).where(Evidence.event == "choice.made"))
        assert made == 1
        assert db.session.get(Attempt, attempt_id).step == step + 1


def test_read_transactions_refuse_writes_and_writing_ones_accept_them(app):
    with app.app_context():
        token = write_intent.set(False)
        try:
            with pytest.raises(DBAPIError):
                db.session.execute(text("UPDATE users SET name = 'x'"))
            db.session.rollback()
        finally:
            write_intent.reset(token)
        db.session.execute(text("UPDATE users SET name = 'x'"))  # a writing transaction
        db.session.commit()


def _sqlite_only(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the write gate is for SQLite; PostgreSQL has row locks")


def test_sqlite_writers_queue_at_the_gate_one_after_the_other(app):
    with app.app_context():
        _sqlite_only(app)
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE scratch (who TEXT, at REAL)"))
        engine_ = db.engine
    holding, release = threading.Event(), threading.Event()
    times: dict[str, float] = {}

    def first():
        with engine_.begin() as conn:
            conn.execute(text("INSERT INTO scratch VALUES ('first', 0)"))
            holding.set()
            release.wait(5)
            times["first committed"] = time.monotonic()

    def second():
        holding.wait(5)
        with engine_.begin() as conn:
            times["second began"] = time.monotonic()
            conn.execute(text("INSERT INTO scratch VALUES ('second', 0)"))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    holding.wait(5)
    time.sleep(0.2)  # the second writer is waiting at the gate meanwhile
    assert "second began" not in times
    release.set()
    for t in threads:
        t.join(10)
    assert times["second began"] >= times["first committed"]
    with app.app_context():
        assert list(db.session.scalars(text("SELECT who FROM scratch ORDER BY rowid"))) == ["first", "second"]


def test_sqlite_write_gate_is_given_back_after_commit_rollback_and_errors(app):
    with app.app_context():
        _sqlite_only(app)
        gate = _gate_for(db.engine.url.database)
        db.session.execute(text("UPDATE users SET name = name"))
        db.session.commit()
        db.session.execute(text("UPDATE users SET name = name"))
        db.session.rollback()
        with pytest.raises(DBAPIError):
            db.session.execute(text("INSERT INTO no_such_table VALUES (1)"))
        db.session.rollback()
        with pytest.raises(RuntimeError):
            with writing(db.session):
                db.session.execute(text("UPDATE users SET name = name"))
                raise RuntimeError("the view failed half way")
        # another thread can take the gate at once: nothing above kept it
        taken = []
        thread = threading.Thread(target=lambda: taken.append(gate.acquire(timeout=0.5)))
        thread.start()
        thread.join()
        assert taken == [True]
        gate.release()


def _taps(app, count: int, htmx_every_other: bool = False, before=lambda: None) -> list[int]:
    """Sign a learner in, reach the first decision, call ``before``, then post the same answer
    from ``count`` clients at once (one session: a double tap, or two devices); their status
    codes."""
    add_user(app)
    first = app.test_client()
    sign_in(first)
    through_lesson(first)
    page = first.get(MODULE).text
    form = {
        "csrf_token": csrf_token(page),
        "step": step_token(page),
        "choice": choice_value(page, "Ask for two identifiers"),
    }
    cookie = first.get_cookie("session").value
    results: list[int] = []
    before()

    def tap(htmx: bool) -> None:
        client = app.test_client()
        client.set_cookie("session", cookie)
        headers = {"HX-Request": "true"} if htmx else {}
        results.append(client.post(MODULE + "answer", data=form, headers=headers).status_code)

    threads = [threading.Thread(target=tap, args=(htmx_every_other and i % 2 == 0,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return results


def _recorded(app) -> tuple[int, int]:
    with app.app_context():
        answers = db.session.scalar(select(func.count(Answer.id)))
        made = db.session.scalar(select(func.count()).select_from(Evidence).where(Evidence.event == "choice.made"))
        return answers, made


def test_racing_double_tap_records_one_answer(app):
    assert _taps(app, 4) == [303] * 4
    assert _recorded(app) == (1, 1)


def test_racing_taps_that_all_read_before_any_writes_record_one_answer(app, monkeypatch):
    """The same, with the four held until all have read the attempt at the same step: one is
    recorded, the other three change nothing and still get the normal page."""
    everyone_has_read = threading.Barrier(4, timeout=10)
    real_writing = learn.writing

    def writing_after_everyone_read(session):
        everyone_has_read.wait()
        return real_writing(session)

    def hold_the_writes():
        monkeypatch.setattr(learn, "writing", writing_after_everyone_read)

    assert sorted(_taps(app, 4, htmx_every_other=True, before=hold_the_writes)) == [200, 200, 303, 303]
    assert _recorded(app) == (1, 1)


def test_the_chain_is_locked_and_its_head_read_in_one_trip_at_commit(app):
    """Evidence is linked at commit: nothing of the chain runs before it, and then the lock
    (PostgreSQL's advisory lock; SQLite's BEGIN IMMEDIATE is the lock) and the head are one
    round trip, the record's insert the next: the lock every answer waits for spans only those
    and the commit."""
    from quiz import evidence

    with app.app_context():
        with recorded_sql(app) as before_commit:
            evidence.append(db.session, "test.one")
            db.session.execute(text("SELECT 1"))
        with recorded_sql(app) as at_commit:
            db.session.commit()
        assert not any("evidence" in s or "advisory" in s for s in before_commit)
        chain = [s for s in at_commit if "evidence" in s or "advisory" in s]
        assert len(chain) == 2 and chain[1].startswith("INSERT INTO evidence")
        assert "ORDER BY seq DESC LIMIT 1" in chain[0] or "ORDER BY evidence.seq DESC" in chain[0]
        assert ("pg_advisory_xact_lock" in chain[0]) == (db.engine.dialect.name == "postgresql")


def test_an_append_that_waited_for_the_chain_lock_links_to_the_record_committed_meanwhile(app):
    """PostgreSQL: the head is read after the lock is held, with a snapshot taken then, so a
    record committed while this append waited is its predecessor (an older snapshot would give
    both the same sequence number, and the second would fail)."""
    from quiz import evidence

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite's writers are serialised from BEGIN IMMEDIATE on")
        engine_ = db.engine
    holder = Session(engine_)
    holder.connection().execute(text(f"SELECT pg_advisory_xact_lock({evidence._PG_APPEND_LOCK})"))
    evidence.append(holder, "test.first")  # linked when the holder commits, the lock still held
    errors: list[BaseException] = []

    def append_second():
        try:
            with app.app_context():
                evidence.append(db.session, "test.second")
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    waiter = threading.Thread(target=append_second)
    waiter.start()
    waiting = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
    )
    with engine_.connect() as watch:
        deadline = time.monotonic() + 10
        while watch.execute(text(waiting)).scalar() == 0:
            assert time.monotonic() < deadline, "the second append never waited for the chain lock"
            time.sleep(0.02)
            watch.rollback()
    holder.commit()
    holder.close()
    waiter.join(10)
    assert errors == []
    with app.app_context():
        rows = db.session.execute(select(Evidence.seq, Evidence.event).order_by(Evidence.seq)).all()
        assert [tuple(r) for r in rows][-2:] == [(len(rows) - 1, "test.first"), (len(rows), "test.second")]
        assert evidence.verify(db.session).ok

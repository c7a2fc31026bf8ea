"""Daily jobs at an organization's size: the refresh is set-based and idempotent, two runs at once
double nothing (a run lock in the database, and a unique rule behind it), the lock is given
back when a job fails, a learner's write waits for a job's write and succeeds, and the roster
preview of a big file stays a small page. On SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, date, datetime, timedelta

import flask_migrate
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from quiz import assignments, engine, evidence, jobs, roster
from quiz.config import PROJECT_ROOT
from quiz.content import load_library
from quiz.content.curricula import load_curricula
from quiz.db import db
from quiz.models import NO_PASSWORD, Assignment, Evidence, JobLock, User, utcnow

from .conftest import DATA_CONTENT, add_user, csrf_token, sign_in

LIBRARY = load_library(DATA_CONTENT)
CURRICULA, _ = load_curricula(DATA_CONTENT, LIBRARY)
TODAY = date.today()


def _people(app, n: int, *, hired: date, start: int = 0) -> list[int]:
    """``n`` front-desk people with no assignments yet (as if made before the rules ran)."""
    with app.app_context():
        users = [
            User(
                email=f"p{i}@example.org",
                name=f"Person {i}",
                password_hash=NO_PASSWORD,
                job_role="front-desk",
                hire_date=hired,
                employee_id=f"E{i}",
                active=True,
                session_version=1,
                failed_logins=0,
            )
            for i in range(start, start + n)
        ]
        db.session.add_all(users)
        db.session.commit()
        return [u.id for u in users]


def _signed(app, uid: int, on: date) -> None:
    """The person signed test-callers on ``on``."""
    with app.app_context():
        user = db.session.get(User, uid)
        content = engine.content_to_start(LIBRARY, LIBRARY.modules["test-callers"], user)
        attempt = engine.start_attempt(db.session, user, content)
        attempt.stage, attempt.passed, attempt.score = "finished", True, 4
        attempt.acknowledged_at = datetime(on.year, on.month, on.day, 12, tzinfo=UTC)
        db.session.commit()


def _open(app) -> list[tuple[int, str, str, date, str]]:
    with app.app_context():
        return [
            tuple(r)
            for r in db.session.execute(
                select(Assignment.user_id, Assignment.module_id, Assignment.reason, Assignment.due_on, Assignment.state)
                .where(Assignment.state.in_(("open", "overdue")))
                .order_by(Assignment.user_id, Assignment.module_id)
            )
        ]


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _refresh(app, today: date = TODAY) -> assignments.RefreshReport:
    with app.app_context():
        return assignments.refresh(db.session, CURRICULA, LIBRARY, today)


def test_refresh_is_set_based_correct_and_idempotent(app):
    fresh = _people(app, 250, hired=TODAY)  # owe onboarding, due in 30 days
    trained = _people(app, 5, hired=TODAY - timedelta(days=400), start=1000)
    for uid in trained:  # signed a year ago less a week: the refresher is due within 14 days
        _signed(app, uid, TODAY - timedelta(days=358))
    with app.app_context():  # someone whose onboarding is past due
        late = db.session.get(User, fresh[0])
        db.session.add(
            Assignment(
                user=late, module_id="test-callers", due_on=TODAY - timedelta(days=3), reason="onboarding", state="open"
            )
        )
        db.session.commit()

    report = _refresh(app)
    assert (len(report.onboarding), len(report.recurring), len(report.overdue)) == (249, 5, 1)
    rows = _open(app)
    assert len(rows) == 255 and len({(u, m) for u, m, *_ in rows}) == 255
    assert (fresh[1], "test-callers", "onboarding", TODAY + timedelta(days=30), "open") in rows
    assert (fresh[0], "test-callers", "onboarding", TODAY - timedelta(days=3), "overdue") in rows
    assert (trained[0], "test-callers", "refresher", TODAY - timedelta(days=358) + timedelta(days=365), "open") in rows
    with app.app_context():
        made = db.session.scalars(select(Evidence.event).where(Evidence.event.like("assignment.%"))).all()
    assert sorted(made) == ["assignment.created"] * 254 + ["assignment.overdue"]  # one per assignment
    records = _count(app, Evidence)

    again = _refresh(app)  # run again: nothing to do, nothing written
    assert str(again).startswith(
        "assignments refreshed: 0 onboarding/state, 0 refresher, 0 missed-objective, "
        "0 policy-change created; 0 marked overdue"
    )
    assert _open(app) == rows and _count(app, Evidence) == records
    with app.app_context():
        assert evidence.verify(db.session).ok
        assert db.session.scalars(select(JobLock)).all() == []  # the run lock was given back


def test_refresh_writes_in_short_batches(app, monkeypatch):
    """Each writing transaction makes at most BATCH assignments: the write lock is held briefly."""
    _people(app, 450, hired=TODAY)
    writes: list[int] = []
    with app.app_context():
        engine_ = db.engine

    def count(conn, cursor, statement, *rest):
        if statement.lstrip().upper().startswith("INSERT INTO ASSIGNMENTS"):
            writes.append(commits[0])  # the transaction it ran in

    commits = [0]

    def committed(conn):
        commits[0] += 1

    event.listen(engine_, "before_cursor_execute", count)
    event.listen(engine_, "commit", committed)
    try:
        report = _refresh(app)
    finally:
        event.remove(engine_, "before_cursor_execute", count)
        event.remove(engine_, "commit", committed)
    assert len(report.onboarding) == 450
    assert len(writes) == 3 and len(set(writes)) == 3  # 200, 200 and 50: one INSERT per transaction


def test_two_refreshes_at_once_make_no_duplicates(app):
    _people(app, 300, hired=TODAY - timedelta(days=40))
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def run() -> None:
        with app.app_context():
            start.wait()
            try:
                outcomes.append(assignments.refresh(db.session, CURRICULA, LIBRARY, TODAY))
            except jobs.AlreadyRunning as exc:
                outcomes.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    made = sum(len(o.onboarding) for o in outcomes if isinstance(o, assignments.RefreshReport))
    assert len(outcomes) == 2 and made == 300
    rows = _open(app)
    assert len(rows) == 300 and len({(u, m) for u, m, *_ in rows}) == 300
    with app.app_context():
        assert evidence.verify(db.session).ok


def test_a_second_run_meanwhile_does_nothing_and_says_so(app):
    _people(app, 3, hired=TODAY)
    with app.app_context():
        with jobs.exclusive_run(db.session, "assignments-refresh", "assignments refresh"):
            busy = app.test_cli_runner().invoke(args=["assignments", "refresh"])
    assert busy.exit_code == 1 and "another `assignments refresh` is running; nothing done" in busy.output
    assert _open(app) == []
    done = app.test_cli_runner().invoke(args=["assignments", "refresh"])
    assert done.exit_code == 0 and "3 onboarding/state" in done.output


def test_the_lock_is_given_back_when_a_job_fails(app):
    _people(app, 3, hired=TODAY)
    with app.app_context():
        with pytest.raises(AttributeError):  # no library: the job fails after taking its lock
            assignments.refresh(db.session, CURRICULA, None, TODAY)
        db.session.rollback()
        assert db.session.scalars(select(JobLock)).all() == []
    assert len(_refresh(app).onboarding) == 3  # and the next run is not refused


def test_a_lock_whose_run_died_is_taken_over_once_it_expires(app):
    _people(app, 2, hired=TODAY)
    with app.app_context():
        now = utcnow()
        db.session.add(
            JobLock(
                name="assignments-refresh",
                holder="a dead run",
                taken_at=now - timedelta(hours=1),
                expires_at=now - timedelta(minutes=1),
            )
        )
        db.session.add(
            JobLock(name="reminders", holder="a live run", taken_at=now, expires_at=now + timedelta(minutes=2))
        )
        db.session.commit()
    assert len(_refresh(app).onboarding) == 2
    with app.app_context():
        assert [lock.name for lock in db.session.scalars(select(JobLock))] == ["reminders"]
        with pytest.raises(jobs.AlreadyRunning):
            with jobs.exclusive_run(db.session, "reminders", "reminders send"):
                pass


def test_the_database_refuses_two_open_assignments_of_one_module_for_one_person(app):
    uid = add_user(app)
    with app.app_context():
        user = db.session.get(User, uid)
        db.session.add(Assignment(user=user, module_id="test-callers", due_on=TODAY, reason="onboarding", state="done"))
        db.session.add(Assignment(user=user, module_id="test-callers", due_on=TODAY, reason="onboarding", state="open"))
        db.session.commit()  # one done and one open: allowed
        for state in ("open", "overdue"):
            db.session.add(
                Assignment(user=user, module_id="test-callers", due_on=TODAY, reason="manager-choice", state=state)
            )
            with pytest.raises(IntegrityError):
                db.session.commit()
            db.session.rollback()
        # ensure finds it open, and says so by making none
        assert assignments.ensure(db.session, user, "test-callers", TODAY, "manager-choice") is None


def test_the_migration_refuses_while_duplicates_exist(app, capfd):
    uid = add_user(app)
    with app.app_context():
        flask_migrate.downgrade(directory=str(PROJECT_ROOT / "migrations"), revision="0008_rate_limits")
        for _ in range(2):
            db.session.execute(
                text(
                    "INSERT INTO assignments (user_id, module_id, due_on, reason, state, created_at) "
                    "VALUES (:u, 'test-callers', :d, 'onboarding', 'open', :now)"
                ),
                {"u": uid, "d": TODAY, "now": utcnow()},
            )
        db.session.commit()
        with pytest.raises(SystemExit):  # flask-migrate logs the migration's RuntimeError and exits 1
            flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"))
        assert (
            f"1 person/module pair(s) have more than one open assignment: user id {uid}, module "
            "test-callers: 2 open. Nothing was changed"
        ) in capfd.readouterr().err
        db.session.rollback()
        assert db.session.scalar(text("SELECT version_num FROM alembic_version")) == "0008_rate_limits"
        db.session.execute(text("UPDATE assignments SET state = 'waived' WHERE id = (SELECT MIN(id) FROM assignments)"))
        db.session.commit()
        flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"), revision="0009_one_open_assignment")
        assert db.session.scalar(text("SELECT version_num FROM alembic_version")) == "0009_one_open_assignment"


def test_a_learners_write_waits_for_a_roster_apply_and_succeeds(app):
    """SQLite: the apply holds the write lock (BEGIN IMMEDIATE); a learner's write meanwhile
    waits (the write gate, then the busy timeout) and goes through once it commits."""
    admin = add_user(app, email="admin@example.org", name="Avery Admin", role="admin", job_role="leadership")
    learner = add_user(app, email="learner@example.org", name="Lee Learner", job_role="front-desk")
    lines = ["employee_id,email,name,job_role,hire_date"] + [
        f"E{i},p{i}@example.org,Person {i},front-desk,{TODAY.isoformat()}" for i in range(400)
    ]
    applied, holding = threading.Event(), threading.Event()

    def apply() -> None:
        with app.app_context():
            roster.apply(db.session, "\n".join(lines) + "\n", CURRICULA, LIBRARY, TODAY, db.session.get(User, admin))
            holding.set()
            time.sleep(1.0)  # a long apply: the write lock stays held
            db.session.commit()
            applied.set()
            db.session.remove()

    thread = threading.Thread(target=apply)
    thread.start()
    assert holding.wait(60)
    began = time.monotonic()
    with app.app_context():  # a learner's write, as a request makes it
        person = db.session.get(User, learner)
        person.failed_logins += 1
        db.session.commit()
        waited = time.monotonic() - began
    thread.join(60)
    assert applied.is_set()
    with app.app_context():
        assert db.session.get(User, learner).failed_logins == 1
        assert db.session.scalar(select(func.count()).select_from(User)) == 402
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert waited > 0.5  # it waited for the apply (PostgreSQL locks rows: it need not)


def test_a_learners_writes_go_through_while_a_refresh_runs(app):
    _people(app, 600, hired=TODAY - timedelta(days=40))
    learner = add_user(app, email="learner@example.org", name="Lee Learner", job_role="front-desk")
    stop = threading.Event()
    waits: list[float] = []
    errors: list[Exception] = []

    def learn() -> None:
        with app.app_context():
            while not stop.is_set():
                began = time.monotonic()
                try:
                    person = db.session.get(User, learner, populate_existing=True)
                    person.failed_logins += 1
                    db.session.commit()
                    waits.append(time.monotonic() - began)
                except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                    errors.append(exc)
                    db.session.rollback()
                time.sleep(0.005)
            db.session.remove()

    thread = threading.Thread(target=learn)
    thread.start()
    try:
        report = _refresh(app)
    finally:
        stop.set()
        thread.join(30)
    assert len(report.onboarding) == 601 and errors == [] and waits
    with app.app_context():
        assert db.session.get(User, learner).failed_logins == len(waits)


def test_the_preview_of_a_big_file_is_a_small_page_with_every_problem_in_a_csv(app, client):
    add_user(app, email="admin@example.org", name="Avery Admin", role="admin", job_role="leadership")
    assert sign_in(client, email="admin@example.org").status_code == 303
    lines = ["employee_id,email,name,job_role"]
    for i in range(1500):
        role = "nurse" if i % 3 == 0 else "front-desk"  # 500 bad job roles
        email = f"not-an-email-{i}" if i % 5 == 0 else f"p{i}@example.org"  # 300 bad emails
        lines.append(f"E{i},{email},Person {i},{role}")
    page = client.get("/admin/roster/import")
    upload = client.post(
        "/admin/roster/import",
        data={
            "csrf_token": csrf_token(page.text),
            "file": (io.BytesIO(("\n".join(lines) + "\n").encode()), "big.csv"),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 303
    preview = client.get(upload.headers["Location"])
    assert preview.status_code == 200 and len(preview.data) < 150_000
    assert "800 problems: nothing can be imported" in preview.text
    assert '<th scope="row"><a href="#rule-1">email</a></th><td>300</td>' in preview.text
    assert '<th scope="row"><a href="#rule-2">job_role</a></th><td>500</td>' in preview.text
    assert preview.text.count("is not one of") == 20 and "and 480 more" in preview.text
    problems = client.get(upload.headers["Location"] + "/problems.csv")
    assert problems.status_code == 200 and problems.mimetype == "text/csv"
    rows = problems.text.splitlines()
    assert rows[0] == "line,rule,problem" and len(rows) == 801
    assert "2,email,email 'not-an-email-0' is not an email address" in rows
    changes = client.get(upload.headers["Location"] + "/changes.csv")
    assert changes.status_code == 200 and len(changes.text.splitlines()) == 1 + 800  # the 800 good rows
    assert changes.text.splitlines()[1].startswith("create,3,E1,Person 1,p1@example.org,")

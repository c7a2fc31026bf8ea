"""No evidence about days that have not happened: a missed day may be run again, a day to come is
refused (quiz/clock.py), by the one rule and by every core function that writes for a day.

The clock is never moved: days to come are counted from the real date, so nothing here writes
evidence about the future, and nothing needs a library to fake the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from quiz import assignments, chain_check, clock, engine, evidence, reminders, roster, triggers
from quiz.content import load_library
from quiz.content.curricula import load_curricula
from quiz.db import db
from quiz.models import Assignment, Evidence, OutboxMessage, TriggerEvent, User

from .helpers import DATA_CONTENT, add_user

LIBRARY = load_library(DATA_CONTENT)
CURRICULA, _ = load_curricula(DATA_CONTENT, LIBRARY)


def test_the_latest_day_anywhere_is_the_date_at_utc_plus_14():
    utc = UTC
    assert clock.latest_today(datetime(2026, 12, 5, 9, 59, 59, tzinfo=utc)).isoformat() == "2026-12-05"
    assert clock.latest_today(datetime(2026, 12, 5, 10, 0, tzinfo=utc)).isoformat() == "2026-12-06"
    assert clock.latest_today(datetime(2026, 12, 31, 23, 0, tzinfo=utc)).isoformat() == "2027-01-01"
    # a moment given in another zone is the same moment: 09:30 in New York is 14:30 UTC
    new_york = timezone(timedelta(hours=-5))
    assert clock.latest_today(datetime(2026, 12, 5, 9, 30, tzinfo=new_york)).isoformat() == "2026-12-06"


def test_a_missed_day_passes_and_a_day_to_come_is_refused_naming_both_days():
    today = clock.real_today()
    assert today == datetime.now(UTC).date()
    assert clock.latest_today() in (today, today + timedelta(days=1))
    for day in (today - timedelta(days=400), today - timedelta(days=1), today, clock.latest_today()):
        assert clock.check_not_future(day) == day
    future = today + timedelta(days=2)  # past the latest date anywhere, whatever the hour
    with pytest.raises(ValueError) as refused:
        clock.check_not_future(future)
    message = str(refused.value)
    assert message.startswith(f"{future.isoformat()} has not happened yet: today is {today.isoformat()} (UTC)")
    assert message.endswith("a missed day can be run again, a day to come cannot")


ROSTER = (
    "employee_id,email,name,job_role,department,hire_date,active\n"
    "E1,new@example.org,Nia New,front-desk,Desk,2026-01-05,yes\n"
)


def _written(app) -> tuple:
    """Everything a day's work could write: evidence, assignments, outbox, people, events."""
    with app.app_context():
        count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        states = tuple(db.session.execute(select(Assignment.id, Assignment.state).order_by(Assignment.id)))
        return count(Evidence), states, count(OutboxMessage), count(User), count(TriggerEvent)


def _everyone(app) -> None:
    """People for whom each job would write something on any day: a learner with no
    assignment (onboarding), one with training due (a reminder), one past due (overdue), one
    trained under an earlier policy (retraining), a compliance officer (the chain alert), an
    admin (the roster import)."""
    add_user(app, email="nia@example.org", name="Nia Noassignment", department="Desk")
    for email, name, days in (("ana@example.org", "Ana Lima", 3), ("ben@example.org", "Ben Ortiz", -3)):
        uid = add_user(app, email=email, name=name, department="Desk")
        with app.app_context():
            assignments.ensure(
                db.session,
                db.session.get(User, uid),
                "test-callers",
                clock.real_today() + timedelta(days=days),
                "manager-choice",
                library=LIBRARY,
            )
            db.session.commit()
    cal = add_user(app, email="cal@example.org", name="Cal Trained", department="Desk")
    with app.app_context():  # signed under an earlier policy version: retraining is due
        person = db.session.get(User, cal)
        attempt = engine.start_attempt(
            db.session, person, engine.content_to_start(LIBRARY, LIBRARY.modules["test-callers"], person)
        )
        attempt.stage, attempt.passed, attempt.score, attempt.policy_version = "finished", True, 4, "0.9"
        attempt.acknowledged_at = datetime.now(UTC) - timedelta(days=30)
        db.session.commit()
    add_user(app, email="officer@example.org", name="Olu Officer", role="compliance", job_role="leadership")
    add_user(app, email="admin@example.org", name="Ada Admin", role="admin", job_role="it")


def _jobs(day):
    """Each core function that writes for a day, run for ``day``."""
    admin = lambda: db.session.scalar(select(User).where(User.email == "admin@example.org"))  # noqa: E731
    broken = evidence.Verification(False, 3, "0" * 64, "its contents do not match its hash: the record was edited", 2)
    return {
        "assignments.refresh": lambda: assignments.refresh(db.session, CURRICULA, LIBRARY, day),
        "assignments.for_person": lambda: assignments.for_person(
            db.session, db.session.scalar(select(User).where(User.email == "nia@example.org")), CURRICULA, LIBRARY, day
        ),
        "assignments.policy_changes": lambda: assignments.policy_changes(db.session, CURRICULA, LIBRARY, day),
        "reminders.send_all": lambda: reminders.send_all(db.session, day, LIBRARY, reminders.Settings()),
        "chain_check.send": lambda: chain_check.send(db.session, broken, day, smtp=None, base_url="http://x"),
        "triggers.record": lambda: triggers.record(
            db.session,
            by=admin(),
            kind="incident",
            title="Fax to the wrong number",
            description=None,
            occurred_on=clock.real_today(),
            scope_kind="department",
            scope_value="Desk",
            module_ids=["test-callers"],
            due_in_days=7,
            library=LIBRARY,
            today=day,
        ),
        "roster.apply": lambda: roster.apply(db.session, ROSTER, CURRICULA, LIBRARY, day, admin()),
    }


@pytest.mark.parametrize("job", list(_jobs(None)))
def test_every_core_function_that_writes_for_a_day_refuses_one_to_come(app, job):
    _everyone(app)
    before = _written(app)
    future = clock.real_today() + timedelta(days=2)
    with app.app_context():
        with pytest.raises(ValueError, match=f"^{future.isoformat()} has not happened yet"):
            _jobs(future)[job]()
        db.session.commit()  # even a caller that carries on and commits writes nothing
    assert _written(app) == before


@pytest.mark.parametrize("job", list(_jobs(None)))
def test_every_core_function_that_writes_for_a_day_runs_for_a_missed_one(app, job):
    """The same calls for yesterday do their work: the refusal above is the day, not the call."""
    _everyone(app)
    before = _written(app)
    with app.app_context():
        _jobs(clock.real_today() - timedelta(days=1))[job]()
        db.session.commit()
    assert _written(app) != before


def test_an_event_cannot_have_happened_on_a_day_to_come(app):
    _everyone(app)
    before = _written(app)
    future = clock.real_today() + timedelta(days=2)
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == "admin@example.org"))
        with pytest.raises(ValueError, match=f"^the day it happened: {future.isoformat()} has not happened yet"):
            triggers.record(
                db.session,
                by=admin,
                kind="incident",
                title="Fax to the wrong number",
                description=None,
                occurred_on=future,
                scope_kind="department",
                scope_value="Desk",
                module_ids=["test-callers"],
                due_in_days=7,
                library=LIBRARY,
                today=clock.real_today(),
            )
        db.session.commit()
    assert _written(app) == before

"""A year of the shipped curriculum, day by day, for a new hire of every role and specialty.

The clock really moves (time-machine): each day the daily job (``assignments.refresh``) runs as
that day, on a fresh database, and each person takes what they were assigned a few days later,
through the engine, so every record is written on the day it happened; nothing is dated after
the present. One person misses an objective on their first try. The test prints the year, and
checks that each person got their onboarding, their role's spaced refreshers, everyone's
security reminders, and, after the miss, the targeted refresher, spaced as curricula.yml says.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import select

from quiz import assignments, engine
from quiz.config import PROJECT_ROOT
from quiz.content import load_library
from quiz.content.curricula import load_curricula
from quiz.db import db
from quiz.models import Assignment, User

from .helpers import add_user, close_app, make_app

CONTENT = PROJECT_ROOT / "content"
LIBRARY = load_library(CONTENT)
CURRICULA, _ = load_curricula(CONTENT, LIBRARY)
HIRED = date(2025, 1, 6)  # a Monday; the year is in the past, and the clock is moved to each day
DAYS = 366
#: Someone of every role, and of every specialty where the content has versions for it.
PEOPLE = (
    [(role, None) for role in CURRICULA.roles]
    + [
        (role, specialty)
        for role in ("front-desk", "clinical")
        for specialty in ("medical", "dental", "behavioral-health", "pharmacy")
    ]
    + [("case-manager", "behavioral-health")]
)
MISSER = ("front-desk", None)  # answers one decision of their onboarding wrongly at first


def _walk(session, user: User, module_id: str, wrong_first: bool) -> bool:
    """Take a module through the engine: the best choices (one wrong first answer if asked);
    sign if passed. Returns whether it passed."""
    module = LIBRARY.modules[module_id]
    content = engine.content_to_start(LIBRARY, module, user)
    attempt = engine.start_attempt(session, user, content)
    while attempt.stage == "lesson":
        engine.next_screen(session, attempt, content, attempt.step)
    wrong = wrong_first
    while attempt.stage != "finished":
        if attempt.stage == "ending":
            engine.continue_after_ending(session, attempt, content, attempt.step)
            continue
        node = engine.current_node(attempt, content)
        safe = [c for c in node.choices if not c.critical]
        choice = min(safe, key=lambda c: c.points) if wrong else max(safe, key=lambda c: c.points)
        wrong = False
        engine.choose(session, attempt, content, attempt.step, choice.number)
    if attempt.passed:
        engine.acknowledge(session, attempt, content, user.name, signed_in_with_admin_set_password=False)
    return bool(attempt.passed)


@pytest.fixture
def year_app(tmp_path, monkeypatch):
    app = make_app(f"sqlite:///{tmp_path / 'year.sqlite3'}", tmp_path, monkeypatch, CONTENT_DIR=str(CONTENT))
    yield app
    close_app(app)


def test_a_year_of_training_for_a_new_hire_of_every_role_and_specialty(year_app):
    app = year_app
    ids: dict[tuple[str, str | None], int] = {}
    with time_machine.travel(datetime.combine(HIRED, time(8), tzinfo=UTC), tick=False):
        for role, specialty in PEOPLE:
            email = f"{role}.{specialty or 'general'}@example.org"
            ids[(role, specialty)] = add_user(
                app, email=email, name=f"New {role} {specialty or ''}".strip(), job_role=role, specialty=specialty
            )
        with app.app_context():
            for uid in ids.values():
                person = db.session.get(User, uid)
                person.hire_date = HIRED
                assignments.for_person(db.session, person, CURRICULA, LIBRARY, HIRED, new=True)
            db.session.commit()

    missed_once = False
    for offset in range(DAYS):
        day = HIRED + timedelta(days=offset)
        with time_machine.travel(datetime.combine(day, time(9), tzinfo=UTC), tick=False), app.app_context():
            assignments.refresh(db.session, CURRICULA, LIBRARY, day)
            db.session.commit()
            # Each person takes what is open three days after it was assigned.
            due = db.session.scalars(select(Assignment).where(Assignment.state.in_(("open", "overdue")))).all()
            for a in due:
                if assignments.org_day(a.created_at) + timedelta(days=3) > day:
                    continue
                person = a.user
                wrong = (person.job_role, person.specialty) == MISSER and not missed_once
                missed_once = missed_once or wrong
                _walk(db.session, person, a.module_id, wrong_first=wrong)
                db.session.commit()

    with app.app_context():
        rows = db.session.execute(
            select(
                Assignment.user_id,
                Assignment.module_id,
                Assignment.reason,
                Assignment.created_at,
                Assignment.due_on,
                Assignment.state,
            ).order_by(Assignment.user_id, Assignment.created_at, Assignment.id)
        ).all()
    year: dict[int, list] = defaultdict(list)
    for user_id, module_id, reason, created, due_on, state in rows:
        year[user_id].append((assignments.org_day(created), module_id, reason, due_on, state))

    # The year, as each person lived it.
    for (role, specialty), uid in ids.items():
        print(f"\n{role}{f' ({specialty})' if specialty else ''}, hired {HIRED}:")
        for created, module_id, reason, due_on, state in year[uid]:
            print(f"  {created}  {reason:20s} {module_id:32s} due {due_on}  {state}")

    for (role, specialty), uid in ids.items():
        mine = year[uid]
        modules = [m for _, m, _, _, _ in mine]
        plan = CURRICULA.plan(role)
        who = f"{role}/{specialty}"
        # Onboarding, in the first days.
        for module_id in plan.onboarding:
            assert any(m == module_id and r == "onboarding" and c == HIRED for c, m, r, _, _ in mine), who
        # The role's refreshers and everyone's security reminders, each first on its day.
        for item, whose in CURRICULA.refreshers(role):
            module = LIBRARY.modules[item.module]
            if item.first_after_days is None or not module.is_for(role, specialty):
                continue
            first_due = HIRED + timedelta(days=item.first_after_days)
            got = [(c, d) for c, m, r, d, _ in mine if m == item.module and r == "refresher"]
            earlier = [c for c, m, r, _, _ in mine if m == item.module and r == "objective-follow-up"]
            if earlier and earlier[0] < first_due:  # taken early as a follow-up: a year after that
                continue
            assert got, f"{who}: {item.module} ({whose}'s plan) never assigned"
            assert got[0] == (first_due - timedelta(days=CURRICULA.due_soon_days), first_due), (
                who,
                item.module,
                got[0],
            )
        # Spaced, not a yearly block: two plan refreshers never fall due within two weeks of
        # each other, and something comes at least every three months after onboarding.
        dues = sorted(d for _, _, r, d, _ in mine if r == "refresher" and d < HIRED + timedelta(days=365))
        gaps = [b - a for a, b in zip([HIRED + timedelta(days=30), *dues], dues, strict=False)]
        assert all(timedelta(days=14) <= g <= timedelta(days=100) for g in gaps), f"{who}: gaps {gaps}"
        # Everything assigned was done (they take it three days after it comes).
        last_day = HIRED + timedelta(days=DAYS - 1)
        assert all(state == "done" for c, *_, state in mine if c + timedelta(days=3) <= last_day), who
        assert len(modules) >= 4, who

    # The miss: a refresher training that objective, 7 days after the miss, and only one.
    misser = year[ids[MISSER]]
    follow = [(c, m) for c, m, r, _, _ in misser if r == "objective-follow-up"]
    onboarding_taken = HIRED + timedelta(days=3)
    assert follow and follow[0][0] == onboarding_taken + timedelta(days=CURRICULA.follow_up.after_days[0]), follow
    assert LIBRARY.modules[follow[0][1]].kind == "refresher"
    assert len(follow) == 1  # taken and answered right: no second follow-up
    for (role, specialty), uid in ids.items():
        if (role, specialty) != MISSER:
            assert not any(r == "objective-follow-up" for _, _, r, _, _ in year[uid]), (role, specialty)

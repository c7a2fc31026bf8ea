"""Assignment rules (quiz/assignments.py) on a plain Session: due dates, overdue from the day
after the due date, the daily refresh run twice creating nothing new, waivers, completion."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from quiz import assignments, clock
from quiz.models import Assignment, Evidence

from .conftest import CURRICULA, LIBRARY, TODAY


def _records(session, event: str) -> list[dict]:
    return [json.loads(d) for d in session.scalars(select(Evidence.details).where(Evidence.event == event))]


def test_a_new_hire_owes_onboarding_and_the_state_mandate_from_the_hire_date(session, person):
    hired = TODAY - timedelta(days=5)
    case_manager = person(job_role="case-manager", hire_date=hired, work_state="TX")
    made = assignments.for_person(session, case_manager, CURRICULA, LIBRARY, TODAY, new=True)
    assert sorted((a.module_id, a.reason, a.due_on) for a in made) == [
        ("test-callers", "onboarding", hired + timedelta(days=10)),  # case-manager: 10 days
    ]  # the state mandate is the same module, already open: one assignment, not two
    desk = person(job_role="front-desk", hire_date=hired)
    [a] = assignments.for_person(session, desk, CURRICULA, LIBRARY, TODAY, new=True)
    assert (a.reason, a.due_on) == ("onboarding", hired + timedelta(days=30))  # the default 30
    session.commit()
    assert [r["due_on"] for r in _records(session, "assignment.created")] == [
        (hired + timedelta(days=10)).isoformat(),
        (hired + timedelta(days=30)).isoformat(),
    ]


def test_a_state_mandate_names_its_law_when_onboarding_does_not_cover_the_module(session, person):
    clinician = person(job_role="clinical", work_state="TX", hire_date=TODAY)
    [a] = assignments.for_person(session, clinician, CURRICULA, LIBRARY, TODAY, new=True)
    assert (a.module_id, a.reason, a.due_on) == ("test-callers", "state-mandate", TODAY + timedelta(days=90))
    assert a.detail.startswith("Texas Health and Safety Code")
    assert assignments.why(a) == f"Required by state law: {a.detail}."


def test_a_day_to_come_is_refused_and_nothing_is_written(session, person):
    desk = person()
    with pytest.raises(ValueError):
        assignments.for_person(session, desk, CURRICULA, LIBRARY, clock.latest_today() + timedelta(days=1), new=True)
    assert session.scalar(select(Assignment.id)) is None


@pytest.mark.parametrize(
    "state, due, today, active, shown",
    [
        ("open", TODAY, TODAY, True, "open"),  # due today: not overdue on the day
        ("open", TODAY - timedelta(days=1), TODAY, True, "overdue"),  # the day after
        ("open", TODAY - timedelta(days=1), TODAY, False, "open"),  # someone who left
        ("overdue", TODAY, TODAY, True, "open"),  # marked for a day that had not come
        ("overdue", TODAY - timedelta(days=3), TODAY, False, "overdue"),  # marked before they left
        ("done", TODAY - timedelta(days=9), TODAY, True, "done"),
        ("waived", TODAY - timedelta(days=9), TODAY, True, "waived"),
    ],
)
def test_an_assignment_is_overdue_from_the_day_after_its_due_date(state, due, today, active, shown):
    assert assignments.state_as_of(state, due, today, active=active) == shown


def test_the_daily_refresh_marks_overdue_the_day_after_and_run_again_creates_nothing(session, person):
    desk = person()
    a = assignments.ensure(session, desk, "test-callers", TODAY, "manager-choice", library=LIBRARY)
    on_the_day = assignments.refresh(session, CURRICULA, LIBRARY, TODAY)
    assert on_the_day.overdue == [] and a.state == "open"
    day_after = TODAY + timedelta(days=1)
    report = assignments.refresh(session, CURRICULA, LIBRARY, day_after)
    session.refresh(a)  # the job wrote in batches of its own
    assert [(m.id, m.state) for m in report.overdue] == [(a.id, "overdue")] and a.state == "overdue"
    again = assignments.refresh(session, CURRICULA, LIBRARY, day_after)
    assert str(again) == (
        "assignments refreshed: 0 onboarding/state, 0 refresher, 0 missed-objective, "
        "0 policy-change created; 0 marked overdue"
    )
    session.commit()
    assert [r["days_late"] for r in _records(session, "assignment.overdue")] == [1]
    assert len(session.scalars(select(Assignment)).all()) == 1  # the open one blocked onboarding's copy


def test_ensure_is_idempotent_while_the_module_is_open(session, person):
    desk = person()
    first = assignments.ensure(session, desk, "test-callers", TODAY, "onboarding")
    assert first is not None
    assert assignments.ensure(session, desk, "test-callers", TODAY + timedelta(days=9), "manager-choice") is None
    assert assignments.open_assignment(session, desk.id, "test-callers") is first


def test_a_waiver_needs_a_reason_closes_the_assignment_and_frees_the_module(session, person):
    desk, admin = person(), person(role="admin", job_role="leadership")
    a = assignments.ensure(session, desk, "test-callers", TODAY, "onboarding")
    with pytest.raises(ValueError, match="needs a reason"):
        assignments.waive(session, a, admin, "   ")
    assert a.state == "open"
    assignments.waive(session, a, admin, " Trained at her last job ")
    assert (a.state, a.waived_reason, a.closed_at is not None) == ("waived", "Trained at her last job", True)
    with pytest.raises(ValueError, match="only an open assignment"):
        assignments.waive(session, a, admin, "again")
    assert assignments.state_as_of(a.state, a.due_on, TODAY + timedelta(days=30)) == "waived"  # never overdue
    assert assignments.open_assignment(session, desk.id, "test-callers") is None
    assert assignments.ensure(session, desk, "test-callers", TODAY, "manager-choice") is not None
    session.commit()
    [waived] = _records(session, "assignment.waived")
    assert (waived["waived_by"], waived["why"]) == (admin.email, "Trained at her last job")


def test_a_person_who_left_gets_nothing_new(session, person):
    gone = person(active=False, hire_date=TODAY)
    assert assignments.for_person(session, gone, CURRICULA, LIBRARY, TODAY, new=True) == []


@pytest.mark.parametrize(
    "day, months, expected",
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 11, 30), 12, date(2027, 11, 30)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
    ],
)
def test_a_refresher_falls_due_on_the_same_day_of_the_month(day, months, expected):
    assert assignments.add_months(day, months) == expected

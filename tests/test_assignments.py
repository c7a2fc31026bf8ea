"""Assignment rules: onboarding on join, state mandates, recurring refreshers, policy changes,
overdue marks, completion, waivers, and PHI clearance."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from quiz import accounts, assignments, engine, training_report
from quiz.content import load_library
from quiz.content.curricula import load_curricula
from quiz.db import db
from quiz.models import Assignment, Attempt, Evidence, User

from .helpers import (
    DATA_CONTENT,
    MODULE,
    PASSWORD,
    add_user,
    choose,
    csrf_token,
    page_text,
    pass_and_sign,
    post_step,
    sign_in,
    signed_in_as,
    step_token,
    through_lesson,
)

TODAY = date(2026, 11, 23)
LIBRARY = load_library(DATA_CONTENT)
CURRICULA, CURRICULA_ERRORS = load_curricula(DATA_CONTENT, LIBRARY)


def test_the_test_curricula_load_cleanly():
    assert CURRICULA_ERRORS == []
    assert CURRICULA.plan("front-desk").onboarding == ("test-callers",)
    assert CURRICULA.states["TX"].within_days_of_hire == 90


def test_curricula_errors_name_file_and_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "curricula.yml").write_text(
        "roles:\n  front-desk:\n    onboarding: [no-such-module]\n  janitor: {}\nstates:\n  TX:\n    modules: []\n"
    )
    _, errors = load_curricula(Path("."), LIBRARY)
    found = {(e.line, e.message.split(";")[0]) for e in errors}
    assert (3, "unknown module `no-such-module`") in found
    assert (4, "unknown field `janitor`") in found
    assert any(e.line == 6 and "needs `law`" in e.message for e in errors)


def _person(app, email="p@example.org", job_role="front-desk", hire=TODAY, state=None, **kw) -> int:
    with app.app_context():
        user = accounts.create_user(
            db.session, email=email, name=kw.pop("name", "Pat Doe"), password=PASSWORD, job_role=job_role, **kw
        )
        user.hire_date, user.work_state = hire, state
        assignments.for_person(db.session, user, CURRICULA, LIBRARY, TODAY, new=True)
        db.session.commit()
        return user.id


def _assignments(app, uid):
    with app.app_context():
        return [(a.module_id, a.reason, a.due_on, a.state) for a in assignments.of_user(db.session, uid)]


def _complete(app, uid, policy_version="1.0", when=TODAY):
    """A signed attempt, as if the learner had passed and acknowledged on ``when``."""
    with app.app_context():
        user = db.session.get(User, uid)
        content = engine.content_to_start(LIBRARY, LIBRARY.modules["test-callers"], user)
        attempt = engine.start_attempt(db.session, user, content)
        attempt.stage, attempt.passed, attempt.score = "finished", True, 4
        attempt.policy_version = policy_version
        attempt.acknowledged_at = datetime(when.year, when.month, when.day, 12, tzinfo=UTC)
        assignments.complete(db.session, attempt, LIBRARY)
        db.session.commit()


def test_a_new_hire_gets_onboarding_due_after_hire(app):
    uid = _person(app, hire=TODAY - timedelta(days=5))
    assert _assignments(app, uid) == [("test-callers", "onboarding", TODAY + timedelta(days=25), "open")]


def test_a_texas_hire_also_gets_the_state_mandate_once(app):
    uid = _person(app, job_role="case-manager", state="TX")
    # the onboarding assignment already holds the module open; the state rule adds no duplicate
    assert _assignments(app, uid) == [("test-callers", "onboarding", TODAY + timedelta(days=10), "open")]
    it = _person(app, email="it@example.org", job_role="it", state="TX")
    assert _assignments(app, it) == [("test-callers", "state-mandate", TODAY + timedelta(days=90), "open")]


def test_rules_are_idempotent(app):
    uid = _person(app)
    with app.app_context():
        user = db.session.get(User, uid)
        again = assignments.for_person(db.session, user, CURRICULA, LIBRARY, TODAY, new=True)
        report = assignments.refresh(db.session, CURRICULA, LIBRARY, TODAY)
        db.session.commit()
    assert again == [] and report.onboarding == [] and len(_assignments(app, uid)) == 1


def test_completing_the_module_closes_the_assignment_with_evidence(app):
    uid = _person(app)
    _complete(app, uid)
    assert _assignments(app, uid)[0][3] == "done"
    with app.app_context():
        events = [e.event for e in db.session.scalars(select(Evidence).order_by(Evidence.seq))]
    assert events[0] == "assignment.created" and events[-1] == "assignment.completed"


def test_overdue_is_marked_by_the_daily_refresh(app):
    uid = _person(app, hire=TODAY - timedelta(days=40))
    with app.app_context():
        report = assignments.refresh(db.session, CURRICULA, LIBRARY, TODAY)
        db.session.commit()
        assert len(report.overdue) == 1
        assert db.session.scalar(select(Evidence.event).order_by(Evidence.seq.desc())) == "assignment.overdue"
    assert _assignments(app, uid)[0][3] == "overdue"


def test_the_yearly_refresher_is_assigned_near_its_due_date(app):
    uid = _person(app)
    _complete(app, uid, when=date(2025, 12, 1))
    with app.app_context():
        early = assignments.refresh(db.session, CURRICULA, LIBRARY, date(2026, 11, 1))
        later = assignments.refresh(db.session, CURRICULA, LIBRARY, date(2026, 11, 20))
        db.session.commit()
    assert early.recurring == [] and len(later.recurring) == 1
    assert ("test-callers", "refresher", date(2026, 12, 1), "open") in _assignments(app, uid)


def test_a_policy_version_change_assigns_retraining_to_those_trained_on_the_old_one(app):
    trained = _person(app)
    _complete(app, trained, policy_version="1.0")
    other_role = _person(app, email="it@example.org", job_role="it")
    changed = replace(LIBRARY, modules={"test-callers": replace(LIBRARY.modules["test-callers"], policy_version="2.0")})
    with app.app_context():
        created = assignments.policy_changes(db.session, CURRICULA, changed, TODAY)
        again = assignments.policy_changes(db.session, CURRICULA, changed, TODAY)
        db.session.commit()
        detail = created[0].detail
    assert len(created) == 1 and again == []
    assert "version 1.0 -> 2.0" in detail
    assert ("test-callers", "policy-change", TODAY + timedelta(days=30), "open") in _assignments(app, trained)
    assert _assignments(app, other_role) == []


def test_waiving_needs_a_reason_and_is_recorded(app):
    uid = _person(app)
    with app.app_context():
        admin = accounts.create_user(
            db.session, email="a@example.org", name="Ad Min", password=PASSWORD, job_role="leadership", role="admin"
        )
        a = assignments.of_user(db.session, uid)[0]
        with pytest.raises(ValueError):
            assignments.waive(db.session, a, admin, "  ")
        assignments.waive(db.session, a, admin, "Trained at previous employer; certificate on file")
        db.session.commit()
        last = db.session.scalar(select(Evidence).order_by(Evidence.seq.desc()))
    assert last.event == "assignment.waived" and "previous employer" in last.details
    assert _assignments(app, uid)[0][3] == "waived"


def test_clearance_for_phi_needs_onboarding_done(app):
    uid = _person(app)
    with app.app_context():
        admin = accounts.create_user(
            db.session, email="a@example.org", name="Ad Min", password=PASSWORD, job_role="leadership", role="admin"
        )
        db.session.commit()
        person = db.session.get(User, uid)
        with pytest.raises(ValueError, match="onboarding"):
            assignments.clear_for_phi(db.session, person, admin)
        db.session.rollback()
    _complete(app, uid)
    with app.app_context():
        person = db.session.get(User, uid)
        admin = db.session.scalar(select(User).where(User.email == "a@example.org"))
        assignments.clear_for_phi(db.session, person, admin)
        db.session.commit()
        assert person.cleared_at is not None


def test_standing(app):
    uid = _person(app, hire=TODAY - timedelta(days=40))
    with app.app_context():
        person = db.session.get(User, uid)
        assert assignments.standing(db.session, person, TODAY).state == "overdue"
    _complete(app, uid)
    with app.app_context():
        person = db.session.get(User, uid)
        assert assignments.standing(db.session, person, TODAY).state == "current"


def test_overdue_only_once_the_due_date_has_passed():
    on = date(2026, 12, 5)
    state_as_of = assignments.state_as_of
    # marked overdue for a day that had not come (an old `refresh --today`): open, due that day
    assert state_as_of("overdue", on + timedelta(days=30), on) == "open"
    assert state_as_of("overdue", on, on) == "open"  # due today is not late yet
    assert state_as_of("overdue", on - timedelta(days=1), on) == "overdue"
    # past due and not yet marked: overdue, for someone still here; not for someone who left
    assert state_as_of("open", on - timedelta(days=1), on) == "overdue"
    assert state_as_of("open", on - timedelta(days=1), on, active=False) == "open"
    assert state_as_of("open", on, on) == "open"
    assert state_as_of("done", on - timedelta(days=9), on) == "done"
    assert state_as_of("waived", on - timedelta(days=9), on) == "waived"


def test_training_marked_overdue_before_its_due_date_is_shown_open_and_due_that_date(app, client):
    """An old version's `refresh --today` with a day to come left assignments marked overdue
    that are not due yet: nobody is shown "Overdue: was due" a date still to come."""
    today = date.today()
    due = today + timedelta(days=10)
    uid = add_user(app)
    with app.app_context():
        a = assignments.ensure(
            db.session, db.session.get(User, uid), "test-callers", due, "manager-choice", library=LIBRARY
        )
        a.state = "overdue"  # as that run stored it (no evidence is written here)
        db.session.commit()
        assignment_id = a.id
    assert sign_in(client).status_code == 303
    page = page_text(client.get("/learn/").text)
    assert f"Due {due:%d %b %Y}" in page
    assert "Overdue" not in page
    manager = signed_in_as(app, "admin")  # the person's page, as their managers see it
    transcript = page_text(manager.get(f"/manage/people/{uid}").text)
    assert "Test module on callers Open Waive" in transcript and "Overdue" not in transcript
    with app.app_context():
        person = db.session.get(User, uid)
        assert assignments.standing(db.session, person, today).state == "not-yet-due"  # not "overdue"
        rows = training_report.rows(db.session, training_report.Filters(), today)
        assert [r.state for r in rows] == ["open"]
        assert training_report.counts(db.session, training_report.Filters(state="overdue"), today)["all"] == 0
        assert training_report.counts(db.session, training_report.Filters(state="open"), today)["all"] == 1
        # Once its day has passed it is overdue, as it was marked.
        late = due + timedelta(days=1)
        assert [r.state for r in training_report.rows(db.session, training_report.Filters(), late)] == ["overdue"]
        assert assignments.standing(db.session, person, late).state == "overdue"

    # Past its due date and not yet marked by the daily job: the learner is told it is overdue.
    with app.app_context():
        a = db.session.get(Assignment, assignment_id)
        a.state, a.due_on = "open", today - timedelta(days=2)
        db.session.commit()
    page = page_text(client.get("/learn/").text)
    assert f"Overdue: was due {today - timedelta(days=2):%d %b %Y}" in page


def _attempt(app, uid, passed: bool | None) -> None:
    """An attempt at test-callers: failed (False), or not finished yet (None)."""
    with app.app_context():
        user = db.session.get(User, uid)
        attempt = engine.start_attempt(
            db.session, user, engine.content_to_start(LIBRARY, LIBRARY.modules["test-callers"], user)
        )
        if passed is not None:
            attempt.stage, attempt.passed, attempt.score = "finished", passed, 1
        db.session.commit()


def test_standing_tells_attempted_not_yet_due_and_never_trained_apart(app):
    people = {
        # onboarding open, due in 30 days, nothing tried yet: inside the onboarding window
        "new hire": _person(app, "new@example.org", hire=TODAY),
        # failed once (or started and not finished), not yet due
        "failed": _person(app, "failed@example.org", hire=TODAY - timedelta(days=5)),
        "started": _person(app, "started@example.org", hire=TODAY - timedelta(days=5)),
        # onboarding due today, nothing tried: due, and never trained
        "due today": _person(app, "due@example.org", hire=TODAY - timedelta(days=30)),
        # no onboarding for the role and nothing assigned: never trained either
        "nothing assigned": _person(app, "it@example.org", job_role="it"),
        # failed, and now past the due date: overdue comes first
        "failed, late": _person(app, "late@example.org", hire=TODAY - timedelta(days=40)),
    }
    _attempt(app, people["failed"], passed=False)
    _attempt(app, people["started"], passed=None)
    _attempt(app, people["failed, late"], passed=False)
    with app.app_context():
        found = {who: assignments.standing(db.session, db.session.get(User, uid), TODAY) for who, uid in people.items()}
    assert {who: (s.state, s.label) for who, s in found.items()} == {
        "new hire": ("not-yet-due", "Not yet due"),
        "failed": ("attempted", "Attempted, not passed"),
        "started": ("attempted", "Attempted, not passed"),
        "due today": ("never-trained", "Never trained"),
        "nothing assigned": ("never-trained", "Never trained"),
        "failed, late": ("overdue", "Overdue"),
    }
    assert all(s.label == assignments.STANDINGS[s.state] for s in found.values())
    _complete(app, people["failed"])  # passed and signed at last: trained, nothing open
    with app.app_context():
        assert assignments.standing(db.session, db.session.get(User, people["failed"]), TODAY).state == "current"


def test_add_months_keeps_month_ends_sane():
    assert assignments.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert assignments.add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert assignments.add_months(date(2025, 12, 1), 12) == date(2026, 12, 1)


def test_learners_are_told_why_they_owe_a_module_without_managers_notes():
    from quiz.models import Assignment

    def why(reason, detail=None):
        return assignments.why(Assignment(reason=reason, detail=detail))

    assert why("onboarding") == "Part of your onboarding."
    assert why("state-mandate", "Texas HB 300") == "Required by state law: Texas HB 300."
    assert why("annual-refresher", "every 12 months (our policy)") == "Your regular refresher."
    assert why("policy-change", "Verification Policy: version 1.0 -> 2.1") == (
        "The policy changed (version 1.0 to 2.1) since you last took it."
    )
    # an event's title and a manager's note are for managers: they can name people
    assert why("trigger-event", "incident: fax to the wrong clinic by Ben Brown") == (
        "Assigned after something that happened at work."
    )
    assert why("manager-choice", "missed objective 'verify' in test-callers") == "Assigned by your manager."


# --- the refresher plan and missed objectives ------------------------------------------------


#: A day far enough back that the intervals below all end before the real today.
PAST = TODAY - timedelta(days=300)


def _miss(app, uid, module_id="test-callers", on=PAST, objective_wrong="verify-identity"):
    """A finished, failed attempt at ``module_id`` whose first answer at a decision testing
    ``objective_wrong`` was wrong, answered on ``on``."""
    from quiz.models import Answer

    with app.app_context():
        user = db.session.get(User, uid)
        content = engine.content_to_start(LIBRARY, LIBRARY.modules[module_id], user)
        attempt = engine.start_attempt(db.session, user, content)
        scenario = content.scenario(0)
        node = next(n for n in scenario.nodes.values() if n.objective == objective_wrong)
        wrong = next(c for c in node.choices if not c.correct and not c.critical)
        at = datetime(on.year, on.month, on.day, 10, tzinfo=UTC)
        db.session.add(
            Answer(
                attempt_id=attempt.id,
                step=1,
                scenario_index=0,
                scenario_id=scenario.id,
                scenario_version=scenario.version,
                node_id=node.id,
                objective=objective_wrong,
                choice_number=wrong.number,
                to_node=wrong.target,
                first_visit=True,
                points=0,
                correct=False,
                critical=False,
                answered_at=at,
            )
        )
        attempt.stage, attempt.passed, attempt.score, attempt.finished_at = "finished", False, 0, at
        db.session.commit()


def _on(day):
    """Move the clock to ``day`` (the daily job runs as that day, records are made then)."""
    return time_machine.travel(datetime(day.year, day.month, day.day, 9, tzinfo=UTC), tick=False)


def test_a_missed_objective_comes_back_spaced_as_the_curricula_say(app):
    uid = _person(app, hire=PAST - timedelta(days=60))
    _miss(app, uid, on=PAST)
    plan = CURRICULA.follow_up
    first = PAST + timedelta(days=plan.after_days[0])
    with app.app_context():
        with _on(first - timedelta(days=1)):
            assert assignments.follow_ups(db.session, CURRICULA, LIBRARY, first - timedelta(days=1)) == []
        with _on(first):
            made = assignments.follow_ups(db.session, CURRICULA, LIBRARY, first)
            assert assignments.follow_ups(db.session, CURRICULA, LIBRARY, first) == []  # once
            db.session.commit()
        assert len(made) == 1
        a = made[0]
        assert (a.module_id, a.reason, a.objective) == ("test-refresher", "objective-follow-up", "verify-identity")
        assert a.due_on == first + timedelta(days=plan.due_days)
        assert (
            a.detail
            == f"\u201cVerify identity and authority before sharing.\u201d, missed in Test module on callers on {PAST:%d %b %Y}"
        )
        assert assignments.why(a).startswith("A short refresher on something you missed: \u201cVerify identity")
        record = db.session.scalars(
            select(Evidence).where(Evidence.event == "assignment.created").order_by(Evidence.seq.desc())
        ).first()
        assert '"objective":"verify-identity"' in record.details
        a.state = "done"  # taken (the engine closes it on signing; here only its state matters)
        db.session.commit()
    # Missed again, in the follow-up itself: the next one comes after the second interval.
    second_miss = first + timedelta(days=3)
    _miss(app, uid, module_id="test-refresher", on=second_miss)
    second = second_miss + timedelta(days=plan.after_days[1])
    with app.app_context():
        with _on(second - timedelta(days=1)):
            assert assignments.follow_ups(db.session, CURRICULA, LIBRARY, second - timedelta(days=1)) == []
        with _on(second):
            later = assignments.follow_ups(db.session, CURRICULA, LIBRARY, second)
            db.session.commit()
        assert [x.module_id for x in later] == ["test-refresher"]


def test_no_follow_up_without_a_miss_or_without_a_refresher_for_it(app):
    uid = _person(app, job_role="case-manager", hire=PAST - timedelta(days=60))  # test-refresher is front desk only
    _miss(app, uid)
    other = _person(app, email="right@example.org")
    _complete(app, other)
    with app.app_context():
        assert assignments.follow_ups(db.session, CURRICULA, LIBRARY, PAST + timedelta(days=40)) == []


def test_a_refresher_never_taken_is_owed_from_its_day_after_hire_and_spread_through_the_year(app, tmp_path):
    (tmp_path / "curricula.yml").write_text(
        "roles:\n  front-desk:\n    onboarding: [test-callers]\n    refreshers:\n"
        "      - {module: test-refresher, first_after_days: 60, every_months: 12}\n"
    )
    curricula, errors = load_curricula(tmp_path, LIBRARY)
    assert errors == []
    hired = PAST - timedelta(days=400)  # hired long before, never took it
    _person(app, hire=hired)
    first_day = hired + timedelta(days=60)
    anniversary = assignments.add_months(first_day, 12)  # its first day is long gone: the next one
    with app.app_context():
        assert assignments.refresh(db.session, curricula, LIBRARY, anniversary - timedelta(days=15)).recurring == []
        made = assignments.refresh(db.session, curricula, LIBRARY, anniversary - timedelta(days=14)).recurring
        db.session.commit()
        assert [(a.module_id, a.reason, a.due_on, a.detail) for a in made] == [
            ("test-refresher", "refresher", anniversary, "every 12 months, for front desk staff")
        ]
        assert assignments.why(made[0]) == "Your refresher plan: every 12 months, for front desk staff."


def test_everyones_refreshers_reach_every_role(tmp_path):
    (tmp_path / "curricula.yml").write_text(
        "everyone:\n  refreshers:\n    - {module: test-refresher, first_after_days: 45, every_months: 12}\n"
        "roles:\n  it:\n    onboarding: []\nfollow_up:\n  after_days: [30, 10]\n"
    )
    curricula, errors = load_curricula(tmp_path, LIBRARY)
    assert [(e.line, e.message) for e in errors] == [
        (8, "`follow_up.after_days` must grow: each interval longer than the one before")
    ]
    assert [(r.module, whose) for r, whose in curricula.refreshers("it")] == [("test-refresher", "everyone")]
    assert [(r.module, whose) for r, whose in curricula.refreshers("billing")] == [("test-refresher", "everyone")]


# --- a state's signed statement of completion ------------------------------------------------


def test_a_texas_signature_is_the_signed_statement_kept_six_years(app, client):
    """Texas Health and Safety Code 181.101 asks each person to sign a statement that they
    completed the training, kept six years (curricula.yml: signed_statement, retain_years): the
    signature says so before signing, on the record, the certificate and the training report."""
    import csv
    import io
    import json

    add_user(app)
    with app.app_context():
        person = db.session.scalars(select(User)).one()
        person.work_state = "TX"
        assignments.for_person(db.session, person, CURRICULA, LIBRARY, date.today())
        db.session.commit()
    assert sign_in(client).status_code == 303
    through_lesson(client)
    choose(client, "Ask for two identifiers")
    choose(client, "Only the appointment time")
    post_step(client, "continue")
    before = page_text(client.get(MODULE).text)
    law = "Texas Health and Safety Code 181.101 (as amended in 2013)"
    assert f"Your signature is also your signed statement of completion under {law}; we keep it for 6 years." in before
    page = client.get(MODULE).text
    signed = client.post(
        MODULE + "acknowledge",
        data={"csrf_token": csrf_token(page), "step": step_token(page), "agree": "y", "full_name": "Dana Whitfield"},
    )
    assert signed.status_code == 303
    today = date.today()  # signed now, so kept until six years from now
    words = f"Signed statement of completion under {law}; kept until {assignments.add_months(today, 72).isoformat()}"
    assert words in page_text(client.get(signed.headers["Location"]).text)  # the certificate
    with app.app_context():
        record = db.session.scalars(select(Evidence).where(Evidence.event == "acknowledgement.signed")).one()
        assert json.loads(record.details)["state_statement"] == {
            "state": "TX",
            "law": law,
            "keep_until": assignments.add_months(today, 72).isoformat(),
        }
    report = signed_in_as(app, "compliance").get("/audit/training.csv").text
    rows = list(csv.DictReader(io.StringIO(report)))
    assert [r["state_statement"] for r in rows if r["state"] == "done"] == [words]


def test_outside_texas_the_signature_is_only_the_acknowledgement(app, client):
    add_user(app)
    assert sign_in(client).status_code == 303
    through_lesson(client)
    signed = pass_and_sign(client)
    assert "signed statement" not in client.get(signed.headers["Location"]).text
    with app.app_context():
        assert db.session.scalars(select(Attempt)).one().signed_statement is None


def test_a_missed_objective_is_followed_up_by_the_roles_own_refresher_first():
    """Reporting an incident is trained by billing's own refresher and by everyone's (shorter)
    phishing reminder: a billing clerk gets billing's; an IT technician, whose plan has none
    that trains it, gets the phishing reminder."""
    from types import SimpleNamespace

    from quiz.config import PROJECT_ROOT

    shipped = load_library(PROJECT_ROOT / "content")
    plans, _ = load_curricula(PROJECT_ROOT / "content", shipped)
    assert shipped.modules["security-phishing"].minutes < shipped.modules["billing-misdirected-statement"].minutes

    def follow_up(role: str) -> str:
        person = SimpleNamespace(job_role=role, specialty=None, work_state="TX")
        return assignments._refresher_for(shipped, plans, person, "report-incidents", "state-privacy-laws").id

    assert follow_up("billing") == "billing-misdirected-statement"
    assert follow_up("it") == "security-phishing"

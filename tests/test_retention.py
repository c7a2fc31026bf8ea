"""Retention and legal hold (quiz/retention.py): each kind's keep-until date, the purge of what is
past it (and of nothing newer), legal holds that refuse it or hold people back, holds as evidence,
and a chain that still verifies after a purge. On SQLite and PostgreSQL (the ``app`` fixture)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from quiz import config, evidence, retention, team
from quiz.db import Steps, db
from quiz.models import (
    Assignment,
    Attempt,
    ContentVersion,
    Evidence,
    LegalHold,
    OutboxMessage,
    RosterUpload,
    User,
    utcnow,
)

from .helpers import add_user, csrf_token, page_text, repeated_ids, run_cli, signed_in_as

POLICY = retention.Policy()
YEARS_AGO_7 = timedelta(days=7 * 366)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# --- keep-until dates, kind by kind ---------------------------------------------------------------


def test_training_records_are_kept_six_years_from_signing():
    signed = Attempt(
        started_at=_at(date(2020, 3, 1)), finished_at=_at(date(2020, 3, 1)), acknowledged_at=_at(date(2020, 3, 2))
    )
    assert retention.training_until(signed, POLICY) == date(2026, 3, 2)
    unsigned = Attempt(started_at=_at(date(2020, 2, 29)))
    assert retention.training_until(unsigned, POLICY) == date(2026, 2, 28)  # no 29 February in 2026
    assert retention.training_until(signed, retention.Policy(years=10)) == date(2030, 3, 2)


def test_assignments_are_kept_six_years_from_when_they_were_last_in_effect():
    closed = Assignment(state="done", created_at=_at(date(2019, 1, 10)), closed_at=_at(date(2020, 5, 4)))
    assert retention.assignment_until(closed, POLICY) == date(2026, 5, 4)  # from closing, not from making
    waived = Assignment(state="waived", created_at=_at(date(2019, 1, 10)), closed_at=_at(date(2019, 2, 1)))
    assert retention.assignment_until(waived, POLICY) == date(2025, 2, 1)
    still_open = Assignment(state="overdue", created_at=_at(date(2019, 1, 10)))
    assert retention.assignment_until(still_open, POLICY) is None  # in effect: kept
    assert retention.assignment_until(still_open, POLICY, gone_on=date(2021, 7, 1)) == date(2027, 7, 1)


def test_a_signed_statement_is_kept_six_years_after_it_was_last_in_effect():
    words = "Signed statement of completion under Texas Health and Safety Code 181.101; kept until 2026-04-01"
    statement = Attempt(started_at=_at(date(2020, 4, 1)), acknowledged_at=_at(date(2020, 4, 1)), signed_statement=words)
    assert retention.stated_until(words) == date(2026, 4, 1)
    assert retention.statement_until(statement, POLICY) is None  # the person's current statement
    assert retention.statement_until(statement, POLICY, superseded_on=date(2023, 9, 9)) == date(2029, 9, 9)
    assert retention.statement_until(statement, POLICY, gone_on=date(2024, 1, 2)) == date(2030, 1, 2)
    longer = Attempt(
        started_at=_at(date(2020, 4, 1)),
        acknowledged_at=_at(date(2020, 4, 1)),
        signed_statement=words.replace("2026-04-01", "2031-04-01"),  # a state that asks for longer
    )
    assert retention.statement_until(longer, POLICY, superseded_on=date(2021, 1, 1)) == date(2031, 4, 1)


def test_outbox_bodies_roster_files_and_people_gone_have_their_own_dates():
    message = OutboxMessage(created_at=_at(date(2026, 1, 1)))
    assert retention.outbox_until(message, POLICY) == date(2026, 4, 1)
    assert retention.outbox_until(message, retention.Policy(outbox_days=30)) == date(2026, 1, 31)
    upload = RosterUpload(uploaded_at=_at(date(2026, 1, 1)))
    assert retention.roster_upload_until(upload, POLICY) == date(2027, 2, 5)
    active = User(active=True, created_at=_at(date(2015, 1, 1)))
    assert retention.person_until(active, None, date(2016, 1, 1), POLICY) is None
    gone = User(active=False, created_at=_at(date(2015, 1, 1)))
    assert retention.person_until(gone, date(2018, 6, 1), date(2018, 7, 1), POLICY) == date(2024, 7, 1)
    assert retention.evidence_until("2020-02-03T04:05:06.000000Z", POLICY) == date(2026, 2, 3)


def test_the_first_day_still_kept_matches_the_keep_until_dates():
    for today in (date(2032, 2, 29), date(2032, 3, 1), date(2026, 12, 6)):
        first = retention.first_day_kept(today, 6)
        assert retention.after_years(first, 6) >= today
        assert retention.after_years(first - timedelta(days=1), 6) < today


def test_fewer_than_six_years_is_refused_citing_the_rule(monkeypatch, tmp_path):
    monkeypatch.setenv("RETENTION_YEARS", "5")
    with pytest.raises(ValueError, match=r"164\.530\(j\)"):
        config.from_environment(tmp_path)
    monkeypatch.setenv("RETENTION_YEARS", "7")
    assert config.from_environment(tmp_path)["RETENTION_YEARS"] == 7
    with pytest.raises(ValueError, match="at least 6"):
        retention.Policy(years=3)


# --- a small organization with a past -------------------------------------------------------------


def _gone_person(app, email: str, *, department: str | None = None, by_email: str = "hr@example.org") -> int:
    """Someone added and set inactive now (call it inside a time machine to make it long ago)."""
    with app.app_context():
        known = db.session.scalar(select(User.id).where(User.email == by_email))
        db.session.rollback()
    if known is None:
        add_user(app, email=by_email, name="Harper Reyes", role="admin", job_role="leadership")
    person_id = add_user(app, email=email, name=f"Person {email.split('@')[0]}", department=department)
    with app.app_context():
        person = db.session.get(User, person_id)
        person.employee_id = f"E-{email.split('@')[0]}"
        admin = db.session.scalar(select(User).where(User.email == by_email))
        team.set_inactive(db.session, [person], by=admin)
        db.session.commit()
    return person_id


def _message(app, to_id: int | None, address: str, body: str) -> int:
    with app.app_context():
        m = OutboxMessage(
            to_user_id=to_id,
            to_address=address,
            subject="Training due",
            body=body,
            kind="digest",
            digest_day=utcnow().date(),
            transport="outbox",
        )
        db.session.add(m)
        db.session.commit()
        return m.id


def _upload(app, content: str) -> int:
    with app.app_context():
        u = RosterUpload(filename="roster.csv", sha256="0" * 64, content=content)
        db.session.add(u)
        db.session.commit()
        return u.id


def _signed(app, user_id: int, name: str, number: int = 1, statement: str | None = None) -> int:
    """A signed attempt (rows only: its evidence is not what these tests are about)."""
    with app.app_context():
        if db.session.get(ContentVersion, "v" * 64) is None:
            db.session.add(ContentVersion(version="v" * 64, kind="module", content_id="m", path="m.md", source="x"))
            db.session.flush()
        now = utcnow()
        attempt = Attempt(
            user_id=user_id,
            module_id="m",
            number=number,
            module_version="v" * 64,
            policy_version="1.0",
            scenario_versions="[]",
            stage="finished",
            passed=True,
            score=100,
            finished_at=now,
            acknowledged_at=now,
            acknowledged_name=name,
            signed_statement=statement,
        )
        db.session.add(attempt)
        db.session.commit()
        return attempt.id


def _past(days: int):
    return time_machine.travel(utcnow() - timedelta(days=days), tick=True)


def _records(app, event: str) -> list[Evidence]:
    with app.app_context():
        return list(db.session.scalars(select(Evidence).where(Evidence.event == event).order_by(Evidence.seq)))


def _count_records(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Evidence.seq))) or 0


@pytest.fixture
def past(app):
    """Seven years ago: two people who left, a message to each, an uploaded file naming one.
    Lately: someone who left two years ago, a message of last month, a file of 100 days ago."""
    ids = {}
    with _past(YEARS_AGO_7.days):
        ids["old_gone"] = _gone_person(app, "olive@example.org")
        ids["old_gone_too"] = _gone_person(app, "oscar@example.org")
        ids["old_message"] = _message(app, ids["old_gone"], "olive@example.org", "Olive: privacy training is due")
        ids["old_upload"] = _upload(app, "employee_id,email,name\nE-olive,olive@example.org,Olive\n")
        ids["old_attempt"] = _signed(app, ids["old_gone"], "Person olive")
    with _past(800):
        ids["recent_gone"] = _gone_person(app, "rosa@example.org")
    with _past(100):
        ids["new_upload"] = _upload(app, "employee_id,email,name\nE-rosa,rosa@example.org,Rosa\n")
        ids["aging_message"] = _message(app, ids["recent_gone"], "rosa@example.org", "Rosa: 100 days old")
    ids["new_message"] = _message(app, ids["recent_gone"], "rosa@example.org", "Rosa: training is due")
    ids["active"] = add_user(app, email="avery@example.org", name="Avery Active")
    return ids


def _person(app, person_id: int) -> User:
    with app.app_context():
        person = db.session.get(User, person_id)
        db.session.expunge(person)
        return person


def _body(app, message_id: int) -> str:
    with app.app_context():
        return db.session.get(OutboxMessage, message_id).body


def _content(app, upload_id: int) -> str:
    with app.app_context():
        return db.session.get(RosterUpload, upload_id).content


def _hold(app, scope: str, *, email: str | None = None, department: str | None = None) -> int:
    with app.app_context():
        person = db.session.scalar(select(User).where(User.email == email)) if email else None
        hold = retention.place(
            db.session,
            scope,
            reason="Smith v. Hospital, preserve",
            by="counsel@example.org",
            person=person,
            department=department,
        )
        db.session.commit()
        return hold.id


def test_the_purge_removes_what_is_past_its_date_and_nothing_newer(app, past):
    result = run_cli(app, "retention", "purge")
    assert result.exit_code == 0, result.output
    # Past their dates: the old message's body, the old file's contents, the people gone 7 years.
    assert _body(app, past["old_message"]) == "" and _body(app, past["aging_message"]) == ""
    assert _content(app, past["old_upload"]) == ""
    for key in ("old_gone", "old_gone_too"):
        person = _person(app, past[key])
        name, email = retention.pseudonym(person.id)
        assert (person.name, person.email, person.employee_id) == (name, email, None)
        assert person.purged_at is not None and not person.active
    with app.app_context():
        old = db.session.get(OutboxMessage, past["old_message"])
        assert old.to_address == retention.pseudonym(past["old_gone"])[1] and old.body_purged_at is not None
        assert (
            db.session.get(Attempt, past["old_attempt"]).acknowledged_name == retention.pseudonym(past["old_gone"])[0]
        )
    # Newer: untouched.
    assert _body(app, past["new_message"]) == "Rosa: training is due"
    assert "E-rosa" in _content(app, past["new_upload"])
    rosa = _person(app, past["recent_gone"])
    assert (rosa.email, rosa.employee_id, rosa.purged_at) == ("rosa@example.org", "E-rosa", None)
    assert _person(app, past["active"]).name == "Avery Active"
    assert "2 outbox message bodies" in result.output and "2 people's personal fields" in result.output


def test_a_purge_is_evidence_without_personal_data_and_the_chain_still_verifies(app, past):
    assert run_cli(app, "retention", "purge").exit_code == 0
    records = _records(app, retention.PURGED)
    summary = json.loads(records[-1].details)
    assert summary["finished"] is True
    assert summary["purged"] == {"outbox": 2, "roster-upload": 1, "person": 2}
    assert summary["past_keep_until_kept"]["evidence"] > 0  # the old records, kept and counted
    for record in records:
        assert record.user_id is None and record.learner_email is None
        assert "olive" not in record.details.lower() and "oscar" not in record.details.lower()
    with app.app_context():
        assert evidence.verify(db.session).ok
        # The evidence keeps its own copies: the old deactivation still names Olive.
        olive = db.session.scalar(
            select(Evidence).where(Evidence.user_id == past["old_gone"], Evidence.event == "person.deactivated")
        )
        assert olive.learner_email == "olive@example.org"
    again = run_cli(app, "retention", "purge")  # nothing left to do
    assert (
        again.exit_code == 0
        and "purged 0 outbox message bodies, 0 uploaded roster files, 0 people's personal" in again.output
    )


def test_a_dry_run_lists_what_would_go_and_changes_nothing(app, past):
    before = _count_records(app)
    result = run_cli(app, "retention", "purge", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"message {past['old_message']}:" in result.output
    assert f"upload {past['old_upload']}:" in result.output
    assert "olive@example.org" in result.output and "rosa@example.org" not in result.output
    assert f"message {past['new_message']}:" not in result.output
    assert _body(app, past["old_message"]).startswith("Olive")
    assert _person(app, past["old_gone"]).email == "olive@example.org"
    assert _count_records(app) == before


def test_a_hold_on_everything_refuses_the_purge_and_changes_nothing(app, past):
    hold_id = _hold(app, "everything")
    listed = run_cli(app, "retention", "holds")
    assert listed.exit_code == 0 and f"legal hold {hold_id} on everything" in listed.output
    before = _count_records(app)
    for args in (("retention", "purge"), ("retention", "purge", "--dry-run")):
        result = run_cli(app, *args)
        assert result.exit_code == 1
        assert f"legal hold {hold_id} on everything, placed by counsel@example.org" in result.output
        assert "Smith v. Hospital" in result.output and "Nothing was purged" in result.output
    assert _body(app, past["old_message"]).startswith("Olive")
    assert "E-olive" in _content(app, past["old_upload"])
    assert _person(app, past["old_gone"]).email == "olive@example.org"
    assert _count_records(app) == before and not _records(app, retention.PURGED)
    with app.app_context():  # released, the purge runs
        retention.release(db.session, db.session.get(LegalHold, hold_id), reason="settled", by="counsel@example.org")
        db.session.commit()
    assert run_cli(app, "retention", "purge").exit_code == 0
    assert _person(app, past["old_gone"]).purged_at is not None
    assert run_cli(app, "retention", "holds").output.strip() == "no legal hold in force"


def test_a_person_hold_holds_back_exactly_that_person(app, past):
    _hold(app, "person", email="olive@example.org")
    result = run_cli(app, "retention", "purge")
    assert result.exit_code == 0, result.output
    assert _person(app, past["old_gone"]).email == "olive@example.org"  # held
    assert _body(app, past["old_message"]).startswith("Olive")  # a message to her: held
    assert "E-olive" in _content(app, past["old_upload"])  # a file naming her: held
    assert _person(app, past["old_gone_too"]).purged_at is not None  # not held
    assert _body(app, past["aging_message"]) == ""
    assert (
        "held back by legal holds: 1 outbox message body, 1 uploaded roster file, 1 person's personal fields"
        in result.output
    )
    summary = json.loads(_records(app, retention.PURGED)[-1].details)
    assert summary["held_back"] == {"outbox": 1, "roster-upload": 1, "person": 1}


def test_a_department_hold_holds_back_the_people_in_it(app):
    with _past(YEARS_AGO_7.days):
        billing = _gone_person(app, "bea@example.org", department="Billing")
        billing_too = _gone_person(app, "bo@example.org", department="Billing")
        pharmacy = _gone_person(app, "pia@example.org", department="Pharmacy")
    _hold(app, "department", department="Billing")
    result = run_cli(app, "retention", "purge")
    assert result.exit_code == 0, result.output
    assert _person(app, billing).purged_at is None and _person(app, billing_too).purged_at is None
    assert _person(app, pharmacy).purged_at is not None
    assert "held back by legal holds: 2 people's personal fields" in result.output


# --- holds in the browser: evidence, CSRF, no JavaScript --------------------------------------


def test_placing_and_releasing_a_hold_are_evidence_records(app):
    person_id = add_user(app, email="dana@example.org", name="Dana Whitfield", department="Front Desk")
    admin = signed_in_as(app, "admin")
    page = admin.get("/admin/holds")
    assert page.status_code == 200 and "Place a hold" in page.text
    form = {"csrf_token": csrf_token(page.text), "scope": "person", "email": "dana@example.org", "reason": ""}
    refused = admin.post("/admin/holds", data=form)
    assert refused.status_code == 422 and "Give the reason for the hold." in refused.text
    assert admin.post("/admin/holds", data={**form, "csrf_token": "", "reason": "OCR inquiry"}).status_code == 400
    placed = admin.post("/admin/holds", data={**form, "reason": "OCR inquiry 2026-44"})
    assert placed.status_code == 303
    with app.app_context():
        hold = db.session.scalar(select(LegalHold))
        assert (hold.scope, hold.user_id, hold.placed_by, hold.released_at) == (
            "person",
            person_id,
            "admin@example.org",
            None,
        )
        hold_id = hold.id
    [record] = _records(app, retention.HOLD_PLACED)
    assert record.user_id == person_id
    assert json.loads(record.details) == {
        "hold": hold_id,
        "scope": "person",
        "department": None,
        "reason": "OCR inquiry 2026-44",
        "by": "admin@example.org",
    }
    listing = admin.get("/admin/holds")
    assert "Dana Whitfield" in page_text(listing.text) and "OCR inquiry 2026-44" in listing.text
    assert repeated_ids(listing.text) == {}
    person_page = admin.get(f"/manage/people/{person_id}")
    assert "On legal hold" in page_text(person_page.text)
    token = csrf_token(listing.text)
    empty = admin.post(f"/admin/holds/{hold_id}/release", data={"csrf_token": token, "release_reason": ""})
    assert empty.status_code == 422 and "Give the reason for releasing the hold." in empty.text
    assert 'href="#release_reason"' in empty.text and 'id="release_reason"' in empty.text  # the summary's link lands
    assert repeated_ids(empty.text) == {}
    released = admin.post(f"/admin/holds/{hold_id}/release", data={"csrf_token": token, "release_reason": "closed"})
    assert released.status_code == 303
    [record] = _records(app, retention.HOLD_RELEASED)
    assert json.loads(record.details)["reason"] == "closed" and record.user_id == person_id
    with app.app_context():
        hold = db.session.get(LegalHold, hold_id)
        assert hold.released_at is not None and hold.released_by == "admin@example.org"
        assert evidence.verify(db.session).ok


def test_only_admins_place_holds(app):
    compliance = signed_in_as(app, "compliance")
    assert compliance.get("/admin/holds").status_code == 403


def test_the_pages_show_keep_until_dates_and_what_is_past_them(app, past):
    admin = signed_in_as(app, "admin")
    person = admin.get(f"/manage/people/{past['recent_gone']}")
    text = page_text(person.text)
    assert "How long these records are kept" in text and repeated_ids(person.text) == {}
    with app.app_context():
        rosa = db.session.get(User, past["recent_gone"])
        until = retention.person_until(rosa, retention.gone_on(db.session, rosa), None, POLICY)
    assert until is not None and until.isoformat() in text  # her personal fields' keep-until date
    compliance = signed_in_as(app, "compliance")
    page = compliance.get("/audit/retention")
    assert page.status_code == 200 and repeated_ids(page.text) == {}
    words = page_text(page.text)
    assert "Outbox message bodies" in words and "never purged in this version" in words
    # The privacy cost of keeping the evidence is stated.
    assert "stay in those records after the person's account is replaced by a pseudonym" in words
    _hold(app, "everything")
    assert "the purge is refused until it is released" in page_text(compliance.get("/audit/retention").text)


def test_a_purged_outbox_message_and_roster_file_say_so(app, past):
    assert run_cli(app, "retention", "purge").exit_code == 0
    admin = signed_in_as(app, "admin")
    message = admin.get(f"/admin/outbox/{past['old_message']}")
    assert message.status_code == 200 and "The message's body was removed on" in page_text(message.text)
    upload = admin.get(f"/admin/roster/import/{past['old_upload']}", follow_redirects=True)
    assert upload.status_code == 200 and "were removed on" in page_text(upload.text)


def test_a_statement_superseded_is_kept_six_years_after_and_the_current_one_while_in_effect(app):
    dana = add_user(app, email="dana@example.org", name="Dana Whitfield", department="Front Desk")
    words = "Signed statement of completion under Texas Health and Safety Code 181.101; kept until {}"
    with _past(3 * 366):
        signed_then = utcnow().date()
        first = _signed(app, dana, "Dana Whitfield", 1, words.format(retention.after_years(signed_then, 6)))
    with _past(400):
        again = utcnow().date()
        _signed(app, dana, "Dana Whitfield", 2, words.format(retention.after_years(again, 6)))
    with app.app_context():
        dates = retention.statement_dates(db.session, POLICY, user_id=dana)
        assert dates == [retention.after_years(again, 6), None]  # the first: 6 years after the second replaced it
        assert db.session.get(Attempt, first).signed_statement.endswith(str(retention.after_years(signed_then, 6)))
    page = signed_in_as(app, "admin").get(f"/manage/people/{dana}")
    assert "1 still in effect" in page_text(page.text)


def test_the_purge_writes_in_batches_each_with_its_record(app, past, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 1)
    assert run_cli(app, "retention", "purge").exit_code == 0
    records = [json.loads(r.details) for r in _records(app, retention.PURGED)]
    batches = [r for r in records if not r.get("finished")]
    assert [(b["kind"], b["purged"]) for b in batches] == [
        ("outbox", 1),
        ("outbox", 1),
        ("roster-upload", 1),
        ("person", 1),
        ("person", 1),
    ]
    assert len({r["run"] for r in records}) == 1 and records[-1]["finished"]


class _HoldPlacedMeanwhile(Steps):
    """The purge's steps, with an admin placing a hold on everything just before its first write."""

    def __init__(self, session, app):
        super().__init__(session)
        self.app, self.placed = app, False

    def write(self):
        if not self.placed:
            self.placed = True
            _hold(self.app, "everything")
        return super().write()


def test_a_hold_placed_during_the_purge_stops_it_before_its_next_write(app, past):
    with app.app_context():
        with pytest.raises(retention.HeldEverything):
            retention.purge(db.session, utcnow().date(), POLICY, by="test", steps=_HoldPlacedMeanwhile(db.session, app))
    assert _body(app, past["old_message"]).startswith("Olive")
    assert _person(app, past["old_gone"]).purged_at is None and not _records(app, retention.PURGED)

"""The demo organization (`flask --app app demo seed`, run by `make run`): a story every page shows
on the first visit, made through the product's own functions, and passwords that cannot be lost."""

from __future__ import annotations

import json
import re
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from quiz import accounts, demo
from quiz.config import PROJECT_ROOT
from quiz.db import db
from quiz.models import Assignment, Attempt, Evidence, OutboxMessage, TriggerEvent, User

from .helpers import add_user, close_app, make_app, page_text, run_cli, sign_in

#: Letters and digits at both ends, whatever is between.
CLEAN_ENDS = re.compile(r"^[A-Za-z0-9].*[A-Za-z0-9]$")


@pytest.fixture
def shipped(database_url, tmp_path, monkeypatch):
    """An app serving the shipped content (the demo's story needs its modules and curricula)."""
    app = make_app(database_url, tmp_path, monkeypatch, CONTENT_DIR=str(PROJECT_ROOT / "content"))
    yield app
    close_app(app)


def demo_file(app) -> Path:
    return Path(app.instance_path) / "demo-passwords.txt"


def _passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\S+@demo\.rounds) +(\S+) ", output, re.M))


def _row(html: str, name: str) -> str:
    """The words of the table row that names ``name``."""
    rows = [page_text(r) for r in re.split(r"<tr[ >]", html) if name in r]
    assert rows, f"no row for {name}"
    return rows[0]


def _signed_in(app, email: str, passwords: dict[str, str]):
    client = app.test_client()
    assert sign_in(client, email, passwords[email]).status_code == 303
    return client


def _everything(app) -> tuple[int, ...]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(table))
            for table in (User, Assignment, Attempt, Evidence, TriggerEvent, OutboxMessage)
        )


def test_the_demo_shows_each_situation_on_the_page_that_should_show_it(shipped):
    seeded = run_cli(shipped, "demo", "seed")
    assert seeded.exit_code == 0, seeded.output
    passwords = _passwords(seeded.output)
    assert len(passwords) == len(demo.PEOPLE)
    today = date.today()
    manager = _signed_in(shipped, "manager@demo.rounds", passwords)

    # The manager's team: someone overdue, someone who failed and has not retried, someone new,
    # someone who failed, retried and passed.
    team = manager.get("/manage/").text
    assert "Overdue" in _row(team, "Priya Raman")
    assert "Attempted, not passed" in _row(team, "Sam Okafor")
    assert "Not yet due" in _row(team, "Luis Ortega")
    assert "Current" in _row(team, "Dana Whitfield")

    with shipped.app_context():
        people = {u.email: u for u in db.session.scalars(select(User))}
        dana, priya, jordan = (
            people[e] for e in ("frontdesk@demo.rounds", "casemanager@demo.rounds", "vendor@demo.rounds")
        )
        # Dana failed her onboarding module, then passed it and signed: the failure is kept.
        tries = db.session.scalars(
            select(Attempt).where(Attempt.user_id == dana.id, Attempt.module_id == "front-desk-callers")
        ).all()
        assert [(a.number, a.passed, a.acknowledged_at is not None) for a in tries] == [
            (1, False, False),
            (2, True, True),
        ]
        # Priya's onboarding was due 40 days ago (hired 70 days ago), and the day's job marked it.
        late = db.session.scalars(select(Assignment).where(Assignment.user_id == priya.id)).all()
        assert late and {a.state for a in late} == {"overdue"}
        assert all(a.due_on == today - timedelta(days=40) for a in late)
        overdue_records = db.session.scalars(
            select(Evidence).where(Evidence.event == "assignment.overdue", Evidence.user_id == priya.id)
        ).all()
        assert len(overdue_records) == len(late)
        # Jordan: a business associate's staff member, recorded with the firm; signed late.
        assert (jordan.person_kind, jordan.vendor) == ("ba-staff", demo.BA_FIRM)
        completed = db.session.scalar(
            select(Evidence).where(Evidence.event == "assignment.completed", Evidence.user_id == jordan.id)
        )
        assert json.loads(completed.details)["late"] is True
        # The trigger event happened in the past and was recorded through the product.
        event = db.session.scalar(select(TriggerEvent))
        assert event.occurred_on == today - timedelta(days=demo.EVENT_DAYS_AGO)
        assert event.recorded_by.email == "manager@demo.rounds"
        # The records are stamped in the order they were made (the real time, never a past one).
        stamps = db.session.scalars(select(Evidence.recorded_at).order_by(Evidence.seq)).all()
        assert stamps == sorted(stamps)

    # The trigger event, with how far it got; the results, with a refresher to assign.
    events = manager.get("/manage/events/").text
    assert "Two records requests answered after 30 days" in events and "1 of 2" in page_text(events)
    results = page_text(manager.get("/manage/modules/front-desk-callers").text)
    assert "1 missed it: Dana Whitfield" in results and "Assign to the 1 who missed it" in results
    assert "1 missed it: Sam Okafor" in page_text(manager.get("/manage/modules/pharmacy-counter").text)

    # The admin's roster and the compliance officer's report name the firm.
    admin = _signed_in(shipped, "admin@demo.rounds", passwords)
    assert f"Business associate staff: {demo.BA_FIRM}" in _row(admin.get("/admin/roster").text, "Jordan Lee")
    assert "Rounds: overdue training for 1 person you supervise" in admin.get("/admin/outbox").text
    compliance = _signed_in(shipped, "compliance@demo.rounds", passwords)
    report = compliance.get("/audit/training", query_string={"person_kind": "ba-staff"}).text
    assert "Jordan Lee" in report and "Dana Whitfield" not in report

    # Dana sees her own history: the module she passed at the second try.
    learner = page_text(_signed_in(shipped, "frontdesk@demo.rounds", passwords).get("/learn/").text)
    assert "Callers who sound sure" in learner and "Passed on" in learner

    # The evidence chain and every done and overdue agree.
    verified = run_cli(shipped, "evidence", "verify", "--no-anchor")
    assert verified.exit_code == 0, verified.output
    assert "assignments ok" in verified.output


def test_the_passwords_are_kept_private_printed_last_and_copy_cleanly(shipped):
    seeded = run_cli(shipped, "demo", "seed")
    assert seeded.exit_code == 0, seeded.output
    passwords = _passwords(seeded.output)
    path = demo_file(shipped)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _passwords(path.read_text()) == passwords
    for email, password in passwords.items():
        assert CLEAN_ENDS.match(password), password
        accounts.check_password_rule(password, email=email)
    # Printed last: after the day's jobs and the story, nothing but the banner's end follows.
    banner = seeded.output.index("DEMO ORGANIZATION CREATED")
    assert seeded.output.rindex("demo:") < banner
    assert str(path) in seeded.output[banner:] and "demo passwords" in seeded.output[banner:]
    assert "users set-password EMAIL" in seeded.output[banner:]
    for email in ("manager@demo.rounds", "vendor@demo.rounds"):
        assert sign_in(shipped.test_client(), email, passwords[email]).status_code == 303

    # Again: nothing is made twice, and it says where the passwords are and how to get back in.
    before = _everything(shipped)
    again = run_cli(shipped, "demo", "seed")
    assert again.exit_code == 0 and _everything(shipped) == before
    assert "made earlier" in again.output and str(path) in again.output
    assert "demo passwords" in again.output and "users set-password EMAIL" in again.output
    shown = run_cli(shipped, "demo", "passwords")
    assert shown.exit_code == 0 and _passwords(shown.output) == passwords

    # The file gone, the way back in is still printed.
    path.unlink()
    again = run_cli(shipped, "demo", "seed")
    assert "No demo passwords file" in again.output and "users set-password EMAIL" in again.output
    lost = run_cli(shipped, "demo", "passwords")
    assert lost.exit_code == 1 and "users set-password EMAIL" in lost.output


def test_a_database_with_other_accounts_gets_no_demo(app):
    add_user(app)
    result = run_cli(app, "demo", "seed")
    assert result.exit_code == 0 and "demo organization not created" in result.output
    assert "set-password" not in result.output and not demo_file(app).exists()
    assert _everything(app)[0] == 1


def test_generated_passwords_begin_and_end_with_a_letter_or_digit():
    made = [accounts.generate_password(email="dana@example.org", name="Dana Whitfield") for _ in range(300)]
    assert all(CLEAN_ENDS.match(p) for p in made)
    assert len(set(made)) == len(made)
    for p in made[:20]:
        accounts.check_password_rule(p, email="dana@example.org", name="Dana Whitfield")

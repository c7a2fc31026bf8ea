"""When the chain check fails, the compliance officers and admins are told: once a day each, by
SMTP when it is set up and always in the outbox; a chain that verifies tells nobody."""

from __future__ import annotations

import json
import smtplib
import threading
from datetime import date
from pathlib import Path

from sqlalchemy import select, text

from quiz import chain_check, evidence, mailer
from quiz.db import db
from quiz.models import OutboxMessage, User

from .helpers import add_user, disable_evidence_triggers, page_text, sign_in

SMTP = mailer.SmtpSettings(host="smtp.example.org", sender="Rounds <rounds@example.org>")


def _people(app) -> None:
    add_user(app, email="officer@example.org", name="Olu Officer", role="compliance", job_role="leadership")
    add_user(app, email="admin@example.org", name="Ada Admin", role="admin", job_role="it")
    gone = add_user(app, email="gone@example.org", name="Gil Gone", role="admin", job_role="it")
    add_user(app, email="boss@example.org", name="Mo Manager", role="manager", job_role="leadership")
    add_user(app, email="learner@example.org", name="Dana Whitfield")
    with app.app_context():
        db.session.get(User, gone).active = False  # left: not told
        for i in range(3):
            evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={"i": i})
        db.session.commit()


def _break(app, seq: int = 2) -> None:
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("UPDATE evidence SET details = :d WHERE seq = :s"), {"d": '{"i":99}', "s": seq})
        db.session.commit()


def _outbox(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.to_address)))
        db.session.expunge_all()
        return rows


def test_a_chain_that_verifies_sends_the_days_head_and_no_alert(app):
    _people(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["evidence", "verify", "--alert"])
    assert result.exit_code == 0 and "evidence ok: 3 records" in result.output
    with app.app_context():  # the anchor's start record came after the head the message gives
        head = db.session.scalar(select(evidence.Evidence.hash).where(evidence.Evidence.seq == 3))
    rows = _outbox(app)
    assert [(r.to_address, r.kind) for r in rows] == [
        ("admin@example.org", "chain-head"),
        ("officer@example.org", "chain-head"),
    ]
    assert head in rows[0].body and "3 records" in rows[0].subject and "failed" not in rows[0].subject
    again = runner.invoke(args=["evidence", "verify", "--alert"])
    assert again.exit_code == 0 and "alert: 0 new, 2 already told today" in again.output


def test_a_broken_chain_is_told_once_a_day_to_each_active_compliance_officer_and_admin(app):
    _people(app)
    _break(app, 2)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["evidence", "verify", "--alert"])
    assert result.exit_code == 1 and "evidence BROKEN at record 2" in result.output
    assert "alert: 2 new" in result.output
    rows = _outbox(app)
    assert [r.to_address for r in rows] == ["admin@example.org", "officer@example.org"]
    for row in rows:
        assert row.kind == "chain-alert" and row.digest_day == date.today() and row.sent_at is None
        assert row.error is None  # no SMTP: kept in the outbox, as the outbox shows
        body = " ".join(row.body.split())
        assert "record 2: its contents do not match its hash" in body
        assert "http://127.0.0.1:5000/audit/records/2" in body and "Do not change, restore" in body
    again = runner.invoke(args=["evidence", "verify", "--alert"])
    assert again.exit_code == 1 and "alert: 0 new, 2 already told today" in again.output
    assert len(_outbox(app)) == 2
    # Without --alert, nobody is told (the check alone, as before).
    assert "alert" not in runner.invoke(args=["evidence", "verify"]).output
    # An admin reads it in the outbox.
    admin = app.test_client()
    assert sign_in(admin, "admin@example.org").status_code == 303
    page = page_text(admin.get("/admin/outbox").text)
    assert "Chain check failed" in page


def test_with_smtp_it_is_sent_and_a_refusal_is_kept_and_tried_again_the_same_day(app):
    _people(app)
    _break(app, 3)
    handed: list = []

    def refuse(message, settings):
        raise smtplib.SMTPRecipientsRefused({message["To"]: (550, b"no such user")})

    with app.app_context():
        result = evidence.verify(db.session)
        first = chain_check.send(
            db.session,
            result,
            date.today(),
            smtp=SMTP,
            base_url="https://rounds.example.org/",
            at_fault=3,
            sender=refuse,
        )
    assert (first.told, first.sent, first.failed) == (2, 0, 2)
    assert all("550 no such user" in r.error and r.sent_at is None for r in _outbox(app))

    with app.app_context():
        second = chain_check.send(
            db.session,
            result,
            date.today(),
            smtp=SMTP,
            base_url="https://rounds.example.org/",
            at_fault=3,
            sender=lambda message, settings: handed.append(message),
        )
    assert (second.told, second.sent, second.failed) == (0, 2, 0)
    assert sorted(m["To"] for m in handed) == ["Ada Admin <admin@example.org>", "Olu Officer <officer@example.org>"]
    assert handed[0]["Subject"] == f"Rounds: the evidence chain failed its check ({date.today().isoformat()})"
    assert "https://rounds.example.org/audit/records/3" in handed[0].get_content()
    assert all(r.sent_at is not None and r.transport == "smtp" and r.error is None for r in _outbox(app))
    with app.app_context():
        third = chain_check.send(
            db.session,
            result,
            date.today(),
            smtp=SMTP,
            base_url="https://rounds.example.org/",
            sender=lambda message, settings: handed.append(message),
        )
    assert (third.already, len(handed)) == (2, 2)  # sent today already: not again


def test_no_write_lock_is_held_while_talking_to_the_smtp_server(app):
    """A slow SMTP server must not make learners' answers wait: another connection writes
    while each message is being handed over."""
    _people(app)
    _break(app, 2)
    failures: list = []

    def someone_writes():
        try:
            with app.app_context():
                evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={"during": "smtp"})
                db.session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def slow_server(message, settings):
        writer = threading.Thread(target=someone_writes)
        writer.start()
        writer.join()

    with app.app_context():
        result = evidence.verify(db.session)
        report = chain_check.send(db.session, result, date.today(), smtp=SMTP, base_url="http://x", sender=slow_server)
    assert failures == [] and report.sent == 2


def test_records_removed_from_the_end_are_caught_against_the_anchor(app):
    """What is left of a chain whose newest records were deleted still verifies; the head kept
    in the anchor file by the last good check shows they are gone."""
    _people(app)
    runner = app.test_cli_runner()
    # Anchors record 3's hash, records that the anchor was started (4), and anchors that too.
    assert runner.invoke(args=["evidence", "verify", "--alert"]).exit_code == 0
    disable_evidence_triggers(app)
    with app.app_context():
        assert (
            db.session.scalar(select(evidence.Evidence.event).where(evidence.Evidence.seq == 4))
            == chain_check.ANCHOR_STARTED
        )
        db.session.execute(text("DELETE FROM evidence WHERE seq = 4"))
        db.session.commit()
    assert (
        runner.invoke(args=["evidence", "verify", "--no-anchor"]).exit_code == 0
    )  # the premise: the chain alone cannot tell
    result = runner.invoke(args=["evidence", "verify", "--alert"])
    assert result.exit_code == 1 and "records 4..4 were removed from its end" in result.output
    assert [r.to_address for r in _outbox(app) if r.kind == "chain-alert"] == [
        "admin@example.org",
        "officer@example.org",
    ]
    with app.app_context():  # a new record 4 in its place, even with the key: the head differs
        evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={"i": "forged"})
        db.session.commit()
    result = runner.invoke(args=["evidence", "verify"])
    assert (
        result.exit_code == 1 and "record 4, the newest at the last good check, no longer has the hash" in result.output
    )


def test_a_broken_chain_with_nobody_to_tell_says_so(app):
    add_user(app)
    with app.app_context():
        evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={})
        evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={})
        db.session.commit()
    _break(app, 1)
    result = app.test_cli_runner().invoke(args=["evidence", "verify", "--alert"])
    assert result.exit_code == 1 and "NOBODY TOLD" in result.output and _outbox(app) == []


def test_the_chain_page_shows_the_anchor_and_holds_the_log_to_it(app):
    _people(app)
    officer = app.test_client()
    assert sign_in(officer, "officer@example.org").status_code == 303  # record 4: the sign-in
    assert "has not run on this server yet" in page_text(officer.get("/audit/chain").text)
    assert (
        app.test_cli_runner().invoke(args=["evidence", "verify", "--alert"]).exit_code == 0
    )  # record 5: anchor started
    with app.app_context():
        head = evidence.verify(db.session).head_hash
    page = page_text(officer.get("/audit/chain").text)
    assert (
        "last wrote the chain's head to the anchor file on" in page
        and f"5 records, the newest with hash {head}" in page
    )
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM evidence WHERE seq = 5"))
        db.session.commit()
    page = page_text(officer.get("/audit/chain").text)
    assert "The chain is broken at record 5: the log has 4 records, fewer than the 5 of the last good check" in page


def test_the_old_last_good_check_file_still_holds_the_log_until_the_anchor_starts(app):
    _people(app)
    instance = Path(app.instance_path)
    with app.app_context():
        head = db.session.scalar(select(evidence.Evidence.hash).where(evidence.Evidence.seq == 3))
    (instance / chain_check.LEGACY_LAST_GOOD).write_text(json.dumps({"count": 3, "head_hash": head, "checked_at": "x"}))
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM evidence WHERE seq = 3"))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["evidence", "verify", "--alert"])
    assert result.exit_code == 1 and "records 3..3 were removed from its end" in result.output
    assert not (instance / "evidence-anchor.log").exists()  # never anchored a chain that failed

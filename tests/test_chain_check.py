"""When the chain check fails, the compliance officers and admins are told: once a day each, by
SMTP when it is set up and always in the outbox; a chain that verifies tells nobody."""

from __future__ import annotations

import smtplib
import threading
from datetime import date

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


def test_a_chain_that_verifies_tells_nobody(app):
    _people(app)
    result = app.test_cli_runner().invoke(args=["evidence", "verify", "--alert"])
    assert result.exit_code == 0 and "evidence ok: 3 records" in result.output
    assert _outbox(app) == []


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
        first = chain_check.send(db.session, result, date.today(), smtp=SMTP, base_url="https://rounds.example.org/",
                            at_fault=3, sender=refuse)
    assert (first.told, first.sent, first.failed) == (2, 0, 2)
    assert all("550 no such user" in r.error and r.sent_at is None for r in _outbox(app))

    with app.app_context():
        second = chain_check.send(db.session, result, date.today(), smtp=SMTP, base_url="https://rounds.example.org/",
                             at_fault=3, sender=lambda message, settings: handed.append(message))
    assert (second.told, second.sent, second.failed) == (0, 2, 0)
    assert sorted(m["To"] for m in handed) == ["Ada Admin <admin@example.org>", "Olu Officer <officer@example.org>"]
    assert handed[0]["Subject"] == f"Rounds: the evidence chain failed its check ({date.today().isoformat()})"
    assert "https://rounds.example.org/audit/records/3" in handed[0].get_content()
    assert all(r.sent_at is not None and r.transport == "smtp" and r.error is None for r in _outbox(app))
    with app.app_context():
        third = chain_check.send(db.session, result, date.today(), smtp=SMTP, base_url="https://rounds.example.org/",
                            sender=lambda message, settings: handed.append(message))
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


def test_records_removed_from_the_end_are_caught_against_the_last_good_check(app):
    """What is left of a chain whose newest records were deleted still verifies; the head kept
    outside the database by the last good check shows they are gone."""
    _people(app)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["evidence", "verify", "--alert"]).exit_code == 0  # remembers record 3's hash
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM evidence WHERE seq = 3"))
        db.session.commit()
    assert runner.invoke(args=["evidence", "verify"]).exit_code == 0  # the premise: the chain alone cannot tell
    result = runner.invoke(args=["evidence", "verify", "--alert"])
    assert result.exit_code == 1 and "records 3..3 were removed from its end" in result.output
    assert [r.to_address for r in _outbox(app)] == ["admin@example.org", "officer@example.org"]
    with app.app_context():  # a new record 3 in its place: the chain verifies, the head differs
        evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={"i": "forged"})
        db.session.commit()
    result = runner.invoke(args=["evidence", "verify", "--alert"])
    assert result.exit_code == 1 and "record 3, the newest at the last good check, no longer has the hash" in result.output


def test_a_broken_chain_with_nobody_to_tell_says_so(app):
    add_user(app)
    with app.app_context():
        evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={})
        evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={})
        db.session.commit()
    _break(app, 1)
    result = app.test_cli_runner().invoke(args=["evidence", "verify", "--alert"])
    assert result.exit_code == 1 and "NOBODY TOLD" in result.output and _outbox(app) == []


def test_the_chain_page_shows_the_daily_check_and_holds_the_log_to_it(app):
    _people(app)
    officer = app.test_client()
    assert sign_in(officer, "officer@example.org").status_code == 303  # record 4: the sign-in
    assert "has not run on this server yet" in page_text(officer.get("/audit/chain").text)
    assert app.test_cli_runner().invoke(args=["evidence", "verify", "--alert"]).exit_code == 0
    with app.app_context():
        head = evidence.verify(db.session).head_hash
    page = page_text(officer.get("/audit/chain").text)
    assert "last found the chain intact on" in page and f"4 records, the newest with hash {head}" in page
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM evidence WHERE seq = 4"))
        db.session.commit()
    page = page_text(officer.get("/audit/chain").text)
    assert "The chain is broken at record 4: the log has 3 records, fewer than the 4 of the last good check" in page


def test_a_last_good_check_file_that_is_not_one_is_ignored_and_written_again(app, tmp_path):
    _people(app)
    (path := tmp_path / chain_check.LAST_GOOD).write_text("{not json", encoding="utf-8")
    assert chain_check.last_good(tmp_path) is None
    with app.app_context():
        result = evidence.verify(db.session)
        assert chain_check.check_against_last_good(db.session, result, tmp_path) == result
        chain_check.remember_good(tmp_path, result)
    assert chain_check.last_good(tmp_path).count == 3 and not path.with_suffix(".part").exists()

"""Email reminders: who gets what, what arrives at a real SMTP server (aiosmtpd on loopback),
one message of each kind per address per day, retries, the outbox page, and evidence."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from quiz import accounts, assignments, clock, evidence, jobs, mailer, reminders
from quiz.config import from_environment
from quiz.content import load_library
from quiz.content.curricula import load_curricula
from quiz.db import db
from quiz.models import Assignment, Evidence, OutboxMessage, User

from .helpers import DATA_CONTENT, PASSWORD, Inbox, body_of, free_port, sign_in, start_server, use_smtp

TODAY = date(2026, 11, 23)
LIBRARY = load_library(DATA_CONTENT)
CURRICULA, _ = load_curricula(DATA_CONTENT, LIBRARY)
TITLE = LIBRARY.modules["test-callers"].title  # "Test module on callers"


# --- a real SMTP server on loopback ----------------------------------------------------------


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = start_server(inbox)
    yield inbox
    controller.stop()


def no_smtp(app) -> None:
    app.config.update(SMTP_HOST=None, BASE_URL="https://rounds.clinic.example")


# --- people and assignments ------------------------------------------------------------------


def person(app, email, name, *, due=None, supervisor=None, role="learner", module="test-callers", active=True) -> int:
    with app.app_context():
        user = accounts.create_user(
            db.session,
            email=email,
            name=name,
            password=PASSWORD,
            role=role,
            job_role="front-desk" if role == "learner" else "leadership",
            supervisor_email=supervisor,
        )
        if due is not None:
            assignments.ensure(db.session, user, module, due, "manager-choice", library=LIBRARY)
        user.active = active
        db.session.commit()
        return user.id


def run(app, *args):
    return app.test_cli_runner().invoke(args=["reminders", "send", *args])


def on(day: date) -> tuple[str, str]:
    return ("--today", day.isoformat())


def outbox(app) -> list[tuple[str, str, date, str, bool, str | None]]:
    with app.app_context():
        return [
            (m.to_address, m.kind, m.digest_day, m.transport, m.sent_at is not None, m.error)
            for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


def records(app, event: str) -> list[tuple[str, dict]]:
    with app.app_context():
        return [
            (e.learner_email, json.loads(e.details))
            for e in db.session.scalars(select(Evidence).where(Evidence.event == event).order_by(Evidence.seq))
        ]


def chain_ok(app) -> bool:
    result = app.test_cli_runner().invoke(args=["evidence", "verify"])
    return result.exit_code == 0 and result.output.startswith("evidence ok:")


# --- planning --------------------------------------------------------------------------------


def test_plan_picks_due_soon_and_overdue_and_escalates_after_n_days(app):
    person(app, "boss@example.org", "Morgan Manager", role="manager")
    person(app, "gone-boss@example.org", "Former Boss", role="manager", active=False)
    person(app, "ana@example.org", "Ana Lima", due=TODAY + timedelta(days=5), supervisor="boss@example.org")
    person(app, "ben@example.org", "Ben Ortiz", due=TODAY - timedelta(days=3), supervisor="boss@example.org")
    person(app, "cat@example.org", "Cat Nguyen", due=TODAY - timedelta(days=10), supervisor="boss@example.org")
    person(app, "dan@example.org", "Dan Far", due=TODAY + timedelta(days=20), supervisor="boss@example.org")
    person(app, "eve@example.org", "Eve Alone", due=TODAY - timedelta(days=9))
    person(app, "hal@example.org", "Hal Orphan", due=TODAY - timedelta(days=9), supervisor="gone-boss@example.org")
    person(
        app, "fay@example.org", "Fay Left", due=TODAY - timedelta(days=30), supervisor="boss@example.org", active=False
    )
    gus = person(app, "gus@example.org", "Gus Waived", due=TODAY - timedelta(days=30), supervisor="boss@example.org")
    with app.app_context():
        boss = db.session.scalar(select(User).where(User.email == "boss@example.org"))
        assignments.waive(db.session, assignments.of_user(db.session, gus)[0], boss, "Trained elsewhere")
        db.session.commit()
        planned = reminders.plan(db.session, TODAY, 14, 7, library=LIBRARY)
        left_out = reminders.unescalated(planned, 7)
        hal = db.session.scalar(select(User.id).where(User.email == "hal@example.org"))
        eve = db.session.scalar(select(User.id).where(User.email == "eve@example.org"))

    learners = {d.to_address: [(i.title, i.days_overdue) for i in d.items] for d in planned if d.kind == "digest"}
    assert learners == {
        "ana@example.org": [(TITLE, -5)],
        "ben@example.org": [(TITLE, 3)],
        "cat@example.org": [(TITLE, 10)],
        "eve@example.org": [(TITLE, 9)],
        "hal@example.org": [(TITLE, 9)],
    }
    escalations = [d for d in planned if d.kind == "escalation"]
    assert [(d.to_address, [i.learner_email for i in d.items]) for d in escalations] == [
        ("boss@example.org", ["cat@example.org"])
    ]
    assert left_out == sorted([eve, hal])


def test_a_digest_lists_every_open_assignment_and_names_modules_without_a_library(app):
    uid = person(app, "ana@example.org", "Ana Lima", due=TODAY + timedelta(days=1))
    with app.app_context():
        user = db.session.get(User, uid)
        assignments.ensure(db.session, user, "retired-module", TODAY - timedelta(days=1), "manager-choice")
        db.session.commit()
        with_titles = reminders.plan(db.session, TODAY, 14, 7, library=LIBRARY)
        bare = reminders.plan(db.session, TODAY, 14, 7)
    assert len(with_titles) == 1
    # by due date; a module the content no longer has is named by its id, and says so
    assert [i.title for i in with_titles[0].items] == ["retired-module (no longer in the content)", TITLE]
    assert [i.title for i in bare[0].items] == ["retired-module", "test-callers"]
    subject, body = reminders.compose(with_titles[0], reminders.Settings(base_url="https://r.example"))
    assert subject == "Rounds: 1 module overdue and 1 due soon"
    assert "- retired-module (no longer in the content)\n  Overdue by 1 day (was due 22 Nov 2026)" in body
    assert f"- {TITLE}\n  Due tomorrow, 24 Nov 2026" in body
    assert "https://r.example/learn/" in body


# --- sending by SMTP -------------------------------------------------------------------------


def test_reminders_arrive_by_smtp_once_a_day(app, smtp):
    use_smtp(app, smtp.port)
    with app.app_context():  # a front-desk hire 25 days ago: onboarding due in 5 days
        ana = accounts.create_user(
            db.session, email="ana@example.org", name="Ana Lima", password=PASSWORD, job_role="front-desk"
        )
        ana.hire_date = TODAY - timedelta(days=25)
        assignments.for_person(db.session, ana, CURRICULA, LIBRARY, TODAY, new=True)
        db.session.commit()
    person(app, "dan@example.org", "Dan Far", due=TODAY + timedelta(days=20))  # not due soon yet

    first = run(app, *on(TODAY))
    assert first.exit_code == 0, first.output
    assert "1 digest, 0 escalations; 1 new" in first.output and "1 sent by SMTP" in first.output
    assert smtp.recipients == [["ana@example.org"]]
    message = smtp.messages[0]
    assert message["To"] == "Ana Lima <ana@example.org>"
    assert message["From"] == "Rounds <rounds@clinic.example>"
    assert message["Subject"] == "Rounds: 1 module due soon"
    assert message["Auto-Submitted"] == "auto-generated" and message["Message-ID"].endswith("@clinic.example>")
    assert message.get_content_type() == "text/plain"
    body = body_of(message)
    assert f"- {TITLE}\n  Due 28 Nov 2026 (in 5 days)" in body
    assert "https://rounds.clinic.example/learn/" in body
    assert outbox(app) == [("ana@example.org", "digest", TODAY, "smtp", True, None)]

    again = run(app, *on(TODAY))
    assert again.exit_code == 0, again.output
    assert "0 new, 0 retried, 1 already done today; 0 sent by SMTP" in again.output
    assert len(smtp.messages) == 1  # no flood

    tomorrow = run(app, *on(TODAY + timedelta(days=1)))
    assert tomorrow.exit_code == 0 and len(smtp.messages) == 2
    assert "Due 28 Nov 2026 (in 4 days)" in body_of(smtp.messages[1])

    sent = records(app, "reminder.sent")
    assert [(who, d["transport"], d["digest_day"]) for who, d in sent] == [
        ("ana@example.org", "smtp", "2026-11-23"),
        ("ana@example.org", "smtp", "2026-11-24"),
    ]
    assert sent[0][1]["assignments"][0]["module"] == "test-callers"
    assert sent[0][1]["assignments"][0]["due_on"] == "2026-11-28"
    assert chain_ok(app)


def test_a_day_to_come_is_refused_and_nothing_is_kept_sent_or_recorded(app, smtp):
    use_smtp(app, smtp.port)
    today = clock.real_today()
    person(app, "boss@example.org", "Bo Boss", role="manager")
    person(app, "ana@example.org", "Ana Lima", due=today + timedelta(days=20), supervisor="boss@example.org")
    with app.app_context():
        evidence_before = db.session.scalar(select(func.count()).select_from(Evidence))
    future = today + timedelta(days=45)  # Ana would be 25 days overdue, and her supervisor told
    result = run(app, *on(future))
    assert result.exit_code == 2, result.output
    assert (
        f"Invalid value for '--today': {future.isoformat()} has not happened yet: "
        f"today is {today.isoformat()} (UTC)"
    ) in result.output
    assert smtp.messages == [] and outbox(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Evidence)) == evidence_before


def test_a_missed_day_is_sent_for_that_day(app, smtp):
    use_smtp(app, smtp.port)
    yesterday = clock.real_today() - timedelta(days=1)
    person(app, "ana@example.org", "Ana Lima", due=yesterday + timedelta(days=3))
    result = run(app, *on(yesterday))
    assert result.exit_code == 0, result.output
    assert f"reminders for {yesterday.isoformat()}: 1 digest," in result.output
    assert "(in 3 days)" in body_of(smtp.messages[0])  # as of the day that was missed
    assert outbox(app) == [("ana@example.org", "digest", yesterday, "smtp", True, None)]
    assert [d["digest_day"] for _, d in records(app, "reminder.sent")] == [yesterday.isoformat()]


def test_the_supervisor_gets_one_escalation_after_n_days_overdue(app, smtp):
    use_smtp(app, smtp.port)
    person(app, "boss@example.org", "Morgan Manager", role="manager")
    ana = person(app, "ana@example.org", "Ana Lima", due=TODAY, supervisor="boss@example.org")
    ben = person(app, "ben@example.org", "Ben Ortiz", due=TODAY, supervisor="boss@example.org")

    early = run(app, *on(TODAY + timedelta(days=6)))  # overdue by 6 days: learners only
    assert early.exit_code == 0, early.output
    assert sorted(r[0] for r in smtp.recipients) == ["ana@example.org", "ben@example.org"]
    assert "Overdue by 6 days (was due 23 Nov 2026)" in body_of(smtp.messages[0])

    day = TODAY + timedelta(days=7)
    result = run(app, *on(day))
    assert result.exit_code == 0, result.output
    assert "2 digests, 1 escalation; 3 new" in result.output
    to_boss = [m for m, r in zip(smtp.messages, smtp.recipients, strict=False) if r == ["boss@example.org"]]
    assert len(to_boss) == 1
    escalation = to_boss[0]
    assert escalation["Subject"] == "Rounds: overdue training for 2 people you supervise"
    body = body_of(escalation)
    assert "Ana Lima (ana@example.org)\n- Test module on callers: due 23 Nov 2026, overdue by 7 days" in body
    assert "Ben Ortiz (ben@example.org)\n- Test module on callers: due 23 Nov 2026, overdue by 7 days" in body
    assert "https://rounds.clinic.example/manage/" in body

    assert run(app, *on(day)).exit_code == 0
    assert len(smtp.messages) == 5  # 2 on day 6; 3 on day 7; none on the second run of day 7

    escalated = records(app, "reminder.escalated")
    with app.app_context():
        ids = {uid: assignments.of_user(db.session, uid)[0].id for uid in (ana, ben)}
    assert [
        (
            who,
            d["supervisor"],
            [a["assignment"] for a in d["assignments"]],
            d["assignments"][0]["days_overdue"],
            d["transport"],
        )
        for who, d in escalated
    ] == [
        ("ana@example.org", "boss@example.org", [ids[ana]], 7, "smtp"),
        ("ben@example.org", "boss@example.org", [ids[ben]], 7, "smtp"),
    ]
    assert len(records(app, "reminder.sent")) == 4
    assert chain_ok(app)


def test_the_escalation_threshold_comes_from_the_settings(app, smtp):
    use_smtp(app, smtp.port, REMINDER_ESCALATE_AFTER_DAYS=2)
    person(app, "boss@example.org", "Morgan Manager", role="learner")
    person(app, "ana@example.org", "Ana Lima", due=TODAY, supervisor="boss@example.org")
    result = run(app, *on(TODAY + timedelta(days=2)))
    assert result.exit_code == 0, result.output
    assert "1 escalation;" in result.output
    assert ["boss@example.org"] in smtp.recipients
    body = body_of(smtp.messages[smtp.recipients.index(["boss@example.org"])])
    assert "overdue by 2 days or more" in body
    assert "/manage/" not in body  # this supervisor's account has no team page

    app.config["REMINDER_ESCALATE_AFTER_DAYS"] = 0
    refused = run(app, *on(TODAY + timedelta(days=3)))
    assert refused.exit_code == 1 and "REMINDER_ESCALATE_AFTER_DAYS" in refused.output


# --- no SMTP: the outbox, and the admin page -------------------------------------------------


def test_without_smtp_messages_stay_in_the_outbox_for_admins_to_read(app, client):
    no_smtp(app)
    person(app, "admin@example.org", "Avery Admin", role="admin")
    person(app, "boss@example.org", "Morgan Manager", role="manager")
    person(app, "ana@example.org", "Ana Lima", due=TODAY - timedelta(days=8), supervisor="boss@example.org")

    result = run(app, *on(TODAY))
    assert result.exit_code == 0, result.output
    assert "0 sent by SMTP, 2 kept in the outbox, 0 failed" in result.output
    assert outbox(app) == [
        ("ana@example.org", "digest", TODAY, "outbox", False, None),
        ("boss@example.org", "escalation", TODAY, "outbox", False, None),
    ]
    again = run(app, *on(TODAY))
    assert "0 new" in again.output and "2 already done today" in again.output
    assert len(outbox(app)) == 2
    assert [d["transport"] for _, d in records(app, "reminder.sent")] == ["outbox"]
    assert [d["transport"] for _, d in records(app, "reminder.escalated")] == ["outbox"]

    assert sign_in(client, "admin@example.org").status_code == 303
    index = client.get("/admin/")
    assert "/admin/outbox" in index.text and "Every email Rounds sent or would have sent" in index.text
    page = client.get("/admin/outbox")
    assert page.status_code == 200
    assert "Rounds: 1 module overdue" in page.text and "ana@example.org" in page.text
    assert "Rounds: overdue training for 1 person you supervise" in page.text
    assert "Kept in the outbox" in page.text
    with app.app_context():
        mid = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "digest"))
    shown = client.get(f"/admin/outbox/{mid}")
    assert shown.status_code == 200
    assert f"- {TITLE}<br>" in shown.text and "Overdue by 8 days (was due 15 Nov 2026)" in shown.text
    assert client.get("/admin/outbox/999999").status_code == 404


def test_learners_and_strangers_cannot_read_the_outbox(app, client):
    no_smtp(app)
    person(app, "ana@example.org", "Ana Lima", due=TODAY)
    assert run(app, *on(TODAY)).exit_code == 0
    anonymous = client.get("/admin/outbox")
    assert anonymous.status_code in (302, 303) and "/auth/login" in anonymous.headers["Location"]
    assert sign_in(client, "ana@example.org").status_code == 303
    assert client.get("/admin/outbox").status_code == 403
    assert client.get("/admin/outbox/1").status_code == 403


def test_the_outbox_shows_fifty_a_page_newest_first(app, client):
    person(app, "admin@example.org", "Avery Admin", role="admin")
    with app.app_context():
        for n in range(51):
            db.session.add(
                OutboxMessage(
                    to_address=f"p{n}@example.org",
                    subject=f"Message number {n}",
                    body="Hello",
                    kind="digest",
                    digest_day=TODAY,
                    transport="outbox",
                    error="SMTPDataError: 554 no" if n == 50 else None,
                )
            )
            db.session.flush()
        db.session.commit()
    sign_in(client, "admin@example.org")
    first = client.get("/admin/outbox")
    assert first.text.count('<tr id="m') == 50
    assert first.text.index("Message number 50") < first.text.index("Message number 49")
    assert "SMTPDataError: 554 no" in first.text and "Not sent" in first.text
    assert "Message number 0<" not in first.text and "Older messages" in first.text
    second = client.get("/admin/outbox?page=2")
    assert second.text.count('<tr id="m') == 1 and "Message number 0<" in second.text
    assert "Newer messages" in second.text
    past_the_end = client.get("/admin/outbox?page=3")  # the last page, not a dead end
    assert past_the_end.status_code == 200 and "Message number 0<" in past_the_end.text


# --- failures, retries, crashes, overlapping runs --------------------------------------------


def test_a_refused_message_is_kept_with_the_error_and_a_later_run_sends_it(app, smtp):
    use_smtp(app, smtp.port)
    person(app, "ana@example.org", "Ana Lima", due=TODAY + timedelta(days=3))
    smtp.refuse = "554 5.7.1 Not accepting mail today"

    failed = run(app, *on(TODAY))
    assert failed.exit_code == 1
    assert (
        "1 failed" in failed.output
        and "1 message not accepted by the SMTP server" in failed.output
        and "tries it again" in failed.output
    )
    assert smtp.messages == []
    [(to, kind, day, transport, sent, error)] = outbox(app)
    assert (transport, sent) == ("outbox", False)
    assert "554" in error and "Not accepting mail today" in error
    [(_, kept)] = records(app, "reminder.sent")
    assert kept["transport"] == "outbox" and "554" in kept["error"]

    smtp.refuse = None
    retried = run(app, *on(TODAY))
    assert retried.exit_code == 0, retried.output
    assert "0 new, 1 retried" in retried.output and "1 sent by SMTP" in retried.output
    assert smtp.recipients == [["ana@example.org"]]
    assert outbox(app) == [("ana@example.org", "digest", TODAY, "smtp", True, None)]
    assert [(d["transport"], d.get("retry")) for _, d in records(app, "reminder.sent")] == [
        ("outbox", None),
        ("smtp", True),
    ]

    assert run(app, *on(TODAY)).exit_code == 0
    assert len(smtp.messages) == 1
    assert chain_ok(app)


def test_a_server_that_is_down_and_comes_back(app):
    port = free_port()  # nothing listens here yet
    use_smtp(app, port)
    person(app, "ana@example.org", "Ana Lima", due=TODAY)
    down = run(app, *on(TODAY))
    assert down.exit_code == 1
    assert "ConnectionRefusedError" in outbox(app)[0][5]

    inbox = Inbox()
    controller = start_server(inbox, port)
    try:
        up = run(app, *on(TODAY))
    finally:
        controller.stop()
    assert up.exit_code == 0, up.output
    assert inbox.recipients == [["ana@example.org"]]
    assert "Due today, 23 Nov 2026" in body_of(inbox.messages[0])
    assert outbox(app)[0][3:] == ("smtp", True, None)


def test_starttls_is_required_unless_turned_off(app, smtp):
    use_smtp(app, smtp.port, SMTP_STARTTLS=True)
    person(app, "ana@example.org", "Ana Lima", due=TODAY)
    result = run(app, *on(TODAY))
    assert result.exit_code == 1
    assert smtp.messages == []  # nothing went out in cleartext
    assert "does not offer STARTTLS" in outbox(app)[0][5]


def test_it_signs_in_to_the_server_when_a_username_is_set(app):
    inbox = Inbox()
    controller = start_server(inbox, authenticator=inbox.authenticate, auth_require_tls=False)
    try:
        use_smtp(app, inbox.port, SMTP_USERNAME="rounds", SMTP_PASSWORD="wrong-password")
        person(app, "ana@example.org", "Ana Lima", due=TODAY)
        wrong = run(app, *on(TODAY))
        app.config["SMTP_PASSWORD"] = "s3cret-for-tests"
        right = run(app, *on(TODAY))
    finally:
        controller.stop()
    assert wrong.exit_code == 1 and right.exit_code == 0, right.output
    assert inbox.logins == [("rounds", "wrong-password"), ("rounds", "s3cret-for-tests")]
    assert inbox.recipients == [["ana@example.org"]]
    assert outbox(app)[0][3:] == ("smtp", True, None)


def test_a_crash_before_the_hand_over_loses_nothing_and_doubles_nothing(app, smtp):
    use_smtp(app, smtp.port)
    person(app, "ana@example.org", "Ana Lima", due=TODAY)

    def killed(message, settings):
        raise KeyboardInterrupt  # the process dies after queueing, before the server has it

    with app.app_context():
        settings = reminders.settings_from_config(app.config, 14)
        with pytest.raises(KeyboardInterrupt):
            reminders.send_all(db.session, TODAY, LIBRARY, settings, sender=killed)
        db.session.rollback()
    assert outbox(app) == [("ana@example.org", "digest", TODAY, "outbox", False, reminders.QUEUED)]
    assert records(app, "reminder.sent") == []

    result = run(app, *on(TODAY))
    assert result.exit_code == 0, result.output
    assert smtp.recipients == [["ana@example.org"]]
    assert outbox(app) == [("ana@example.org", "digest", TODAY, "smtp", True, None)]
    [(_, sent)] = records(app, "reminder.sent")
    assert sent["transport"] == "smtp" and "retry" not in sent
    assert run(app, *on(TODAY)).exit_code == 0 and len(smtp.messages) == 1


def test_only_one_run_at_a_time(app, smtp):
    use_smtp(app, smtp.port)
    person(app, "ana@example.org", "Ana Lima", due=TODAY)
    with app.app_context():
        with jobs.exclusive_run(db.session, "reminders", "reminders send"):
            busy = run(app, *on(TODAY))
    assert busy.exit_code == 1 and "another `reminders send` is running" in busy.output
    assert smtp.messages == [] and outbox(app) == []
    assert run(app, *on(TODAY)).exit_code == 0 and len(smtp.messages) == 1  # the lock was let go


def test_completed_training_is_not_reminded(app, smtp):
    use_smtp(app, smtp.port)
    uid = person(app, "ana@example.org", "Ana Lima", due=TODAY)
    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.user_id == uid))
        a.state = "done"
        db.session.commit()
    result = run(app, *on(TODAY))
    assert result.exit_code == 0 and "0 digests" in result.output
    assert smtp.messages == [] and outbox(app) == []


# --- settings --------------------------------------------------------------------------------


SMTP_VARIABLES = (
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_STARTTLS",
    "SMTP_FROM",
    "SMTP_TIMEOUT_SECONDS",
    "REMINDER_ESCALATE_AFTER_DAYS",
    "BASE_URL",
)


def test_settings_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x")
    for name in SMTP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    defaults = from_environment(tmp_path)
    assert defaults["SMTP_HOST"] is None and mailer.settings_from_config(defaults) is None
    assert (defaults["SMTP_PORT"], defaults["SMTP_STARTTLS"], defaults["SMTP_FROM"]) == (
        587,
        True,
        "Rounds <rounds@localhost>",
    )
    assert (defaults["REMINDER_ESCALATE_AFTER_DAYS"], defaults["BASE_URL"]) == (7, "http://127.0.0.1:5000")

    for name, value in {
        "SMTP_HOST": "mail.example.org",
        "SMTP_PORT": "2525",
        "SMTP_USERNAME": "rounds",
        "SMTP_PASSWORD": "hunter2-hunter2",
        "SMTP_STARTTLS": "0",
        "SMTP_FROM": "Training <t@example.org>",
        "SMTP_TIMEOUT_SECONDS": "9",
        "REMINDER_ESCALATE_AFTER_DAYS": "3",
        "BASE_URL": "https://rounds.example.org/",
    }.items():
        monkeypatch.setenv(name, value)
    config = from_environment(tmp_path)
    settings = reminders.settings_from_config(config, due_soon_days=10)
    assert settings.smtp == mailer.SmtpSettings(
        host="mail.example.org",
        port=2525,
        username="rounds",
        password="hunter2-hunter2",
        starttls=False,
        sender="Training <t@example.org>",
        timeout=9.0,
    )
    assert (settings.escalate_after_days, settings.due_soon_days, settings.base_url) == (
        3,
        10,
        "https://rounds.example.org",
    )
    assert "hunter2" not in repr(settings)


def test_evidence_of_reminders_survives_verification(app):
    no_smtp(app)
    person(app, "boss@example.org", "Morgan Manager", role="manager")
    person(app, "ana@example.org", "Ana Lima", due=TODAY - timedelta(days=7), supervisor="boss@example.org")
    assert run(app, *on(TODAY)).exit_code == 0
    with app.app_context():
        events = list(db.session.scalars(select(Evidence.event).order_by(Evidence.seq)))
        assert evidence.verify(db.session).ok
        count = db.session.scalar(select(func.count()).select_from(Evidence))
    assert events[-2:] == ["reminder.sent", "reminder.escalated"]
    assert count == len(events) and chain_ok(app)

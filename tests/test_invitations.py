"""Invitations and password resets by email (quiz/invitations.py, web/invitations.py,
web/admin/invite.py): what arrives at a real SMTP server (aiosmtpd on loopback), the link taken
from the message to a first sign-in, and everything a link must refuse."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import MetaData, select

from quiz.db import db
from quiz.evidence import verify
from quiz.models import NO_PASSWORD, AccessLink, Evidence, InvitationRequest, OutboxMessage, User, utcnow

from .helpers import (
    PASSWORD,
    Inbox,
    add_user,
    body_of,
    csrf_token,
    make_app,
    page_text,
    run_cli,
    sign_in,
    signed_in_as,
    start_server,
    use_smtp,
)

NEW_PASSWORD = "a brand new passphrase for rounds"
LINK = re.compile(r"https://rounds\.clinic\.example/auth/link\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = start_server(inbox)
    yield inbox
    controller.stop()


def imported(app, email, name, department="Ward 4", role="learner", active=True) -> int:
    """Someone the HR roster import made: no password yet."""
    uid = add_user(app, email=email, name=name, department=department, role=role)
    with app.app_context():
        user = db.session.get(User, uid)
        user.password_hash = NO_PASSWORD
        user.active = active
        db.session.commit()
    return uid


def token_in(message) -> str:
    found = LINK.search(body_of(message))
    assert found, body_of(message)
    return found.group(1)


def records(app, event: str) -> list[Evidence]:
    with app.app_context():
        return list(db.session.scalars(select(Evidence).where(Evidence.event == event).order_by(Evidence.seq)))


def invite_ticked(admin, ids, *, buffered=True):
    """The roster's bulk form, then its confirmation page."""
    roster = admin.get("/admin/roster")
    first = admin.post(
        "/admin/roster/invite", data={"person": [str(i) for i in ids], "csrf_token": csrf_token(roster.text)}
    )
    assert first.status_code == 200, first.text
    return first, admin.post(
        "/admin/roster/invite",
        data={"person": [str(i) for i in ids], "confirmed": "yes", "csrf_token": csrf_token(first.text)},
        buffered=buffered,  # the WSGI server closes the response: the emails go after it
    )


def set_password_by_link(client, token, password=NEW_PASSWORD):
    page = client.get(f"/auth/link?token={token}")
    assert page.status_code == 200, page.text
    return client.post(
        "/auth/link",
        data={"token": token, "password": password, "confirm": password, "csrf_token": csrf_token(page.text)},
    )


def database_dump(app) -> str:
    """Every row of every table, as text: what a copy of the database would hold."""
    with app.app_context():
        meta = MetaData()
        meta.reflect(bind=db.engine)
        with db.engine.connect() as conn:
            return "\n".join(repr(tuple(row)) for table in meta.sorted_tables for row in conn.execute(table.select()))


# --- invitations -----------------------------------------------------------------------------


def test_an_invitation_arrives_and_its_link_leads_to_a_first_sign_in(app, smtp, caplog):
    use_smtp(app, smtp.port)
    admin = signed_in_as(app, "admin")
    ana = imported(app, "ana@example.org", "Ana Lima")
    confirm, done = invite_ticked(admin, [ana])
    assert "Invite 1 person?" in page_text(confirm.text)
    assert done.status_code == 303
    assert "Invited 1 person (1 with a link to set a password)" in page_text(admin.get("/admin/roster").text)

    assert smtp.recipients == [["ana@example.org"]]
    message = smtp.messages[0]
    assert message["Subject"] == "Rounds: your training account is ready"
    assert "Alex Admin, an administrator, invited you to Rounds" in body_of(message)
    assert "The link works once, for 72 hours" in body_of(message)
    token = token_in(message)
    assert len(token) >= 43  # 32 random bytes

    person = app.test_client()
    for _ in range(2):  # a mail scanner opens it first: that uses nothing up
        opened = person.get(f"/auth/link?token={token}")
        assert opened.status_code == 200 and "Ana Lima (ana@example.org)" in page_text(opened.text)
        assert opened.headers["Referrer-Policy"] == "no-referrer" and opened.headers["Cache-Control"] == "no-store"
    short = person.post(
        "/auth/link",
        data={"token": token, "password": "short", "confirm": "short", "csrf_token": csrf_token(opened.text)},
    )
    assert short.status_code == 422  # the one password rule; the link is still good
    done = set_password_by_link(person, token)
    assert done.status_code == 303 and done.headers["Location"] == "/learn/"
    assert person.get("/learn/").status_code == 200  # signed in

    reused = app.test_client().get(f"/auth/link?token={token}")
    assert reused.status_code == 410 and "already used" in page_text(reused.text)

    assert sign_in(app.test_client(), "ana@example.org", NEW_PASSWORD).status_code == 303
    invited = records(app, "person.invited")[0]
    assert invited.learner_email == "ana@example.org" and '"by":"admin@example.org"' in invited.details
    assert '"how":"link"' in invited.details and '"expires_at"' in invited.details
    set_by_link = records(app, "person.password-set-by-link")[0]
    assert '"purpose":"invitation"' in set_by_link.details and '"every_other_session_ended":true' in set_by_link.details
    signed = [r for r in records(app, "session.signed-in") if r.learner_email == "ana@example.org"]
    assert len(signed) == 2  # the session the link began, then the sign-in with the password
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ana@example.org"))
        assert not user.password_set_by_admin and not user.password_must_change
        assert verify(db.session).ok
    assert token not in caplog.text  # the app never logs a link


def test_a_link_cannot_be_used_twice(app, smtp):
    use_smtp(app, smtp.port)
    ana = imported(app, "ana@example.org", "Ana Lima")
    invite_ticked(signed_in_as(app, "admin"), [ana])
    token = token_in(smtp.messages[0])
    first = app.test_client()
    page = first.get(f"/auth/link?token={token}")
    second = app.test_client()
    page2 = second.get(f"/auth/link?token={token}")  # two tabs open at once
    assert set_password_by_link(first, token).status_code == 303
    late = second.post(
        "/auth/link",
        data={
            "token": token,
            "password": "another passphrase here",
            "confirm": "another passphrase here",
            "csrf_token": csrf_token(page2.text),
        },
    )
    assert late.status_code == 410 and "already used" in page_text(late.text)
    assert page.status_code == 200
    assert sign_in(app.test_client(), "ana@example.org", NEW_PASSWORD).status_code == 303
    assert sign_in(app.test_client(), "ana@example.org", "another passphrase here").status_code == 401


def test_an_expired_link_is_refused(app, smtp):
    use_smtp(app, smtp.port, INVITATION_HOURS=2)
    ana = imported(app, "ana@example.org", "Ana Lima")
    invite_ticked(signed_in_as(app, "admin"), [ana])
    token = token_in(smtp.messages[0])
    assert "for 2 hours" in body_of(smtp.messages[0])
    person = app.test_client()
    page = person.get(f"/auth/link?token={token}")
    assert page.status_code == 200
    with time_machine.travel(utcnow() + timedelta(hours=2, minutes=1)):  # nothing is written meanwhile
        expired = person.get(f"/auth/link?token={token}")
        assert expired.status_code == 410 and "expired" in page_text(expired.text)
        posted = person.post(
            "/auth/link",
            data={
                "token": token,
                "password": NEW_PASSWORD,
                "confirm": NEW_PASSWORD,
                "csrf_token": csrf_token(page.text),
            },
        )
        assert posted.status_code == 410
    assert sign_in(app.test_client(), "ana@example.org", NEW_PASSWORD).status_code == 401


def test_a_newer_link_voids_the_older_and_so_does_a_password_set_another_way(app, smtp):
    use_smtp(app, smtp.port)
    imported(app, "ana@example.org", "Ana Lima")
    imported(app, "ben@example.org", "Ben Brook")
    for _ in range(2):
        result = run_cli(app, "users", "invite", "ana@example.org")
        assert result.exit_code == 0, result.output
        assert "invited 1 (1 with a link" in result.output and "1 sent by SMTP" in result.output
    older, newer = (token_in(m) for m in smtp.messages)
    assert older != newer
    replaced = app.test_client().get(f"/auth/link?token={older}")
    assert replaced.status_code == 410 and "newer link" in page_text(replaced.text)
    assert set_password_by_link(app.test_client(), newer).status_code == 303

    assert run_cli(app, "users", "invite", "ben@example.org").exit_code == 0
    token = token_in(smtp.messages[-1])
    # an admin sets Ben's password before he opens the link: the link stops working
    result = run_cli(app, "users", "set-password", "ben@example.org", input="an admin set this one\n")
    assert result.exit_code == 0, result.output
    voided = app.test_client().get(f"/auth/link?token={token}")
    assert voided.status_code == 410 and "set another way" in page_text(voided.text)
    with app.app_context():  # one outbox row a day per address and kind: the newer took its place
        kinds = db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.to_address == "ana@example.org"))
        assert list(kinds) == ["invitation"]


def test_a_copy_of_the_database_cannot_be_turned_into_a_working_link(app, smtp):
    use_smtp(app, smtp.port)
    ana = imported(app, "ana@example.org", "Ana Lima")
    invite_ticked(signed_in_as(app, "admin"), [ana])
    token = token_in(smtp.messages[0])
    dump = database_dump(app)
    assert "ana@example.org" in dump and "[the link: made as this email was sent, and never kept]" in dump
    assert token not in dump  # not in the links, not in the outbox, not in the evidence
    admin = app.test_client()
    sign_in(admin, "admin@example.org")
    outbox = admin.get("/admin/outbox?kind=invitation")
    assert "Invitation" in outbox.text and "Sent by SMTP" in outbox.text and token not in outbox.text
    with app.app_context():
        kept = db.session.scalar(select(AccessLink.token_hash))
    assert kept and len(kept) == 64
    for guess in (kept, kept[:43]):  # what the database holds does not open the link
        assert app.test_client().get(f"/auth/link?token={guess}").status_code == 410
    # nor does the right token under another SECRET_KEY (a copy elsewhere, without the key)
    app.config["SECRET_KEY"] = "another-secret-key"
    assert app.test_client().get(f"/auth/link?token={token}").status_code == 410
    app.config["SECRET_KEY"] = "test-secret-key"
    assert app.test_client().get(f"/auth/link?token={token}").status_code == 200


def test_bulk_invitations_by_department_and_for_everyone_skip_people_who_signed_in(app, smtp):
    use_smtp(app, smtp.port)
    admin = signed_in_as(app, "admin")
    for i in range(3):
        imported(app, f"ward{i}@example.org", f"Ward Person {i}")
    add_user(app, email="signed@example.org", name="Sam Signed", department="Ward 4")
    assert sign_in(app.test_client(), "signed@example.org").status_code == 303
    add_user(app, email="never@example.org", name="Nia Never", department="Ward 4")  # a password, never used
    imported(app, "gone@example.org", "Gus Gone", active=False)
    imported(app, "pharm1@example.org", "Pat Pharmacy", department="Pharmacy")
    imported(app, "pharm2@example.org", "Pam Pharmacy", department="Pharmacy")

    roster = admin.get("/admin/roster")
    assert 'formaction="/admin/roster/invite"' in roster.text and 'name="invite_department"' in roster.text
    confirm = admin.post(
        "/admin/roster/invite",
        data={"invite_department": "Ward 4", "invite_everyone": "yes", "csrf_token": csrf_token(roster.text)},
    )
    text = page_text(confirm.text)
    assert "Invite 4 people?" in text and "Skipped: 1 who has signed in before, 1 deactivated." in text
    done = admin.post(
        "/admin/roster/invite",
        data={"invite_department": "Ward 4", "confirmed": "yes", "csrf_token": csrf_token(confirm.text)},
    )  # not buffered: nothing is sent after the response here; the job sends them
    assert done.status_code == 303
    assert "Invited 4 people" in page_text(admin.get("/admin/roster").text)
    assert smtp.messages == []
    sent = run_cli(app, "users", "send-invitations")
    assert sent.exit_code == 0 and "4 sent by SMTP" in sent.output, sent.output
    assert sorted(r[0] for r in smtp.recipients) == [
        "never@example.org",
        "ward0@example.org",
        "ward1@example.org",
        "ward2@example.org",
    ]
    assert "0 sent by SMTP" in run_cli(app, "users", "send-invitations").output  # nothing twice

    confirm = admin.post(
        "/admin/roster/invite",
        data={"invite_department": "", "invite_everyone": "yes", "csrf_token": csrf_token(roster.text)},
    )
    assert "Invite 6 people?" in page_text(confirm.text)  # Ward 4's four again, and Pharmacy's two
    assert "Skipped: 2 who have signed in before, 1 deactivated." in page_text(confirm.text)  # Sam, the admin
    done = admin.post(
        "/admin/roster/invite",
        data={"invite_everyone": "yes", "confirmed": "yes", "csrf_token": csrf_token(confirm.text)},
        buffered=True,
    )
    assert len(smtp.messages) == 10
    assert "signed@example.org" not in {r[0] for r in smtp.recipients}
    assert len(records(app, "person.invited")) == 10


def count_rows(app, model) -> int:
    with app.app_context():
        return len(db.session.scalars(select(model)).all())


def test_a_large_invitation_is_recorded_at_once_and_made_once_by_the_job(app, smtp):
    """Above INVITATIONS_IN_REQUEST the request records who is to be invited and answers; the
    job invites them, once, skipping who signed in meanwhile, and the SMTP server gets them."""
    use_smtp(app, smtp.port, INVITATIONS_IN_REQUEST=2)
    admin = signed_in_as(app, "admin")
    ward = [imported(app, f"ward{i}@example.org", f"Ward Person {i}") for i in range(3)]
    add_user(app, email="late@example.org", name="Lee Late", department="Ward 4")  # signs in later
    pharmacy = imported(app, "pharm@example.org", "Pat Pharmacy", department="Pharmacy")

    roster = admin.get("/admin/roster")
    confirm = admin.post(
        "/admin/roster/invite", data={"invite_department": "Ward 4", "csrf_token": csrf_token(roster.text)}
    )
    assert "Invite 4 people?" in page_text(confirm.text)
    assert "That is more than 2 people: your request is recorded now" in page_text(confirm.text)
    done = admin.post(
        "/admin/roster/invite",
        data={"invite_department": "Ward 4", "confirmed": "yes", "csrf_token": csrf_token(confirm.text)},
        buffered=True,  # whatever would run after the response has run
    )
    assert done.status_code == 303
    said = page_text(admin.get("/admin/roster").text)
    assert "Inviting 4 people: the emails go out over the next minutes; Admin > Outbox shows them." in said
    # Nothing invited in the request: no invitation record, link, outbox row, nor email.
    assert records(app, "person.invited") == []
    assert count_rows(app, AccessLink) == 0 and count_rows(app, OutboxMessage) == 0
    assert smtp.messages == []
    assert count_rows(app, InvitationRequest) == 4
    asked = records(app, "invitations.requested")
    assert len(asked) == 1
    assert '"by":"admin@example.org"' in asked[0].details and '"department":"Ward 4"' in asked[0].details
    assert '"people":4' in asked[0].details and '"waiting":4' in asked[0].details

    # Asked again, for everyone, before the job runs: Ward 4's four wait once, Pharmacy joins.
    confirm = admin.post("/admin/roster/invite", data={"invite_everyone": "yes", "csrf_token": csrf_token(roster.text)})
    admin.post(
        "/admin/roster/invite",
        data={"invite_everyone": "yes", "confirmed": "yes", "csrf_token": csrf_token(confirm.text)},
    )
    said = page_text(admin.get("/admin/roster").text)
    assert "Inviting 5 people" in said and "4 of them were already waiting" in said
    assert count_rows(app, InvitationRequest) == 5
    again = records(app, "invitations.requested")[1]
    assert '"everyone_never_signed_in":true' in again.details and '"already_waiting":4' in again.details

    # At or below the threshold, an invitation is made in the request, as before: Pharmacy's
    # person, ticked, is invited and emailed now, and their waiting request is answered by it.
    invite_ticked(admin, [pharmacy])
    assert smtp.recipients == [["pharm@example.org"]]
    assert count_rows(app, InvitationRequest) == 4

    assert sign_in(app.test_client(), "late@example.org").status_code == 303  # signed in meanwhile

    sent = run_cli(app, "users", "send-invitations")
    assert sent.exit_code == 0, sent.output
    assert "3 people invited as asked earlier (skipped 1 signed in, 0 deactivated since)" in sent.output
    assert "3 sent by SMTP" in sent.output
    assert sorted(r[0] for r in smtp.recipients) == [
        "pharm@example.org",
        "ward0@example.org",
        "ward1@example.org",
        "ward2@example.org",
    ]
    for message in smtp.messages[1:]:
        assert "Alex Admin, an administrator, invited you to Rounds" in body_of(message)
        token_in(message)
    invited = records(app, "person.invited")
    assert sorted(r.learner_email for r in invited) == [
        "pharm@example.org",
        "ward0@example.org",
        "ward1@example.org",
        "ward2@example.org",
    ]
    assert all('"by":"admin@example.org"' in r.details for r in invited)
    assert count_rows(app, InvitationRequest) == 0

    # Once: the next runs invite and send nothing more.
    again = run_cli(app, "users", "send-invitations")
    assert again.exit_code == 0 and "0 sent by SMTP" in again.output and "asked earlier" not in again.output
    assert len(smtp.messages) == 4 and len(records(app, "person.invited")) == 4
    assert ward  # (their addresses are checked above)
    with app.app_context():
        assert verify(db.session).ok


def test_without_an_smtp_server_nothing_is_invited(app):
    app.config.update(SMTP_HOST=None)
    admin = signed_in_as(app, "admin")
    ana = imported(app, "ana@example.org", "Ana Lima")
    roster = admin.get("/admin/roster")
    refused = admin.post("/admin/roster/invite", data={"person": [str(ana)], "csrf_token": csrf_token(roster.text)})
    assert refused.status_code == 303
    assert "no SMTP server is set up" in page_text(admin.get("/admin/roster").text)
    assert records(app, "person.invited") == []
    result = run_cli(app, "users", "invite", "--all")
    assert result.exit_code == 1 and "no SMTP server" in result.output


def test_where_passwords_are_off_the_invitation_and_the_reset_say_to_use_single_sign_on(
    database_url, tmp_path, monkeypatch, smtp
):
    app = make_app(
        database_url,
        tmp_path,
        monkeypatch,
        OIDC_ISSUER="https://id.clinic.example",
        OIDC_CLIENT_ID="rounds",
        OIDC_PROVIDER_NAME="Clinic Login",
        LOCAL_PASSWORDS="off",
    )
    use_smtp(app, smtp.port)
    imported(app, "ana@example.org", "Ana Lima")
    result = run_cli(app, "users", "invite", "ana@example.org")
    assert result.exit_code == 0 and "0 with a link" in result.output, result.output
    body = body_of(smtp.messages[0])
    assert "You sign in with Clinic Login" in body and "https://rounds.clinic.example/auth/login" in body
    assert not LINK.search(body)
    client = app.test_client()
    page = client.get("/auth/forgot")
    client.post("/auth/forgot", data={"email": "ana@example.org", "csrf_token": csrf_token(page.text)}, buffered=True)
    body = body_of(smtp.messages[1])
    assert "there is no\nRounds password to reset" in body and not LINK.search(body)
    with app.app_context():
        assert db.session.scalars(select(AccessLink)).all() == []
    assert '"how":"single sign-on"' in records(app, "person.invited")[0].details


# --- forgot password -------------------------------------------------------------------------


def ask_reset(client, email):
    page = client.get("/auth/forgot")
    return client.post("/auth/forgot", data={"email": email, "csrf_token": csrf_token(page.text)}, buffered=True)


def test_forgot_password_says_the_same_for_every_address_and_only_a_real_one_gets_mail(app, smtp):
    use_smtp(app, smtp.port)
    add_user(app)  # learner@example.org
    add_user(app, email="gone@example.org", name="Gus Gone")
    with app.app_context():
        db.session.scalar(select(User).where(User.email == "gone@example.org")).active = False
        db.session.commit()
    answers = [
        ask_reset(app.test_client(), email)
        for email in ("nobody@example.org", "gone@example.org", "learner@example.org")
    ]
    assert {a.status_code for a in answers} == {200}
    assert len({page_text(a.text) for a in answers}) == 1
    assert "If that address has an account here, we sent it an email" in page_text(answers[0].text)
    assert smtp.recipients == [["learner@example.org"]]
    assert smtp.messages[0]["Subject"] == "Rounds: reset your password"

    asked = records(app, "person.password-reset-requested")
    assert asked[0].user_id is None and '"email":"nobody@example.org"' in asked[0].details
    assert '"refused":"no-such-account"' in asked[0].details
    assert asked[1].learner_email == "gone@example.org" and '"refused":"deactivated"' in asked[1].details
    assert asked[2].learner_email == "learner@example.org" and '"how":"link"' in asked[2].details

    # the email goes once the answer has gone (the WSGI server closes the response), not before
    add_user(app, email="later@example.org", name="Lee Later")
    client = app.test_client()
    page = client.get("/auth/forgot")
    answer = client.post("/auth/forgot", data={"email": "later@example.org", "csrf_token": csrf_token(page.text)})
    assert answer.status_code == 200 and len(smtp.messages) == 1
    answer.close()
    assert smtp.recipients[-1] == ["later@example.org"]

    # asking again at once sends nothing new (no flood), and says the same
    again = ask_reset(app.test_client(), "learner@example.org")
    assert page_text(again.text) == page_text(answers[0].text) and len(smtp.messages) == 2


def test_a_reset_link_sets_the_password_and_ends_every_other_session(app, smtp):
    use_smtp(app, smtp.port)
    add_user(app)
    elsewhere = app.test_client()
    assert sign_in(elsewhere).status_code == 303 and elsewhere.get("/learn/").status_code == 200
    ask_reset(app.test_client(), "learner@example.org")
    body = body_of(smtp.messages[0])
    assert "The link works once, for 1 hour" in body and "ends every session of yours" in body
    token = token_in(smtp.messages[0])
    here = app.test_client()
    assert set_password_by_link(here, token).status_code == 303
    assert here.get("/learn/").status_code == 200
    ended = elsewhere.get("/learn/")  # the other session has ended
    assert ended.status_code in (302, 303) and ended.headers["Location"].startswith("/auth/login")
    assert sign_in(app.test_client(), password=PASSWORD).status_code == 401
    assert sign_in(app.test_client(), password=NEW_PASSWORD).status_code == 303
    record = records(app, "person.password-set-by-link")[0]
    assert '"purpose":"reset"' in record.details and '"issued_by":"themselves"' in record.details


def test_an_admin_who_sets_a_password_by_link_signs_in_on_the_sign_in_page(app, smtp):
    use_smtp(app, smtp.port)
    add_user(app, email="boss@example.org", name="Bo Admin", role="admin", job_role="leadership")
    ask_reset(app.test_client(), "boss@example.org")
    client = app.test_client()
    done = set_password_by_link(client, token_in(smtp.messages[0]))
    assert done.status_code == 303 and done.headers["Location"] == "/auth/login"
    not_yet = client.get("/admin/roster")  # not signed in: a second factor may be asked there
    assert not_yet.status_code in (302, 303) and not_yet.headers["Location"].startswith("/auth/login")
    assert [r for r in records(app, "session.signed-in") if r.learner_email == "boss@example.org"] == []
    assert sign_in(client, "boss@example.org", NEW_PASSWORD).status_code == 303


def test_every_reset_request_counts_against_the_rate_limit(database_url, tmp_path, monkeypatch):
    app = make_app(
        database_url, tmp_path, monkeypatch, RATELIMIT_ENABLED=True, PASSWORD_RESET_RATE_LIMIT="2 per minute"
    )
    codes = [ask_reset(app.test_client(), f"nobody{i}@example.org").status_code for i in range(3)]
    assert codes == [200, 200, 429]


# --- logs ------------------------------------------------------------------------------------


def test_the_shipped_access_logs_leave_out_query_strings():
    """A link's token travels in the query string: nginx's and gunicorn's access logs as shipped
    keep the path only (and no Referer)."""
    from quiz.config import PROJECT_ROOT

    nginx = (PROJECT_ROOT / "deploy" / "nginx" / "rounds.conf").read_text()
    log_format = re.search(r"log_format rounds_no_query (.*?);", nginx, re.S).group(1)
    assert "$uri" in log_format and "$request " not in log_format and "$request_uri" not in log_format
    assert "$args" not in log_format and "$http_referer" not in log_format
    assert nginx.count("access_log /var/log/nginx/rounds.access.log rounds_no_query;") == 2
    service = (PROJECT_ROOT / "deploy" / "systemd" / "rounds.service").read_text()
    log_format = re.search(r"--access-logformat '([^']*)'", service).group(1)
    assert "%%(U)s" in log_format and "%%(r)s" not in log_format and "%%(q)s" not in log_format
    assert "%%(f)s" not in log_format


def test_where_passwords_are_for_admins_only_an_admin_gets_a_link_and_everyone_else_single_sign_on(
    database_url, tmp_path, monkeypatch, smtp
):
    app = make_app(
        database_url,
        tmp_path,
        monkeypatch,
        OIDC_ISSUER="https://id.clinic.example",
        OIDC_CLIENT_ID="rounds",
        LOCAL_PASSWORDS="admins",
    )
    use_smtp(app, smtp.port)
    imported(app, "ana@example.org", "Ana Lima")
    imported(app, "root@example.org", "Ray Root", role="admin")
    result = run_cli(app, "users", "invite", "--all")
    assert result.exit_code == 0 and "invited 2 (1 with a link" in result.output, result.output
    bodies = {m["To"].addresses[0].addr_spec: body_of(m) for m in smtp.messages}
    assert LINK.search(bodies["root@example.org"]) and not LINK.search(bodies["ana@example.org"])
    assert "You sign in with single sign-on" in bodies["ana@example.org"]

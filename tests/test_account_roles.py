"""Account roles: an admin gives someone what they may open besides My training, and every change
is evidence (from, to, by whom)."""

from __future__ import annotations

import json
import os
import pwd

import pytest
from sqlalchemy import select

from quiz import accounts
from quiz.db import db
from quiz.models import Evidence, User

from .helpers import add_user, csrf_token, page_text, sign_in, signed_in_as


def _role_of(app, email: str) -> str:
    with app.app_context():
        return db.session.scalar(select(User.role).where(User.email == email))


def test_an_admin_makes_a_learner_a_compliance_officer_and_it_is_evidence(app):
    uid = add_user(app)
    admin = signed_in_as(app, "admin")
    learner = app.test_client()
    assert sign_in(learner).status_code == 303
    assert learner.get("/audit/training").status_code == 403  # the premise
    url = f"/admin/people/{uid}/role"
    assert f'href="{url}"' in admin.get("/admin/roster").text
    page = admin.get(url).text
    assert "now: Learner" in page_text(page)
    assert "Compliance too: the training report, the evidence and audit packages" in page_text(page)
    done = admin.post(url, data={"csrf_token": csrf_token(page), "role": "compliance"})
    assert done.status_code == 303
    assert "Dana Whitfield is now: Compliance officer." in page_text(admin.get("/admin/roster").text)
    assert _role_of(app, "learner@example.org") == "compliance"
    assert learner.get("/audit/training").status_code == 200  # on their next page, no new sign-in
    with app.app_context():
        record = db.session.scalars(select(Evidence).where(Evidence.event == "person.role-changed")).one()
    assert record.learner_email == "learner@example.org"
    assert json.loads(record.details) == {"from": "learner", "to": "compliance", "by": "admin@example.org"}


def test_saving_the_same_role_changes_nothing_and_records_nothing(app):
    uid = add_user(app, role="manager")
    admin = signed_in_as(app, "admin")
    url = f"/admin/people/{uid}/role"
    admin.post(url, data={"csrf_token": csrf_token(admin.get(url).text), "role": "manager"})
    assert "Dana Whitfield was already: Manager." in page_text(admin.get("/admin/roster").text)
    with app.app_context():
        assert db.session.scalar(select(Evidence).where(Evidence.event == "person.role-changed")) is None


def test_nobody_changes_their_own_role_and_a_bad_choice_is_named_beside_the_field(app):
    admin = signed_in_as(app, "admin")
    with app.app_context():
        own = db.session.scalar(select(User.id).where(User.email == "admin@example.org"))
    url = f"/admin/people/{own}/role"
    page = admin.get(url).text
    assert "This is your own account: another admin changes it." in page and "disabled" in page
    refused = admin.post(url, data={"csrf_token": csrf_token(page), "role": "learner"})
    assert refused.status_code == 422
    assert '<a href="#role-0">You cannot change your own account role: ask another admin.</a>' in refused.text
    assert _role_of(app, "admin@example.org") == "admin"
    uid = add_user(app)
    bad = admin.post(f"/admin/people/{uid}/role", data={"csrf_token": csrf_token(page), "role": "owner"})
    assert bad.status_code == 422 and 'id="role-error"' in bad.text
    assert _role_of(app, "learner@example.org") == "learner"


@pytest.mark.parametrize("role", ["learner", "manager", "trainer", "compliance"])
def test_only_admins_change_account_roles(app, role):
    uid = add_user(app, email="person@example.org")
    assert signed_in_as(app, role).get(f"/admin/people/{uid}/role").status_code == 403


def test_set_role_refuses_an_unknown_role(app):
    uid = add_user(app)
    with app.app_context():
        person = db.session.get(User, uid)
        with pytest.raises(accounts.AccountError):
            accounts.set_role(db.session, person, "owner", by=person)


def test_the_command_line_sets_a_role_as_evidence_and_says_when_nothing_changed(app):
    uid = add_user(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "set-role", "learner@example.org", "compliance"])
    assert result.exit_code == 0, result.output
    assert "learner -> compliance" in result.output
    assert _role_of(app, "learner@example.org") == "compliance"
    with app.app_context():
        record = db.session.scalars(select(Evidence).where(Evidence.event == "person.role-changed")).one()
        details = json.loads(record.details)
    assert record.user_id == uid
    assert details["from"] == "learner" and details["to"] == "compliance"
    assert details["by"].startswith("the command line (flask users set-role, as ")
    again = runner.invoke(args=["users", "set-role", "learner@example.org", "compliance"])
    assert again.exit_code == 0 and "already compliance: nothing changed" in again.output
    for args, message in (
        (["nobody@example.org", "admin"], "no account for nobody@example.org"),
        (["learner@example.org", "owner"], "'owner' is not one of"),
    ):
        bad = runner.invoke(args=["users", "set-role", *args])
        assert bad.exit_code != 0 and message in bad.output
    with app.app_context():
        assert (
            db.session.scalar(
                select(Evidence.seq)
                .where(Evidence.event == "person.role-changed")
                .order_by(Evidence.seq.desc())
                .limit(1)
            )
            == record.seq
        )  # one record


def test_the_command_line_names_the_account_it_runs_as_not_what_the_environment_says(app, monkeypatch):
    add_user(app)
    monkeypatch.setenv("LOGNAME", "someone-else")
    monkeypatch.setenv("USER", "someone-else")
    result = app.test_cli_runner().invoke(args=["users", "set-role", "learner@example.org", "manager"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        record = db.session.scalars(select(Evidence).where(Evidence.event == "person.role-changed")).one()
    expected = pwd.getpwuid(os.geteuid()).pw_name
    assert json.loads(record.details)["by"] == f"the command line (flask users set-role, as {expected})"

"""Managers: team scope, transcripts, team-vs-organization results, targeted refreshers,
waivers and trigger events."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import func, select

from quiz import assignments
from quiz.db import db
from quiz.models import Assignment, Evidence

from .helpers import (
    add_user,
    choose,
    csrf_token,
    page_text,
    pass_and_sign,
    post_step,
    repeated_ids,
    sign_in,
    through_lesson,
)


def _org(app):
    """manager -> lead -> ana (indirect); manager -> ben (direct); cat reports to no one here."""
    ids = {}
    ids["manager"] = add_user(
        app, email="manager@example.org", name="Mo Manager", role="manager", job_role="leadership"
    )
    ids["lead"] = add_user(
        app,
        email="lead@example.org",
        name="Lee Lead",
        job_role="front-desk",
        department="Desk",
        supervisor_email="manager@example.org",
    )
    ids["ana"] = add_user(
        app,
        email="ana@example.org",
        name="Ana Alvarez",
        job_role="front-desk",
        department="Desk",
        supervisor_email="lead@example.org",
    )
    ids["ben"] = add_user(
        app,
        email="ben@example.org",
        name="Ben Brown",
        job_role="front-desk",
        department="Desk",
        supervisor_email="manager@example.org",
    )
    ids["cat"] = add_user(app, email="cat@example.org", name="Cat Cole", job_role="front-desk", department="Other")
    return ids


def _take(app, email, first_choice):
    client = app.test_client()
    sign_in(client, email)
    through_lesson(client)
    choose(client, first_choice)
    return client


def _manager(app):
    client = app.test_client()
    sign_in(client, "manager@example.org")
    return client


def _assign(app, client, user_id: int, module_id: str = "test-callers", days: int = 3) -> int:
    """The manager assigns a module due in ``days`` from the person's page; the assignment's id."""
    page = client.get(f"/manage/people/{user_id}").text
    due = (date.today() + timedelta(days=days)).isoformat()
    response = client.post(
        f"/manage/people/{user_id}/assign", data={"csrf_token": csrf_token(page), "module_id": module_id, "due_on": due}
    )
    assert response.status_code == 303
    with app.app_context():
        return db.session.scalar(
            select(Assignment.id).where(Assignment.user_id == user_id, Assignment.module_id == module_id)
        )


def test_a_manager_sees_direct_and_indirect_reports_only(app):
    _org(app)
    page = _manager(app).get("/manage/").text
    assert "Ana Alvarez" in page and "Ben Brown" in page and "Lee Lead" in page
    assert "Cat Cole" not in page


def test_the_team_page_names_roles_and_settings_in_words(app):
    _org(app)
    add_user(
        app,
        email="dee@example.org",
        name="Dee Dental",
        job_role="front-desk",
        specialty="dental",
        supervisor_email="manager@example.org",
    )
    add_user(
        app,
        email="pat@example.org",
        name="Pat Pharm",
        job_role="pharmacy",
        specialty="pharmacy",
        supervisor_email="manager@example.org",
    )
    page = _manager(app).get("/manage/").text
    assert "<td>Front desk (Dental)</td>" in page and "<td>Front desk</td>" in page
    assert "<td>Pharmacy</td>" in page  # a pharmacy role in a pharmacy: said once
    assert "front-desk" not in page_text(page)  # a filter option may carry the code as its value


def test_the_team_page_puts_standing_and_next_due_beside_the_name(app):
    # On a phone only the first columns fit beside the name; the rest is a swipe of the table away.
    ids = _org(app)
    client = _manager(app)
    _assign(app, client, ids["ben"])
    due = (date.today() + timedelta(days=3)).isoformat()
    page = client.get("/manage/").text
    headers = re.findall(r'<th scope="col">([^<]+)</th>', page)
    assert headers[:3] == ["Person", "Standing", "Next due"], headers
    row = page[page.index("Ben Brown") :]
    row = row[: row.index("</tr>")]
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert "badge" in cells[0]  # the standing
    assert cells[1] == f'<time datetime="{due}">{due}</time>'


def test_a_manager_cannot_open_someone_outside_the_team(app):
    ids = _org(app)
    client = _manager(app)
    assert client.get(f"/manage/people/{ids['cat']}").status_code == 404
    assert client.get(f"/manage/people/{ids['ana']}").status_code == 200


def test_learners_cannot_reach_the_manager_area(app):
    _org(app)
    client = app.test_client()
    sign_in(client, "ana@example.org")
    assert client.get("/manage/").status_code == 403


def test_results_compare_team_with_organization_and_show_wrong_branches(app):
    _org(app)
    _take(app, "ana@example.org", "Read out the appointment time")  # wrong at first try
    _take(app, "ben@example.org", "Ask for two identifiers")
    _take(app, "cat@example.org", "Ask for two identifiers")  # outside the team
    page = _manager(app).get("/manage/modules/test-callers").text
    # team: 1 of 2 right at "The phone rings"; organization: 2 of 3
    assert '50% <span class="meta">(1/2)</span>' in page
    assert '67% <span class="meta">(2/3)</span>' in page
    assert "“Read out the appointment time”" in page
    assert "1 missed it: Ana Alvarez" in page
    assert "Ask the team how they verify callers." in page  # manager notes beside the results


def test_each_specialty_version_of_a_check_is_counted_under_its_own_words(app):
    """The general and the dental version both have a wrong second choice at their first
    decision, worded differently: each is counted apart, and named by its version."""
    _org(app)
    add_user(
        app,
        email="dee@example.org",
        name="Dee Dental",
        job_role="front-desk",
        specialty="dental",
        supervisor_email="manager@example.org",
    )
    _take(app, "ana@example.org", "Read out the appointment time")  # general version, choice 2
    _take(app, "ben@example.org", "Read out the appointment time")  # the same words: counted together
    _take(app, "dee@example.org", "Read out the balance")  # dental version, choice 2 (critical)
    page = _manager(app).get("/manage/modules/test-callers").text
    branches = page_text(page.split("Wrong branches most taken by your team")[1].split("</ol>")[0])
    assert "The phone rings (General): “Read out the appointment time” — 2 times" in branches
    assert "The phone rings at the dental desk (Dental): “Read out the balance” — 1 time critical" in branches
    # by question: each version's decision on its own row, with its own rate
    general = page[page.index('<th scope="row">The phone rings <span class="meta">(General)</span></th>') :]
    dental = page[
        page.index('<th scope="row">The phone rings at the dental desk <span class="meta">(Dental)</span></th>') :
    ]
    assert general.split("</tr>")[0].count('0% <span class="meta">(0/2)</span>') == 2  # team, organization
    assert dental.split("</tr>")[0].count('0% <span class="meta">(0/1)</span>') == 2


def test_the_team_filter_finds_attempted_not_yet_due_and_never_trained(app):
    ids = _org(app)
    ana = _take(app, "ana@example.org", "Fax the records to the number given")
    post_step(ana, "continue")  # failed: attempted, not passed
    manager = _manager(app)
    _assign(app, manager, ids["ben"], days=3)  # assigned, not yet due, not tried
    _assign(app, manager, ids["lead"], days=0)  # due today, not tried: never trained
    everyone = manager.get("/manage/").text
    for state, label in assignments.STANDINGS.items():  # the filter offers every standing
        assert f'<option value="{state}">{label}</option>' in everyone, state

    def shown(state: str) -> list[str]:
        page = manager.get(f"/manage/?standing={state}").text
        return re.findall(r'<th scope="row"><a href="/manage/people/\d+">([^<]+)</a></th>', page)

    assert shown("attempted") == ["Ana Alvarez"]
    assert shown("not-yet-due") == ["Ben Brown"]
    assert shown("never-trained") == ["Lee Lead"]
    assert shown("overdue") == shown("due-soon") == shown("current") == []
    row = everyone[everyone.index("Ana Alvarez") :]
    assert '<span class="badge badge-attempted">Attempted, not passed</span>' in row[: row.index("</tr>")]
    person = manager.get(f"/manage/people/{ids['ben']}").text
    assert '<span class="badge badge-not-yet-due">Not yet due</span>' in person


def test_one_action_assigns_a_refresher_to_those_who_missed_the_objective(app):
    ids = _org(app)
    _take(app, "ana@example.org", "Read out the appointment time")
    _take(app, "ben@example.org", "Ask for two identifiers")
    client = _manager(app)
    page = client.get("/manage/modules/test-callers").text
    response = client.post(
        "/manage/modules/test-callers/remediate",
        data={
            "csrf_token": csrf_token(page),
            "objective": "verify-identity",
            "module_id": "test-refresher",
            "due_in_days": 7,
        },
    )
    assert response.status_code == 303
    with app.app_context():
        made = list(db.session.scalars(select(Assignment).where(Assignment.module_id == "test-refresher")))
        assert [(a.user_id, a.reason, a.due_on) for a in made] == [
            (ids["ana"], "manager-choice", date.today() + timedelta(days=7))
        ]
        assert made[0].assigned_by.email == "manager@example.org"


def test_assign_with_a_past_date_shows_the_error_beside_the_field(app):
    ids = _org(app)
    client = _manager(app)
    page = client.get(f"/manage/people/{ids['ben']}").text
    response = client.post(
        f"/manage/people/{ids['ben']}/assign",
        data={"csrf_token": csrf_token(page), "module_id": "test-callers", "due_on": "2001-01-01"},
    )
    assert response.status_code == 422
    assert response.text.count("The due date cannot be in the past.") == 2


def test_waiving_from_the_transcript_records_the_reason(app):
    ids = _org(app)
    client = _manager(app)
    assignment_id = _assign(app, client, ids["ben"])
    page = client.get(f"/manage/people/{ids['ben']}").text
    client.post(
        f"/manage/assignments/{assignment_id}/waive",
        data={"csrf_token": csrf_token(page), "reason": "On leave until March"},
    )
    with app.app_context():
        a = db.session.get(Assignment, assignment_id)
        assert (a.state, a.waived_reason) == ("waived", "On leave until March")
        assert db.session.scalar(select(Evidence.event).order_by(Evidence.seq.desc())) == "assignment.waived"
    # the transcript says it in words; the codes stay in the database and the evidence
    page = client.get(f"/manage/people/{ids['ben']}").text
    assert "<td>Manager&#39;s choice<br>" in page and "<td>Waived<br>" in page
    assert "manager-choice" not in page and "<td>waived" not in page


def test_a_waiver_without_a_reason_is_refused_beside_the_field(app):
    ids = _org(app)
    client = _manager(app)
    assignment_id = _assign(app, client, ids["ben"])
    with app.app_context():
        events = db.session.scalar(select(func.count()).select_from(Evidence))
    page = client.get(f"/manage/people/{ids['ben']}").text
    response = client.post(
        f"/manage/assignments/{assignment_id}/waive", data={"csrf_token": csrf_token(page), "reason": "   "}
    )
    assert response.status_code == 422
    # the error-summary pattern: a summary linking to the row's field, the same words beside it
    assert f'<a href="#reason-{assignment_id}">Say why this training is waived.</a>' in response.text
    assert f'<p class="field-error" id="reason-{assignment_id}-error">' in response.text
    assert f'aria-describedby="reason-{assignment_id}-error"' in response.text
    assert response.text.count("Say why this training is waived.") == 2
    assert "<title>Error: Ben Brown · Rounds</title>" in response.text and "<title>Ben Brown · Rounds</title>" in page
    assert '<details class="row-action" open>' in response.text  # the field the summary links to is shown
    assert '<details class="row-action">' in page  # closed until the manager opens it
    with app.app_context():
        a = db.session.get(Assignment, assignment_id)
        assert (a.state, a.waived_reason) == ("open", None)
        assert db.session.scalar(select(func.count()).select_from(Evidence)) == events


def test_a_trigger_event_assigns_its_scope_and_shows_the_share_closed(app):
    ids = _org(app)
    client = _manager(app)
    page = client.get("/manage/events/new").text
    response = client.post(
        "/manage/events/new",
        data={
            "csrf_token": csrf_token(page),
            "kind": "incident",
            "title": "Fax sent to the wrong number",
            "occurred_on": date.today().isoformat(),
            "scope_kind": "department",
            "department": "Desk",
            "module_ids": ["test-callers"],
            "due_in_days": 10,
        },
    )
    assert response.status_code == 303, response.text
    event_url = response.headers["Location"]
    with app.app_context():
        people = {a.user_id for a in db.session.scalars(select(Assignment).where(Assignment.reason == "trigger-event"))}
    assert people == {ids["lead"], ids["ana"], ids["ben"]}  # Cat is in another department and team
    assert "0 of 3 closed (0%)" in client.get(event_url).text
    learner = app.test_client()
    sign_in(learner, "ben@example.org")
    through_lesson(learner)
    pass_and_sign(learner, "Ben Brown")
    assert "1 of 3 closed (33%)" in client.get(event_url).text


def test_event_form_errors_are_beside_the_fields(app):
    _org(app)
    client = _manager(app)
    page = client.get("/manage/events/new").text
    response = client.post(
        "/manage/events/new",
        data={"csrf_token": csrf_token(page), "kind": "incident", "scope_kind": "department", "occurred_on": ""},
    )
    assert response.status_code == 422
    for message in ("Give the event a short title.", "Choose the department.", "Choose at least one module."):
        assert response.text.count(message) == 2, message


def test_an_event_cannot_be_recorded_as_happening_on_a_day_to_come(app):
    from quiz import clock

    _org(app)
    client = _manager(app)
    with app.app_context():
        before = (
            db.session.scalar(select(func.count()).select_from(Evidence)),
            db.session.scalar(select(func.count()).select_from(Assignment)),
        )
    page = client.get("/manage/events/new").text
    data = {
        "csrf_token": csrf_token(page),
        "kind": "incident",
        "title": "Fax sent to the wrong number",
        "occurred_on": (clock.real_today() + timedelta(days=2)).isoformat(),
        "scope_kind": "department",
        "department": "Desk",
        "module_ids": ["test-callers"],
        "due_in_days": 10,
    }
    response = client.post("/manage/events/new", data=data)
    assert response.status_code == 422
    assert response.text.count("The date it happened cannot be a day still to come.") == 2  # summary and field
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Evidence)),
            db.session.scalar(select(func.count()).select_from(Assignment)),
        ) == before
    # Yesterday is a day it could have happened.
    response = client.post(
        "/manage/events/new", data={**data, "occurred_on": (date.today() - timedelta(days=1)).isoformat()}
    )
    assert response.status_code == 303, response.text


def test_a_manager_opens_a_reports_certificate_from_the_transcript(app):
    ids = _org(app)
    for email in ("ana@example.org", "cat@example.org"):  # ana reports (indirectly); cat does not
        client = app.test_client()
        sign_in(client, email)
        through_lesson(client)
        name = "Ana Alvarez" if email.startswith("ana") else "Cat Cole"
        assert pass_and_sign(client, full_name=name).status_code == 303
    manager = _manager(app)
    link = f"/manage/people/{ids['ana']}/certificates/test-callers/1"
    assert f'href="{link}"' in manager.get(f"/manage/people/{ids['ana']}").text
    page = manager.get(link).text
    with app.app_context():
        signed = db.session.scalars(
            select(Evidence).where(Evidence.event == "acknowledgement.signed").order_by(Evidence.seq)
        ).first()
    assert '<h1 id="cert-title">Ana Alvarez</h1>' in page
    assert f"<dt>Evidence record</dt><dd>No. {signed.seq}, <code>{signed.hash[:16]}</code></dd>" in page
    pdf = manager.get(link + ".pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert (
        pdf.headers["Content-Disposition"]
        == f'attachment; filename="certificate-test-callers-1-person-{ids["ana"]}.pdf"'
    )
    # outside the team, or no such certificate: nothing, not even whether it exists
    assert manager.get(f"/manage/people/{ids['cat']}/certificates/test-callers/1").status_code == 404
    assert manager.get(f"/manage/people/{ids['cat']}/certificates/test-callers/1.pdf").status_code == 404
    assert manager.get(f"/manage/people/{ids['ana']}/certificates/test-callers/2").status_code == 404
    # and a learner cannot use the manager's address for a colleague's certificate
    ben = app.test_client()
    sign_in(ben, "ben@example.org")
    assert ben.get(link).status_code == 403


def test_manager_pages_use_no_id_twice(app):
    # A row per assignment and a form per missed objective, each with its hidden tokens.
    ids = _org(app)
    _take(app, "ana@example.org", "Read out the appointment time")  # wrong at first try
    _take(app, "ben@example.org", "Ask for two identifiers")
    manager = _manager(app)
    for module_id in ("test-callers", "test-refresher"):
        _assign(app, manager, ids["ben"], module_id)
    pages = {
        path: manager.get(path).text
        for path in (
            "/manage/",
            f"/manage/people/{ids['ben']}",
            "/manage/modules/test-callers",
            "/manage/events/new",
        )
    }
    assert pages[f"/manage/people/{ids['ben']}"].count('action="/manage/assignments/') == 2  # the premise
    assert "1 missed it: Ana Alvarez" in pages["/manage/modules/test-callers"]
    repeated = {path: found for path, html in pages.items() if (found := repeated_ids(html))}
    assert not repeated, repeated

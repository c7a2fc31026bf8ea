"""Pages sized for a whole organization: the team page, the roster, the outbox and the trigger
events are paged, searched and filtered in the database; bulk actions (assign a module, set
people inactive) ask first and leave the same evidence as the single actions; and the team
page runs the same number of SQL statements for 20 people as for 200."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import func, select

from quiz.db import db
from quiz.models import NO_PASSWORD, Assignment, Evidence, OutboxMessage, TriggerEvent, User

from .helpers import add_user, csrf_token, page_text, recorded_sql, sign_in

DEPARTMENTS = ("Cardiology", "Radiology", "Front Office")
STATES = ("TX", "CA", "NY")
ROW = re.compile(r'<th scope="row"><a href="/manage/people/\d+">([^<]+)</a></th>')


def _manager(app, role="manager"):
    uid = add_user(app, email=f"{role}@example.org", name=f"Mo {role.title()}", role=role, job_role="leadership")
    client = app.test_client()
    assert sign_in(client, f"{role}@example.org").status_code == 303
    return uid, client


def _staff(app, supervisor_id: int | None, count: int, start: int = 0, **fields) -> list[int]:
    """``count`` people reporting to ``supervisor_id``, made straight in the database (no
    password: hashing hundreds would be slow): Person 0000..., p0000@example.org, E0000...,
    in turn in each department and work state, front desk or pharmacy."""
    with app.app_context():
        people = [
            User(
                email=f"p{n:04d}@example.org",
                name=f"Person {n:04d}",
                password_hash=NO_PASSWORD,
                job_role="front-desk" if n % 2 == 0 else "pharmacy",
                employee_id=f"E{n:04d}",
                department=DEPARTMENTS[n % 3],
                work_state=STATES[n % 3],
                supervisor_id=supervisor_id,
                **fields,
            )
            for n in range(start, start + count)
        ]
        db.session.add_all(people)
        db.session.commit()
        return [p.id for p in people]


def _names(html: str) -> list[str]:
    return ROW.findall(html)


# --- paging, search, filters -----------------------------------------------------------------


def test_the_team_page_shows_fifty_at_a_time_with_links_that_keep_the_filters(app):
    manager_id, client = _manager(app)
    _staff(app, manager_id, 120)
    first = client.get("/manage/")
    assert first.status_code == 200
    assert _names(first.text) == [f"Person {n:04d}" for n in range(50)]
    assert "1–50 of 120 people; page 1 of 3" in page_text(first.text)
    assert 'href="/manage/?page=2" rel="next"' in first.text
    last = client.get("/manage/?page=3")
    assert _names(last.text) == [f"Person {n:04d}" for n in range(100, 120)]
    assert 'rel="next"' not in last.text and 'href="/manage/?page=2" rel="prev"' in last.text
    assert _names(client.get("/manage/?page=99").text) == _names(last.text)  # past the end: the last page
    assert _names(client.get("/manage/?page=nonsense").text) == _names(first.text)
    filtered = client.get("/manage/?department=Cardiology")
    assert "1–40 of 40 people" in page_text(filtered.text)  # one in three
    assert 'href="/manage/?page=2' not in filtered.text


def test_the_team_page_finds_people_by_name_email_employee_id_and_department(app):
    manager_id, client = _manager(app)
    _staff(app, manager_id, 60)
    _staff(app, None, 1, start=500)  # not in the team: never found
    assert _names(client.get("/manage/?q=person 0042").text) == ["Person 0042"]
    assert _names(client.get("/manage/?q=P0043@EXAMPLE").text) == ["Person 0043"]  # any case
    assert _names(client.get("/manage/?q=E0044").text) == ["Person 0044"]
    radiology = _names(client.get("/manage/?q=radio").text)
    assert len(radiology) == 20 and "Person 0001" in radiology and "Person 0000" not in radiology
    assert _names(client.get("/manage/?q=E0500").text) == []
    assert _names(client.get("/manage/?q=100%25").text) == []  # % is a character, not a wildcard
    nothing = client.get("/manage/?q=nobody-by-that-name")
    assert "No one to show with these filters." in page_text(nothing.text)


def test_the_team_page_filters_by_standing_job_role_and_work_state(app):
    manager_id, client = _manager(app)
    ids = _staff(app, manager_id, 9)
    with app.app_context():
        db.session.add(
            Assignment(
                user_id=ids[4],
                module_id="test-callers",
                due_on=date.today() - timedelta(days=3),
                reason="manager-choice",
                state="open",
            )
        )
        db.session.add(
            Assignment(
                user_id=ids[5],
                module_id="test-callers",
                due_on=date.today() + timedelta(days=30),
                reason="manager-choice",
                state="open",
            )
        )
        db.session.commit()
    assert _names(client.get("/manage/?standing=overdue").text) == ["Person 0004"]
    assert _names(client.get("/manage/?standing=not-yet-due").text) == ["Person 0005"]
    assert len(_names(client.get("/manage/?standing=never-trained").text)) == 7
    assert _names(client.get("/manage/?job_role=pharmacy&work_state=CA").text) == ["Person 0001", "Person 0007"]
    both = client.get("/manage/?standing=overdue&department=Radiology&page=1")
    assert _names(both.text) == ["Person 0004"]
    assert _names(client.get("/manage/?standing=nonsense").text) == [f"Person {n:04d}" for n in range(9)]


def test_a_manager_sees_their_whole_tree_and_no_one_else_on_every_page(app):
    manager_id, client = _manager(app)
    leads = _staff(app, manager_id, 2)
    _staff(app, leads[0], 3, start=10)  # indirect reports
    _staff(app, None, 3, start=20)  # someone else's
    names = _names(client.get("/manage/").text)
    assert names == ["Person 0000", "Person 0001", "Person 0010", "Person 0011", "Person 0012"]


def test_the_roster_is_paged_searched_and_filtered(app, client):
    admin_id, admin = _manager(app, "admin")
    _staff(app, None, 70)
    _staff(app, None, 5, start=100, active=False)
    page = admin.get("/admin/roster")
    assert "76 people found" in page.text and page.text.count('<tr id="p') == 50
    second = admin.get("/admin/roster?page=2")
    assert second.text.count('<tr id="p') == 26
    assert f'id="p{admin_id}"' in page.text + second.text  # the admin is on the roster too
    rows = lambda html: re.findall(r'<tr id="p(\d+)">', html)  # noqa: E731
    assert len(rows(admin.get("/admin/roster?q=E0007").text)) == 1
    assert len(rows(admin.get("/admin/roster?q=p0008@example.org").text)) == 1
    assert len(rows(admin.get("/admin/roster?q=Person 0009").text)) == 1
    assert len(rows(admin.get("/admin/roster?q=front office&show=active").text)) == 23
    assert len(rows(admin.get("/admin/roster?show=inactive").text)) == 5
    assert len(rows(admin.get("/admin/roster?show=active&work_state=TX&job_role=front-desk").text)) == 12
    assert "1 person found" in admin.get("/admin/roster?q=E0100").text


def test_the_outbox_is_searched_and_filtered(app, client):
    _, admin = _manager(app, "admin")
    ids = _staff(app, None, 3)
    with app.app_context():
        for n, uid in enumerate(ids):
            db.session.add(
                OutboxMessage(
                    to_user_id=uid,
                    to_address=f"p{n:04d}@example.org",
                    subject=f"Training due {n}",
                    body="Hi",
                    kind="digest" if n < 2 else "escalation",
                    digest_day=date.today(),
                    transport="outbox",
                    error="SMTP refused" if n == 1 else None,
                )
            )
        db.session.commit()
    subjects = lambda html: re.findall(r">(Training due \d)</a>", html)  # noqa: E731
    assert sorted(subjects(admin.get("/admin/outbox").text)) == ["Training due 0", "Training due 1", "Training due 2"]
    assert subjects(admin.get("/admin/outbox?q=E0001").text) == ["Training due 1"]  # the recipient's employee id
    assert subjects(admin.get("/admin/outbox?q=Radiology").text) == ["Training due 1"]  # their department
    assert subjects(admin.get("/admin/outbox?q=person 0002").text) == ["Training due 2"]  # their name
    assert subjects(admin.get("/admin/outbox?kind=escalation").text) == ["Training due 2"]
    assert subjects(admin.get("/admin/outbox?status=failed").text) == ["Training due 1"]
    assert sorted(subjects(admin.get("/admin/outbox?status=kept").text)) == ["Training due 0", "Training due 2"]


def test_the_events_page_is_paged_searched_and_scoped(app):
    manager_id, client = _manager(app)
    mine = _staff(app, manager_id, 1)
    other = _staff(app, None, 1, start=10)
    with app.app_context():
        for n in range(55):
            event = TriggerEvent(
                kind="incident" if n % 5 else "near-miss",
                title=f"Event {n:02d}",
                occurred_on=date.today() - timedelta(days=n),
                scope_kind="people",
                scope_value="[]",
                module_ids='["test-callers"]',
                recorded_by_id=other[0],
            )
            db.session.add(event)
            db.session.flush()
            db.session.add(
                Assignment(
                    user_id=mine[0] if n < 52 else other[0],
                    module_id="test-callers",
                    due_on=date.today() - timedelta(days=1),
                    reason="trigger-event",
                    # one open assignment per person and module (the database's rule)
                    state="done" if n % 2 else ("open" if n in (2, 52) else "waived"),
                    trigger_event_id=event.id,
                )
            )
        db.session.commit()
    titles = lambda html: re.findall(r">(Event \d\d)</a>", html)  # noqa: E731
    first = client.get("/manage/events/")
    assert titles(first.text) == [f"Event {n:02d}" for n in range(50)]  # latest first
    assert "1–50 of 52 events" in page_text(first.text)  # not the three that concern no one in the team
    assert titles(client.get("/manage/events/?page=2").text) == ["Event 50", "Event 51"]
    assert titles(client.get("/manage/events/?q=event 07").text) == ["Event 07"]
    assert len(titles(client.get("/manage/events/?kind=near-miss").text)) == 11
    assert "1 of 1 (100%)" in client.get("/manage/events/?q=event 01").text
    assert "0 of 1 (0%)" in client.get("/manage/events/?q=event 02").text


# --- bulk actions ----------------------------------------------------------------------------


def test_a_manager_assigns_a_module_to_the_people_ticked_after_confirming(app):
    manager_id, client = _manager(app)
    ids = _staff(app, manager_id, 4)
    outsider = _staff(app, None, 1, start=10)[0]
    page = client.get("/manage/").text
    assert 'form="bulk"' in page and 'id="bulk"' in page
    due = (date.today() + timedelta(days=10)).isoformat()
    form = {
        "csrf_token": csrf_token(page),
        "module_id": "test-callers",
        "due_on": due,
        "person": [ids[0], ids[1], outsider],
        "department": "",
    }
    confirm = client.post("/manage/assign", data=form)
    assert confirm.status_code == 200
    assert "Assign Taking a call" in page_text(confirm.text) or "to 2 people?" in page_text(confirm.text)
    assert "to 2 people?" in page_text(confirm.text)  # the outsider is not in the team: not counted
    with app.app_context():
        assert db.session.scalar(select(func.count(Assignment.id))) == 0  # nothing before the confirmation
    done = client.post("/manage/assign", data={**form, "csrf_token": csrf_token(confirm.text), "confirmed": "yes"})
    assert done.status_code == 303
    assert "to 2 people." in page_text(client.get(done.headers["Location"]).text)
    with app.app_context():
        given = db.session.scalars(select(Assignment).order_by(Assignment.user_id)).all()
        assert [(a.user_id, a.module_id, a.reason, a.due_on.isoformat()) for a in given] == [
            (ids[0], "test-callers", "manager-choice", due),
            (ids[1], "test-callers", "manager-choice", due),
        ]
        created = db.session.scalars(select(Evidence).where(Evidence.event == "assignment.created")).all()
        assert sorted(e.user_id for e in created) == [ids[0], ids[1]]
        assert all('"assigned_by":"manager@example.org"' in e.details for e in created)
    again = client.post("/manage/assign", data={**form, "csrf_token": csrf_token(confirm.text), "confirmed": "yes"})
    assert "to 0 people; 2 already had it open." in page_text(client.get(again.headers["Location"]).text)


def test_a_manager_assigns_a_module_to_a_whole_department(app):
    manager_id, client = _manager(app)
    ids = _staff(app, manager_id, 9)
    _staff(app, None, 3, start=20)  # in the department, not in the team
    page = client.get("/manage/").text
    due = (date.today() + timedelta(days=10)).isoformat()
    form = {"csrf_token": csrf_token(page), "module_id": "test-callers", "due_on": due, "department": "Radiology"}
    confirm = client.post("/manage/assign", data=form)
    assert "to 3 people?" in page_text(confirm.text) and "everyone active in Radiology" in page_text(confirm.text)
    done = client.post("/manage/assign", data={**form, "csrf_token": csrf_token(confirm.text), "confirmed": "yes"})
    assert done.status_code == 303
    with app.app_context():
        assert sorted(db.session.scalars(select(Assignment.user_id))) == [ids[1], ids[4], ids[7]]


def test_a_bulk_assignment_says_what_is_wrong_with_it(app):
    manager_id, client = _manager(app)
    ids = _staff(app, manager_id, 2)
    page = client.get("/manage/").text
    due = (date.today() + timedelta(days=10)).isoformat()
    nobody = client.post(
        "/manage/assign", data={"csrf_token": csrf_token(page), "module_id": "test-callers", "due_on": due}
    )
    assert nobody.status_code == 422 and "Choose at least one person, or a department." in nobody.text
    past = client.post(
        "/manage/assign",
        data={"csrf_token": csrf_token(page), "module_id": "test-callers", "due_on": "2000-01-01", "person": ids},
    )
    assert past.status_code == 422 and "The due date cannot be in the past." in past.text
    both = client.post(
        "/manage/assign",
        data={
            "csrf_token": csrf_token(page),
            "module_id": "test-callers",
            "due_on": due,
            "person": ids,
            "department": "Cardiology",
        },
    )
    assert both.status_code == 422 and "Choose people or a department, not both." in both.text
    forged = client.post(
        "/manage/assign", data={"module_id": "test-callers", "due_on": due, "person": ids, "confirmed": "yes"}
    )
    assert forged.status_code == 400  # no CSRF token: refused, nothing assigned
    with app.app_context():
        assert db.session.scalar(select(func.count(Assignment.id))) == 0


def test_an_admin_sets_the_people_ticked_inactive_after_confirming(app):
    admin_id, admin = _manager(app, "admin")
    ids = _staff(app, None, 3)
    worker = add_user(app, email="worker@example.org", name="Wendy Worker")
    worker_client = app.test_client()
    assert sign_in(worker_client, "worker@example.org").status_code == 303
    page = admin.get("/admin/roster").text
    form = {"csrf_token": csrf_token(page), "person": [ids[0], worker], "show": "all"}
    confirm = admin.post("/admin/roster/deactivate", data=form)
    assert confirm.status_code == 200 and "Set 2 people inactive?" in page_text(confirm.text)
    with app.app_context():
        assert db.session.get(User, worker).active
    done = admin.post(
        "/admin/roster/deactivate", data={**form, "csrf_token": csrf_token(confirm.text), "confirmed": "yes"}
    )
    assert done.status_code == 303
    assert "Set 2 people inactive" in page_text(admin.get(done.headers["Location"]).text)
    with app.app_context():
        assert [db.session.get(User, i).active for i in (ids[0], ids[1], worker)] == [False, True, False]
        records = db.session.scalars(select(Evidence).where(Evidence.event == "person.deactivated")).all()
        assert sorted(r.user_id for r in records) == sorted([ids[0], worker])
        assert all('"by":"admin@example.org"' in r.details for r in records)
    assert worker_client.get("/learn/").status_code in (302, 303, 401)  # their session ended
    myself = admin.post("/admin/roster/deactivate", data={"csrf_token": csrf_token(page), "person": [admin_id]})
    assert myself.status_code == 422 and "You cannot set your own account inactive" in myself.text
    forged = admin.post("/admin/roster/deactivate", data={"person": [ids[1]], "confirmed": "yes"})
    assert forged.status_code == 400
    with app.app_context():
        assert db.session.get(User, ids[1]).active


def test_a_manager_cannot_set_people_inactive(app):
    manager_id, client = _manager(app)
    ids = _staff(app, manager_id, 1)
    page = client.get("/manage/").text
    refused = client.post(
        "/admin/roster/deactivate", data={"csrf_token": csrf_token(page), "person": ids, "confirmed": "yes"}
    )
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.get(User, ids[0]).active


# --- the number of statements ----------------------------------------------------------------


def _with_history(app, ids: list[int]) -> None:
    with app.app_context():
        for n, uid in enumerate(ids):
            db.session.add(
                Assignment(
                    user_id=uid,
                    module_id="test-callers",
                    reason="onboarding",
                    due_on=date.today() + timedelta(days=n % 20 - 10),
                    state="open",
                )
            )
        db.session.commit()


def _statements(app, client, url: str) -> int:
    with recorded_sql(app) as seen:
        response = client.get(url)
    assert response.status_code == 200
    return len([s for s in seen if not s.lstrip().upper().startswith(("PRAGMA", "BEGIN", "SET"))])


def test_the_team_page_runs_as_many_statements_for_200_people_as_for_20(app):
    manager_id, client = _manager(app)
    _with_history(app, _staff(app, manager_id, 20))
    small = _statements(app, client, "/manage/")
    small_filtered = _statements(app, client, "/manage/?standing=overdue&q=person")
    _with_history(app, _staff(app, manager_id, 180, start=20))
    assert _statements(app, client, "/manage/") == small
    assert _statements(app, client, "/manage/?standing=overdue&q=person") == small_filtered
    assert small <= 8  # the account, the page (count and rows), the filters' choices


def test_the_roster_runs_as_many_statements_for_200_people_as_for_20(app):
    _, admin = _manager(app, "admin")
    _with_history(app, _staff(app, None, 20))
    small = _statements(app, admin, "/admin/roster")
    _with_history(app, _staff(app, None, 180, start=20))
    assert _statements(app, admin, "/admin/roster") == small


def test_an_event_names_its_people_by_employee_id_or_email_within_the_team(app):
    manager_id, client = _manager(app)
    ids = _staff(app, manager_id, 3)
    _staff(app, None, 1, start=10)  # not in the team
    page = client.get("/manage/events/new")
    assert page.status_code == 200 and "Person 0001" not in page.text  # no list of the whole team
    form = {
        "csrf_token": csrf_token(page.text),
        "kind": "incident",
        "title": "Fax sent to the wrong number",
        "occurred_on": date.today().isoformat(),
        "scope_kind": "people",
        "module_ids": "test-callers",
        "due_in_days": "14",
        "department": "",
        "job_role": "",
    }
    refused = client.post("/manage/events/new", data={**form, "people": "E0000\nE0010, nobody@example.org"})
    assert refused.status_code == 422
    assert "Not found among the active people of your team: E0010, nobody@example.org." in page_text(refused.text)
    empty = client.post("/manage/events/new", data={**form, "people": "  "})
    assert empty.status_code == 422 and "Name at least one person, by employee id or email." in empty.text
    done = client.post("/manage/events/new", data={**form, "people": "e0000\nP0002@example.org"})
    assert done.status_code == 303
    with app.app_context():
        assert sorted(db.session.scalars(select(Assignment.user_id))) == [ids[0], ids[2]]

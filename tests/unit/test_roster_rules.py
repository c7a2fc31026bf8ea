"""Roster rules (quiz/roster.py), through ``roster.preview`` only, on a plain Session: who would
be created, changed, deactivated or skipped, and each bad row named by its line, while nothing
changes."""

from __future__ import annotations

from sqlalchemy import func, select

from quiz import roster
from quiz.models import User

HEADER = "employee_id,email,name,job_role,supervisor_email,active,kind,vendor\n"


def _preview(session, *rows: str, by_user=None, header: str = HEADER) -> roster.Preview:
    return roster.preview(session, header + "".join(row + "\n" for row in rows), by_user)


def _messages(result: roster.Preview) -> list[str]:
    return [str(e) for e in result.errors]


def test_new_people_are_previewed_and_nothing_is_written(session):
    result = _preview(
        session, "E1,Ann@Example.org,Ann  Lee,front-desk,,,,", "E2,bo@example.org,Bo Park,clinical,ann@example.org,,,"
    )
    assert result.ok and _messages(result) == []
    assert [(p.line, p.email, p.name) for p in result.created] == [
        (2, "ann@example.org", "Ann Lee"),
        (3, "bo@example.org", "Bo Park"),
    ]
    assert result.created[1].values["supervisor"] == "ann@example.org"  # someone in the same file
    assert result.summary() == "2 created, 0 changed, 0 deactivated, 0 unchanged"
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_each_bad_value_is_named_by_its_line(session):
    result = _preview(session, "E1,not-an-email,Ann Lee,juggler,,maybe,,", "E2,bo@example.org,,clinical,,,ba-staff,")
    messages = _messages(result)
    assert not result.ok and result.created == []
    assert "line 2: email 'not-an-email' is not an email address" in messages
    assert any(m.startswith("line 2: job_role 'juggler' is not one of") for m in messages)
    assert "line 2: active 'maybe' is not yes or no" in messages
    assert "line 3: name is empty" in messages
    assert "line 3: vendor is required when kind is ba-staff" in messages
    assert result.counts()["bad_rows"] == 2


def test_the_same_employee_id_or_email_twice_is_refused_on_both_lines(session):
    result = _preview(session, "E1,ann@example.org,Ann Lee,clinical,,,,", "E1,ANN@example.org,Ann Two,clinical,,,,")
    assert "line 2: employee_id 'E1' is also on line 3" in _messages(result)
    assert "line 3: email 'ann@example.org' is also on line 2" in _messages(result)


def test_a_header_without_a_required_column_stops_there(session):
    result = _preview(session, "E1,ann@example.org,Ann Lee", header="employee_id,email,name\n")
    assert _messages(result) == ["line 1: the header lacks the required column job_role"]


def test_people_are_matched_by_employee_id_or_linked_by_email_and_missing_ones_deactivated(session, person):
    ann = person(email="ann@example.org", name="Ann Lee", employee_id="E1", job_role="clinical")
    made_by_hand = person(email="bo@example.org", name="Bo Park", job_role="clinical")  # no employee_id yet
    left = person(email="cy@example.org", name="Cy Diaz", employee_id="E3", job_role="clinical")
    admin = person(email="admin@example.org", name="Ada Admin", role="admin", job_role="leadership")
    result = _preview(
        session, "E1,ann@example.org,Ann Lee,clinical,,,,", "E2,bo@example.org,Bo Park,clinical,,,,", by_user=admin
    )
    assert result.ok, _messages(result)
    assert result.unchanged == 1  # Ann, as she is
    [linked] = result.changed
    assert (linked.user_id, linked.changes) == (made_by_hand.id, {"employee_id": ("", "E2")})
    [gone] = result.deactivated
    assert (gone.user_id, gone.reason, gone.changes) == (left.id, "not in the file", {"active": ("yes", "no")})
    assert admin.active and ann.employee_id == "E1"  # the admin, without an employee_id, is never touched


def test_an_import_that_would_deactivate_the_importer_is_refused(session, person):
    me = person(email="me@example.org", name="Me Myself", employee_id="E9", role="admin", job_role="leadership")
    result = _preview(session, "E1,ann@example.org,Ann Lee,clinical,,,,", by_user=me)
    assert _messages(result) == ["importing this would deactivate your own account (me@example.org)"]


def test_a_supervisor_loop_is_refused(session):
    result = _preview(
        session,
        "E1,ann@example.org,Ann Lee,clinical,bo@example.org,,,",
        "E2,bo@example.org,Bo Park,clinical,ann@example.org,,,",
    )
    assert "line 2: supervisor loop: ann@example.org -> bo@example.org -> ann@example.org" in _messages(result)


def test_an_inactive_row_for_someone_not_in_rounds_is_skipped(session):
    result = _preview(session, "E1,ann@example.org,Ann Lee,clinical,,no,,")
    assert result.ok and result.created == [] and [p.email for p in result.skipped] == ["ann@example.org"]
    assert result.summary() == "no changes (1 person in the file, all up to date)"

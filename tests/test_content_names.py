"""People's words, not ids (issue 30, part 4): a reason's detail reads "missed “Verify identity
and authority before sharing” in Test module on callers", not "missed objective
'verify-identity' in test-callers", on the manager's pages, the training report and its CSV
(where each id keeps a column of its own beside the words); and a module the content no longer
has is named by its id with a note, never an error."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from sqlalchemy import select

from quiz import assignments, versions
from quiz.content import load_library, parse_stored
from quiz.content_names import RETIRED, ContentNames
from quiz.db import db
from quiz.models import Assignment, User

from .helpers import DATA_CONTENT, add_user, choose, csrf_token, page_text, sign_in, signed_in_as, through_lesson

LIBRARY = load_library(DATA_CONTENT)
MODULE = "Test module on callers"
OBJECTIVE = "Verify identity and authority before sharing"  # its text, without the period
IN_WORDS = f"missed \u201c{OBJECTIVE}\u201d in {MODULE}"
OLD_DETAIL = "missed objective 'verify-identity' in test-callers"  # as written before December 2026


def test_ids_become_the_words_of_the_module_they_belong_to():
    names = ContentNames(LIBRARY)
    assert names.module("test-callers") == MODULE
    assert names.objective("test-callers", "verify-identity") == OBJECTIVE
    assert names.missed("test-callers", "verify-identity") == IN_WORDS
    assert names.detail(OLD_DETAIL) == IN_WORDS
    assert names.detail("  " + OLD_DETAIL + " ") == IN_WORDS
    # details already in words, and none, stay as they are
    assert names.detail("every 12 months, for front desk staff") == "every 12 months, for front desk staff"
    assert names.detail(None) is None and names.detail("") == ""


def test_what_the_content_no_longer_has_is_named_by_its_id_with_a_note():
    names = ContentNames(LIBRARY)
    assert names.module("gone-module") == f"gone-module ({RETIRED})"
    assert names.objective("gone-module", "verify-identity") == f"verify-identity ({RETIRED})"
    assert names.objective("test-callers", "gone-objective") == f"gone-objective ({RETIRED})"
    assert names.detail("missed objective 'x' in gone-module") == (
        f"missed \u201cx ({RETIRED})\u201d in gone-module ({RETIRED})"
    )
    # With no library at hand nothing is known either way: the bare id, no note.
    assert ContentNames(None).module("test-callers") == "test-callers"


def test_a_retired_module_is_named_as_its_last_stored_version_was(app):
    source = (DATA_CONTENT / "modules" / "test-callers.md").read_text(encoding="utf-8")
    old = source.replace("id: test-callers", "id: old-callers").replace(
        "title: Test module on callers", "title: The old callers module"
    )
    with app.app_context():
        versions.remember(db.session, parse_stored("module", "modules/old-callers.md", old))
        db.session.commit()
        names = ContentNames(LIBRARY, db.session)
        assert names.module("old-callers") == "The old callers module"
        assert names.detail("missed objective 'verify-identity' in old-callers") == (
            f"missed \u201c{OBJECTIVE}\u201d in The old callers module"
        )


def _missed_and_remediated(app) -> int:
    """Ana misses "verify-identity" in test-callers; her manager assigns test-refresher for it."""
    add_user(app, email="manager@example.org", name="Mo Manager", role="manager", job_role="leadership")
    ana = add_user(app, email="ana@example.org", name="Ana Alvarez", supervisor_email="manager@example.org")
    client = app.test_client()
    sign_in(client, "ana@example.org")
    through_lesson(client)
    choose(client, "Read out the appointment time")  # wrong at first try
    manager = app.test_client()
    sign_in(manager, "manager@example.org")
    page = manager.get("/manage/modules/test-callers").text
    response = manager.post(
        "/manage/modules/test-callers/remediate",
        data={
            "csrf_token": csrf_token(page),
            "objective": "verify-identity",
            "module_id": "test-refresher",
            "due_in_days": 7,
        },
    )
    assert response.status_code == 303
    return ana


def test_a_targeted_refresher_says_what_was_missed_and_where_in_words(app):
    ana = _missed_and_remediated(app)
    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.module_id == "test-refresher"))
        assert (a.detail, a.objective) == (IN_WORDS, "verify-identity")  # the words kept, the id beside them
    manager = app.test_client()
    sign_in(manager, "manager@example.org")
    shown = page_text(manager.get(f"/manage/people/{ana}").text)
    assert IN_WORDS in shown
    assert "verify-identity" not in shown and "test-callers" not in shown


def test_an_old_detail_written_with_ids_reads_in_words_on_pages_and_in_the_csv(app):
    ana = add_user(app, email="ana@example.org", name="Ana Alvarez")
    with app.app_context():
        person = db.session.get(User, ana)
        assignments.ensure(
            db.session, person, "test-refresher", date.today() + timedelta(days=7), "manager-choice", detail=OLD_DETAIL
        )
        db.session.commit()
    client = signed_in_as(app, "admin")  # an admin sees everyone, and the report
    person_page = page_text(client.get(f"/manage/people/{ana}").text)
    report_page = page_text(client.get("/audit/training").text)
    for shown in (person_page, report_page):
        assert IN_WORDS in shown
        assert "verify-identity" not in shown
    rows = list(csv.DictReader(io.StringIO(client.get("/audit/training.csv").get_data(as_text=True))))
    (row,) = [r for r in rows if r["email"] == "ana@example.org"]
    assert (row["module"], row["module_id"]) == ("Test refresher on verifying callers", "test-refresher")
    assert (row["reason"], row["reason_code"]) == ("Manager's choice", "manager-choice")
    assert row["detail"] == IN_WORDS
    assert row["objective_id"] == ""  # written before the id had a column of its own


def test_the_csv_names_a_retired_module_by_its_id_with_a_note(app):
    ana = add_user(app, email="ana@example.org", name="Ana Alvarez")
    with app.app_context():
        person = db.session.get(User, ana)
        assignments.ensure(db.session, person, "gone-module", date.today(), "manager-choice")
        db.session.commit()
    client = signed_in_as(app, "compliance")
    rows = list(csv.DictReader(io.StringIO(client.get("/audit/training.csv").get_data(as_text=True))))
    (row,) = [r for r in rows if r["email"] == "ana@example.org"]
    assert (row["module"], row["module_id"]) == (f"gone-module ({RETIRED})", "gone-module")
    assert f"gone-module ({RETIRED})" in page_text(client.get("/audit/training").text)


def test_the_csv_has_the_objective_id_of_a_targeted_refresher_in_its_own_column(app):
    _missed_and_remediated(app)
    client = signed_in_as(app, "compliance")
    rows = list(csv.DictReader(io.StringIO(client.get("/audit/training.csv").get_data(as_text=True))))
    (row,) = [r for r in rows if r["module_id"] == "test-refresher"]
    assert (row["detail"], row["objective_id"]) == (IN_WORDS, "verify-identity")

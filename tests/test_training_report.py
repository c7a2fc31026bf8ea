"""The training report for compliance officers: every assignment across the workforce and how
it ended, filtered, counted per state and department, paged, and as CSV. Read-only."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from quiz import training_report
from quiz.db import db
from quiz.models import Assignment, Attempt, User

from .helpers import (
    page_text,
    record_seqs,
    signed_in_as,
    workforce,
)


def _report_rows(html: str) -> list[tuple[str, str, str]]:
    """(person, module, state) per row of the report's table."""
    found = []
    html = html[html.index('id="report-order"') :] if 'id="report-order"' in html else ""  # not the departments'
    for row in re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", html, re.S):
        cells = [page_text(c).strip() for c in re.split(r"</t[hd]>", row)]
        found.append((cells[0].split(" ")[0], cells[1].split(" · ")[0], cells[3]))  # without the evidence link
    return found


def test_the_training_report_shows_every_assignment_and_how_it_ended(app):
    workforce(app)
    client = signed_in_as(app, "compliance")
    page = client.get("/audit/training").text
    assert _report_rows(page) == [
        ("Ben", "Test module on callers Onboarding", "Overdue"),
        ("Ben", "Test refresher on verifying callers Onboarding", "Waived Trained at his last employer"),
        ("Cy", "Test module on callers Onboarding", "Open (not yet due)"),
        ("Dana", "Test module on callers Onboarding", "Done"),
    ]
    text_ = page_text(page)
    assert "4 assignments" in text_
    assert "Done 1 (25%)" in text_ and "Open (not yet due) 1" in text_ and "Overdue 1" in text_ and "Waived 1" in text_
    with app.app_context():
        attempt = db.session.scalar(select(Attempt).where(Attempt.acknowledged_at.is_not(None)))
    assert f"attempt {attempt.number}, score {attempt.score}, signed “Dana Whitfield”" in text_
    assert f"version {attempt.module_version[:12]}" in text_
    # Each person links to their own report, and each row to its proof: that person's records
    # of that module on the Evidence page.
    assert 'href="/audit/training?email=dana@example.org">Dana Whitfield</a>' in page
    link = unescape(
        re.search(r'href="([^"]+)">evidence<span class="visually-hidden"> of Dana Whitfield', page).group(1)
    )
    assert link == "/audit/?email=dana@example.org&module=test-callers"
    records = client.get(link).text
    assert record_seqs(records) and "Acknowledgement signed" in page_text(records) and "Ben Brook" not in records


@pytest.mark.parametrize(
    "query, people",
    [
        ("state=overdue", ["Ben"]),
        ("state=open", ["Cy"]),
        ("state=done", ["Dana"]),
        ("state=waived", ["Ben"]),
        ("module=test-refresher", ["Ben"]),
        ("department=Dental+Clinic", ["Cy"]),
        ("department=Patient+Access&module=test-callers", ["Ben", "Dana"]),
        ("job_role=pharmacy", []),
        ("email=BEN@example.org", ["Ben", "Ben"]),
        ("email=ben@example.org&state=waived", ["Ben"]),
        ("due_until={past}", ["Ben"]),
        ("due_since={soon}&due_until={soon}", ["Cy"]),
    ],
)
def test_the_training_report_filters(app, query, people):
    workforce(app)
    today = date.today()
    query = query.format(past=today - timedelta(days=1), soon=today + timedelta(days=20))
    page = signed_in_as(app, "compliance").get(f"/audit/training?{query}").text
    assert [person for person, _, _ in _report_rows(page)] == people


def test_the_training_report_refuses_a_bad_filter_beside_its_field(app):
    client = signed_in_as(app, "compliance")
    response = client.get(
        "/audit/training?due_since=2026-02-01&due_until=2026-01-01&state=late&email=nobody@example.org"
    )
    assert response.status_code == 400
    assert '<a href="#email">No account has this email.</a>' in response.text
    assert '<a href="#due_until">The last day is before the first day.</a>' in response.text
    assert '<a href="#state">Choose a state from the list.</a>' in response.text
    assert client.get("/audit/training.csv?due_since=soon").status_code == 400


def test_the_training_report_downloads_as_csv(app):
    workforce(app)
    client = signed_in_as(app, "compliance")
    response = client.get("/audit/training.csv?department=Patient+Access")
    assert response.mimetype == "text/csv"
    assert re.match(
        r'attachment; filename="rounds-training-report-\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == training_report.COLUMNS
    assert [(r["email"], r["module_id"], r["state"]) for r in rows] == [
        ("ben@example.org", "test-callers", "overdue"),
        ("ben@example.org", "test-refresher", "waived"),
        ("dana@example.org", "test-callers", "done"),
    ]
    done = rows[2]
    with app.app_context():
        attempt = db.session.scalar(select(Attempt).where(Attempt.acknowledged_at.is_not(None)))
    assert done["late"] == "no" and done["completed_on"] == date.today().isoformat()
    assert done["signed_name"] == "Dana Whitfield" and done["score"] == str(attempt.score)
    assert done["content_version"] == attempt.module_version and done["attempt"] == str(attempt.number)
    assert rows[1]["waived_reason"] == "Trained at his last employer" and rows[1]["completed_on"] == ""
    assert rows[0]["late"] == "" and rows[0]["due_on"] == (date.today() - timedelta(days=3)).isoformat()


def test_the_training_report_pages(app, monkeypatch):
    monkeypatch.setattr("quiz.web.audit.report.PER_PAGE", 2)
    workforce(app)
    client = signed_in_as(app, "compliance")
    first = client.get("/audit/training").text
    assert [p for p, _, _ in _report_rows(first)] == ["Ben", "Ben"] and "page 1 of 2" in first
    second = client.get(unescape(re.search(r'href="([^"]+)" rel="next">Next page', first).group(1))).text
    assert [p for p, _, _ in _report_rows(second)] == ["Cy", "Dana"] and 'rel="prev"' in second
    # The CSV is every row, not one page.
    assert len(client.get("/audit/training.csv").get_data(as_text=True).splitlines()) == 5


def test_someone_who_has_left_is_not_overdue_as_in_the_daily_job(app):
    workforce(app)
    with app.app_context():
        ben = db.session.scalar(select(User).where(User.email == "ben@example.org"))
        ben.active = False
        db.session.commit()
    client = signed_in_as(app, "compliance")
    page = client.get("/audit/training").text
    assert ("Ben", "Test module on callers Onboarding", "Open, past due") in _report_rows(page)
    assert "(left)" in page
    assert [p for p, _, _ in _report_rows(client.get("/audit/training?state=overdue").text)] == []
    assert "Ben" in [p for p, _, _ in _report_rows(client.get("/audit/training?state=open").text)]


def test_the_report_csv_never_hands_a_spreadsheet_a_formula(app):
    workforce(app)
    with app.app_context():
        waived = db.session.scalar(select(Assignment).where(Assignment.state == "waived"))
        waived.waived_reason = '=HYPERLINK("http://x.example","click")'
        db.session.commit()
    rows = list(
        csv.DictReader(io.StringIO(signed_in_as(app, "compliance").get("/audit/training.csv").get_data(as_text=True)))
    )
    assert [r["waived_reason"] for r in rows if r["state"] == "waived"] == ['\'=HYPERLINK("http://x.example","click")']


def test_the_training_report_adds_up_by_department(app):
    workforce(app)
    page = signed_in_as(app, "compliance").get("/audit/training").text
    table = page[page.index("By department") : page.index("</table>", page.index("By department"))]
    rows = [page_text(r).split() for r in re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", table, re.S)]
    # Dental Clinic: Cy's one open assignment; Patient Access: Dana's done one and Ben's overdue and waived ones.
    assert rows == [
        ["Dental", "Clinic", "1", "0", "(0%)", "1", "0", "0"],
        ["Patient", "Access", "3", "1", "(33%)", "0", "1", "1"],
    ]
    assert 'href="/audit/training?department=Dental+Clinic"' in table
    with app.app_context():
        per_department, total = training_report.by_department(db.session, training_report.Filters(), date.today())
    assert total == {"open": 1, "overdue": 1, "done": 1, "waived": 1, "all": 4}
    assert sum(t["all"] for _, t in per_department) == total["all"]


def test_the_report_finds_contractors_and_business_associates_staff_by_kind_and_firm(app):
    """Evidence that a business associate's people were trained is asked for by firm."""
    workforce(app)
    with app.app_context():
        people = {u.email: u for u in db.session.scalars(select(User))}
        people["ben@example.org"].person_kind, people["ben@example.org"].vendor = "ba-staff", "Acme Billing"
        people["cy@example.org"].person_kind, people["cy@example.org"].vendor = "contractor", "Smile Temps"
        db.session.commit()
    client = signed_in_as(app, "compliance")
    for query, expected in (
        ("person_kind=ba-staff", ["Ben", "Ben"]),
        ("person_kind=contractor", ["Cy"]),
        ("person_kind=employee", ["Dana"]),
        ("vendor=Acme+Billing", ["Ben", "Ben"]),
        ("vendor=Smile+Temps&state=open", ["Cy"]),
    ):
        page = client.get(f"/audit/training?{query}").text
        assert [p for p, _, _ in _report_rows(page)] == expected, query
    page = page_text(client.get("/audit/training?vendor=Acme+Billing").text)
    assert "Business associate staff: Acme Billing" in page
    rows = list(
        csv.DictReader(io.StringIO(client.get("/audit/training.csv?person_kind=ba-staff").get_data(as_text=True)))
    )
    assert {(r["email"], r["person_kind"], r["vendor"]) for r in rows} == {
        ("ben@example.org", "ba-staff", "Acme Billing")
    }
    for query, message in (
        ("vendor=Nobody+Inc", "Choose a firm from the list."),
        ("person_kind=robot", "Choose a kind of person from the list."),
    ):
        wrong = client.get(f"/audit/training?{query}")
        assert wrong.status_code == 400 and page_text(wrong.text).count(message) == 2, query

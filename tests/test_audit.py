"""The compliance officers' pages: the evidence (find records, page through them, download them
as CSV, see one checked against its hash, check the whole chain) and the training report (every
assignment and how it ended, filtered, paged, as CSV). Read-only."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select, text

from quiz import assignments, evidence, training_report
from quiz.db import db
from quiz.models import Assignment, Attempt, Evidence, User

from .conftest import add_user, page_text, sign_in, signed_in_as
from .test_evidence import _disable_triggers
from .test_learning_flow import _through_lesson, pass_and_sign


def _seqs(html: str) -> list[int]:
    """The record numbers a results table lists, top to bottom."""
    return [int(n) for n in re.findall(r'<th scope="row"><a href="/audit/records/(\d+)"', html)]


def _a_passed_module(app, email="learner@example.org", name="Dana Whitfield") -> None:
    add_user(app, email=email, name=name)
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    _through_lesson(client)
    assert pass_and_sign(client, name).status_code == 303


def _records(app, count: int, event: str = "lesson.viewed", email: str | None = None) -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email)) if email else None
        for i in range(count):
            evidence.append(db.session, event, user=user, module_id="test-callers", details={"i": i})
        db.session.commit()


@pytest.mark.parametrize(
    "role, allowed", [("learner", False), ("manager", False), ("trainer", False), ("compliance", True), ("admin", True)]
)
def test_only_compliance_officers_and_admins_open_the_audit_pages_and_see_them_in_the_menu(app, role, allowed):
    _records(app, 1)
    client = signed_in_as(app, role)
    for url in ("/audit/", "/audit/records/1", "/audit/chain", "/audit/evidence.csv", "/audit/training", "/audit/training.csv"):
        assert client.get(url).status_code == (200 if allowed else 403), url
    assert ('href="/audit/training"' in client.get("/learn/").text) is allowed


def test_the_page_lists_every_record_newest_first_with_who_what_and_the_content_version(app):
    _a_passed_module(app)
    page = signed_in_as(app, "compliance").get("/audit/").text
    with app.app_context():
        stored = list(db.session.scalars(select(Evidence).order_by(Evidence.seq.desc())))
    assert _seqs(page) == [r.seq for r in stored] and len(stored) >= 8
    text_ = page_text(page)
    assert f"{len(stored)} records" in text_
    for label in ("Attempt started", "Lesson screen viewed", "Answer given", "Module passed", "Acknowledgement signed"):
        assert label in text_
    answer = next(r for r in stored if r.event == "choice.made")
    assert "Dana Whitfield" in text_ and "learner@example.org" in text_
    assert f"version {answer.content_version[:12]}" in text_
    assert "choice text: Ask for two identifiers" in text_ and "correct: yes" in text_
    assert "Test module on callers" in text_  # the module by its title


def test_records_can_be_found_by_person_module_kind_and_days(app):
    _a_passed_module(app)
    _a_passed_module(app, "ben@example.org", "Ben Brook")
    client = signed_in_as(app, "compliance")
    with app.app_context():
        stored = list(db.session.scalars(select(Evidence).order_by(Evidence.seq.desc())))
    today = stored[0].recorded_at[:10]

    def found(**args):
        query = "&".join(f"{k}={v}" for k, v in args.items())
        return _seqs(client.get(f"/audit/?{query}").text)

    assert found(email="BEN@example.org") == [r.seq for r in stored if r.learner_email == "ben@example.org"]
    assert found(email="ben@example.org", event="choice.made") == [
        r.seq for r in stored if r.learner_email == "ben@example.org" and r.event == "choice.made"
    ]
    assert len(found(event="choice.made")) == 4
    assert found(module="test-refresher") == []
    assert found(module="test-callers", since=today, until=today) == [r.seq for r in stored if r.module_id]
    assert found(until="2000-01-01") == [] and found(since="2999-01-01") == []
    assert "0 records found" in page_text(client.get("/audit/?since=2999-01-01").text)


def test_a_bad_filter_is_named_beside_its_field_and_in_the_summary(app):
    _records(app, 3)
    client = signed_in_as(app, "compliance")
    response = client.get("/audit/?email=nobody@example.org&since=31/01/2026&event=made.up&until=2026-01-01")
    assert response.status_code == 400
    page = response.text
    assert 'class="error-summary"' in page and "<title>Error: Evidence" in page
    for field, message in [
        ("email", "No account has this email."),
        ("since", "Give the day as YYYY-MM-DD, for example 2026-01-31."),
        ("event", "Choose a kind of record from the list."),
    ]:
        assert f'<a href="#{field}">{message}</a>' in page  # in the summary, linking to the field
        assert re.search(rf'id="{field}-error">.*?{re.escape(message)}</p>', page)  # and beside it
        assert f'aria-describedby="{field}-error" aria-invalid="true"' in page  # the field says so too
    assert "nobody@example.org" in page  # what was typed is kept
    assert _seqs(page) == []  # and nothing is listed as if the filter had worked
    reversed_days = client.get("/audit/?since=2026-02-01&until=2026-01-01")
    assert reversed_days.status_code == 400 and "The last day is before the first day." in reversed_days.text
    assert client.get("/audit/evidence.csv?since=yesterday").status_code == 400  # no file of the wrong records


def test_pages_go_back_through_older_records_by_number_and_keep_the_filters(app, monkeypatch):
    monkeypatch.setattr("quiz.web.audit.PER_PAGE", 4)
    _records(app, 10)
    _records(app, 2, event="attempt.started")
    client = signed_in_as(app, "compliance")
    first = client.get("/audit/?event=lesson.viewed").text
    assert _seqs(first) == [10, 9, 8, 7] and "10 records found" in page_text(first)
    older = re.search(r'href="([^"]+)" rel="next">Older records', first).group(1)
    assert "event=lesson.viewed" in unescape(older) and "before=7" in older
    _records(app, 1)  # a new record meanwhile shifts nothing on the older pages
    second = client.get(unescape(older)).text
    assert _seqs(second) == [6, 5, 4, 3] and "older than record 7" in second
    third = client.get(unescape(re.search(r'href="([^"]+)" rel="next">Older records', second).group(1))).text
    assert _seqs(third) == [2, 1] and "Older records" not in third and "Newest records" in third


def test_the_download_is_exactly_the_records_found_and_each_row_checks_against_its_hash(app):
    _a_passed_module(app)
    _a_passed_module(app, "ben@example.org", "Ben Brook")
    client = signed_in_as(app, "compliance")
    page = client.get("/audit/?email=ben@example.org").text
    link = unescape(re.search(r'href="(/audit/evidence\.csv[^"]*)" download', page).group(1))
    response = client.get(link)
    assert response.mimetype == "text/csv"
    assert re.match(r'attachment; filename="rounds-evidence-\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"])
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    header, body = rows[0], rows[1:]
    assert tuple(header) == evidence.EXPORT_COLUMNS
    assert sorted(int(r[0]) for r in body) == sorted(_seqs(page))
    for row in body:
        fields = {name: value or None for name, value in zip(header, row)}
        fields.update(seq=int(fields["seq"]), user_id=int(fields["user_id"]))
        assert fields["learner_email"] == "ben@example.org"
        assert evidence.record_hash(fields) == fields["hash"]
    # The same bytes as the command line's export of the same records.
    cli = app.test_cli_runner().invoke(args=["evidence", "export", "--email", "ben@example.org"])
    assert cli.stdout == response.get_data(as_text=True)


def test_a_record_shows_every_field_its_hash_and_its_link_to_the_one_before(app):
    _records(app, 3)
    page = signed_in_as(app, "compliance").get("/audit/records/2").text
    with app.app_context():
        record = db.session.get(Evidence, 2)
        before = db.session.get(Evidence, 1)
    assert "This record matches its hash, and it links to record 1." in page_text(page)
    assert page.count(record.hash) == 2  # stored, and worked out now
    assert record.prev_hash == before.hash and before.hash in page
    assert 'href="/audit/records/1" rel="prev"' in page and 'href="/audit/records/3" rel="next"' in page
    assert signed_in_as(app, "admin").get("/audit/records/99").status_code == 404


def test_an_edited_record_and_the_broken_chain_are_shown_for_what_they_are(app):
    _records(app, 4)
    _disable_triggers(app)
    with app.app_context():
        db.session.execute(text("UPDATE evidence SET details = :d WHERE seq = 3"), {"d": '{"i":99}'})
        db.session.commit()
    client = signed_in_as(app, "compliance")
    record = page_text(client.get("/audit/records/3").text)
    assert "Its contents do not match its hash: this record was edited after it was written." in record
    assert "different" in record
    assert "This record matches its hash" not in record
    chain = client.get("/audit/chain").text
    assert "The chain is broken at" in chain and 'href="/audit/records/3">record 3</a>' in chain
    assert "The 2 records before it are intact." in page_text(chain)
    assert "Every record is intact" not in chain


def test_the_chain_check_gives_the_count_and_head_hash_verify_gives(app):
    _a_passed_module(app)
    page = page_text(signed_in_as(app, "compliance").get("/audit/chain").text)
    with app.app_context():
        result = evidence.verify(db.session)
    assert result.ok
    assert f"Every record is intact: {result.count} records" in page and result.head_hash in page


def test_every_kind_of_record_written_has_words_on_the_page():
    """EVENTS is what the page offers to filter by: it must name every event quiz/ writes, and
    nothing it does not."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in Path(evidence.__file__).parent.rglob("*.py"))
    prefixes = "|".join(sorted({name.split(".")[0] for name in evidence.EVENTS}))
    written = set(re.findall(rf'"((?:{prefixes})\.[a-z-]+)"', source)) - {"roster.csv"}  # a file name
    assert written == set(evidence.EVENTS)


# --- the training report ------------------------------------------------------------------------


def _assign(app, email: str, module_id: str, due_on: date, *, waive: str | None = None) -> None:
    with app.app_context():
        person = db.session.scalar(select(User).where(User.email == email))
        a = assignments.ensure(db.session, person, module_id, due_on, "onboarding")
        if waive:
            assignments.waive(db.session, a, person, waive)
        db.session.commit()


def _workforce(app) -> None:
    """Dana: test-callers assigned and then done (signed); Ben: test-callers overdue (past due,
    not yet marked by the daily job) and test-refresher waived; Cy (Dental Clinic): test-callers
    open and not yet due."""
    today = date.today()
    add_user(app, email="dana@example.org", name="Dana Whitfield", department="Patient Access")
    _assign(app, "dana@example.org", "test-callers", today + timedelta(days=10))
    client = app.test_client()
    assert sign_in(client, "dana@example.org").status_code == 303
    _through_lesson(client)
    assert pass_and_sign(client).status_code == 303
    add_user(app, email="ben@example.org", name="Ben Brook", department="Patient Access")
    _assign(app, "ben@example.org", "test-callers", today - timedelta(days=3))
    _assign(app, "ben@example.org", "test-refresher", today + timedelta(days=30), waive="Trained at his last employer")
    add_user(app, email="cy@example.org", name="Cy Dent", department="Dental Clinic", job_role="front-desk")
    _assign(app, "cy@example.org", "test-callers", today + timedelta(days=20))


def _report_rows(html: str) -> list[tuple[str, str, str]]:
    """(person, module, state) per row of the report's table."""
    found = []
    html = html[html.index('id="report-order"'):] if 'id="report-order"' in html else ""  # not the departments'
    for row in re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", html, re.S):
        cells = [page_text(c).strip() for c in re.split(r"</t[hd]>", row)]
        found.append((cells[0].split(" ")[0], cells[1].split(" · ")[0], cells[3]))  # without the evidence link
    return found


def test_the_training_report_shows_every_assignment_and_how_it_ended(app):
    _workforce(app)
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
    assert f'attempt {attempt.number}, score {attempt.score}, signed “Dana Whitfield”' in text_
    assert f"version {attempt.module_version[:12]}" in text_
    # Each person links to their own report, and each row to its proof: that person's records
    # of that module on the Evidence page.
    assert 'href="/audit/training?email=dana@example.org">Dana Whitfield</a>' in page
    link = unescape(re.search(r'href="([^"]+)">evidence<span class="visually-hidden"> of Dana Whitfield', page).group(1))
    assert link == "/audit/?email=dana@example.org&module=test-callers"
    records = client.get(link).text
    assert _seqs(records) and "Acknowledgement signed" in page_text(records) and "Ben Brook" not in records


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
    _workforce(app)
    today = date.today()
    query = query.format(past=today - timedelta(days=1), soon=today + timedelta(days=20))
    page = signed_in_as(app, "compliance").get(f"/audit/training?{query}").text
    assert [person for person, _, _ in _report_rows(page)] == people


def test_the_training_report_refuses_a_bad_filter_beside_its_field(app):
    client = signed_in_as(app, "compliance")
    response = client.get("/audit/training?due_since=2026-02-01&due_until=2026-01-01&state=late&email=nobody@example.org")
    assert response.status_code == 400
    assert '<a href="#email">No account has this email.</a>' in response.text
    assert '<a href="#due_until">The last day is before the first day.</a>' in response.text
    assert '<a href="#state">Choose a state from the list.</a>' in response.text
    assert client.get("/audit/training.csv?due_since=soon").status_code == 400


def test_the_training_report_downloads_as_csv(app):
    _workforce(app)
    client = signed_in_as(app, "compliance")
    response = client.get("/audit/training.csv?department=Patient+Access")
    assert response.mimetype == "text/csv"
    assert re.match(r'attachment; filename="rounds-training-report-\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"])
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
    monkeypatch.setattr("quiz.web.audit.REPORT_PER_PAGE", 2)
    _workforce(app)
    client = signed_in_as(app, "compliance")
    first = client.get("/audit/training").text
    assert [p for p, _, _ in _report_rows(first)] == ["Ben", "Ben"] and "page 1 of 2" in first
    second = client.get(unescape(re.search(r'href="([^"]+)" rel="next">Next page', first).group(1))).text
    assert [p for p, _, _ in _report_rows(second)] == ["Cy", "Dana"] and 'rel="prev"' in second
    # The CSV is every row, not one page.
    assert len(client.get("/audit/training.csv").get_data(as_text=True).splitlines()) == 5


# --- odd and hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize("altered", ["x", "[" * 100_000 + "]" * 100_000])  # not JSON; JSON nested too deep to read
def test_a_record_whose_details_were_altered_into_nonsense_still_shows(app, altered):
    _records(app, 3)
    _disable_triggers(app)
    with app.app_context():
        db.session.execute(text("UPDATE evidence SET details = :d WHERE seq = 2"), {"d": altered})
        db.session.commit()
    client = signed_in_as(app, "compliance")
    listing = client.get("/audit/")
    assert listing.status_code == 200 and f"not valid details: {altered[:20]}" in page_text(listing.text)
    record = client.get("/audit/records/2")
    assert record.status_code == 200
    assert "Its contents do not match its hash" in page_text(record.text)


def test_extreme_numbers_and_days_are_answered_not_crashed_on(app):
    _records(app, 3)
    client = signed_in_as(app, "compliance")
    assert _seqs(client.get("/audit/?until=9999-12-31").text) == [3, 2, 1]
    assert _seqs(client.get("/audit/?before=99999999999999999999999").text) == [3, 2, 1]
    assert client.get("/audit/records/99999999999999999999999").status_code == 404
    assert client.get("/audit/records/0").status_code == 404
    past_the_start = client.get("/audit/?before=1").text
    assert _seqs(past_the_start) == [] and "Newest records" in past_the_start  # a way back


def test_a_removed_record_is_named_and_the_chain_page_links_past_the_gap(app):
    _records(app, 4)
    _disable_triggers(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM evidence WHERE seq = 2"))
        db.session.commit()
    client = signed_in_as(app, "compliance")
    chain = client.get("/audit/chain").text
    assert "record 2: records 2..2 are missing (removed)" in page_text(chain)
    assert 'href="/audit/records/2"' not in chain and 'href="/audit/records/3">record 3</a>' in chain
    after_the_gap = client.get("/audit/records/3").text
    assert "It does not link to record 2: that record is missing (removed)." in page_text(after_the_gap)
    assert 'rel="prev"' not in after_the_gap  # no link to the missing one


def test_a_module_no_longer_served_can_still_be_filtered_by(app):
    with app.app_context():
        evidence.append(db.session, "lesson.viewed", module_id="retired-module", details={})
        db.session.commit()
    _records(app, 2)
    page = signed_in_as(app, "compliance").get("/audit/?module=retired-module").text
    assert _seqs(page) == [1]
    assert re.search(r'<option selected value="retired-module">retired-module \(no longer served\)</option>', page)


def test_someone_who_has_left_is_not_overdue_as_in_the_daily_job(app):
    _workforce(app)
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
    _workforce(app)
    with app.app_context():
        waived = db.session.scalar(select(Assignment).where(Assignment.state == "waived"))
        waived.waived_reason = '=HYPERLINK("http://x.example","click")'
        db.session.commit()
    rows = list(csv.DictReader(io.StringIO(signed_in_as(app, "compliance").get("/audit/training.csv").get_data(as_text=True))))
    assert [r["waived_reason"] for r in rows if r["state"] == "waived"] == ['\'=HYPERLINK("http://x.example","click")']


def test_the_training_report_adds_up_by_department(app):
    _workforce(app)
    page = signed_in_as(app, "compliance").get("/audit/training").text
    table = page[page.index("By department"):page.index("</table>", page.index("By department"))]
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

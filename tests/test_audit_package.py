"""The audit package: one ZIP with the people, their training report, their evidence and the
exact content it names; every file in SHA256SUMS; the chain checked first; making one is itself
an evidence record holding the SHA-256 of SHA256SUMS. In the browser (compliance officers and
admins, a POST with CSRF) and on the command line."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from quiz import audit_package, evidence, training_report
from quiz.db import db
from quiz.models import Attempt, ContentVersion, Evidence, User

from .helpers import (
    add_user,
    assign_module,
    csrf_token,
    disable_evidence_triggers,
    page_text,
    pass_and_sign,
    sign_in,
    signed_in_as,
    through_lesson,
)


def _passed(app, email="learner@example.org", name="Dana Whitfield", **kw) -> None:
    """A person assigned the test module, who then passes it and signs."""
    add_user(app, email=email, name=name, **kw)
    assign_module(app, email, "test-callers", date.today() + timedelta(days=10))
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    through_lesson(client)
    assert pass_and_sign(client, name).status_code == 303


def _make(client, **fields):
    form = client.get("/audit/package").text
    return client.post("/audit/package", data={"csrf_token": csrf_token(form), **fields})


def _files(response) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert archive.testzip() is None
    return {name: archive.read(name) for name in archive.namelist()}


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _packaged(app) -> list[Evidence]:
    with app.app_context():
        return list(db.session.scalars(select(Evidence).where(Evidence.event == "evidence.packaged")))


def _package_in_core(app, scope_of) -> tuple[audit_package.Package, dict[str, bytes]]:
    with app.app_context():
        out = io.BytesIO()
        made = audit_package.write(db.session, scope_of(db.session), out, made_by="a test")
        archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
        return made, {name: archive.read(name) for name in archive.namelist()}


def test_a_package_has_every_part_each_one_in_sha256sums_and_the_same_bytes_as_each_download(app):
    _passed(app)
    client = signed_in_as(app, "compliance")
    before = client.get("/audit/evidence.csv").get_data()
    report = client.get("/audit/training.csv").get_data()
    response = _make(client)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    files = _files(response)

    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == set(files) - {"SHA256SUMS", "SIGNATURE"}  # SIGNATURE signs SHA256SUMS' hash
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    assert {"README.txt", "people.csv", "training-report.csv", "evidence.csv", "content/index.csv"} <= set(files)

    # The evidence is the Evidence page's download as it was just before (the package's own
    # record comes after it), and the report is the training report's download.
    assert files["evidence.csv"] == before
    assert files["training-report.csv"] == report
    assert [(r["email"], r["state"]) for r in _rows(report)] == [("learner@example.org", "done")]
    assert [r["email"] for r in _rows(files["people.csv"])] == ["compliance@example.org", "learner@example.org"]

    # Every content version the records name is there, as its exact stored source.
    records = _rows(files["evidence.csv"])
    named = {r["content_version"] for r in records if r["content_version"]}
    named |= {json.loads(r["details"])["scenario_version"] for r in records if r["event"] == "choice.made"}
    index = {r["version"]: r["file"] for r in _rows(files["content/index.csv"])}
    assert named and set(index) == named
    with app.app_context():
        for version, name in index.items():
            assert files[name] == db.session.get(ContentVersion, version).source.encode("utf-8")
            assert hashlib.sha256(files[name]).hexdigest() == version  # a file's SHA-256 is its version

    readme = " ".join(files["README.txt"].decode().split())  # as words, whatever the line breaks
    with app.app_context():
        chain = evidence.verify(db.session)
    assert f"{chain.count - 1:,} records, intact" in readme  # the package's record came after
    assert f"{len(records):,} evidence records" in readme
    assert "sha256sum -c SHA256SUMS" in readme


def test_making_a_package_is_an_evidence_record_holding_the_sha256_of_its_sha256sums(app):
    _passed(app)
    client = signed_in_as(app, "compliance")
    response = _make(client, since="2020-01-01", module="test-callers")
    files = _files(response)
    [made] = _packaged(app)
    details = json.loads(made.details)
    sums = hashlib.sha256(files["SHA256SUMS"]).hexdigest()
    assert details["sha256sums"] == sums
    assert details["by"] == "compliance@example.org" and made.learner_email == "compliance@example.org"
    assert details["scope"] == {
        "since": "2020-01-01",
        "until": None,
        "person": None,
        "department": None,
        "module": "test-callers",
    }
    assert details["chain_ok"] is True
    assert details["records"] == len(_rows(files["evidence.csv"])) > 0
    assert f"-{sums[:12]}.zip" in response.headers["Content-Disposition"]
    with app.app_context():
        assert evidence.verify(db.session).ok
    # It is found on the Evidence page by its kind.
    page = client.get("/audit/?event=evidence.packaged").text
    assert "Audit package made" in page and f"/audit/records/{made.seq}" in page


def test_a_department_covers_its_people_now_and_the_records_made_while_someone_was_in_it(app):
    _passed(app, "ana@example.org", "Ana Lima", department="Ward 4")
    _passed(app, "ben@example.org", "Ben Brook", department="Ward 4")
    _passed(app, "cy@example.org", "Cy Dunn", department="Pharmacy")
    with app.app_context():  # Ben moves to the pharmacy after his training
        db.session.scalar(select(User).where(User.email == "ben@example.org")).department = "Pharmacy"
        db.session.commit()

    made, files = _package_in_core(app, lambda s: audit_package.Scope(department="Ward 4"))
    records = _rows(files["evidence.csv"])
    assert {r["learner_email"] for r in records} == {"ana@example.org", "ben@example.org"}
    assert all(r["department"] == "Ward 4" for r in records)  # Ben's, made while he was there
    assert {r["email"] for r in _rows(files["people.csv"])} == {"ana@example.org", "ben@example.org"}
    report = _rows(files["training-report.csv"])
    assert [r["email"] for r in report] == ["ana@example.org"]  # the report goes by department now
    assert made.records == len(records) and made.people == 2 and made.assignments == len(report)


def test_a_person_and_a_span_of_days_narrow_the_records(app):
    _passed(app)
    _passed(app, "ben@example.org", "Ben Brook")
    today = date.today()

    def ben(session):
        return session.scalar(select(User).where(User.email == "ben@example.org"))

    made, files = _package_in_core(app, lambda s: audit_package.Scope(person=ben(s), since=today, until=today))
    with app.app_context():
        filters = evidence.Filters(user_id=ben(db.session).id, since=today.isoformat(), until=today.isoformat())
        expected = "".join(evidence.export_csv(db.session, filters))
    assert files["evidence.csv"].decode() == expected and made.records > 0
    assert [r["email"] for r in _rows(files["people.csv"])] == ["ben@example.org"]
    _, none = _package_in_core(app, lambda s: audit_package.Scope(since=date(2020, 1, 1), until=date(2020, 1, 2)))
    assert _rows(none["evidence.csv"]) == [] and none["evidence.csv"].startswith(b"seq,recorded_at,")
    assert _rows(none["content/index.csv"]) == []


def test_a_broken_chain_is_said_in_the_package_and_its_record_and_every_record_is_included(app):
    _passed(app)
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("UPDATE evidence SET details = :d WHERE seq = 2"), {"d": '{"altered":true}'})
        db.session.commit()
    compliance = signed_in_as(app, "compliance")  # (its sign-in is a record too)
    with app.app_context():
        stored = db.session.scalar(select(Evidence.seq).order_by(Evidence.seq.desc()).limit(1))
    files = _files(_make(compliance))
    readme = " ".join(files["README.txt"].decode().split())
    assert "WARNING: the evidence chain did NOT verify" in readme and "record 2:" in readme
    assert len(_rows(files["evidence.csv"])) == stored
    [made] = _packaged(app)
    assert json.loads(made.details)["chain_ok"] is False


def test_bad_fields_are_named_beside_them_and_no_package_is_made(app):
    add_user(app, email="ana@example.org", name="Ana Lima", department="Ward 4")
    client = signed_in_as(app, "compliance")
    response = _make(client, since="2026-03-01", until="2026-02-01", email="nobody@example.org", department="Ward 4")
    assert response.status_code == 400 and response.mimetype == "text/html"
    words = page_text(response.text)
    for message in (
        "The last day is before the first day.",
        "No account has this email.",
        "Choose a department or a person, not both.",
    ):
        assert words.count(message) == 2, message  # in the summary and beside the field
    response = _make(client, since="31/01/2026", department="Nowhere")
    assert (
        "Give the day as YYYY-MM-DD" in response.text
        and "Nobody is or was in this department: check its spelling." in response.text
    )
    assert client.post("/audit/package", data={}).status_code == 400  # no CSRF token
    assert _packaged(app) == []


@pytest.mark.parametrize(
    "role, allowed", [("learner", False), ("manager", False), ("trainer", False), ("compliance", True), ("admin", True)]
)
def test_only_compliance_officers_and_admins_make_packages(app, role, allowed):
    client = signed_in_as(app, role)
    page = client.get("/audit/package")
    assert page.status_code == (200 if allowed else 403)
    if allowed:
        assert "Make the package" in page.text and 'name="csrf_token"' in page.text
        assert _make(client).status_code == 200
    else:
        token = csrf_token(client.get("/learn/").text)  # a valid token: refused for the role, not for CSRF
        assert client.post("/audit/package", data={"csrf_token": token}).status_code == 403
    assert len(_packaged(app)) == (1 if allowed else 0)


def test_the_command_line_writes_the_same_package_and_its_record(app, tmp_path):
    _passed(app)
    target = tmp_path / "package.zip"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["evidence", "package", "--email", "learner@example.org", "-o", str(target)])
    assert result.exit_code == 0, result.output
    files = {n: zipfile.ZipFile(target).read(n) for n in zipfile.ZipFile(target).namelist()}
    sums = hashlib.sha256(files["SHA256SUMS"]).hexdigest()
    assert sums in result.stdout
    [made] = _packaged(app)
    details = json.loads(made.details)
    assert details["sha256sums"] == sums and details["by"].startswith("the command line")
    assert made.user_id is None and details["scope"]["person"] == "learner@example.org"
    assert not (tmp_path / "package.zip.part").exists()
    with app.app_context():
        learner = db.session.scalar(select(User).where(User.email == "learner@example.org"))
        assert len(_rows(files["evidence.csv"])) == evidence.count(db.session, evidence.Filters(user_id=learner.id)) > 0
    for args, message in (
        (["--email", "no@example.org"], "no account with email"),
        (["--department", "Nowhere"], "nobody is or was in department 'Nowhere'"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "the last day is before the first day"),
    ):
        bad = runner.invoke(args=["evidence", "package", *args, "-o", str(tmp_path / "x.zip")])
        assert bad.exit_code == 2 and message in bad.output and not (tmp_path / "x.zip").exists(), args
    assert len(_packaged(app)) == 1


def test_the_command_line_says_a_broken_chain_and_exits_1_with_the_package_made(app, tmp_path):
    _passed(app)
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("UPDATE evidence SET details = :d WHERE seq = 3"), {"d": '{"altered":true}'})
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["evidence", "package", "-o", str(tmp_path / "p.zip")])
    assert result.exit_code == 1 and "evidence BROKEN at record 3" in result.output
    assert "did NOT verify" in zipfile.ZipFile(tmp_path / "p.zip").read("README.txt").decode()


def _caught(work, failures: list) -> None:
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - reported by the test on the main thread
        failures.append(exc)


def test_building_a_package_holds_no_write_lock_and_its_parts_are_one_moment(app, monkeypatch, tmp_path):
    """Other writers go on while a package is built (a million records take 40 s), and what
    they write meanwhile is in no part of it: the parts agree with the chain as verified."""
    _passed(app, department="Ward 4")
    verify = evidence.verify

    def someone_writes():  # another request, on its own thread and connection
        with app.app_context():
            db.session.add(
                User(
                    email="new@example.org",
                    name="New Person",
                    password_hash="x",
                    job_role="clinical",
                    department="Ward 4",
                )
            )
            evidence.append(db.session, "person.created", details={"email": "new@example.org"})
            db.session.commit()

    failed = []

    def verify_then_someone_writes(session):
        result = verify(session)
        writer = threading.Thread(target=lambda: _caught(someone_writes, failed))
        writer.start()
        writer.join()
        return result

    monkeypatch.setattr(evidence, "verify", verify_then_someone_writes)
    result = app.test_cli_runner().invoke(
        args=["evidence", "package", "--department", "Ward 4", "-o", str(tmp_path / "p.zip")]
    )
    assert result.exit_code == 0, result.output
    assert failed == []
    files = zipfile.ZipFile(tmp_path / "p.zip")
    assert b"new@example.org" not in files.read("people.csv") and b"new@example.org" not in files.read("evidence.csv")
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.email == "new@example.org")) is not None
        assert verify(db.session).ok  # (evidence.verify is still the one that writes)


def test_content_named_only_by_the_report_is_in_the_package(app):
    """Done today, due in ten days: a package of the coming days has no evidence of it, but its
    report row names the versions it was done on, so they are in the package too."""
    _passed(app)
    tomorrow = date.today() + timedelta(days=1)
    made, files = _package_in_core(app, lambda s: audit_package.Scope(since=tomorrow))
    assert _rows(files["evidence.csv"]) == []
    [row] = _rows(files["training-report.csv"])
    index = {r["version"]: r for r in _rows(files["content/index.csv"])}
    with app.app_context():
        attempt = db.session.scalar(select(Attempt))
        expected = {attempt.module_version, *json.loads(attempt.scenario_versions)}
    assert row["content_version"] == attempt.module_version and set(index) == expected and made.versions == 2


def test_a_version_never_stored_comes_from_the_content_served_or_is_listed_as_not_stored(app):
    add_user(app)
    with app.app_context():
        from quiz.web import library

        served = library().modules["test-refresher"]
        assert db.session.get(ContentVersion, served.version) is None  # the premise: nobody started it
        evidence.append(
            db.session,
            "assignment.created",
            module_id=served.id,
            content_version=served.version,
            details={"scenarios": [{"id": "x", "version": "f" * 64, "specialty": None}]},
        )
        db.session.commit()
        for lib, stored_at in ((library(), "(served, not stored)"), (None, None)):
            out = io.BytesIO()
            made = audit_package.write(db.session, audit_package.Scope(), out, made_by="a test", library=lib)
            archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
            index = {r["version"]: r for r in _rows(archive.read("content/index.csv"))}
            assert index["f" * 64]["file"] == "(not stored)"  # named in a start's scenarios, found nowhere
            if lib is not None:
                assert index[served.version]["stored_at"] == stored_at
                assert archive.read(index[served.version]["file"]).decode() == served.source
                assert made.missing_versions == ["f" * 64]
            else:
                assert made.missing_versions == sorted([served.version, "f" * 64])
            assert "never stored" in " ".join(archive.read("README.txt").decode().split())


def test_people_and_report_cells_that_look_like_formulas_are_defused_and_evidence_stays_as_recorded(app):
    _passed(app, name="=HYPERLINK(1)")
    _, files = _package_in_core(app, lambda s: audit_package.Scope())
    assert [r["person_name"] for r in _rows(files["people.csv"])] == ["'=HYPERLINK(1)"]
    assert [r["person_name"] for r in _rows(files["training-report.csv"])] == ["'=HYPERLINK(1)"]
    assert {r["learner_name"] for r in _rows(files["evidence.csv"])} == {"=HYPERLINK(1)"}  # hashed bytes


def test_no_download_when_its_record_cannot_be_written(app, monkeypatch):
    _passed(app)
    client = signed_in_as(app, "compliance")

    def refuse(*args, **kwargs):
        raise RuntimeError("the database refused the record")

    monkeypatch.setattr(audit_package, "record", refuse)
    with pytest.raises(RuntimeError):
        _make(client)
    assert _packaged(app) == []


def test_an_empty_log_makes_an_empty_package_that_still_checks(app):
    made, files = _package_in_core(app, lambda s: audit_package.Scope())
    assert made.records == made.assignments == made.people == made.versions == 0
    assert "0 records, intact" in " ".join(files["README.txt"].decode().split())
    assert _rows(files["evidence.csv"]) == [] and _rows(files["people.csv"]) == []
    for line in files["SHA256SUMS"].decode().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(files[name]).hexdigest() == digest


def test_the_report_in_the_package_counts_its_rows_even_with_line_breaks_in_a_cell(app):
    _passed(app)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "learner@example.org"))
        user.name = "Dana\nWhitfield"
        db.session.commit()
        rows = training_report.counts(db.session, training_report.Filters(), date.today())["all"]
    made, files = _package_in_core(app, lambda s: audit_package.Scope())
    assert made.assignments == rows == len(_rows(files["training-report.csv"])) == 1
    assert re.search(r"\b1 assignment and how it ended", files["README.txt"].decode())


def test_the_core_refuses_a_scope_the_forms_would_refuse():
    with pytest.raises(ValueError, match="not both"):
        audit_package.Scope(person=User(email="a@example.org"), department="Ward 4")
    with pytest.raises(ValueError, match="before its first"):
        audit_package.Scope(since=date(2026, 2, 1), until=date(2026, 1, 1))

"""Certificates anyone can check: a code on every certificate, a public page that says valid or
revoked and nothing more, revocation as evidence, and the PDFs in the audit package."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import zipfile

import flask_migrate
import pytest
import segno
from pypdf import PdfReader
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from quiz import certificate_codes
from quiz.db import db
from quiz.models import Attempt, Evidence

from .helpers import (
    MIGRATIONS,
    MODULE,
    add_user,
    close_app,
    csrf_token,
    make_app,
    page_text,
    pass_and_sign,
    sign_in,
    signed_in_as,
    through_lesson,
)

CODE_SHOWN = re.compile(r'<code id="cert-code">([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2})</code>')


def _signed(app, name="Dana Whitfield", email="learner@example.org") -> str:
    """A learner signs the test module through the pages; the code their certificate shows."""
    add_user(app, email=email, name=name)
    client = app.test_client()
    sign_in(client, email)
    through_lesson(client)
    assert pass_and_sign(client, full_name=name).status_code == 303
    page = client.get(MODULE + "certificate/1").text
    found = CODE_SHOWN.search(page)
    assert found, "the certificate page shows its code"
    code = found.group(1)
    assert f"http://rounds.example.org/c/{code}" in page  # BASE_URL + /c/CODE, as a link
    return code


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    app = make_app(database_url, tmp_path, monkeypatch, BASE_URL="http://rounds.example.org")
    yield app
    close_app(app)


def _revoke(client, code: str, reason: str):
    page = client.get(f"/audit/certificates?code={code}").text
    return client.post(f"/audit/certificates/{code}/revoke", data={"csrf_token": csrf_token(page), "reason": reason})


# --- the code --------------------------------------------------------------------------------


def test_codes_are_random_crockford_and_read_as_typed():
    codes = {certificate_codes.new_code() for _ in range(2000)}
    assert len(codes) == 2000  # 50 random bits: no repeats in a few thousand
    assert all(re.fullmatch(r"[0-9ABCDEFGHJKMNPQRSTVWXYZ]{10}", c) for c in codes)
    assert certificate_codes.grouped("7KQ2M9XD4T") == "7KQ2-M9XD-4T"
    for typed in ("7KQ2-M9XD-4T", "7kq2m9xd4t", " 7kq2 m9xd 4t ", "7KQ2-M9XD-4T".lower()):
        assert certificate_codes.normalize(typed) == "7KQ2M9XD4T"
    assert certificate_codes.normalize("1O0L-ILOO-10") == "1001-1100-10".replace("-", "")
    for bad in ("", "7KQ2-M9XD", "7KQ2-M9XD-4TT", "7KQ2-M9XD-4U", "7KQ2*M9XD*4T", "x" * 100):
        assert certificate_codes.normalize(bad) is None


# --- the public page -------------------------------------------------------------------------


def test_a_signed_certificate_verifies_on_the_public_page_and_says_nothing_more(app):
    code = _signed(app)
    with app.app_context():
        attempt = db.session.scalars(select(Attempt)).one()
        assert attempt.certificate_code == code.replace("-", "")
        signed = db.session.scalars(select(Evidence).where(Evidence.event == "acknowledgement.signed")).one()
        assert json.loads(signed.details)["certificate_code"] == attempt.certificate_code  # in the chain
        version = attempt.module_version[:16]

    anyone = app.test_client()  # not signed in
    response = anyone.get(f"/c/{code}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "noindex" in response.headers["X-Robots-Tag"]
    text = page_text(response.text)
    assert "Valid" in text and "Revoked" not in text
    assert "Dana Whitfield" in text
    assert "Test module on callers" in text
    assert version in text
    signed_day = re.search(r"Signed (\d{2} \w+ \d{4}), \d{2}:\d{2} UTC", text)
    assert signed_day, text
    for private in ("learner@example.org", "Front desk", "front-desk", "Score", "pass mark", "Sign out"):
        assert private not in text, f"{private!r} is on the public page"

    # typed as people type it: lower case, no dashes, spaces, O for 0 and I/L for 1
    plain = code.replace("-", "")
    confused = plain.lower().replace("0", "o").replace("1", "l")
    for typed in (plain.lower(), code.lower(), confused, f"{plain[:5]} {plain[5:]}"):
        assert anyone.get(f"/c/{typed}").status_code == 200, typed
    # the form at /c (no JavaScript: a GET form) leads to the page
    assert 'action="/c"' in anyone.get("/c").text
    sent = anyone.get("/c", query_string={"code": confused})
    assert sent.status_code == 303 and sent.headers["Location"].endswith(f"/c/{code}")


def test_an_unknown_code_says_so_plainly(app):
    code = _signed(app)
    anyone = app.test_client()
    other = "0000-0000-00" if code != "0000-0000-00" else "1111-1111-11"
    for typed in (other, "not a code", "7KQ2-M9XD-4U"):
        response = anyone.get(f"/c/{typed}")
        assert response.status_code == 404, typed
        assert "No certificate has this code" in response.text
        assert "Dana Whitfield" not in response.text
    assert anyone.get("/c", query_string={"code": "nonsense"}).status_code == 404


def test_the_public_page_is_rate_limited_per_address(database_url, tmp_path, monkeypatch):
    app = make_app(
        database_url, tmp_path, monkeypatch, RATELIMIT_ENABLED=True, CERTIFICATE_CHECK_RATE_LIMIT="3 per minute"
    )
    try:
        anyone = app.test_client()
        statuses = [anyone.get("/c/0000-0000-00").status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        other = app.test_client()
        assert other.get("/c/0000-0000-00", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 404
    finally:
        close_app(app)


# --- revoking --------------------------------------------------------------------------------


def test_revoking_is_evidence_needs_a_reason_and_the_page_reads_revoked(app):
    code = _signed(app)
    officer = signed_in_as(app, "compliance")
    found = officer.get(f"/audit/certificates?code={code.lower()}")
    assert found.status_code == 200 and "Dana Whitfield" in found.text and "Revoke the certificate" in found.text

    refused = _revoke(officer, code, "   ")
    assert refused.status_code == 400 and "Say why this certificate is revoked." in refused.text
    with app.app_context():
        assert db.session.scalars(select(Attempt)).one().certificate_revoked_at is None
        assert db.session.scalar(select(Evidence).where(Evidence.event == "certificate.revoked")) is None

    assert _revoke(officer, code, "Finding 2026-14: signed for someone else").status_code == 303
    with app.app_context():
        attempt = db.session.scalars(select(Attempt)).one()
        assert attempt.certificate_revoked_at is not None
        record = db.session.scalars(select(Evidence).where(Evidence.event == "certificate.revoked")).one()
        details = json.loads(record.details)
        assert details == {
            "attempt": 1,
            "certificate_code": attempt.certificate_code,
            "reason": "Finding 2026-14: signed for someone else",
            "by": "compliance@example.org",
            "by_role": "compliance",
        }
        assert record.learner_email == "learner@example.org" and record.module_id == "test-callers"
        revoked_day = attempt.certificate_revoked_at.date().isoformat()

    public = app.test_client().get(f"/c/{code}")
    text = page_text(public.text)
    assert public.status_code == 200
    assert f"Revoked on {revoked_day}" in text and "Valid" not in text
    assert "Finding 2026-14" not in text  # the reason is not the public's
    assert "Dana Whitfield" in text

    # the holder's own page and the officer's say so too; a second revocation records nothing
    learner = app.test_client()
    sign_in(learner)
    assert "Revoked on" in learner.get(MODULE + "certificate/1").text
    page = officer.get(f"/audit/certificates?code={code}").text
    assert "Finding 2026-14" in page and "Revoke the certificate" not in page
    assert _revoke(officer, code, "again").status_code in (303, 400)
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Evidence).where(Evidence.event == "certificate.revoked"))
            == 1
        )


def test_only_compliance_officers_and_admins_revoke(app):
    code = _signed(app)
    learner = app.test_client()
    sign_in(learner)
    for role, client in [("learner", learner)] + [(r, signed_in_as(app, r)) for r in ("manager", "trainer")]:
        assert client.get(f"/audit/certificates?code={code}").status_code == 403
        page = client.get(MODULE).text
        response = client.post(
            f"/audit/certificates/{code}/revoke", data={"csrf_token": csrf_token(page), "reason": "no"}
        )
        assert response.status_code == 403, role
    admin = signed_in_as(app, "admin")
    with app.app_context():
        uid = db.session.scalars(select(Attempt.user_id)).one()
    on_manage = admin.get(f"/manage/people/{uid}/certificates/test-callers/1").text
    assert f'href="/audit/certificates?code={code}">Revoke this certificate</a>' in on_manage
    assert _revoke(admin, code, "Admin found it").status_code == 303
    on_manage = admin.get(f"/manage/people/{uid}/certificates/test-callers/1").text
    assert "Revoked on" in on_manage and "Revoke this certificate" not in on_manage
    with app.app_context():
        record = db.session.scalars(select(Evidence).where(Evidence.event == "certificate.revoked")).one()
        assert json.loads(record.details)["by"] == "admin@example.org"


# --- the PDF and the package -----------------------------------------------------------------


def _qr_matrix_in(pdf: bytes) -> list[list[bool]]:
    """The one image on the PDF's page, read back as QR modules (10 pixels each, border 2)."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    (image,) = page.images
    picture = image.image.convert("L")
    width, height = picture.size
    assert width == height and width % 10 == 0
    n = width // 10
    return [[picture.getpixel((x * 10 + 5, y * 10 + 5)) < 128 for x in range(n)] for y in range(n)]


def test_the_pdf_carries_the_code_the_address_and_its_qr_code(app):
    code = _signed(app)
    client = app.test_client()
    sign_in(client)
    pdf = client.get(MODULE + "certificate/1.pdf").data
    text = re.sub(r"\s+", " ", PdfReader(io.BytesIO(pdf)).pages[0].extract_text())
    url = f"http://rounds.example.org/c/{code}"
    assert f"Code {code}" in text and url in text
    expected = segno.make(url, error="m", micro=False)
    assert _qr_matrix_in(pdf) == [[bool(m) for m in row] for row in expected.matrix_iter(border=2)]

    officer = signed_in_as(app, "compliance")
    _revoke(officer, code, "Finding")
    revoked = re.sub(
        r"\s+", " ", PdfReader(io.BytesIO(client.get(MODULE + "certificate/1.pdf").data)).pages[0].extract_text()
    )
    assert "REVOKED on" in revoked


def _verifies(archive: zipfile.ZipFile, folder) -> None:
    """The package's own verifier (standard-library Python) takes it whole."""
    archive.extractall(folder)
    checked = subprocess.run(
        [sys.executable, "-S", "verify_package.py"], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _package(officer, **fields) -> zipfile.ZipFile:
    page = officer.get("/audit/package").text
    box = re.search(r'<input [^>]*name="certificates" type="checkbox"[^>]*>', page)
    assert box and " checked " in box.group(0)  # on unless unticked
    response = officer.post("/audit/package", data={"csrf_token": csrf_token(page), **fields})
    assert response.status_code == 200 and response.mimetype == "application/zip", response.text
    return zipfile.ZipFile(io.BytesIO(response.data))


def test_the_audit_package_holds_the_certificate_pdfs(app, tmp_path):
    code = _signed(app)
    officer = signed_in_as(app, "compliance")
    archive = _package(officer, certificates="y")  # the box as the page shows it: ticked
    pdfs = [n for n in archive.namelist() if n.startswith("certificates/")]
    assert len(pdfs) == 1 and pdfs[0].endswith(".pdf")
    pdf = archive.read(pdfs[0])
    assert pdf.startswith(b"%PDF")
    assert f"Code {code}" in re.sub(r"\s+", " ", PdfReader(io.BytesIO(pdf)).pages[0].extract_text())
    sums = archive.read("SHA256SUMS").decode()
    assert f"{hashlib.sha256(pdf).hexdigest()}  {pdfs[0]}" in sums
    readme = " ".join(archive.read("README.txt").decode().split())
    assert "certificates/ the PDF certificate of 1 signature in scope" in readme
    assert "left out" not in readme
    # the package's own verifier (standard-library Python) takes it whole, certificates and all
    _verifies(archive, tmp_path / "package")
    [made] = _packaged_records(app)
    assert json.loads(made.details)["certificates"] == 1
    assert json.loads(made.details)["certificates_included"] is True


def test_a_package_without_certificates_says_how_to_get_one_and_still_verifies(app, tmp_path):
    code = _signed(app)
    _signed(app, name="Ari Moss", email="ari@example.org")
    officer = signed_in_as(app, "compliance")
    archive = _package(officer)  # the box unticked: a browser sends no value for it
    assert not [n for n in archive.namelist() if n.startswith("certificates/")]
    assert "certificates/" not in archive.read("SHA256SUMS").decode()
    readme = " ".join(archive.read("README.txt").decode().split())
    assert "The PDF certificates were left out of this package" in readme
    assert "2 signatures in scope have one each" in readme
    assert "http://rounds.example.org/c/CODE" in readme  # the public page that checks one
    assert "Manage > People" in readme and "--no-certificates" in readme
    assert "Each PDF in certificates/" not in readme  # no step to check what is not there
    # the code README.txt sends the reader to is in evidence.csv, for each signature
    assert code.replace("-", "") in archive.read("evidence.csv").decode()
    _verifies(archive, tmp_path / "package")
    [made] = _packaged_records(app)
    details = json.loads(made.details)
    assert details["certificates"] == 0 and details["certificates_included"] is False


def test_a_scope_with_many_certificates_says_how_many_and_how_long_before_drawing_them(app, monkeypatch):
    from quiz import audit_package

    _signed(app)
    _signed(app, name="Ari Moss", email="ari@example.org")
    monkeypatch.setattr(audit_package, "CERTIFICATES_ASK_ABOVE", 1)
    officer = signed_in_as(app, "compliance")
    page = officer.get("/audit/package").text
    asked = officer.post("/audit/package", data={"csrf_token": csrf_token(page), "certificates": "y"})
    assert asked.status_code == 200 and asked.mimetype == "text/html"
    words = page_text(asked.text)
    assert "This scope has 2 signatures." in words and "under a minute" in words, words
    assert not _packaged_records(app)  # nothing made yet
    again = re.search(r'<input [^>]*name="many_certificates_ok" type="hidden" value="(\d+)"', asked.text)
    assert again and again.group(1) == "2"
    made = officer.post(
        "/audit/package",
        data={"csrf_token": csrf_token(asked.text), "certificates": "y", "many_certificates_ok": again.group(1)},
    )
    assert made.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(made.data))
    assert len([n for n in archive.namelist() if n.startswith("certificates/")]) == 2
    # told about fewer than the scope holds now (a wider scope since): asked again
    _signed(app, name="Sam Lee", email="sam@example.org")
    again_asked = officer.post(
        "/audit/package", data={"csrf_token": csrf_token(asked.text), "certificates": "y", "many_certificates_ok": "2"}
    )
    assert again_asked.mimetype == "text/html" and "This scope has 3 signatures." in page_text(again_asked.text)
    # without the certificates nothing is asked
    assert officer.post("/audit/package", data={"csrf_token": csrf_token(page)}).mimetype == "application/zip"


def test_the_time_said_for_many_certificates_reads_plainly():
    from quiz.audit_package import certificates_time

    assert certificates_time(100) == "under a minute"
    assert certificates_time(2_001) == "about 5 minutes"
    assert certificates_time(400_000) == "about 17 hours"


def test_the_command_line_makes_a_package_with_or_without_certificates(app, tmp_path):
    _signed(app)
    runner = app.test_cli_runner()
    for flag, expected in (([], 1), (["--no-certificates"], 0)):
        target = tmp_path / f"package{len(flag)}.zip"
        result = runner.invoke(args=["evidence", "package", *flag, "-o", str(target)])
        assert result.exit_code == 0, result.output
        archive = zipfile.ZipFile(target)
        assert len([n for n in archive.namelist() if n.startswith("certificates/")]) == expected
        readme = archive.read("README.txt").decode()
        assert ("left out of this package" in readme) == (not expected)
        assert ("1 certificate;" if expected else "certificates left out;") in result.stdout
        _verifies(archive, tmp_path / f"package{len(flag)}")


def _packaged_records(app) -> list[Evidence]:
    with app.app_context():
        return list(db.session.scalars(select(Evidence).where(Evidence.event == "evidence.packaged")))


# --- the migration ---------------------------------------------------------------------------


def test_the_migration_gives_every_signed_attempt_a_code(app):
    _signed(app)
    with app.app_context():
        flask_migrate.downgrade(directory=MIGRATIONS, revision="0009_one_open_assignment")
        row = db.session.execute(text("SELECT * FROM attempts")).mappings().one()
        copied = {k: v for k, v in row.items() if k != "id"}
        # 2,500 more signed attempts (three batches) and one unsigned
        insert = text(f"INSERT INTO attempts ({', '.join(copied)}) VALUES ({', '.join(':' + k for k in copied)})")
        rows = [dict(copied, number=n + 2) for n in range(2500)]
        rows.append(dict(copied, number=9999, acknowledged_at=None, acknowledged_name=None))
        db.session.execute(insert, rows)
        db.session.commit()
        flask_migrate.upgrade(directory=MIGRATIONS)
        codes = db.session.execute(select(Attempt.certificate_code, Attempt.acknowledged_at).order_by(Attempt.id)).all()
        signed = [c for c, at in codes if at is not None]
        assert len(signed) == 2501 and all(c and re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{10}", c) for c in signed)
        assert len(set(signed)) == 2501
        assert [c for c, at in codes if at is None] == [None]
        # and the index holds uniqueness from now on
        with pytest.raises(IntegrityError):
            db.session.execute(text("UPDATE attempts SET certificate_code = :c WHERE number = 9999"), {"c": signed[0]})
            db.session.commit()
        db.session.rollback()


def test_a_revocation_undone_in_the_database_is_found_by_the_state_check(app):
    from quiz import state_check

    code = _signed(app)
    officer = signed_in_as(app, "compliance")
    assert _revoke(officer, code, "Finding").status_code == 303
    with app.app_context():
        assert state_check.disagreements(db.session) == []
        db.session.execute(text("UPDATE attempts SET certificate_revoked_at = NULL"))  # silently undone
        db.session.commit()
        (found,) = state_check.disagreements(db.session)
        assert found.state == "certificate valid" and found.attempt == 1
        assert "it reads valid" in str(found) and "learner@example.org" in str(found)
        # and a code swapped for another is found too
        db.session.execute(
            text("UPDATE attempts SET certificate_revoked_at = CURRENT_TIMESTAMP, certificate_code = '0000000000'")
        )
        db.session.commit()
        (found,) = state_check.disagreements(db.session)
        assert "its code is not the one" in found.why
    page = page_text(officer.get("/audit/chain").text)
    assert "its code is not the one" in page

"""The certificate as a PDF download: the same facts as the page, the learner's own only, and
never a name with letters missing."""

from __future__ import annotations

import io
import re
from datetime import UTC

from pypdf import PdfReader
from sqlalchemy import select

from quiz.db import db
from quiz.models import Evidence

from .helpers import MODULE, add_user, pass_and_sign, sign_in, through_lesson

PDF = MODULE + "certificate/1.pdf"


def _text(response) -> str:
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 1, "a certificate is one page"
    return re.sub(r"\s+", " ", reader.pages[0].extract_text())


def _signed(app, name: str, email: str = "learner@example.org"):
    add_user(app, email=email, name=name)
    client = app.test_client()
    sign_in(client, email)
    through_lesson(client)
    assert pass_and_sign(client, full_name=name).status_code == 303
    return client


def test_the_pdf_states_what_the_certificate_page_states(app):
    client = _signed(app, "Dana Whitfield")
    page = client.get(MODULE + "certificate/1").text
    assert f'href="{PDF}" download>Download as PDF</a>' in page

    response = client.get(PDF)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="certificate-test-callers-1.pdf"'
    assert response.headers["Cache-Control"] == "no-store"  # a personal record: never cached
    text = _text(response)
    with app.app_context():
        signed = db.session.scalars(select(Evidence).where(Evidence.event == "acknowledgement.signed")).one()
    for fact in (
        "CERTIFICATE OF COMPLETION",
        "Dana Whitfield",
        "Test module on callers",
        "Test Verification Policy, version 1.0",
        "Front desk",
        "45 CFR 164.514(h)",
        f"No. {signed.seq}, {signed.hash[:16]}",
        "I will verify callers before I share anything.",
    ):
        assert fact in text, f"{fact!r} not in the PDF: {text}"
    assert re.search(r"Score 4 \(pass mark 4\)", text), text


def test_names_with_accents_and_other_alphabets_come_out_whole(app):
    name = "Zoë Nguyễn-O'Brien Ólafsdóttir Ψάλτη Жукова"
    client = _signed(app, name)
    assert name in _text(client.get(PDF))


def test_a_name_stored_with_separate_accents_prints_as_whole_letters(app):
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Trần Thị Nguyễn")  # as some keyboards send it
    assert decomposed != "Trần Thị Nguyễn"
    client = _signed(app, decomposed)
    assert "Trần Thị Nguyễn" in _text(client.get(PDF))


def test_a_name_the_font_cannot_draw_is_not_offered_as_pdf_and_the_page_still_prints(app):
    client = _signed(app, "Li 王小明")
    page = client.get(MODULE + "certificate/1")
    assert page.status_code == 200 and "Li 王小明" in page.text
    assert ".pdf" not in page.text and "Print command" in page.text
    assert client.get(PDF).status_code == 404


def test_only_the_learners_own_certificate_downloads(app):
    _signed(app, "Dana Whitfield")
    add_user(app, email="other@example.org", name="Other Person")
    other = app.test_client()
    sign_in(other, "other@example.org")
    assert other.get(PDF).status_code == 404
    assert app.test_client().get(PDF).status_code in (302, 303)  # signed out: to sign in


def test_every_real_module_fits_its_certificate_on_one_page():
    """The longest titles, regulation lists and statements of the curriculum, with a long name:
    one page each (text that ran into the footer would start a second page)."""
    from datetime import datetime

    from quiz import certificate_pdf
    from quiz.content import load_library
    from quiz.engine import Certificate
    from quiz.models import Attempt

    from .helpers import PROJECT_ROOT

    library = load_library(PROJECT_ROOT / "content")
    assert len(library.modules) >= 20
    name = "Maria-Fernanda Castellanos-Villalobos de la Cruz Ólafsdóttir"
    for module in library.modules.values():
        attempt = Attempt(
            number=12,
            score=module.pass_score,
            module_version="f" * 64,
            acknowledged_name=name,
            acknowledged_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
            # the longest a state's signed statement makes it (curricula.yml's Texas rule)
            signed_statement="Signed statement of completion under Texas Health and Safety Code 181.101 "
            "(as amended in 2013); kept until 2032-11-23",
            certificate_code="7KQ2M9XD4T",
            certificate_revoked_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),  # one more line at the top
        )
        cert = Certificate(attempt, name, module.roles[0], None)
        url = "https://training.st-example-regional-medical-center.org/c/7KQ2-M9XD-4T"  # a long BASE_URL
        assert certificate_pdf.printable(cert, module, url), module.id
        reader = PdfReader(io.BytesIO(certificate_pdf.render(cert, module, url)))
        assert len(reader.pages) == 1, f"{module.id}: the certificate runs onto a second page"
        text = re.sub(r"\s+", " ", reader.pages[0].extract_text())
        assert module.acknowledgement in text and "hash-chained" in text, module.id
        assert "kept until 2032-11-23" in text, module.id
        assert f"Code 7KQ2-M9XD-4T at {url}" in text and "REVOKED on 01 December 2026" in text, module.id

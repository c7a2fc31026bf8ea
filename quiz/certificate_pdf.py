"""A certificate as a PDF file: what the certificate page states, for a learner to keep or send.

On a phone, "print to PDF" is hidden several taps deep, so the certificate page offers this as a
download. It states exactly what the page does, from the same sources: the learner's name and
job role as the evidence record of their signature has them, the attempt, the module version
it was taken on, and that record's number and hash.

It also carries the certificate's code, the address of the public page that checks it
(``BASE_URL/c/CODE``, quiz/certificate_codes.py), and a QR code of that address in its lower
right corner; a revoked certificate says so at its top.

Text is set in DejaVu Sans (quiz/fonts/, a subset: Latin with its accents, Vietnamese, Greek,
Cyrillic and common punctuation; license beside it), embedded in the file. A certificate whose
names or texts need a character outside that set is not offered as a PDF (``printable``), so a
name is never printed with letters missing; the page itself still prints.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import segno
from fontTools.ttLib import TTFont
from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import certificate_codes, clock, evidence, versions
from .content import Library, Module, label
from .engine import Certificate
from .models import Attempt, Evidence

FONTS = Path(__file__).resolve().parent / "fonts"
REGULAR, BOLD = FONTS / "DejaVuSans.ttf", FONTS / "DejaVuSans-Bold.ttf"

INK, MUTED, BAD = (27, 31, 36), (87, 96, 106), (176, 0, 32)  # the page's --ink, --muted, --bad
#: The QR code's side (mm, its 2-module quiet zone included), in the frame's lower right corner.
QR_SIZE = 19
FOOTER = (
    "Issued by Rounds from its evidence log. The evidence record named above holds this signature; "
    "the log is hash-chained, so a later change to any record can be detected."
)


@lru_cache(maxsize=1)
def _covered() -> frozenset[int]:
    """The code points both faces can draw."""
    regular = set(TTFont(REGULAR).getBestCmap())
    bold = set(TTFont(BOLD).getBestCmap())
    return frozenset(regular & bold)


def _nfc(text: str) -> str:
    """Letters with their accents as one character each ("e" + "^" + "~" as "ễ"): the PDF has
    no text shaping to stack separate accents over a letter."""
    return unicodedata.normalize("NFC", text)


def _details(cert: Certificate, module: Module, check_url: str | None = None) -> list[tuple[str, str]]:
    attempt = cert.attempt
    if attempt.acknowledged_at is None:
        raise ValueError(f"attempt {attempt.id} is not signed: it has no certificate")
    rows = [
        ("Completed", clock.local_text(attempt.acknowledged_at, clock.time_zone(), long=True)),
        ("Score", f"{attempt.score} (pass mark {module.pass_score})"),
        ("Policy", f"{module.policy_name}, version {module.policy_version}"),
        ("Job role", label(cert.job_role)),
        ("Signed as", attempt.acknowledged_name or ""),
        *([("State law", attempt.signed_statement)] if attempt.signed_statement else []),
        ("Content version", attempt.module_version[:16]),
        ("Regulations", "; ".join(module.cites)),
    ]
    if cert.record is not None:
        rows.append(("Evidence record", f"No. {cert.record.seq}, {cert.record.hash[:16]}"))
    if attempt.certificate_code:
        code = certificate_codes.grouped(attempt.certificate_code)
        rows.append(("Check it", f"Code {code} at {check_url}" if check_url else f"Code {code}"))
    return [(name, _nfc(value)) for name, value in rows]


def _revoked(cert: Certificate) -> str | None:
    revoked_at = cert.attempt.certificate_revoked_at
    if revoked_at is None:
        return None
    return f"REVOKED on {clock.org_day(revoked_at):%d %B %Y}: this certificate no longer stands"


def _texts(cert: Certificate, module: Module, check_url: str | None = None) -> list[str]:
    texts = [cert.learner_name, module.title, module.acknowledgement, _revoked(cert) or ""]
    return [_nfc(t) for t in texts] + [v for _, v in _details(cert, module, check_url)]


def printable(cert: Certificate, module: Module, check_url: str | None = None) -> bool:
    """True if every character the certificate states can be drawn in the embedded font."""
    covered = _covered()
    return all(ord(ch) in covered for text in _texts(cert, module, check_url) for ch in text if not ch.isspace())


#: How much the details and the statement may shrink to keep a long certificate on one page.
_SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)


def render(cert: Certificate, module: Module, check_url: str | None = None) -> bytes:
    """The certificate as a one-page US Letter landscape PDF. Check ``printable`` first. A long
    one (many regulations, a state's statement) is drawn again smaller until it fits one page.
    ``check_url``: the public page that checks it (certificate_codes.check_url), printed and
    drawn as a QR code."""
    for scale in _SCALES:
        pdf = _drawn(cert, module, scale, check_url)
        if pdf.page_no() == 1:
            break
    return bytes(pdf.output())


def qr_png(url: str) -> bytes:
    """The QR code of ``url`` as a PNG, 10 pixels a module (sharp when printed), quiet zone 2."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=10, border=2)
    return out.getvalue()


def _drawn(cert: Certificate, module: Module, scale: float, check_url: str | None = None) -> FPDF:
    pdf = FPDF(orientation="landscape", unit="mm", format="Letter")
    pdf.set_title(f"Certificate: {module.title}")
    pdf.set_author(cert.learner_name)
    pdf.set_creator("Rounds")
    pdf.set_margins(30, 24, 30)
    pdf.add_font("DejaVu", "", str(REGULAR))
    pdf.add_font("DejaVu", "B", str(BOLD))
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    # The frame (double, as on the page) and the footer first, at fixed places; the text then
    # flows above the footer, and would start a second page rather than run into it.
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.8)
    pdf.rect(12, 12, pdf.w - 24, pdf.h - 24)
    pdf.set_line_width(0.3)
    pdf.rect(14.5, 14.5, pdf.w - 29, pdf.h - 29)
    # The footer leaves the lower right corner to the QR code (narrowed on both sides, so it
    # stays centred); the text above ends where the code begins (the page break's margin).
    pdf.set_xy(pdf.l_margin + QR_SIZE, pdf.h - 32)
    pdf.set_font("DejaVu", "", 8.5)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(width - 2 * QR_SIZE, 4.5, FOOTER, align="C")
    if check_url:
        pdf.image(io.BytesIO(qr_png(check_url)), x=pdf.w - 17 - QR_SIZE, y=pdf.h - 36, w=QR_SIZE, h=QR_SIZE)
    pdf.set_auto_page_break(True, margin=36)

    pdf.set_y(26)
    _line(pdf, "CERTIFICATE OF COMPLETION", 11, color=MUTED, spacing=1.2)
    if revoked := _revoked(cert):
        pdf.ln(1)
        _line(pdf, revoked, 12, bold=True, color=BAD)
    pdf.ln(4)
    _line(pdf, cert.learner_name, 26, bold=True)
    pdf.ln(1)
    _line(pdf, "completed the training module", 12)
    pdf.ln(2)
    _line(pdf, module.title, 17, bold=True)
    pdf.ln(6 * scale)

    # The details: labels right-aligned against their values, in one centred block.
    label_w, value_w = 48, 132
    left = pdf.l_margin + (width - label_w - value_w - 4) / 2
    height = 6 * scale
    for name, value in _details(cert, module, check_url):
        y = pdf.get_y()
        pdf.set_xy(left, y)
        pdf.set_font("DejaVu", "B", 10 * scale)
        pdf.set_text_color(*INK)
        pdf.cell(label_w, height, name, align="R")
        pdf.set_xy(left + label_w + 4, y)
        pdf.set_font("DejaVu", "", 10 * scale)
        pdf.multi_cell(value_w, height, value, align="L")
        pdf.set_y(max(pdf.get_y(), y + height))
    pdf.ln(6 * scale)
    pdf.set_font("DejaVu", "", 11 * scale)
    pdf.set_text_color(*INK)
    pdf.multi_cell(width, 6 * scale, _nfc(module.acknowledgement), align="C")
    return pdf


def _line(pdf: FPDF, text: str, size: float, bold: bool = False, color=INK, spacing: float = 0) -> None:
    pdf.set_font("DejaVu", "B" if bold else "", size)
    pdf.set_text_color(*color)
    pdf.set_char_spacing(spacing)
    pdf.multi_cell(pdf.w - pdf.l_margin - pdf.r_margin, size * 0.5, _nfc(text), align="C")
    pdf.set_char_spacing(0)


# --- many at once (the audit package) -----------------------------------------------------------


def for_signatures(
    session: Session, filters: evidence.Filters, library: Library | None, base_url: str | None
) -> Iterator[tuple[str, bytes | None]]:
    """The PDF certificate of each signature (``acknowledgement.signed`` record) the filters
    find, in record order, as ``(<email>-<module>-<attempt>.pdf, its bytes)``; bytes None when
    the font cannot draw it. A revoked one says so. One is drawn at a time, so memory stays
    bounded however many there are; ``base_url`` (BASE_URL) gives the check address and QR."""
    columns = [evidence.EXPORT_COLUMNS.index(c) for c in ("seq", "user_id", "module_id", "details")]
    keys = [  # small tuples: each record and attempt is read when its turn comes
        (seq, user_id, module_id, number)
        for seq, user_id, module_id, details in (
            [row[i] for i in columns]
            for row in evidence.export_rows(session, replace(filters, event="acknowledgement.signed"))
        )
        if isinstance(number := _attempt_number(details), int) and user_id is not None and module_id
    ]
    modules: dict[str, Module | None] = {}
    for seq, user_id, module_id, number in keys:
        attempt = session.scalar(
            select(Attempt).where(Attempt.user_id == user_id, Attempt.module_id == module_id, Attempt.number == number)
        )
        record = session.get(Evidence, seq)
        if attempt is None or attempt.acknowledged_at is None or record is None:
            continue
        name = re.sub(r"[^A-Za-z0-9._@-]", "_", f"{attempt.user.email}-{module_id}-{number}") + ".pdf"
        if attempt.module_version not in modules:
            modules[attempt.module_version] = _module_taken(session, library, attempt.module_version)
        module = modules[attempt.module_version]
        cert = Certificate(
            attempt, record.learner_name or attempt.user.name, record.job_role or attempt.user.job_role, record
        )
        code = attempt.certificate_code
        url = certificate_codes.check_url(base_url, code) if base_url and code else None
        if module is None or not printable(cert, module, url):
            yield name, None
        else:
            yield name, render(cert, module, url)
        session.expunge(record)  # nothing is kept from one to the next
        session.expunge(attempt)


def _attempt_number(details: str) -> int | None:
    try:
        parsed = json.loads(details)
    except (TypeError, ValueError, RecursionError):
        return None
    number = parsed.get("attempt") if isinstance(parsed, dict) else None
    return number if isinstance(number, int) else None


def _module_taken(session: Session, library: Library | None, version: str) -> Module | None:
    """The module as it was taken (None: its version is neither served nor stored readably)."""
    try:
        found = versions.resolve(session, library or Library(), version)
    except (LookupError, ValueError):
        return None
    return found if isinstance(found, Module) else None

"""A certificate as a PDF response, for the learner's own (learn) and a report's (manage)."""

from __future__ import annotations

from flask import abort, current_app, make_response

from .. import certificate_codes, certificate_pdf, engine
from ..content import Module


def check_url(cert: engine.Certificate) -> str | None:
    """The public page that checks this certificate (BASE_URL/c/CODE), if it has a code."""
    code = cert.attempt.certificate_code
    return certificate_codes.check_url(current_app.config["BASE_URL"], code) if code else None


def printable(cert: engine.Certificate, module: Module) -> bool:
    """Whether the PDF can be offered (certificate_pdf.printable, with the check address)."""
    return certificate_pdf.printable(cert, module, check_url(cert))


def pdf_response(cert: engine.Certificate, module: Module, filename: str):
    """The certificate as a PDF attachment; 404 if the embedded font cannot draw it all."""
    url = check_url(cert)
    if not certificate_pdf.printable(cert, module, url):
        abort(404)
    response = make_response(certificate_pdf.render(cert, module, url))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

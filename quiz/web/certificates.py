"""A certificate as a PDF response, for the learner's own (learn) and a report's (manage)."""

from __future__ import annotations

from flask import abort, make_response

from .. import certificate_pdf, engine
from ..content import Module


def pdf_response(cert: engine.Certificate, module: Module, filename: str):
    """The certificate as a PDF attachment; 404 if the embedded font cannot draw it all."""
    if not certificate_pdf.printable(cert, module):
        abort(404)
    response = make_response(certificate_pdf.render(cert, module))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

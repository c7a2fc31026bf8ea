"""Anyone: check a certificate by its code (``/c/CODE``, the QR code's address; ``/c``, a form
to type one). No sign-in.

The page says Valid or Revoked (with the day, never the reason), the person's name, the module,
when it was signed (in the organization's time zone) and the content version: what a certificate
shown to someone already states, so a code proves it without telling them more (no email, job
role nor score). An unknown code gets "No certificate has this code" (404) after the same
lookup. Lookups are rate limited per client address (``CERTIFICATE_CHECK_RATE_LIMIT``), never
cached, and kept out of search engines. Reads only (docs/operations.md, "Certificates anyone
can check").
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from .. import certificate_codes
from ..db import db
from .common import library
from .limits import limiter
from .units import reads

bp = Blueprint("check", __name__, url_prefix="/c")


def _check_limit() -> str:
    return current_app.config["CERTIFICATE_CHECK_RATE_LIMIT"]


@bp.after_request
def _private(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.get("")
@reads
def form():
    """A form to type a code; sent (a GET), it leads to that code's page."""
    typed = request.args.get("code", "")
    if typed.strip():
        code = certificate_codes.normalize(typed)
        if code is not None:
            return redirect(url_for("check.certificate", code=certificate_codes.grouped(code)), code=303)
        return render_template("check/index.html", typed=typed, result=None, unknown=True), 404
    return render_template("check/index.html", typed="", result=None, unknown=False)


@bp.get("/<code>")
@limiter.limit(_check_limit)
@reads
def certificate(code: str):
    result = certificate_codes.check(db.session, library(), code)
    if result is None:
        return render_template("check/index.html", typed=code, result=None, unknown=True), 404
    return render_template("check/index.html", typed="", result=result, unknown=False)

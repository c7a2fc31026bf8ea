"""Compliance: a certificate found by its code, and revoked with a reason.

A compliance officer (or an admin) types the code printed on a certificate (or named in its
signature's evidence record), sees the certificate as its holder does, and may revoke it, for a
reason, after a finding say: the attempt says so from then on, the public check page reads
Revoked, and the revocation is an evidence record (``certificate.revoked``: who, which
certificate, why). A revocation is never taken back here (quiz/certificate_codes.py).
"""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from ... import certificate_codes, engine, evidence
from ...db import db
from ...models import Attempt
from ..certificates import printable
from ..common import library
from ..units import reads, writes
from . import bp


class RevokeForm(FlaskForm):
    reason = TextAreaField(
        "Why it is revoked (kept in the evidence; not shown on the public page)",
        validators=[
            DataRequired("Say why this certificate is revoked."),
            Length(max=certificate_codes.REASON_MAX, message="At most 500 characters."),
        ],
    )


def _revocation(attempt: Attempt):
    """The evidence record of this certificate's revocation, if it was revoked."""
    if attempt.certificate_revoked_at is None:
        return None
    records = evidence.for_attempt(
        db.session, attempt.user_id, attempt.module_id, attempt.number, "certificate.revoked"
    )
    return records[0] if records else None


def _page(attempt: Attempt | None, typed: str, form: RevokeForm, status: int = 200):
    cert = module = revocation = None
    if attempt is not None:
        cert = engine.certificate(db.session, attempt)
        module = engine.content_for(db.session, library(), attempt).module
        revocation = _revocation(attempt)
    by = json.loads(revocation.details).get("by") if revocation is not None else None
    return (
        render_template(
            "audit/certificate.html",
            typed=typed,
            attempt=attempt,
            cert=cert,
            module=module,
            revocation=revocation,
            revoked_by=by,
            form=form,
            pdf=cert is not None and module is not None and printable(cert, module),
        ),
        status,
    )


@bp.get("/certificates")
@reads
def certificates():
    """Find a certificate by its code (``?code=``), as printed or typed."""
    typed = request.args.get("code", "").strip()
    attempt = certificate_codes.find(db.session, typed) if typed else None
    return _page(attempt, typed, RevokeForm(formdata=None), 404 if typed and attempt is None else 200)


@bp.post("/certificates/<code>/revoke")
@writes
def revoke_certificate(code: str):
    attempt = certificate_codes.find(db.session, code, for_update=True)
    if attempt is None or attempt.certificate_code is None:
        abort(404)
    form = RevokeForm()
    if not form.validate():
        return _page(attempt, code, form, 400)
    if certificate_codes.revoke(db.session, attempt, current_user._get_current_object(), form.reason.data or ""):
        flash("The certificate is revoked. Its public page now says so.", "info")
    else:
        flash("This certificate was revoked already; nothing was changed.", "info")
    return redirect(url_for("audit.certificates", code=certificate_codes.grouped(attempt.certificate_code)), code=303)

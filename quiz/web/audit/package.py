"""Compliance: the audit package. One ZIP file with the people, their training report, their
evidence and the exact content it names, checked and hashed, for an auditor or an OCR inquiry
(the rules and the files are ``quiz.audit_package``'s). Making one is a POST: it writes the
evidence record that the package was made, and the download leaves only once that record is
committed.

Each signature's PDF certificate takes a while to draw (``audit_package.CERTIFICATE_SECONDS``),
so they are a choice, on by default; when the scope holds more than
``audit_package.CERTIFICATES_ASK_ABOVE`` of them, the page says how many and how long, and makes
the package only once asked again (or with the box unticked)."""

from __future__ import annotations

import tempfile

from flask import current_app, render_template, send_file
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField
from wtforms.validators import Optional, ValidationError

from ... import audit_package, package_signing
from ...db import db
from ..common import library
from ..units import reading, reads, reads_then_writes, writing
from . import (
    DayField,
    DepartmentField,
    PersonFilter,
    bp,
    days_in_order,
    department_field,
    department_known,
    module_choices,
)


class PackageForm(PersonFilter, FlaskForm):
    """What the package covers; every field may be left empty (everything)."""

    since = DayField("From (UTC day)", validators=[Optional()])
    until = DayField("To (UTC day, included)", validators=[Optional()])
    department = DepartmentField()
    module = SelectField("Module", validate_choice=False)
    certificates = BooleanField("Include each certificate as a PDF", default=True)
    #: The number of certificates the page said the scope holds, and how long they take: asked
    #: again, the package is made with them (a wider scope since is asked about again).
    many_certificates_ok = HiddenField()

    def validate_until(self, field):
        days_in_order(self.since.data, field.data)

    def validate_department(self, field):
        department_known(self, field)
        if field.data and self.email.data:
            raise ValidationError("Choose a department or a person, not both.")


def _package_form() -> PackageForm:
    form = PackageForm()
    form.module.choices = module_choices()
    department_field(form)
    return form


def _scope(form: PackageForm) -> audit_package.Scope:
    return audit_package.Scope(
        since=form.since.data,
        until=form.until.data,
        person=form.person,
        department=form.department.data or None,
        module_id=form.module.data or None,
    )


def _told(form: PackageForm) -> int:
    told = form.many_certificates_ok.data or ""
    return int(told) if told.isdigit() and len(told) < 12 else 0


def filename(package: audit_package.Package) -> str:
    """rounds-audit-package-2026-12-05-<the first 12 of SHA256SUMS' hash>.zip: two packages
    made the same day never share a name, and the name says which record vouches for it."""
    return f"rounds-audit-package-{package.made_at.date().isoformat()}-{package.sums_sha256[:12]}.zip"


def _page(form: PackageForm, many_certificates: int | None = None):
    """The page: the form, and the keys that sign packages (the public halves, to publish).
    ``many_certificates``: the scope's signatures, when there are too many to draw unasked."""
    current = signing_key()
    keys = package_signing.published_keys(db.session, current)
    return render_template(
        "audit/package.html",
        form=form,
        signing_key=current,
        keys=keys,
        many_certificates=many_certificates,
        certificates_time=audit_package.certificates_time(many_certificates or 0),
        certificate_seconds=audit_package.CERTIFICATE_SECONDS,
    )


def signing_key() -> package_signing.SigningKey:
    return current_app.extensions["signing_key"]


@bp.get("/package")
@reads
def package():
    return _page(_package_form())


@bp.post("/package")
@reads_then_writes
def make_package():
    form = _package_form()
    if not form.validate():
        return _page(form), 400
    made_by = f"{current_user.name} <{current_user.email}> ({current_user.role})"
    scope = _scope(form)
    if form.certificates.data:
        signatures = audit_package.signatures_in(db.session, scope)
        if signatures > max(audit_package.CERTIFICATES_ASK_ABOVE, _told(form)):
            form.many_certificates_ok.data = str(signatures)  # asked again, it makes them
            return _page(form, many_certificates=signatures)
    out = tempfile.TemporaryFile()
    try:
        with reading(db.session, snapshot=True):  # its parts agree; no writer waits on it
            made = audit_package.write(
                db.session,
                scope,
                out,
                made_by=made_by,
                library=library(),
                signing_key=signing_key(),
                base_url=current_app.config["BASE_URL"],
                certificates=form.certificates.data,
            )
        with writing(db.session):
            audit_package.record(db.session, made, current_user._get_current_object())
    except BaseException:
        out.close()
        raise
    out.seek(0)
    response = send_file(out, mimetype="application/zip", as_attachment=True, download_name=filename(made), max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response

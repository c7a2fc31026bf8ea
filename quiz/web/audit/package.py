"""Compliance: the audit package. One ZIP file with the people, their training report, their
evidence and the exact content it names, checked and hashed, for an auditor or an OCR inquiry
(the rules and the files are ``quiz.audit_package``'s). Making one is a POST: it writes the
evidence record that the package was made, and the download leaves only once that record is
committed."""

from __future__ import annotations

import tempfile

from flask import current_app, render_template, send_file
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import Optional, ValidationError

from ... import audit_package
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


def filename(package: audit_package.Package) -> str:
    """rounds-audit-package-2026-12-05-<the first 12 of SHA256SUMS' hash>.zip: two packages
    made the same day never share a name, and the name says which record vouches for it."""
    return f"rounds-audit-package-{package.made_at.date().isoformat()}-{package.sums_sha256[:12]}.zip"


@bp.get("/package")
@reads
def package():
    return render_template("audit/package.html", form=_package_form())


@bp.post("/package")
@reads_then_writes
def make_package():
    form = _package_form()
    if not form.validate():
        return render_template("audit/package.html", form=form), 400
    made_by = f"{current_user.name} <{current_user.email}> ({current_user.role})"
    scope = _scope(form)
    out = tempfile.TemporaryFile()
    try:
        with reading(db.session, snapshot=True):  # its parts agree; no writer waits on it
            made = audit_package.write(
                db.session, scope, out, made_by=made_by, library=library(), base_url=current_app.config["BASE_URL"]
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

"""Compliance officers: the training report and the evidence log, for an audit, in the browser.

One blueprint (compliance officers and admins only); each page group lives in its own module
here and registers on ``bp``: ``report`` (every assignment and how it ended) and ``records``
(the evidence: find, download, check a record, check the chain) and ``package`` (the audit
package: all of it for a scope, in one checked ZIP), and ``certificates`` (a certificate found by
its code, and revoked). Read-only but for two things: making an audit package is a POST, because
it adds the record that it was made, and so is revoking a certificate, with its record; evidence
is never changed, here or anywhere. Plain links and GET forms, so every page works
without JavaScript; the filters live in the address, so a search can be bookmarked or sent.
This module has what both groups' filters share.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, request, stream_with_context
from wtforms import DateField, StringField
from wtforms.validators import Optional, ValidationError

from ... import accounts, clock, evidence, training_report
from ...db import db
from ...models import User
from ..access import require_role
from ..common import library

bp = Blueprint("audit", __name__, url_prefix="/audit")
bp.before_request(require_role("compliance", "admin"))


class DayField(DateField):
    """A UTC day; a value that is not one says how to write it."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Give the day as YYYY-MM-DD, for example 2026-01-31.") from None


def days_in_order(first: date | None, last: date | None) -> None:
    """A span's last day may not come before its first (a form's validator)."""
    if first and last and last < first:
        raise ValidationError("The last day is before the first day.")


class PersonFilter:
    """A person, by the email of their account (both groups' forms have it). After validation
    ``person`` is their account, or None when no email was given."""

    email = StringField("Person (their email)", validators=[Optional()])
    person: User | None = None

    def validate_email(self, field):
        self.person = accounts.find_by_email(db.session, field.data) if field.data else None
        if field.data and self.person is None:
            raise ValidationError("No account has this email.")


def module_choices() -> list[tuple[str, str]]:
    """ "Any module", then the modules served now, by title; a module asked for in the address
    that is no longer served (its records and assignments remain) is kept, under its id, so the
    filter holds."""
    choices = [(m.id, m.title) for m in sorted(library().modules.values(), key=lambda m: m.title.lower())]
    wanted = request.args.get("module")
    if wanted and wanted not in {mid for mid, _ in choices}:
        choices.append((wanted, f"{wanted} (no longer served)"))
    return [("", "Any module"), *choices]


class DepartmentField(StringField):
    """A department by name, typed, with the departments people are in now offered as one types
    (``suggestions``, an HTML datalist: no JavaScript needed). One that nobody is in any more is
    accepted when records were made while someone was in it: a renamed or closed department can
    still be audited. Forms check it with ``department_known``."""

    suggestions: list[str] = []

    def __init__(self, label: str = "Department", **kwargs):
        super().__init__(label, validators=[Optional()], filters=[lambda v: v.strip() if v else v], **kwargs)


def department_known(form, field) -> None:
    if field.data and not evidence.department_seen(db.session, field.data):
        raise ValidationError("Nobody is or was in this department: check its spelling.")


def department_field(form) -> None:
    """Offer the departments people are in now to the form's DepartmentField."""
    form.department.suggestions = training_report.departments(db.session)


def module_titles() -> dict[str, str]:
    return {m.id: m.title for m in library().modules.values()}


def kept_args(names: tuple[str, ...]) -> dict[str, str]:
    """The filters as they are in the address, for links that keep them (paging, download)."""
    return {name: request.args[name] for name in names if request.args.get(name)}


def csv_download(lines, name: str) -> Response:
    """CSV text streamed as it is read (the database session stays open until the end)."""
    filename = f"{name}-{clock.org_today().isoformat()}.csv"
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


from . import certificates, package, records, report, retention_page  # noqa: E402,F401  (register their pages on bp)

"""Compliance: the evidence log. Find records (by person, department, module, kind and UTC days), page
through them newest first, download exactly those as CSV (the same file as ``flask evidence
export``; or a spreadsheet-safe copy, as ``--spreadsheet-safe``), open one record to see it checked against its hash and its link to the one before,
and check the whole chain (as ``flask evidence verify``)."""

from __future__ import annotations

import json
import time
from datetime import date

from flask import abort, current_app, render_template, request
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import Optional, ValidationError

from ... import chain_check, csvtext, evidence
from ...db import db
from ..units import reads
from . import (
    DayField,
    DepartmentField,
    PersonFilter,
    bp,
    csv_download,
    days_in_order,
    department_field,
    department_known,
    kept_args,
    module_choices,
    module_titles,
)

PER_PAGE = 50


class FilterForm(PersonFilter, FlaskForm):
    """Which records to show. A GET form: it changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    department = DepartmentField()
    module = SelectField("Module", validate_choice=False)
    event = SelectField(
        "Kind of record", choices=[("", "Any kind"), *evidence.EVENTS.items()], default="", validate_choice=False
    )
    since = DayField("From (UTC day)", validators=[Optional()])
    until = DayField("To (UTC day, included)", validators=[Optional()])

    def validate_event(self, field):
        if field.data and field.data not in evidence.EVENTS:
            raise ValidationError("Choose a kind of record from the list.")

    def validate_until(self, field):
        days_in_order(self.since.data, field.data)

    validate_department = department_known


def _filter_form() -> FilterForm:
    form = FilterForm(formdata=request.args)
    form.module.choices = module_choices()
    department_field(form)
    return form


def _filters(form: FilterForm) -> evidence.Filters:
    def day(value: date | None) -> str | None:
        return value.isoformat() if value else None

    return evidence.Filters(
        user_id=form.person.id if form.person else None,
        department=form.department.data or None,
        module_id=form.module.data or None,
        event=form.event.data or None,
        since=day(form.since.data),
        until=day(form.until.data),
    )


ARGS = ("email", "department", "module", "event", "since", "until")


def when(recorded_at: str) -> str:
    """'2026-12-04T20:15:00.123456Z' as '2026-12-04 20:15:00 UTC'."""
    return f"{recorded_at[:10]} {recorded_at[11:19]} UTC"


def details_of(record) -> list[tuple[str, str]]:
    """A record's details in words for the table: yes/no for true/false, nested values as
    compact JSON, and without the versions' hashes (the record's own page has every byte)."""

    def words(value) -> str:
        if value is None or value == []:
            return "none"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        return str(value)

    parsed = _parsed_details(record)
    if not isinstance(parsed, dict):  # only a record altered outside Rounds: show what is there
        return [("not valid details", record.details)]
    return [
        (key.replace("_", " "), words(value))
        for key, value in parsed.items()
        if not key.endswith("_version") and key != "scenarios"
    ]


def _pretty_details(record) -> str:
    """The details laid out to read; as stored when they cannot be (altered outside Rounds)."""
    parsed = _parsed_details(record)
    if parsed is None:
        return record.details
    try:
        return json.dumps(parsed, indent=2, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return record.details


def _parsed_details(record):
    """The details as JSON, or None when they are not JSON (a record altered outside Rounds: the
    pages that show such a record must still open)."""
    try:
        return json.loads(record.details)
    except (TypeError, ValueError, RecursionError):  # RecursionError: nested past Python's limit
        return None


@bp.get("/")
@reads
def index():
    form = _filter_form()
    if not form.validate():
        return render_template("audit/index.html", form=form, rows=[], more=False, total=None), 400
    filters = _filters(form)
    before = request.args.get("before", type=int)
    if before is not None:
        before = max(0, min(before, evidence.MAX_SEQ))
    rows, more = evidence.newest(db.session, filters, before=before, limit=PER_PAGE)
    return render_template(
        "audit/index.html",
        form=form,
        rows=rows,
        more=more,
        before=before,
        total=evidence.count(db.session, filters),
        args=kept_args(ARGS),
        titles=module_titles(),
        events=evidence.EVENTS,
        when=when,
        details_of=details_of,
    )


@bp.get("/evidence.csv")
@reads
def export():
    form = _filter_form()
    if not form.validate():
        return index()
    return csv_download(evidence.export_csv(db.session, _filters(form)), "rounds-evidence")


@bp.get("/evidence-spreadsheet-safe.csv")
@reads
def export_spreadsheet_safe():
    """The same records, for opening in a spreadsheet: a cell that starts like a formula gets a
    leading apostrophe (``csvtext.spreadsheet_safe``), so its bytes are no longer the hashed
    ones. The page says which file is for what."""
    form = _filter_form()
    if not form.validate():
        return index()
    rows = evidence.export_rows(db.session, _filters(form))
    return csv_download(
        csvtext.lines(evidence.EXPORT_COLUMNS, rows, spreadsheet_safe_copy=True), "rounds-evidence-spreadsheet-safe"
    )


@bp.get("/records/<int:seq>")
@reads
def record(seq: int):
    check = evidence.check_record(db.session, seq)
    if check is None:
        abort(404)
    return render_template(
        "audit/record.html",
        check=check,
        r=check.record,
        fields=evidence.HASHED_FIELDS,
        events=evidence.EVENTS,
        when=when,
        details=_pretty_details(check.record),
    )


@bp.get("/chain")
@reads
def chain():
    started = time.perf_counter()
    # Held to the anchor file's last head too: a log whose newest records were deleted still
    # verifies on its own. Only read here: the daily check writes the anchor.
    checked = chain_check.check(db.session, chain_check.anchor_place(current_app.config, current_app.instance_path))
    seconds = time.perf_counter() - started
    return render_template(
        "audit/chain.html",
        result=checked.result,
        seconds=seconds,
        at_fault=checked.at_fault,
        anchor=checked.anchor,
        disagreements=checked.disagreements,
        when=when,
    )

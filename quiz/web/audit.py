"""Compliance officers: the training report and the evidence log, for an audit, in the browser.

The training report: every assignment across the workforce and how it ended (done and when,
signed under which name, with which content version; open; overdue; waived and why), found by
state, module, department, job role and due date, and downloadable as CSV.

The evidence: find records (by person, module, kind and UTC days), page through them newest first, download
exactly those as CSV (the same file as ``flask evidence export``), open one record to see it
checked against its hash and its link to the one before, and check the whole chain (as
``flask evidence verify``). Read-only: evidence is never changed, here or anywhere. Plain links
and GET forms, so every page works without JavaScript; the filters live in the address, so a
search can be bookmarked or sent to a colleague.
"""

from __future__ import annotations

import json
import time
from datetime import date

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Optional, ValidationError

from .. import accounts, evidence, training_report
from ..content import JOB_ROLES, label
from ..db import db
from . import library
from .access import require_role

bp = Blueprint("audit", __name__, url_prefix="/audit")
bp.before_request(require_role("compliance", "admin"))

PER_PAGE = 50
REPORT_PER_PAGE = 100


class DayField(DateField):
    """A UTC day; a value that is not one says how to write it."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Give the day as YYYY-MM-DD, for example 2026-01-31.") from None


class PersonFilter:
    """A person, by the email of their account (both pages' forms have it)."""

    email = StringField("Person (their email)", validators=[Optional()])

    def validate_email(self, field):
        self.person = accounts.find_by_email(db.session, field.data) if field.data else None
        if field.data and self.person is None:
            raise ValidationError("No account has this email.")


class FilterForm(PersonFilter, FlaskForm):
    """Which records to show. A GET form: it changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    module = SelectField("Module", validate_choice=False)
    event = SelectField("Kind of record", choices=[("", "Any kind"), *evidence.EVENTS.items()], default="", validate_choice=False)
    since = DayField("From (UTC day)", validators=[Optional()])
    until = DayField("To (UTC day, included)", validators=[Optional()])

    def validate_event(self, field):
        if field.data and field.data not in evidence.EVENTS:
            raise ValidationError("Choose a kind of record from the list.")

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The last day is before the first day.")


def _filter_form() -> FilterForm:
    form = FilterForm(formdata=request.args)
    form.module.choices = [("", "Any module"), *_module_choices()]
    form.person = None
    return form


def _filters(form: FilterForm) -> evidence.Filters:
    def day(value: date | None) -> str | None:
        return value.isoformat() if value else None

    return evidence.Filters(
        user_id=form.person.id if form.person else None,
        module_id=form.module.data or None,
        event=form.event.data or None,
        since=day(form.since.data),
        until=day(form.until.data),
    )


def _query_args(form: FilterForm) -> dict[str, str]:
    """The filters as they are in the address, for links that keep them (paging, download)."""
    return {name: request.args[name] for name in ("email", "module", "event", "since", "until") if request.args.get(name)}


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
        if isinstance(value, (list, dict)):
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
        args=_query_args(form),
        titles={m.id: m.title for m in library().modules.values()},
        events=evidence.EVENTS,
        when=when,
        details_of=details_of,
    )


@bp.get("/evidence.csv")
def export():
    form = _filter_form()
    if not form.validate():
        return index()
    lines = evidence.export_csv(db.session, _filters(form))
    name = f"rounds-evidence-{date.today().isoformat()}.csv"
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/records/<int:seq>")
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
def chain():
    started = time.perf_counter()
    result = evidence.verify(db.session)
    seconds = time.perf_counter() - started
    # The record to open: the one at fault, or if it was removed, the first one after the gap.
    at_fault = evidence.first_at_or_after(db.session, result.seq) if result.seq is not None else None
    return render_template("audit/chain.html", result=result, seconds=seconds, at_fault=at_fault)


# --- the training report ------------------------------------------------------------------------

STATE_WORDS = {"open": "Open (not yet due)", "overdue": "Overdue", "done": "Done", "waived": "Waived"}


class ReportForm(PersonFilter, FlaskForm):
    """Which assignments to show. A GET form, like the evidence filters."""

    class Meta:
        csrf = False

    state = SelectField("State", choices=[("", "Any state"), *STATE_WORDS.items()], default="", validate_choice=False)
    module = SelectField("Module", validate_choice=False)
    department = SelectField("Department", validate_choice=False)
    job_role = SelectField("Job role", choices=[("", "Any job role"), *((r, label(r)) for r in JOB_ROLES)],
                           default="", validate_choice=False)
    due_since = DayField("Due from", validators=[Optional()])
    due_until = DayField("Due until (included)", validators=[Optional()])

    def validate_state(self, field):
        if field.data and field.data not in STATE_WORDS:
            raise ValidationError("Choose a state from the list.")

    def validate_job_role(self, field):
        if field.data and field.data not in JOB_ROLES:
            raise ValidationError("Choose a job role from the list.")

    def validate_due_until(self, field):
        if field.data and self.due_since.data and field.data < self.due_since.data:
            raise ValidationError("The last day is before the first day.")


def _report_form() -> ReportForm:
    form = ReportForm(formdata=request.args)
    form.module.choices = [("", "Any module"), *_module_choices()]
    form.department.choices = [("", "Any department"), *((d, d) for d in training_report.departments(db.session))]
    form.person = None
    return form


def _module_choices() -> list[tuple[str, str]]:
    """The modules served now, by title; a module asked for in the address that is no longer
    served (its records and assignments remain) is kept, under its id, so the filter holds."""
    choices = [(m.id, m.title) for m in sorted(library().modules.values(), key=lambda m: m.title.lower())]
    wanted = request.args.get("module")
    if wanted and wanted not in {mid for mid, _ in choices}:
        choices.append((wanted, f"{wanted} (no longer served)"))
    return choices


def _report_filters(form: ReportForm) -> training_report.Filters:
    return training_report.Filters(
        user_id=form.person.id if form.person else None,
        state=form.state.data or None,
        module_id=form.module.data or None,
        department=form.department.data or None,
        job_role=form.job_role.data or None,
        due_since=form.due_since.data,
        due_until=form.due_until.data,
    )


REPORT_ARGS = ("email", "state", "module", "department", "job_role", "due_since", "due_until")


@bp.get("/training")
def training():
    form = _report_form()
    today = date.today()
    if not form.validate():
        return render_template("audit/training.html", form=form, rows=[], counts=None, today=today), 400
    filters = _report_filters(form)
    per_department, counts = training_report.by_department(db.session, filters, today)
    pages = max(1, -(-counts["all"] // REPORT_PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    rows = training_report.rows(db.session, filters, today, offset=(page - 1) * REPORT_PER_PAGE, limit=REPORT_PER_PAGE)
    return render_template(
        "audit/training.html",
        form=form,
        rows=rows,
        counts=counts,
        per_department=per_department,
        page=page,
        pages=pages,
        today=today,
        args={name: request.args[name] for name in REPORT_ARGS if request.args.get(name)},
        titles={m.id: m.title for m in library().modules.values()},
        state_words=STATE_WORDS,
    )


@bp.get("/training.csv")
def training_csv():
    form = _report_form()
    if not form.validate():
        return training()
    today = date.today()
    lines = training_report.csv_lines(db.session, _report_filters(form), today)
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="rounds-training-report-{today.isoformat()}.csv"'},
    )

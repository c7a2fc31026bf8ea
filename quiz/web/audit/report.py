"""Compliance: the training report. Every assignment across the workforce and how it ended
(done and when, signed under which name, with which content version; open; overdue; waived and
why), found by person, state, module, department, job role, kind of person (employee, contractor,
business associate's staff) and firm, and due date, counted per state and
per department, and downloadable as CSV. The rules are ``quiz.training_report``'s."""

from __future__ import annotations

from flask import render_template, request
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import Optional, ValidationError

from ... import clock, training_report
from ...content import JOB_ROLES, label
from ...content_names import ContentNames
from ...db import db
from ...models import PERSON_KIND_LABELS
from ..common import library
from ..units import reads
from . import DayField, PersonFilter, bp, csv_download, days_in_order, kept_args, module_choices

PER_PAGE = 100


class ReportForm(PersonFilter, FlaskForm):
    """Which assignments to show. A GET form, like the evidence filters."""

    class Meta:
        csrf = False

    state = SelectField(
        "State", choices=[("", "Any state"), *training_report.STATE_LABELS.items()], default="", validate_choice=False
    )
    module = SelectField("Module", validate_choice=False)
    department = SelectField("Department", validate_choice=False)
    job_role = SelectField(
        "Job role",
        choices=[("", "Any job role"), *((r, label(r)) for r in JOB_ROLES)],
        default="",
        validate_choice=False,
    )
    person_kind = SelectField(
        "Kind of person", choices=[("", "Anyone"), *PERSON_KIND_LABELS.items()], default="", validate_choice=False
    )
    vendor = SelectField("Firm (contractors, business associates)", validate_choice=False)
    due_since = DayField("Due from", validators=[Optional()])
    due_until = DayField("Due until (included)", validators=[Optional()])

    def validate_state(self, field):
        if field.data and field.data not in training_report.STATE_LABELS:
            raise ValidationError("Choose a state from the list.")

    def validate_person_kind(self, field):
        if field.data and field.data not in PERSON_KIND_LABELS:
            raise ValidationError("Choose a kind of person from the list.")

    def validate_vendor(self, field):
        if field.data and field.data not in {value for value, _ in field.choices}:
            raise ValidationError("Choose a firm from the list.")

    def validate_job_role(self, field):
        if field.data and field.data not in JOB_ROLES:
            raise ValidationError("Choose a job role from the list.")

    def validate_due_until(self, field):
        days_in_order(self.due_since.data, field.data)

    def validate_department(self, field):
        if field.data and field.data not in {value for value, _ in field.choices}:
            raise ValidationError("Choose a department from the list.")


def _report_form() -> ReportForm:
    form = ReportForm(formdata=request.args)
    form.module.choices = module_choices()
    form.department.choices = [("", "Any department"), *((d, d) for d in training_report.departments(db.session))]
    form.vendor.choices = [("", "Any firm"), *((v, v) for v in training_report.vendors(db.session))]
    return form


def _report_filters(form: ReportForm) -> training_report.Filters:
    return training_report.Filters(
        user_id=form.person.id if form.person else None,
        state=form.state.data or None,
        module_id=form.module.data or None,
        department=form.department.data or None,
        job_role=form.job_role.data or None,
        person_kind=form.person_kind.data or None,
        vendor=form.vendor.data or None,
        due_since=form.due_since.data,
        due_until=form.due_until.data,
    )


ARGS = ("email", "state", "module", "department", "job_role", "person_kind", "vendor", "due_since", "due_until")


@bp.get("/training")
@reads
def training():
    form = _report_form()
    today = clock.org_today()
    if not form.validate():
        return render_template("audit/training.html", form=form, rows=[], counts=None, today=today), 400
    filters = _report_filters(form)
    per_department, counts = training_report.by_department(db.session, filters, today)
    pages = max(1, -(-counts["all"] // PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    rows = training_report.rows(db.session, filters, today, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    return render_template(
        "audit/training.html",
        form=form,
        rows=rows,
        counts=counts,
        per_department=per_department,
        page=page,
        pages=pages,
        today=today,
        args=kept_args(ARGS),
        names=ContentNames(library(), db.session),
        state_words=training_report.STATE_LABELS,
        kinds=PERSON_KIND_LABELS,
    )


@bp.get("/training.csv")
@reads
def training_csv():
    form = _report_form()
    if not form.validate():
        return training()
    names = ContentNames(library(), db.session)
    lines = training_report.csv_lines(db.session, _report_filters(form), clock.org_today(), names)
    return csv_download(lines, "rounds-training-report")

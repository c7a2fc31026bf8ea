"""Managers: their team's standing, each person's transcript, where the team is weak, targeted
refreshers, waivers, and trigger events. A manager sees only their own reports (direct and
indirect); an admin sees everyone."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from .. import assignments, clock, engine, insights, listing, retention, team, triggers, versions
from ..content import label
from ..content_names import ContentNames
from ..db import db
from ..models import TRIGGER_KINDS, Assignment, TriggerEvent, User
from ..words import ngettext
from .access import require_role
from .certificates import pdf_response, printable
from .common import curricula, library
from .units import reads, reads_then_writes, writes, writing

bp = Blueprint("manage", __name__, url_prefix="/manage")
bp.before_request(require_role("manager", "admin"))


def _today() -> date:
    return clock.org_today()


def _team() -> list[User]:
    return team.reports_of(db.session, current_user)


def _person_or_404(user_id: int) -> User:
    person = db.session.get(User, user_id)
    if person is None or not team.can_see(db.session, current_user, person):
        abort(404)  # not "forbidden": do not even confirm the person exists
    return person


def _module_choices(job_role: str | None = None) -> list[tuple[str, str]]:
    modules = sorted(library().modules.values(), key=lambda m: (m.kind, m.title))
    return [
        (m.id, f"{m.title} ({m.kind}, {m.minutes} min)") for m in modules if job_role is None or job_role in m.roles
    ]


# --- forms --------------------------------------------------------------------------------------


class AssignForm(FlaskForm):
    module_id = SelectField("Module", validators=[DataRequired("Choose a module.")])
    due_on = DateField("Due on", validators=[InputRequired("Give a due date (YYYY-MM-DD).")])

    def validate_due_on(self, field):
        if field.data and field.data < _today():
            raise ValidationError("The due date cannot be in the past.")


class BulkAssignForm(AssignForm):
    department = StringField("Or everyone in the department", validators=[Optional(), Length(max=120)])
    confirmed = HiddenField()


class WaiveForm(FlaskForm):
    reason = StringField(
        "Reason for the waiver", validators=[DataRequired("Say why this training is waived."), Length(max=500)]
    )


class RemediateForm(FlaskForm):
    objective = HiddenField(validators=[DataRequired()])
    # Its choices are what the people who missed the objective may take; the view says why
    # another module is refused (WTForms would only say "Not a valid choice").
    module_id = SelectField("Refresher", validators=[DataRequired("Choose a refresher.")], validate_choice=False)
    due_in_days = IntegerField(
        "Due in (days)",
        default=14,
        validators=[InputRequired("Give a number of days."), NumberRange(1, 365, "Between 1 and 365 days.")],
    )


class EventForm(FlaskForm):
    kind = SelectField("What happened", choices=[(k, k.replace("-", " ").capitalize()) for k in TRIGGER_KINDS])
    title = StringField("Title", validators=[DataRequired("Give the event a short title."), Length(max=200)])
    description = TextAreaField("Description (no patient details)", validators=[Optional(), Length(max=4000)])
    occurred_on = DateField("Date it happened", validators=[InputRequired("Give the date (YYYY-MM-DD).")])
    scope_kind = SelectField(
        "Who it concerns",
        choices=[("department", "A department"), ("job-role", "A job role"), ("people", "Named people")],
    )
    # No Optional() here: it would stop the scope checks below from running on empty values.
    department = SelectField("Department", validate_choice=False)
    job_role = SelectField("Job role", validate_choice=False)
    # Named by employee id or email, not chosen from a list: a whole organization's names
    # would be a page of half a megabyte.
    people = TextAreaField(
        "People (employee ids or emails, one a line)",
        validators=[Length(max=50_000, message="Too long: name at most a few thousand people.")],
    )
    module_ids = SelectMultipleField("Refreshers to assign", validators=[DataRequired("Choose at least one module.")])
    due_in_days = IntegerField(
        "Due in (days)",
        default=14,
        validators=[InputRequired("Give a number of days."), NumberRange(1, 365, "Between 1 and 365 days.")],
    )

    def validate_department(self, field):
        if self.scope_kind.data == "department" and field.data not in [v for v, _ in field.choices if v]:
            raise ValidationError("Choose the department.")

    def validate_job_role(self, field):
        if self.scope_kind.data == "job-role" and field.data not in [v for v, _ in field.choices if v]:
            raise ValidationError("Choose the job role.")

    def validate_people(self, field):
        self.people_ids = []
        if self.scope_kind.data != "people":
            return
        names = [n for n in re.split(r"[\s,;]+", field.data or "") if n]
        if not names:
            raise ValidationError("Name at least one person, by employee id or email.")
        found, missing = team.find_people(db.session, current_user, names)
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise ValidationError(f"Not found among the active people of your team: {shown}.")
        self.people_ids = [p.id for p in found]

    def validate_occurred_on(self, field):
        if field.data is None:  # not a date: the field says so
            return
        try:
            clock.check_not_future(field.data)
        except ValueError:
            raise ValidationError("The date it happened cannot be a day still to come.") from None


# --- the team -----------------------------------------------------------------------------------


def _filters() -> team.Filters:
    return team.Filters.from_args(request.args, shows=("active",))


def _team_page(filters: team.Filters, form: BulkAssignForm | None = None, status: int = 200, error: str | None = None):
    """The team, a page at a time: searched, filtered, with the bulk-assign form."""
    today = _today()
    page = team.people_page(
        db.session,
        current_user,
        filters,
        today,
        curricula().due_soon_days,
        team.page_number(request.args.get("page")),
    )
    if form is None:
        form = BulkAssignForm(formdata=None, due_on=today + timedelta(days=14))
    form.module_id.choices = _module_choices()
    return (
        render_template(
            "manage/index.html",
            page=page,
            filters=filters,
            choices=team.choices(db.session, current_user),
            today=today,
            standings=assignments.STANDINGS,
            form=form,
            error=error,
        ),
        status,
    )


@bp.get("/")
@reads
def index():
    return _team_page(_filters())


@bp.post("/assign")
@reads_then_writes
def bulk_assign():
    """Assign a module to the people chosen on the team page (their boxes ticked), or to
    everyone in a department: first a confirmation naming how many, then the assignments, each
    with its evidence record. Only people in the manager's team are assigned."""
    form = BulkAssignForm()
    form.module_id.choices = _module_choices()
    filters = team.Filters.from_args(request.form, shows=("active",))
    department = (form.department.data or "").strip()
    chosen = request.form.getlist("person")
    try:
        ids = [int(i) for i in chosen]
    except ValueError:
        abort(400)
    if not form.validate_on_submit():
        return _team_page(filters, form, 422)
    try:
        people = team.chosen_people(db.session, current_user, ids=ids, department=department)
    except team.SelectionError as exc:
        return _team_page(filters, form, 422, error=str(exc))
    module = library().modules[form.module_id.data]
    if form.confirmed.data != "yes":
        return render_template(
            "manage/bulk_confirm.html",
            form=form,
            people=people,
            ids=ids,
            department=department,
            module=module,
            filters=filters,
            departments=team.departments_of(people),
        )
    with writing(db.session):
        people = team.chosen_people(db.session, current_user, ids=ids, department=department)
        done = team.assign_many(
            db.session,
            people,
            module.id,
            form.due_on.data,
            by=current_user._get_current_object(),
            library=library(),
            detail=f"assigned by {current_user.name}" + (f" to {department}" if department else ""),
        )
    flash(
        ngettext(
            "Assigned %(title)s to %(num)d person",
            "Assigned %(title)s to %(num)d people",
            len(done.made),
            title=module.title,
        )
        + (f"; {done.already_open} already had it open" if done.already_open else "")
        + ".",
        "info",
    )
    return redirect(url_for("manage.index", **filters.args()), code=303)


@bp.get("/people/<int:user_id>")
@reads
def person(user_id: int):
    person = _person_or_404(user_id)
    return _person_page(person)


def _person_page(
    person: User,
    assign_form: AssignForm | None = None,
    status: int = 200,
    waive_failed: tuple[int, WaiveForm] | None = None,
):
    """The person's page; ``waive_failed``: the assignment whose waiver was refused, and its form
    (its errors shown beside that row's reason and in a summary above the table)."""
    lib = library()
    attempts = engine.attempts_of(db.session, person.id)
    mine = assignments.of_user(db.session, person.id)
    if assign_form is None:
        assign_form = AssignForm(formdata=None, due_on=_today() + timedelta(days=14))
    assign_form.module_id.choices = _module_choices()
    titles = versions.titles(db.session, lib, [a.module_id for a in attempts] + [a.module_id for a in mine])
    return (
        render_template(
            "manage/person.html",
            person=person,
            attempts=attempts,
            assignments=mine,
            titles=titles,
            offered=lib.modules.keys(),
            names=ContentNames(lib, db.session),
            assign_form=assign_form,
            waive_form=WaiveForm(formdata=None),
            waive_failed=waive_failed,
            standing=assignments.standing(db.session, person, _today(), curricula().due_soon_days),
            today=_today(),
            kept=retention.for_person(db.session, person, retention.Policy.from_config(current_app.config)),
            holds=retention.holds_on(db.session, person),
        ),
        status,
    )


def _certificate_or_404(person: User, module_id: str, number: int):
    attempt = engine.signed_attempt(db.session, person.id, module_id, number)
    if attempt is None:
        abort(404)
    return engine.certificate(db.session, attempt), engine.content_for(db.session, library(), attempt).module


@bp.get("/people/<int:user_id>/certificates/<module_id>/<int:number>")
@reads
def certificate(user_id: int, module_id: str, number: int):
    """A report's certificate, as they see it: what a manager shows an auditor or HR."""
    person = _person_or_404(user_id)
    cert, module = _certificate_or_404(person, module_id, number)
    return render_template(
        "manage/certificate.html", person=person, cert=cert, module=module, pdf=printable(cert, module)
    )


@bp.get("/people/<int:user_id>/certificates/<module_id>/<int:number>.pdf")
@reads
def certificate_download(user_id: int, module_id: str, number: int):
    person = _person_or_404(user_id)
    cert, module = _certificate_or_404(person, module_id, number)
    return pdf_response(cert, module, f"certificate-{module_id}-{number}-person-{person.id}.pdf")


@bp.post("/people/<int:user_id>/assign")
@writes
def assign(user_id: int):
    person = _person_or_404(user_id)
    form = AssignForm()
    form.module_id.choices = _module_choices()
    if not form.validate_on_submit() or form.due_on.data is None:
        return _person_page(person, form, 422)
    made = assignments.ensure(
        db.session,
        person,
        form.module_id.data,
        form.due_on.data,
        "manager-choice",
        library=library(),
        by=current_user,
        detail=f"assigned by {current_user.name}",
    )
    flash("Assigned." if made else "That module is already open for this person; nothing changed.", "info")
    return redirect(url_for("manage.person", user_id=person.id), code=303)


@bp.post("/assignments/<int:assignment_id>/waive")
@writes
def waive(assignment_id: int):
    a = db.session.get(Assignment, assignment_id)
    if a is None:
        abort(404)
    person = _person_or_404(a.user_id)
    form = WaiveForm()
    if not a.is_open:
        flash("That assignment is already closed.", "info")
    elif not form.validate_on_submit() or form.reason.data is None:
        form.reason.id = f"reason-{a.id}"  # the row's own field, which the summary links to
        return _person_page(person, status=422, waive_failed=(a.id, form))
    else:
        assignments.waive(db.session, a, current_user, form.reason.data, library())
        flash("Waived, with your reason recorded.", "info")
    return redirect(url_for("manage.person", user_id=person.id), code=303)


# --- results ------------------------------------------------------------------------------------


@bp.get("/modules/")
@reads
def modules():
    counts = insights.modules_with_results(db.session, team.scope_ids(current_user))
    lib = library()
    rows = [(m, counts.get(m.id, 0)) for m in sorted(lib.modules.values(), key=lambda m: m.title)]
    return render_template("manage/modules.html", rows=rows)


#: How many names a result lists before "and N more" (the team page finds the rest).
NAMES_SHOWN = 20


def _names(ids: set[int]) -> dict[int, User]:
    """The people these ids name, in one query."""
    if not ids:
        return {}
    return {p.id: p for p in db.session.scalars(select(User).where(User.id.in_(sorted(ids))))}


def _offer_choices(offers: list[assignments.Offer], missed: int) -> list[tuple[str, str]]:
    """The refresher list: each module with its kind and length, and, when not all who missed the
    objective may take it, how many may."""

    def words(o: assignments.Offer) -> str:
        m = o.module
        shown = f"{m.title} ({m.kind}, {m.minutes} min"
        if len(o.takers) < missed:
            shown += f"; for {len(o.takers)} of the {missed}"
        if not o.trains:
            shown += "; does not train this objective"
        return shown + ")"

    return [(o.module.id, words(o)) for o in offers]


def _offers(objective: str, people: list[User], module_id: str) -> list[assignments.Offer]:
    return assignments.refresher_offers(library(), curricula(), objective, people, missed_in=module_id)


def _module_page(module_id: str, remediate_forms: dict | None = None, status: int = 200):
    lib = library()
    module = lib.modules.get(module_id)
    if module is None:
        abort(404)
    found = insights.module_insights(db.session, lib, module_id, team.member_ids(db.session, current_user))
    missed = set().union(*(o.missed_by for o in found.objectives)) if found.objectives else set()
    members = _names(missed)
    forms = remediate_forms or {}
    for o in found.objectives:
        if o.objective not in forms:
            forms[o.objective] = RemediateForm(formdata=None, objective=o.objective)
        people = [members[i] for i in sorted(o.missed_by) if i in members]
        forms[o.objective].module_id.choices = _offer_choices(_offers(o.objective, people, module_id), len(people))
    return (
        render_template(
            "manage/module.html",
            module=module,
            found=found,
            members=members,
            shown=NAMES_SHOWN,
            forms=forms,
        ),
        status,
    )


@bp.get("/modules/<module_id>")
@reads
def module(module_id: str):
    return _module_page(module_id)


@bp.post("/modules/<module_id>/remediate")
@writes
def remediate(module_id: str):
    """One action: assign a refresher on an objective to the team members who missed it; only a
    module they may take (by job role and specialty), to those of them who may take it."""
    lib = library()
    if module_id not in lib.modules:
        abort(404)
    found = insights.module_insights(db.session, lib, module_id, team.member_ids(db.session, current_user))
    form = RemediateForm()
    by_objective = {o.objective: o for o in found.objectives}
    target = by_objective.get(form.objective.data or "")
    if target is None:
        return _module_page(module_id, None, 422)
    people = list(db.session.scalars(select(User).where(User.id.in_(sorted(target.missed_by))).order_by(User.id)))
    offers = {o.module.id: o for o in _offers(target.objective, people, module_id)}
    form.module_id.choices = [(m, m) for m in offers]
    chosen = lib.modules.get(form.module_id.data or "")
    if not form.validate_on_submit() or form.due_in_days.data is None:
        return _module_page(module_id, {target.objective: form}, 422)
    if chosen is None or chosen.id not in offers:
        refused = chosen.title if chosen is not None else "That module"
        form.module_id.errors = [
            f"{refused} is not for the people who missed this: their job role or specialty may not take it. "
            "Choose one from the list."
        ]
        return _module_page(module_id, {target.objective: form}, 422)
    due = _today() + timedelta(days=form.due_in_days.data)
    names = ContentNames(lib, db.session)
    done = team.assign_many(
        db.session,
        people,
        chosen.id,
        due,
        by=current_user._get_current_object(),
        library=lib,
        detail=names.missed(module_id, target.objective),
        curricula=curricula(),
        objective=target.objective,
    )
    made, skipped = len(done.made), done.already_open
    not_for = sorted(p.name for p in done.not_for)
    flash(
        ngettext(
            "Assigned %(title)s to %(num)d person who missed it",
            "Assigned %(title)s to %(num)d people who missed it",
            made,
            title=chosen.title,
        )
        + (f"; {skipped} already had it open" if skipped else "")
        + (f"; not assigned to {', '.join(not_for)}: it is not for their job role or specialty" if not_for else "")
        + ".",
        "info",
    )
    return redirect(url_for("manage.module", module_id=module_id), code=303)


# --- trigger events -----------------------------------------------------------------------------


@bp.get("/events/")
@reads
def events():
    """Trigger events, latest first, a page at a time; found by title, of one kind."""
    q = (request.args.get("q") or "").strip()[:200]
    kind = request.args.get("kind", "")
    kind = kind if kind in TRIGGER_KINDS else ""
    page = listing.events_page(
        db.session,
        _today(),
        viewer_id=current_user.id,
        members=None if current_user.role == "admin" else team.scope_ids(current_user),
        q=q,
        kind=kind,
        page=team.page_number(request.args.get("page")),
    )
    args = {k: v for k, v in (("q", q), ("kind", kind)) if v}
    return render_template("manage/events.html", page=page, q=q, kind=kind, kinds=TRIGGER_KINDS, args=args)


def _event_form(form: EventForm) -> EventForm:
    found = team.choices(db.session, current_user)  # one query, whatever the team's size
    form.department.choices = [("", "—")] + [(d, d) for d in found.departments]
    form.job_role.choices = [("", "—")] + [(r, label(r)) for r in found.job_roles]
    form.module_ids.choices = _module_choices()
    return form


@bp.route("/events/new", methods=["GET", "POST"])
@writes
def new_event():
    form = _event_form(EventForm(occurred_on=_today()) if request.method == "GET" else EventForm())
    if form.validate_on_submit():
        scope_value = {
            "department": form.department.data,
            "job-role": form.job_role.data,
            "people": form.people_ids,
        }[form.scope_kind.data]
        event = triggers.record(
            db.session,
            by=current_user,
            kind=form.kind.data,
            title=form.title.data,
            description=form.description.data,
            occurred_on=form.occurred_on.data,
            scope_kind=form.scope_kind.data,
            scope_value=scope_value,
            module_ids=form.module_ids.data,
            due_in_days=form.due_in_days.data,
            library=library(),
            today=_today(),
            within=None if current_user.role == "admin" else _team(),
        )
        made = ngettext("%(num)d assignment made", "%(num)d assignments made", len(event.assignments))
        flash(f"Recorded; {made}.", "info")
        return redirect(url_for("manage.event", event_id=event.id), code=303)
    return render_template("manage/event_new.html", form=form), (422 if form.errors else 200)


@bp.get("/events/<int:event_id>")
@reads
def event(event_id: int):
    e = db.session.get(TriggerEvent, event_id)
    if e is None:
        abort(404)
    visible = e.assignments
    if current_user.role != "admin":
        members = team.member_ids(db.session, current_user)
        visible = [a for a in e.assignments if a.user_id in members]
        if e.recorded_by_id != current_user.id and not visible:
            abort(404)
    titles = {m.id: m.title for m in library().modules.values()}
    return render_template(
        "manage/event.html",
        event=e,
        assignments=visible,
        progress=triggers.progress(e, _today()),
        today=_today(),
        modules=json.loads(e.module_ids),
        scope=json.loads(e.scope_value),
        titles=titles,
    )

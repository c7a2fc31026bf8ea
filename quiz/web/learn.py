"""Staff taking training: "My training", the lesson, the scenario, the acknowledgement.

Every step is a plain form POST that redirects (works without JavaScript); with htmx the same
POST answers with the changed blocks of the same page template. The attempt's ``step`` token in
every form makes back-button, replayed and double-tapped submissions harmless.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from .. import assignments, clock, engine
from ..content import Module
from ..db import db
from ..models import Attempt
from .certificates import pdf_response, printable
from .common import curricula, library, signed_in_with_admin_set_password
from .htmx import is_partial, page_or_blocks
from .module_page import PAGE, AnswerForm, Page, StepForm
from .units import done_writing, reads, reads_then_writes, writes, writing

log = logging.getLogger(__name__)
bp = Blueprint("learn", __name__, url_prefix="/learn")
PARTIAL_BLOCKS = ["step", "announcer"]


#: Said when a posted code names no choice of the question on screen (an older page).
OLDER_PAGE = "This question changed since your page was loaded, so that answer was not recorded. Choose again."


class AcknowledgeForm(StepForm):
    agree = BooleanField(validators=[DataRequired("Tick the box to confirm the statement.")])
    full_name = StringField(
        "Type your full name to sign",
        validators=[DataRequired("Type your full name to sign."), Length(max=200)],
    )

    def validate_full_name(self, field):
        if not engine.name_matches(current_user, field.data or ""):
            raise ValidationError(f"Type your full name as it is on your account: {current_user.name}.")


@bp.before_request
@login_required
def _signed_in():
    return None


@bp.get("/")
@reads
def index():
    """My training (see engine.training_list for what is listed, and in what order)."""
    listing = engine.training_list(db.session, library(), current_user)
    for module_id in listing.unreadable:  # the page still serves without it
        log.error("My training: module %s of user %s: its stored text no longer parses", module_id, current_user.id)
    return render_template("learn/index.html", rows=listing.current, earlier=listing.earlier, today=clock.org_today())


# --- the module page -----------------------------------------------------------------------


def _module_or_404(module_id: str) -> Module:
    module = engine.module_for(db.session, library(), current_user, module_id)
    if module is None:
        abort(404)
    return module


def _page(module_id: str, forms: dict | None = None) -> Page:
    module = _module_or_404(module_id)
    attempts = engine.attempts_of(db.session, current_user.id, module_id)
    status = engine.status_of(attempts)
    finished = [a for a in attempts if a.stage == "finished"]
    page = Page(module=module, view="overview", status=status, forms=forms or {})
    page.offered = module_id in library().modules
    page.last_finished = finished[-1] if finished else None
    signed = [a for a in finished if a.acknowledged_at is not None]
    page.certificate = signed[-1] if signed else None
    open_attempt = next((a for a in attempts if a.stage != "finished"), None)
    to_sign = engine.awaiting_acknowledgement(attempts)
    lib = library()
    if open_attempt is not None:
        content = engine.content_for(db.session, lib, open_attempt)
        _show_attempt(page, open_attempt, content, engine.last_answer(db.session, open_attempt))
        if page.view == "lesson":
            page.lesson = engine.lesson_read(db.session, lib, open_attempt, content, attempts)
    elif to_sign is not None:
        page.attempt = to_sign
        page.content = engine.content_for(db.session, lib, to_sign)
        page.module = page.content.module
        page.view = "acknowledge"
        page.result = engine.result(to_sign, page.content)
        page.state_statement = assignments.signed_statement_for(curricula(), current_user, module_id)
    elif page.last_finished is not None and not page.last_finished.passed:
        content = engine.content_for(db.session, lib, page.last_finished)
        page.result = engine.result(page.last_finished, content)
    _add_forms(page)
    return page


def _show_attempt(page: Page, attempt: Attempt, content: engine.AttemptContent, answer) -> None:
    """Point the page at an open attempt, with the feedback of the answer that led here."""
    page.attempt = attempt
    page.content = content
    page.module = content.module
    page.view = {"lesson": "lesson", "scenario": "question", "ending": "ending"}[attempt.stage]
    if answer is not None:
        scenario = content.scenario(answer.scenario_index)
        page.feedback = scenario.nodes[answer.node_id].choice(answer.choice_number)
        page.feedback_answer = answer
        if page.feedback is not None:
            page.announcement = f"You chose: {page.feedback.label}. Feedback follows."


def _add_forms(page: Page) -> None:
    """The forms the view shows, and only those: each one costs WTForms' set-up on every page."""
    step = page.attempt.step if page.attempt is not None else 0
    if page.view == "overview":
        page.forms.setdefault("start", StepForm(step=0, formdata=None))
    elif page.view in ("lesson", "ending"):
        page.forms.setdefault("step", StepForm(step=step, formdata=None))
    elif page.view == "question":
        answer_form = page.forms.get("answer") or AnswerForm(step=step, formdata=None)
        answer_form.choice.choices = page.choices()
        page.forms["answer"] = answer_form
    elif page.view == "acknowledge":
        page.forms.setdefault("acknowledge", AcknowledgeForm(step=step, formdata=None))
    if page.view == "question" and page.reopen_lesson:  # "Read the lesson again" is a step form
        page.forms.setdefault("step", StepForm(step=step, formdata=None))


def _show(module_id: str, forms: dict | None = None, status: int = 200):
    page = _page(module_id, forms)
    response = page_or_blocks(PAGE, PARTIAL_BLOCKS, page=page)
    response.status_code = status
    return response


def _after_post(module_id: str, anchor: str = "step"):
    """htmx: the new blocks, read after the change is committed (on SQLite, not under the write
    lock). Without JavaScript: Post/Redirect/Get back to the page."""
    if is_partial():
        done_writing()
        return _show(module_id)
    return redirect(url_for("learn.module", module_id=module_id, _anchor=anchor), code=303)


@bp.get("/<module_id>/")
@reads
def module(module_id: str):
    return _show(module_id)


def _open_attempt(module_id: str) -> tuple[Attempt, engine.AttemptContent] | None:
    attempt = engine.open_attempt(db.session, current_user.id, module_id)
    if attempt is None:
        return None
    return attempt, engine.content_for(db.session, library(), attempt)


@bp.post("/<module_id>/start")
@writes
def start(module_id: str):
    module = _module_or_404(module_id)
    form = StepForm()
    if form.validate_on_submit():
        attempts = engine.attempts_of(db.session, current_user.id, module_id)
        if engine.awaiting_acknowledgement(attempts) is None and module_id in library().modules:
            content = engine.content_to_start(library(), module, current_user)
            if content is None:
                abort(404)
            engine.start_attempt(db.session, current_user, content)
    return _after_post(module_id)


def _stepper(action):
    """A POST that moves an open attempt on by one step, if the form's step is still current."""

    @reads_then_writes
    def view(module_id: str):
        _module_or_404(module_id)
        form = StepForm()
        if form.validate_on_submit():
            taking = _open_attempt(module_id)
            if taking is not None:
                try:
                    with writing(db.session):
                        action(*taking, form.step.data)
                except StaleDataError:
                    pass  # another request moved the attempt on meanwhile: show where it is
        return _after_post(module_id)

    view.__name__ = action.__name__
    return view


def _next(attempt, content, step):
    engine.next_screen(db.session, attempt, content, step)


def _back(attempt, content, step):
    engine.previous_screen(db.session, attempt, step)


def _continue(attempt, content, step):
    engine.continue_after_ending(db.session, attempt, content, step)


def _skip(attempt, content, step):
    engine.skip_lesson(db.session, library(), attempt, content, step)


def _reopen(attempt, content, step):
    engine.reopen_lesson(db.session, attempt, content, step)


bp.add_url_rule("/<module_id>/next", "next", _stepper(_next), methods=["POST"])
bp.add_url_rule("/<module_id>/skip", "skip", _stepper(_skip), methods=["POST"])
bp.add_url_rule("/<module_id>/lesson", "reopen", _stepper(_reopen), methods=["POST"])
bp.add_url_rule("/<module_id>/back", "back", _stepper(_back), methods=["POST"])
bp.add_url_rule("/<module_id>/continue", "continue_", _stepper(_continue), methods=["POST"])


@bp.post("/<module_id>/answer")
@reads_then_writes
def answer(module_id: str):
    module = _module_or_404(module_id)
    taking = _open_attempt(module_id)
    if taking is None or taking[0].stage != "scenario":
        return _after_post(module_id)  # finished or moved on: show where the learner is
    attempt, content = taking
    form = AnswerForm()
    valid = form.validate_on_submit()
    if form.step.data is not None and form.step.data != attempt.step:
        return _after_post(module_id)  # a stale form: nothing to correct
    choice = engine.posted_choice(attempt, content, form.choice.data) if valid else None
    if choice is None or form.step.data is None:
        if valid:
            form.choice.errors = [*form.choice.errors, OLDER_PAGE]
        return _show(module_id, {"answer": form})
    plan = engine.plan_choice(db.session, attempt, content, form.step.data, choice.number)
    recorded = None
    if plan is not None:
        try:
            with writing(db.session):
                recorded = engine.record_choice(db.session, attempt, content, plan)
        except StaleDataError:  # a double tap or another tab answered first: keep theirs
            pass
    if recorded is None or not is_partial():
        return _after_post(module_id, anchor="feedback")
    # htmx: the new step is the attempt and answer in hand (kept as committed), so show them
    # without reading back what was just written: this is the busiest request in the app.
    page = Page(module=module, view="question", status=engine.ModuleStatus("in-progress", "In progress"))
    _show_attempt(page, attempt, content, recorded)
    _add_forms(page)
    return page_or_blocks(PAGE, PARTIAL_BLOCKS, page=page)


@bp.post("/<module_id>/acknowledge")
@writes
def acknowledge(module_id: str):
    _module_or_404(module_id)
    attempts = engine.attempts_of(db.session, current_user.id, module_id)
    attempt = engine.awaiting_acknowledgement(attempts)
    if attempt is None:
        return _after_post(module_id)
    attempt = engine.lock(db.session, attempt)
    if attempt.acknowledged_at is not None:  # signed a moment ago by a double tap
        return redirect(url_for("learn.certificate", module_id=module_id, number=attempt.number), code=303)
    form = AcknowledgeForm()
    if not form.validate_on_submit():
        return _show(module_id, {"acknowledge": form})
    content = engine.content_for(db.session, library(), attempt)
    statement = assignments.signed_statement_for(curricula(), current_user, module_id)
    engine.acknowledge(
        db.session,
        attempt,
        content,
        form.full_name.data or "",
        statement,
        signed_in_with_admin_set_password=signed_in_with_admin_set_password(),
    )
    return redirect(url_for("learn.certificate", module_id=module_id, number=attempt.number), code=303)


def _certificate_or_404(module_id: str, number: int) -> tuple[engine.Certificate, Module]:
    """The signed-in learner's own certificate of this attempt, and the module as taken."""
    attempt = engine.signed_attempt(db.session, current_user.id, module_id, number)
    if attempt is None:
        abort(404)
    content = engine.content_for(db.session, library(), attempt)
    cert = engine.certificate(db.session, attempt)
    if cert is None:  # signed_attempt finds signed attempts only
        abort(404)
    return cert, content.module


@bp.get("/<module_id>/certificate/<int:number>")
@reads
def certificate(module_id: str, number: int):
    cert, module = _certificate_or_404(module_id, number)
    upcoming = engine.next_up(engine.training_list(db.session, library(), current_user), module_id)
    return render_template(
        "learn/certificate.html",
        cert=cert,
        module=module,
        pdf=printable(cert, module),
        upcoming=upcoming,
    )


@bp.get("/<module_id>/certificate/<int:number>.pdf")
@reads
def certificate_download(module_id: str, number: int):
    """The same certificate as a PDF file to keep (not offered if the font cannot draw it)."""
    cert, module = _certificate_or_404(module_id, number)
    return pdf_response(cert, module, f"certificate-{module_id}-{number}.pdf")

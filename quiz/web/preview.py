"""Trainers playing a module as a learner: the real learner pages, with nothing recorded.

A trainer (or an admin) picks a job role, a specialty and a work state, and plays the module
on the learner's own page template (``learn/module.html``), under a banner that says it is a
preview. No attempt, answer or evidence is written: every view here, its POSTs too, runs in a
read-only unit of work. Where the preview is (the steps taken, and the secret that shuffles the
choices) lives in the signed session cookie, a few bytes a step (``quiz/preview.py``); "Back"
drops the last step, so every choice and its feedback can be seen. One preview at a time per
session: starting another replaces it.

The library previewed is ``_library()``: the live content. A draft plugs in by handing its
library instead (docs/authoring.md, "Play a module as a learner").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField
from wtforms.validators import InputRequired
from wtforms.widgets import HiddenInput

from .. import assignments, engine
from .. import preview as core
from ..content import JOB_ROLES, SPECIALTIES, Choice, Library, Module, label, role_label
from .access import require_role
from .common import curricula, library
from .htmx import is_partial, page_or_blocks
from .units import reads

bp = Blueprint("preview", __name__, url_prefix="/author/preview")
bp.before_request(require_role("trainer", "admin"))

PAGE = "learn/module.html"
PARTIAL_BLOCKS = ["step", "announcer"]
#: The session key of the preview under way (one per session).
KEY = "preview"
NOT_STARTED = engine.ModuleStatus("not-started", "Not started")
IN_PROGRESS = engine.ModuleStatus("in-progress", "In progress")
FAILED = engine.ModuleStatus("failed", "Not passed yet")
#: The learner's page's actions, and the preview's view that takes each instead.
ACTIONS = {
    "learn.start": "preview.start",
    "learn.next": "preview.next",
    "learn.skip": "preview.skip",
    "learn.reopen": "preview.reopen",
    "learn.back": "preview.back",
    "learn.continue_": "preview.continue_",
    "learn.answer": "preview.answer",
    "learn.acknowledge": "preview.acknowledge",
}


def _library() -> Library:
    return library()


def _states(lib: Library) -> list[str]:
    """The states content knows: those a module is limited to, and those the curricula name."""
    known = {state for module in lib.modules.values() for state in module.states}
    return sorted(known | set(curricula().states))


class SettingsForm(FlaskForm):
    """Who to play as (a GET form: it changes nothing)."""

    class Meta:
        csrf = False

    role = SelectField("Job role", choices=[(r, label(r)) for r in JOB_ROLES], validators=[InputRequired()])
    specialty = SelectField("Specialty", choices=[("", "General"), *((s, label(s)) for s in SPECIALTIES)], default="")
    state = SelectField("Work state", choices=[("", "Any state")], default="")


def settings_form(module: Module, lib: Library, formdata=None) -> SettingsForm:
    """The form, set to the module's first role and specialty unless the request says."""
    form = SettingsForm(formdata=formdata, role=module.roles[0], specialty=(module.specialties or ("",))[0])
    form.state.choices = [("", "Any state"), *((s, s) for s in _states(lib))]
    return form


@bp.app_context_processor
def _settings_form_for_pages() -> dict:
    """The form that starts a preview, for the module's Content page (templates/author/module.html)."""
    return {"preview_settings_form": lambda module: settings_form(module, _library())}


class StepForm(FlaskForm):
    step = IntegerField(widget=HiddenInput(), validators=[InputRequired()])


class AnswerForm(StepForm):
    choice = RadioField("Your choice", validators=[InputRequired("Choose one answer.")], validate_choice=False)


class AcknowledgeForm(StepForm):
    """Shown as learners see it, but disabled: nothing is signed in a preview."""

    agree = BooleanField()
    full_name = StringField("Type your full name to sign")


@dataclass
class Playing:
    """The preview's own part of the page: who it plays as, and its controls."""

    module: Module
    settings: core.Settings
    steps: int = 0
    started: bool = False

    @property
    def args(self) -> dict[str, Any]:
        s = self.settings
        return {"role": s.role, "specialty": s.specialty or "", "state": s.state or ""}

    def url(self, endpoint: str) -> str:
        """Where a form of the learner's page posts in the preview."""
        return url_for(ACTIONS[endpoint], module_id=self.module.id, **self.args)

    def action(self, name: str) -> str:
        return url_for(f"preview.{name}", module_id=self.module.id, **self.args)

    @property
    def who(self) -> str:
        s = self.settings
        words = role_label(s.role, s.specialty) if s.specialty else f"{label(s.role)} (general)"
        return f"{words}, {s.state}" if s.state else f"{words}, any state"

    @property
    def not_given(self) -> str:
        """Why learners with these settings are not given this module ("" when they are)."""
        module, s = self.module, self.settings
        if not module.is_for(s.role, s.specialty):
            roles = ", ".join(label(r) for r in module.roles)
            only = f" in {', '.join(label(x) for x in module.specialties)}" if module.specialties else ""
            return f"Learners with these settings are not given this module: it is for {roles}{only}."
        if not module.covers_state(s.state):
            return f"Learners with these settings are not given this module: it is for staff in {', '.join(module.states)}."
        return ""


@dataclass
class Page:
    """What ``learn/module.html`` reads, as the learner pages' own ``Page`` has it."""

    module: Module
    view: str  # overview | lesson | question | ending | acknowledge
    status: engine.ModuleStatus
    attempt: Any = None
    content: engine.AttemptContent | None = None
    forms: dict = field(default_factory=dict)
    feedback: Choice | None = None
    feedback_answer: Any = None
    result: engine.Result | None = None
    lesson: engine.LessonRead | None = None
    last_finished: Any = None
    certificate: Any = None
    offered: bool = True
    announcement: str = ""
    state_statement: assignments.SignedStatement | None = None

    @property
    def screen(self):
        return self.content.module.screens[self.attempt.screen]

    @property
    def node(self):
        return engine.current_node(self.attempt, self.content)

    @property
    def reopen_lesson(self) -> bool:
        return self.view == "question" and self.feedback is None and engine.can_reopen_lesson(*self.taking())

    @property
    def has_errors(self) -> bool:
        return any(form.errors for form in self.forms.values())

    def choices(self) -> list[tuple[str, str]]:
        return [(value, c.label) for value, c in engine.choice_values(*self.taking())]

    def taking(self) -> tuple[Any, engine.AttemptContent]:
        if self.attempt is None or self.content is None:
            raise LookupError(f"the {self.view} view shows no walk")
        return self.attempt, self.content


# --- the preview under way, in the session cookie -------------------------------------------


@dataclass
class Kept:
    key: str
    steps: list[str]


def _settings() -> core.Settings:
    role = request.args.get("role", "")
    specialty = request.args.get("specialty") or None
    state = request.args.get("state") or None
    if role not in JOB_ROLES or (specialty is not None and specialty not in SPECIALTIES):
        abort(400)
    if state is not None and (len(state) != 2 or not state.isalpha() or not state.isupper()):
        abort(400)
    return core.Settings(role, specialty, state)


def _kept(module_id: str, settings: core.Settings) -> Kept | None:
    """The preview under way, if it is of this module with these settings."""
    kept = session.get(KEY)
    if not isinstance(kept, dict) or kept.get("m") != module_id:
        return None
    if kept.get("p") != [settings.role, settings.specialty, settings.state]:
        return None
    steps = str(kept.get("a", ""))
    return Kept(str(kept.get("k", "")), steps.split(".") if steps else [])


def _keep(module_id: str, settings: core.Settings, kept: Kept) -> None:
    session[KEY] = {
        "m": module_id,
        "p": [settings.role, settings.specialty, settings.state],
        "k": kept.key,
        "a": ".".join(kept.steps[: core.MAX_STEPS]),
    }


def _module_and_content(module_id: str, settings: core.Settings) -> tuple[Module, engine.AttemptContent]:
    lib = _library()
    module = lib.modules.get(module_id)
    if module is None:
        abort(404)
    content = core.content_for(lib, module, settings)
    if content is None:
        abort(404)
    return module, content


def _page(module_id: str, settings: core.Settings, forms: dict | None = None) -> tuple[Page, Playing]:
    module, content = _module_and_content(module_id, settings)
    kept = _kept(module_id, settings)
    page = Page(module=module, view="overview", status=NOT_STARTED, forms=forms or {})
    playing = Playing(module, settings)
    step = 0
    if kept is not None:
        walk = core.replay(content, kept.key, kept.steps)
        attempt = walk.attempt
        playing.started, playing.steps, step = True, len(walk.steps), attempt.step
        page.attempt, page.content = attempt, content
        if walk.finished:
            page.result = engine.result(attempt, content)
            if attempt.passed:
                page.view = "acknowledge"
                page.state_statement = assignments.signed_statement_for(curricula(), core.learner(settings), module_id)
            else:
                page.status, page.last_finished = FAILED, attempt
        else:
            page.status = IN_PROGRESS
            page.view = {"lesson": "lesson", "scenario": "question", "ending": "ending"}[attempt.stage]
            if walk.answer is not None:
                scenario = content.scenario(walk.answer.scenario_index)
                page.feedback = scenario.nodes[walk.answer.node_id].choice(walk.answer.choice_number)
                page.feedback_answer = walk.answer
                if page.feedback is not None:
                    page.announcement = f"You chose: {page.feedback.label}. Feedback follows."
    forms = page.forms
    if page.view == "overview":
        forms.setdefault("start", StepForm(step=step, formdata=None))
    elif page.view == "question":
        answer_form = forms.get("answer") or AnswerForm(step=step, formdata=None)
        answer_form.choice.choices = page.choices()
        forms["answer"] = answer_form
    elif page.view == "acknowledge":
        forms.setdefault("acknowledge", AcknowledgeForm(step=step, formdata=None))
    forms.setdefault("step", StepForm(step=step, formdata=None))
    return page, playing


def _show(module_id: str, settings: core.Settings, forms: dict | None = None, status: int = 200):
    page, playing = _page(module_id, settings, forms)
    response = page_or_blocks(PAGE, PARTIAL_BLOCKS, page=page, preview=playing)
    response.status_code = status
    return response


def _after_post(module_id: str, settings: core.Settings, anchor: str = "step"):
    """As the learner pages: htmx gets the changed blocks, a plain form Post/Redirect/Get."""
    if is_partial():
        return _show(module_id, settings)
    args: dict[str, Any] = {"role": settings.role, "specialty": settings.specialty or "", "state": settings.state or ""}
    return redirect(url_for("preview.module", module_id=module_id, _anchor=anchor, **args), code=303)


# --- the views ------------------------------------------------------------------------------


@bp.get("/<module_id>/")
@reads
def module(module_id: str):
    """The preview's page; without a job role, the form that asks who to play as."""
    lib = _library()
    found = lib.modules.get(module_id)
    if found is None:
        abort(404)
    if "role" not in request.args:
        return render_template("author/preview_settings.html", module=found, form=settings_form(found, lib))
    form = settings_form(found, lib, request.args)
    if not form.validate():
        return render_template("author/preview_settings.html", module=found, form=form), 400
    return _show(module_id, _settings())


def _current(module_id: str, settings: core.Settings) -> tuple[Kept, core.Walk] | None:
    """The preview under way and where it is, if the posted step token is still current."""
    form = StepForm()
    kept = _kept(module_id, settings)
    if kept is None or not form.validate_on_submit():
        return None
    _, content = _module_and_content(module_id, settings)
    walk = core.replay(content, kept.key, kept.steps)
    if form.step.data != walk.attempt.step:
        return None  # a stale form (a double tap, the browser's back button): nothing changes
    return Kept(kept.key, walk.steps), walk


@bp.post("/<module_id>/start")
@reads  # its POSTs too: a preview writes nothing to the database
def start(module_id: str):
    """Start (or, after a failed walk, try again): from the first lesson screen, fresh choices."""
    settings = _settings()
    _module_and_content(module_id, settings)
    form = StepForm()
    if form.validate_on_submit():
        current = _current(module_id, settings)
        if _kept(module_id, settings) is None or (current is not None and current[1].finished):
            _keep(module_id, settings, Kept(core.new_key(), []))
    return _after_post(module_id, settings)


@bp.post("/<module_id>/restart")
@reads
def restart(module_id: str):
    """Start over from the first lesson screen, whatever the step."""
    settings = _settings()
    _module_and_content(module_id, settings)
    if StepForm().validate_on_submit():
        _keep(module_id, settings, Kept(core.new_key(), []))
    return _after_post(module_id, settings)


def _stepper(name: str, step: str | None):
    """A POST that takes one step (or, ``step`` None, drops the last one: "Back")."""

    @reads
    def view(module_id: str):
        settings = _settings()
        _module_and_content(module_id, settings)
        current = _current(module_id, settings)
        if current is not None:
            kept, _ = current
            if step is None:
                kept.steps = kept.steps[:-1]
            elif len(kept.steps) < core.MAX_STEPS:
                kept.steps.append(step)
            _keep(module_id, settings, kept)
        return _after_post(module_id, settings)

    view.__name__ = name
    return view


bp.add_url_rule("/<module_id>/next", "next", _stepper("next", core.NEXT), methods=["POST"])
bp.add_url_rule("/<module_id>/skip", "skip", _stepper("skip", core.SKIP), methods=["POST"])
bp.add_url_rule("/<module_id>/lesson", "reopen", _stepper("reopen", core.REOPEN), methods=["POST"])
bp.add_url_rule("/<module_id>/continue", "continue_", _stepper("continue_", core.CONTINUE), methods=["POST"])
bp.add_url_rule("/<module_id>/back", "back", _stepper("back", None), methods=["POST"])


@bp.post("/<module_id>/answer")
@reads
def answer(module_id: str):
    settings = _settings()
    _, content = _module_and_content(module_id, settings)
    kept = _kept(module_id, settings)
    if kept is None:
        return _after_post(module_id, settings)
    walk = core.replay(content, kept.key, kept.steps)
    if walk.attempt.stage != "scenario":
        return _after_post(module_id, settings)
    form = AnswerForm()
    valid = form.validate_on_submit()
    if form.step.data is not None and form.step.data != walk.attempt.step:
        return _after_post(module_id, settings)  # a stale form: nothing to correct
    choice = engine.posted_choice(walk.attempt, content, form.choice.data) if valid else None
    if choice is None:
        if valid:
            form.choice.errors = [
                *form.choice.errors,
                "This question changed since your page was loaded. Choose again.",
            ]
        return _show(module_id, settings, {"answer": form})
    if len(walk.steps) < core.MAX_STEPS:
        _keep(module_id, settings, Kept(kept.key, [*walk.steps, str(choice.number)]))
    return _after_post(module_id, settings, anchor="feedback")


@bp.post("/<module_id>/acknowledge")
@reads
def acknowledge(module_id: str):
    """Nothing is signed in a preview (the form is shown disabled): back to the page."""
    settings = _settings()
    _module_and_content(module_id, settings)
    return _after_post(module_id, settings)

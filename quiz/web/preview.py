"""Trainers playing a module as a learner: the real learner pages, with nothing recorded.

A trainer (or an admin) picks a job role, a specialty and a work state, and plays the module
on the learner's own page template (``learn/module.html``), under a banner that says it is a
preview. No attempt, answer or evidence is written: every view here, its POSTs too, runs in a
read-only unit of work. Where the preview is (the steps taken, and the secret that shuffles the
choices) lives in the signed session cookie, a few bytes a step (``quiz/preview.py``); "Back"
drops the last step, so every choice and its feedback can be seen. One preview at a time per
session: starting another replaces it.

What is played is the live content, or, with ``?draft=<id>``, the content with an open draft
(``quiz/drafts.py``) in place of its live file: ``drafts.draft_library``, checked once per
draft text and live library in each process (``_draft_library``), since a walk asks for it
on every step. A draft with errors is not played: its page lists them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import InputRequired

from .. import assignments, drafts, engine
from .. import preview as core
from ..content import JOB_ROLES, SPECIALTIES, ContentError, Library, Module, label, role_label
from ..content.parse import version_of
from ..db import db
from ..models import ContentDraft
from .access import require_role
from .common import curricula, library
from .htmx import is_htmx, is_partial, page_or_blocks
from .module_page import AnswerForm, Page, StepForm
from .units import reads

bp = Blueprint("preview", __name__, url_prefix="/author/preview")
#: Trainers and admins, and compliance officers, who approve drafts (``drafts.APPROVERS``).
bp.before_request(require_role("trainer", "admin", "compliance"))

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


def _draft() -> ContentDraft | None:
    """The open draft the request plays (``?draft=<id>``), or None: the live content."""
    if "preview_draft" not in g:
        raw = request.args.get("draft", "")
        if not raw:
            g.preview_draft = None
        elif not raw.isdigit():
            abort(400)
        else:
            draft = drafts.get(db.session, int(raw))
            if draft is None or draft.status not in drafts.OPEN:
                abort(404)
            g.preview_draft = draft
    return g.preview_draft


#: (draft id, version of its text) -> (the live library it was checked beside, the result)
_checked: dict[tuple[int, str], tuple[Library, tuple[Library, list[ContentError]]]] = {}
_checked_lock = threading.Lock()


def _draft_library(draft: ContentDraft) -> tuple[Library, list[ContentError]]:
    """``drafts.draft_library``, again only when the draft's text or the live content changed
    (a new live library: ContentStore builds one on every change on disk)."""
    live, key = library(), (draft.id, version_of(draft.text))
    with _checked_lock:
        found = _checked.get(key)
    if found is not None and found[0] is live:
        return found[1]
    result = drafts.draft_library(
        Path(current_app.config["CONTENT_DIR"]), draft, time_limit=current_app.config["TRY_TIME_LIMIT_SECONDS"]
    )
    with _checked_lock:
        if len(_checked) >= 16:
            _checked.clear()
        _checked[key] = (live, result)
    return result


def _library() -> Library:
    """What is played: the live content, or the content with the draft in its file's place."""
    draft = _draft()
    if draft is None:
        return library()
    lib, errors = _draft_library(draft)
    if errors:
        abort(_draft_has_errors(draft, errors))
    return lib


def _draft_has_errors(draft: ContentDraft, errors: list[ContentError]):
    """The page that says the draft cannot be played yet (htmx: reload, to show it whole)."""
    response = current_app.make_response(
        (render_template("author/preview_draft_errors.html", draft=draft, errors=errors), 409)
    )
    if is_htmx():
        response.headers["HX-Refresh"] = "true"
    return response


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
    return {
        "preview_settings_form": lambda module: settings_form(module, library()),
        "preview_modules_of": _modules_of,
    }


def _modules_of(draft: ContentDraft) -> list[tuple[str, str]]:
    """For a draft's page: (id, title) of each module to play it in: the draft's own module, or
    the live modules that use the draft's check."""
    if draft.kind == "module":
        live = library().modules.get(draft.content_id)
        return [(draft.content_id, live.title if live else draft.content_id)]
    return [(m.id, m.title) for m in library().modules_using(draft.content_id)]


class AcknowledgeForm(StepForm):
    """Shown as learners see it, but disabled: nothing is signed in a preview."""

    agree = BooleanField()
    full_name = StringField("Type your full name to sign")


@dataclass
class Playing:
    """The preview's own part of the page: who it plays as, and its controls."""

    module: Module
    settings: core.Settings
    draft: ContentDraft | None = None
    steps: int = 0
    started: bool = False

    @property
    def args(self) -> dict[str, Any]:
        return _query(self.settings)

    @property
    def leave_url(self) -> str:
        if self.draft is not None:
            return url_for("drafts.edit", draft_id=self.draft.id)
        if current_user.role in drafts.AUTHORS:
            return url_for("author.module", module_id=self.module.id)
        return url_for("drafts.index")

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


# --- the preview under way, in the session cookie -------------------------------------------


@dataclass
class Kept:
    key: str
    steps: list[str]


def _query(settings: core.Settings) -> dict[str, Any]:
    """The preview's query: who it plays as, and the draft played, if any."""
    query: dict[str, Any] = {
        "role": settings.role,
        "specialty": settings.specialty or "",
        "state": settings.state or "",
    }
    draft = _draft()
    if draft is not None:
        query["draft"] = draft.id
    return query


def _played(settings: core.Settings) -> list:
    """What the session keeps the preview under: who, and which draft (None: live content)."""
    draft = _draft()
    return [settings.role, settings.specialty, settings.state, draft.id if draft is not None else None]


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
    if kept.get("p") != _played(settings):
        return None
    steps = str(kept.get("a", ""))
    return Kept(str(kept.get("k", "")), steps.split(".") if steps else [])


def _keep(module_id: str, settings: core.Settings, kept: Kept) -> None:
    session[KEY] = {
        "m": module_id,
        "p": _played(settings),
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
    playing = Playing(module, settings, _draft())
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
    return redirect(url_for("preview.module", module_id=module_id, _anchor=anchor, **_query(settings)), code=303)


# --- the views ------------------------------------------------------------------------------


@bp.get("/<module_id>/")
@reads
def module(module_id: str):
    """The preview's page; without a job role, the form that asks who to play as."""
    lib = _library()
    found = lib.modules.get(module_id)
    if found is None:
        abort(404)
    draft = _draft()
    if "role" not in request.args:
        form = settings_form(found, lib)
        return render_template("author/preview_settings.html", module=found, form=form, draft=draft)
    form = settings_form(found, lib, request.args)
    if not form.validate():
        return render_template("author/preview_settings.html", module=found, form=form, draft=draft), 400
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

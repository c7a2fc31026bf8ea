"""Drafts: trainers edit content in the browser, a second person approves, a trainer publishes.

The pages over ``quiz/drafts.py``. Trainers and admins write, check, submit, publish and
discard; a compliance officer (or another trainer) approves. Checking a draft is the Try page's
bounded check (``content/bounds.py``, a child process killed at TRY_TIME_LIMIT_SECONDS, the
same per-account rate limit), and the page keeps the text and lists every error by line.
Learners never reach these pages, and no learner page reads a draft.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError
from wtforms.widgets import HiddenInput

from .. import clock, drafts
from ..content import Module, Trial, branch_map, label
from ..db import db
from ..models import ContentDraft
from .access import require_role
from .common import curricula, library
from .limits import limiter
from .units import reads, reads_then_writes, writing

bp = Blueprint("drafts", __name__, url_prefix="/author/drafts")
bp.before_request(require_role(*drafts.APPROVERS))

#: As the Try page's: far more than any lesson or check needs, under Flask's form field limit.
MAX_DRAFT_BYTES = 400 * 1024
ID_RULE = Regexp(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", message="Use lowercase letters, digits and hyphens, like front-desk-callers."
)


def _mode() -> str:
    return current_app.config["CONTENT_APPROVAL"]


def _root() -> Path:
    return Path(current_app.config["CONTENT_DIR"])


def _authors_only() -> None:
    if current_user.role not in drafts.AUTHORS:
        abort(403)


def _draft_or_404(draft_id: int, *, fresh: bool = False, lock: bool = False) -> ContentDraft:
    """The draft; ``fresh``: read again (after a change); ``lock``: in a writing block, the row
    as it is now, locked on PostgreSQL until the block commits."""
    if fresh or lock:
        db.session.expire_all()
    draft = db.session.get(ContentDraft, draft_id, with_for_update=lock)
    if draft is None:
        abort(404)
    return draft


def _check_limit() -> str:
    return current_app.config["TRY_RATE_LIMIT"]


def _per_account() -> str:
    return f"account:{current_user.get_id()}"


def _trial(draft: ContentDraft) -> Trial:
    return drafts.trial(_root(), draft, time_limit=current_app.config["TRY_TIME_LIMIT_SECONDS"])


# --- forms --------------------------------------------------------------------------------------


class TextForm(FlaskForm):
    text = TextAreaField("The file's text (Markdown)")
    lock = IntegerField(widget=HiddenInput())
    save = SubmitField("Save the draft")
    check = SubmitField("Save and check")

    def validate_text(self, field):
        if not (field.data or "").strip():
            raise ValidationError("The draft is empty: write the file's text.")
        if len(field.data.encode("utf-8")) > MAX_DRAFT_BYTES:
            raise ValidationError("This text is longer than 400 KB: no lesson or check is that long.")


class ActionForm(FlaskForm):
    lock = IntegerField(widget=HiddenInput())


class FromLiveForm(FlaskForm):
    source = SelectField("A module or check that learners have now", choices=[])


class FromTemplateForm(FlaskForm):
    kind = SelectField("What it is", choices=[("module", "A module (a lesson)"), ("scenario", "A check (a scenario)")])
    content_id = StringField("Its id", validators=[DataRequired("Give it an id."), Length(max=80), ID_RULE])
    title = StringField("Its title", validators=[DataRequired("Give it a title."), Length(max=120)])
    scenario = SelectField("For a module: the check it uses (you can change it later)", choices=[])
    objective = StringField(
        "For a check: the objective its decision tests", default="replace-me", validators=[Length(max=80), ID_RULE]
    )


def _live_choices() -> list[tuple[str, str]]:
    lib = library()
    found = [(f"module:{m.id}", f"Module: {m.title} ({m.id})") for m in lib.modules.values()]
    for s in lib.all_scenarios():
        variant = f", {label(s.specialty)} version" if s.specialty else ""
        found.append((f"scenario:{s.id}:{s.specialty or ''}", f"Check: {s.title} ({s.id}{variant})"))
    return sorted(found, key=lambda c: (c[0].split(":")[0], c[1].lower()))


def _check_choices() -> list[tuple[str, str]]:
    return sorted(
        ((s.id, f"{s.title} ({s.id})") for s in library().all_scenarios() if not s.specialty),
        key=lambda c: c[1].lower(),
    )


# --- pages --------------------------------------------------------------------------------------


@bp.get("/")
@reads
def index():
    shown = request.args.get("show") == "all"
    return render_template(
        "drafts/index.html",
        drafts=drafts.listing(db.session, open_only=not shown),
        shown_all=shown,
        labels=drafts.STATUS_LABELS,
        mode=_mode(),
    )


@bp.route("/new", methods=["GET", "POST"])
@reads_then_writes
def new():
    _authors_only()
    live, blank = FromLiveForm(prefix="live"), FromTemplateForm(prefix="blank")
    live.source.choices = _live_choices()
    blank.scenario.choices = _check_choices()
    status = 200
    if request.method == "POST":
        which = live if "live-source" in request.form else blank
        if which.validate_on_submit():
            try:
                with writing(db.session):
                    draft = _start(which)
            except drafts.DraftRefused as exc:
                flash(str(exc), "error")
                status = 422
            else:
                return redirect(url_for("drafts.edit", draft_id=draft.id))
        else:
            status = 422
    return render_template("drafts/new.html", live=live, blank=blank), status


def _start(form: FlaskForm) -> ContentDraft:
    lib = library()
    if isinstance(form, FromLiveForm):
        kind, _, rest = form.source.data.partition(":")
        content_id, _, specialty = rest.partition(":")
        item = (
            lib.modules.get(content_id)
            if kind == "module"
            else lib.scenarios.get(content_id, {}).get(specialty or None)
        )
        if item is None:
            raise drafts.DraftRefused("That module or check is no longer served.")
        return drafts.start_from_live(db.session, _root(), item, current_user)
    assert isinstance(form, FromTemplateForm)
    content_id, title = form.content_id.data, (form.title.data or "").replace('"', "'")
    if form.kind.data == "module":
        scenario = lib.scenario_for(form.scenario.data or "", None)
        if scenario is None:
            raise drafts.DraftRefused("Choose the check the module uses.")
        text = drafts.module_template(content_id, title, scenario, lib)
    else:
        text = drafts.scenario_template(content_id, title, form.objective.data or "replace-me")
    return drafts.start_from_template(
        db.session, _root(), kind=form.kind.data, content_id=content_id, text=text, by=current_user
    )


def _page(draft: ContentDraft, form: TextForm | None = None, trial: Trial | None = None, status: int = 200):
    form = form or TextForm(formdata=None, text=draft.text, lock=draft.lock)
    mode = _mode()
    return render_template(
        "drafts/edit.html",
        draft=draft,
        form=form,
        action=ActionForm(formdata=None, lock=draft.lock),
        trial=trial,
        maps=branch_map.maps_of_trial(trial) if trial is not None and not trial.errors else {},
        mode=mode,
        labels=drafts.STATUS_LABELS,
        editable=current_user.role in drafts.AUTHORS and draft.status in drafts.OPEN,
        can_approve=drafts.can_approve(draft, current_user, mode),
        can_publish=drafts.can_publish(draft, current_user, mode),
        authors=drafts.authors(draft),
    ), status


@bp.route("/<int:draft_id>", methods=["GET", "POST"])
@limiter.limit(_check_limit, methods=["POST"], key_func=_per_account)
@reads_then_writes
def edit(draft_id: int):
    """The draft's text in a plain textarea. Save keeps it; Save and check keeps it and checks
    it as the live file it would replace, with the rest of the content: every error by line."""
    draft = _draft_or_404(draft_id)
    if request.method == "GET":
        return _page(draft)
    _authors_only()
    form = TextForm()
    if not form.validate_on_submit():
        return _page(draft, form, status=422)
    try:
        with writing(db.session):
            draft = _draft_or_404(draft_id, lock=True)
            changed = drafts.save(db.session, draft, form.text.data or "", form.lock.data or 0, current_user)
    except drafts.DraftRefused as exc:
        flash(str(exc), "error")
        return _page(_draft_or_404(draft_id), form, status=409)
    trial = None
    if form.check.data:
        trial = _trial(draft)  # no write lock held while the child process reads it
        with writing(db.session):
            drafts.checked(db.session, _draft_or_404(draft_id, lock=True), trial, current_user)
    elif changed:
        flash("Draft saved.", "success")
    draft = _draft_or_404(draft_id, fresh=True)
    return _page(draft, TextForm(formdata=None, text=draft.text, lock=draft.lock), trial)


@bp.post("/<int:draft_id>/check")
@limiter.limit(_check_limit, key_func=_per_account)
@reads_then_writes
def check(draft_id: int):
    """Check the draft as it is saved, without changing it: for whoever approves it."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    draft = _draft_or_404(draft_id)
    if draft.status not in drafts.OPEN:
        abort(409)
    trial = _trial(draft)
    with writing(db.session):
        drafts.checked(db.session, _draft_or_404(draft_id, lock=True), trial, current_user)
    return _page(_draft_or_404(draft_id, fresh=True), trial=trial)


def _act(draft_id: int, do, done: str):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with writing(db.session):
            do(_draft_or_404(draft_id, lock=True), form.lock.data or 0)
    except drafts.DraftRefused as exc:
        flash(str(exc), "error")
    else:
        flash(done, "success")
    return redirect(url_for("drafts.edit", draft_id=draft_id))


@bp.post("/<int:draft_id>/submit")
@limiter.limit(_check_limit, key_func=_per_account)
@reads_then_writes
def submit(draft_id: int):
    _authors_only()
    trial = _trial(_draft_or_404(draft_id))
    return _act(
        draft_id,
        lambda d, lock: drafts.submit(db.session, d, trial, lock, current_user),
        "Sent for approval: another trainer or a compliance officer approves it next.",
    )


@bp.post("/<int:draft_id>/approve")
@reads_then_writes
def approve(draft_id: int):
    return _act(
        draft_id,
        lambda d, lock: drafts.approve(db.session, d, lock, current_user, _mode()),
        "Approved: a trainer can publish it now.",
    )


@bp.post("/<int:draft_id>/discard")
@reads_then_writes
def discard(draft_id: int):
    _authors_only()
    return _act(draft_id, lambda d, lock: drafts.discard(db.session, d, lock, current_user), "Draft discarded.")


@bp.route("/<int:draft_id>/publish", methods=["GET", "POST"])
@limiter.limit(_check_limit, key_func=_per_account)  # its GET checks the draft too
@reads_then_writes
def publish(draft_id: int):
    """First what publishing would do (errors, a file changed meanwhile, who would be assigned
    retraining), then, confirmed, the publish itself."""
    _authors_only()
    draft = _draft_or_404(draft_id)
    form = ActionForm(formdata=None, lock=draft.lock) if request.method == "GET" else ActionForm()
    trial = _trial(draft)
    if request.method == "POST" and form.validate_on_submit():
        try:
            with writing(db.session):
                fresh = _draft_or_404(draft_id, lock=True)
                version = drafts.publish(db.session, _root(), fresh, trial, form.lock.data or 0, current_user, _mode())
        except drafts.DraftRefused as exc:
            flash(str(exc), "error")
        else:
            current_app.extensions["content_store"].refresh(force=True)
            flash(f"Published: {draft.path} is live now (version {version[:12]}).", "success")
            return redirect(url_for("drafts.edit", draft_id=draft_id))
        draft = _draft_or_404(draft_id, fresh=True)
    live_changed = drafts.live_version(_root(), draft.path) != draft.base_version
    retraining = drafts.retraining_preview(db.session, curricula(), library(), trial, clock.org_today())
    return render_template(
        "drafts/publish.html",
        draft=draft,
        form=ActionForm(formdata=None, lock=draft.lock),
        trial=trial,
        live_changed=live_changed,
        changed_by=drafts.changed_since(db.session, draft) if live_changed else None,
        retraining=retraining,
        allowed=drafts.can_publish(draft, current_user, _mode()),
        approved=drafts.approval(draft),
        mode=_mode(),
        is_module=isinstance(trial.content, Module),
    ), (200 if request.method == "GET" else 409)

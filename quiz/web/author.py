"""Trainers: the content library as the server has it, and every module laid bare.

Content is written as Markdown files (docs/authoring.md) and checked by ``flask content check``;
this is the same check in the browser, for trainers who do not run the command line: what the
server failed to load and why (file and line), where it falls short of the house standards,
and each module as its learners get it, with
what learners never see: every branch of every check, its points, and where it leads.
Read-only: content changes only through its files. "Try a file" checks a file before it is
saved: its errors by line, what it would break elsewhere, and the module as it would be, without
writing anything.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from markupsafe import Markup
from wtforms import TextAreaField
from wtforms.validators import ValidationError

from .. import answer_stats
from ..config import PROJECT_ROOT
from ..content import Module, branch_map, policies, render_document, try_file, walks
from ..content.check import of_library
from ..content.curricula import load_curricula
from ..db import db
from .access import require_role
from .common import library
from .limits import limiter
from .units import reads

#: A lesson or a check is a few kilobytes; this is far more than any needs, and under what Flask
#: accepts in a form field (MAX_FORM_MEMORY_SIZE, 500,000 bytes), so pasted text meets it too.
MAX_TRY_BYTES = 400 * 1024

bp = Blueprint("author", __name__, url_prefix="/author")
bp.before_request(require_role("trainer", "admin"))

#: The authoring guide, in the repository the server runs from (an install from a checkout, as
#: `make run` and docs/deploy.md make it, keeps it there, beside templates/ and static/).
GUIDE = PROJECT_ROOT / "docs" / "authoring.md"


@bp.app_template_filter("branch_svg")
def branch_svg(found: branch_map.BranchMap) -> Markup:
    """A check's map drawn as inline SVG (``branch_map.to_svg`` escapes every label)."""
    return Markup(branch_map.to_svg(found))  # noqa: S704 - built from escaped text only


@bp.app_context_processor
def _branch_map_helpers() -> dict:
    return {"bmap_ending_summary": branch_map.ending_summary}


@bp.get("/")
@reads
def index():
    lib = library()
    _, curricula_errors = load_curricula(Path(current_app.config["CONTENT_DIR"]), lib)
    checked = of_library(lib, curricula_errors)
    modules = sorted(lib.modules.values(), key=lambda m: m.title.lower())
    return render_template(
        "author/index.html",
        errors=checked.errors,
        standards=checked.standards,
        modules=modules,
        summary=checked.summary,
        policy_count=len(policies.statements(lib)),
    )


@lru_cache(maxsize=2)
def _guide_html(path: Path, mtime_ns: int) -> str:
    return render_document(path.read_text(encoding="utf-8"))


@bp.get("/guide")
@reads
def guide():
    """The authoring guide (docs/authoring.md) as a page, rendered and cleaned as lessons are:
    for trainers who never open the repository. Read again when the file changes."""
    try:
        html = _guide_html(GUIDE, GUIDE.stat().st_mtime_ns)
    except OSError:
        abort(404)
    return render_template("author/guide.html", guide=html)


@bp.get("/policies")
@reads
def policy_statements():
    """Every "our policy" sentence, by file: what the privacy officer confirms before go-live."""
    found = policies.statements(library())
    by_file: dict[str, list] = {}
    for statement in found:
        by_file.setdefault(statement.path, []).append(statement)
    return render_template("author/policies.html", by_file=by_file, count=len(found))


@bp.get("/modules/<module_id>")
@reads
def module(module_id: str):
    lib = library()
    module = lib.modules.get(module_id)
    if module is None:
        abort(404)
    checks = lib.checks_of(module)
    return render_template(
        "author/module.html",
        module=module,
        checks=checks,
        guessing=walks.guessing(module, checks),
        maps=branch_map.maps_of(module, checks),
        answers=answer_stats.module_answer_stats(db.session, lib, module_id),
        small=answer_stats.SMALL,
    )


class TryForm(FlaskForm):
    """One content file, chosen or pasted, to check before it is saved."""

    file = FileField("A module or scenario file (.md)")
    text = TextAreaField("Or paste the file's text")

    def validate_file(self, field):
        upload = field.data
        self.name, self.source = "pasted text", None
        if upload is None or not getattr(upload, "filename", None):
            return
        if (self.text.data or "").strip():
            raise ValidationError("Choose a file or paste its text, not both.")
        if not upload.filename.lower().endswith(".md"):
            raise ValidationError("Choose a Markdown file: its name ends in .md.")
        data = upload.stream.read(MAX_TRY_BYTES + 1)
        if len(data) > MAX_TRY_BYTES:
            raise ValidationError("This file is larger than 400 KB: no lesson or check is that long.")
        try:
            self.source = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ValidationError(f"This file is not UTF-8 text (line {line}): save it as UTF-8.") from None
        self.name = Path(upload.filename).name

    def validate_text(self, field):
        if self.source is None and not (field.data or "").strip() and not self.file.errors:
            raise ValidationError("Choose a file, or paste its text.")
        if self.source is None and field.data and len(field.data.encode("utf-8")) > MAX_TRY_BYTES:
            raise ValidationError("This text is longer than 400 KB: no lesson or check is that long.")


def _try_limit() -> str:
    return current_app.config["TRY_RATE_LIMIT"]


def _per_account() -> str:
    """Tries are counted per account (only signed-in trainers get here): trainers behind one
    hospital address do not share a count."""
    return f"account:{current_user.get_id()}"


@bp.route("/try", methods=["GET", "POST"])
@limiter.limit(_try_limit, methods=["POST"], key_func=_per_account)
@reads  # its POST too: it writes nothing, and no write lock is held while the file is checked
def try_a_file():
    """The text comes from a form, so reading it is bounded twice: ``content/bounds.py`` refuses
    Markdown known to take the renderer too long, and the file is parsed in a process of its own,
    killed after TRY_TIME_LIMIT_SECONDS (``content/timelimit.py``); POSTs are rate limited."""
    form = TryForm()
    trial = None
    if form.validate_on_submit():
        # A browser sends a textarea's line ends as CRLF; the file on disk would have LF.
        text = form.source if form.source is not None else form.text.data.replace("\r\n", "\n")
        trial = try_file(
            Path(current_app.config["CONTENT_DIR"]),
            form.name,
            text,
            time_limit=current_app.config["TRY_TIME_LIMIT_SECONDS"],
        )
    status = 400 if form.is_submitted() and form.errors else 200
    checks, module = [], None
    if trial is not None and trial.content is not None:
        if isinstance(trial.content, Module):
            module = trial.content
            checks = trial.library.checks_of(module)
        else:  # a scenario: its check, and the first module that uses it (for its objectives)
            checks = [trial.library.versions_of(trial.content.id)]
            module = next(iter(trial.library.modules_using(trial.content.id)), None)
    whole = module is not None and checks and len(checks) == len(module.scenario_ids)
    guessing = walks.guessing(module, checks) if whole else []
    # From the walks the bounded child worked out (timelimit.py): the map walks nothing itself.
    maps = branch_map.maps_of_trial(trial) if trial is not None and checks else {}
    return render_template(
        "author/try.html", form=form, trial=trial, module=module, checks=checks, guessing=guessing, maps=maps
    ), status

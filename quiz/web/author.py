"""Trainers: the content library as the server has it, and every module laid bare.

Content is written as Markdown files (docs/authoring.md) and checked by ``flask content check``;
this is the same check in the browser, for trainers who do not run the command line: what the
server failed to load and why (file and line), and each module as its learners get it, with
what learners never see: every branch of every check, its points, and where it leads.
Read-only: content changes only through its files.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from ..content import summary_line
from . import library
from .access import require_role

bp = Blueprint("author", __name__, url_prefix="/author")
bp.before_request(require_role("trainer", "admin"))


@bp.get("/")
def index():
    lib = library()
    modules = sorted(lib.modules.values(), key=lambda m: m.title.lower())
    return render_template("author/index.html", errors=lib.errors, modules=modules, summary=summary_line(lib))


@bp.get("/modules/<module_id>")
def module(module_id: str):
    lib = library()
    module = lib.modules.get(module_id)
    if module is None:
        abort(404)
    checks = [lib.versions_of(sid) for sid in module.scenario_ids]
    return render_template("author/module.html", module=module, checks=checks)

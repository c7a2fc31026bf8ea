"""The admin area: roster (HR import, PHI clearance) and the email outbox.

One blueprint; each page group lives in its own module here and registers on ``bp``.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from ..access import require_role
from ..units import reads

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(require_role("admin"))


@bp.get("/")
@reads
def index():
    return render_template("admin/index.html")


from . import pages  # noqa: E402,F401  (registers the page groups on bp)

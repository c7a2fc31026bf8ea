"""``/healthz``: whether this server can serve, for a load balancer, systemd or a monitor.

200 when the database answers a trivial query and the content library this process serves has
at least one module; 503 otherwise. A small JSON body says which part failed, and nothing more
(no error text: the page is open to anyone who can reach the server). No sign-in, no rate
limit, no session cookie, and nothing written (docs/deploy.md, "Health check").
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..db import db
from .common import library
from .limits import limiter
from .units import reads

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
@reads
def healthz():
    try:
        db.session.execute(text("SELECT 1")).scalar_one()
        database = "ok"
    except SQLAlchemyError as exc:
        current_app.logger.warning("healthz: the database did not answer: %s", exc.__class__.__name__)
        database = "unavailable"
    modules = len(library().modules)
    healthy = database == "ok" and modules > 0
    body = {"status": "ok" if healthy else "unavailable", "database": database, "modules": modules}
    return jsonify(body), 200 if healthy else 503

"""Rounds: HIPAA workforce training with branching checks and tamper-evident evidence."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from .config import PROJECT_ROOT, from_environment, normalise_database_url


def create_app(test_config: dict | None = None) -> Flask:
    """The application factory: `flask --app app` finds ``app = create_app()`` in app.py."""
    instance_path = Path(os.environ.get("INSTANCE_PATH") or PROJECT_ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    instance_path.mkdir(parents=True, exist_ok=True)
    app.config.update(from_environment(instance_path))
    if test_config:
        app.config.update(test_config)
    for key in ("SQLALCHEMY_DATABASE_URI", "MIGRATION_DATABASE_URI"):
        if app.config.get(key):
            app.config[key] = normalise_database_url(app.config[key])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from .db import apply_connection_rules, db
    from .web import init_web
    from . import cli

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():  # before anything connects
            apply_connection_rules(engine)
    init_web(app)
    cli.init_app(app)
    return app

"""Rounds: HIPAA workforce training with branching checks and tamper-evident evidence."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from . import clock
from .config import (
    PROJECT_ROOT,
    check_several_servers,
    from_environment,
    normalize_database_url,
    private_folder,
    private_sqlite_file,
)


def create_app(test_config: dict | None = None) -> Flask:
    """The application factory: `flask --app app` finds ``app = create_app()`` in app.py."""
    instance_path = Path(os.environ.get("INSTANCE_PATH") or PROJECT_ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    private_folder(instance_path)  # 0700: the secret key and the SQLite database live here
    app.config.update(from_environment(instance_path))
    if test_config:
        app.config.update(test_config)
    check_several_servers(app.config)  # before anything else: a clear refusal, not a half start
    host_only_session_cookie(app.config)
    clock.use_zone(clock.zone(app.config["TIME_ZONE"]))  # a bad name stops the start, named
    for key in ("SQLALCHEMY_DATABASE_URI", "MIGRATION_DATABASE_URI"):
        if app.config.get(key):
            app.config[key] = normalize_database_url(app.config[key])
    private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])  # 0600, before SQLite makes it
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if (
        app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
        and app.config.get("SERVERS", 1) == 1
        and not os.environ.get("SECRET_KEY")
        and not (test_config or {}).get("SECRET_KEY")
    ):
        logging.getLogger(__name__).warning(
            "SECRET_KEY is generated in %s: if another server shares this database, set the same SECRET_KEY "
            'and SERVERS on each (docs/deploy.md, "Several servers")',
            instance_path,
        )
    mode = instance_path.stat().st_mode & 0o777
    if mode & 0o077:  # made by an older Rounds, or by hand
        logging.getLogger(__name__).warning(
            "instance folder %s is open to other users (mode %o): chmod 700 it", instance_path, mode
        )

    from . import accounts, cli, evidence, evidence_keys, package_signing
    from .db import apply_connection_rules, db
    from .web import init_web

    # The evidence key, outside the database (made 0600 in the instance folder if not given).
    keyring = evidence_keys.load(app.config["EVIDENCE_KEY_FILE"], app.config.get("EVIDENCE_KEYS"))
    app.extensions["evidence_keys"] = keyring
    # The key that signs audit packages, outside the database too (made 0600 if not given).
    app.extensions["signing_key"] = package_signing.load(app.config["SIGNING_KEY_FILE"], app.config.get("SIGNING_KEY"))

    # Password hashing: ARGON2 (argon2.Parameters) is for the tests only, never read from the
    # environment; unset, production's parameters (accounts.PRODUCTION_ARGON2).
    accounts.use_argon2(app.config.get("ARGON2"))
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():  # before anything connects
            apply_connection_rules(engine)
            evidence.use_keyring(engine, keyring)
    init_web(app)
    cli.init_app(app)
    return app


def host_only_session_cookie(config) -> None:
    """Served over HTTPS, the session cookie is named with the ``__Host-`` prefix: browsers then
    take it only when it is Secure, for Path=/ and with no Domain, so a neighboring subdomain
    (another hospital app on the same parent domain) cannot set or overwrite it. A name the
    deployment chose itself is kept."""
    if config.get("SESSION_COOKIE_SECURE") and config.get("SESSION_COOKIE_NAME") == "session":
        config["SESSION_COOKIE_NAME"] = "__Host-session"
    if str(config.get("SESSION_COOKIE_NAME", "")).startswith("__Host-"):
        config["SESSION_COOKIE_DOMAIN"] = None
        config["SESSION_COOKIE_PATH"] = "/"

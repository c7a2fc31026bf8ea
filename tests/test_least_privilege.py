"""Least privilege: on PostgreSQL the app's role may read and add to the evidence and the stored
content versions, never change, remove or unguard them; and the instance folder, the SQLite
database and its files, and the secret key are readable by their owner only.

The PostgreSQL tests make an owner role, an app role and a database of their own (named after
TEST_DATABASE_URL's database, made as docs/operations.md says), so TEST_DATABASE_URL's user needs
CREATEROLE and CREATEDB (CI's is the superuser ``postgres``); they drop them all at the end.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from types import SimpleNamespace

import flask_migrate
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from quiz import create_app, evidence, privileges
from quiz.config import PROJECT_ROOT, normalize_database_url
from quiz.db import db
from quiz.models import ContentVersion, Evidence, User

from .helpers import (
    DATA_CONTENT,
    PG_URL,
    add_user,
    close_app,
    make_app,
    pass_and_sign,
    sign_in,
    through_lesson,
)

needs_postgresql = pytest.mark.skipif(
    not PG_URL,
    reason="PostgreSQL roles and privileges: TEST_DATABASE_URL is not set (a SQLite-only run; SQLite has no roles)",
)

ALL_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
APPEND_ONLY = {"evidence": "event", "content_versions": "path"}  # each table, and a column in it


def _engine(url: str, **kw):
    return create_engine(normalize_database_url(url), poolclass=NullPool, **kw)


@pytest.fixture(scope="module")
def pg():
    """An owner role, an app role and a database the owner owns, as in docs/operations.md."""
    admin_url = make_url(normalize_database_url(PG_URL))
    base = admin_url.database
    names = SimpleNamespace(owner=f"{base}_lp_owner", app=f"{base}_lp_app", database=f"{base}_lp")
    password = secrets.token_hex(16)  # trust authentication ignores it; password authentication needs it
    admin = _engine(admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{names.database}" WITH (FORCE)'))
            for role in (names.app, names.owner):
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))

    drop()
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE \"{names.owner}\" LOGIN PASSWORD '{password}'"))
        conn.execute(text(f"CREATE ROLE \"{names.app}\" LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'CREATE DATABASE "{names.database}" OWNER "{names.owner}"'))
    in_database = admin_url.set(database=names.database)
    with _engine(in_database.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'REVOKE ALL ON DATABASE "{names.database}" FROM PUBLIC'))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{names.database}" TO "{names.app}"'))
        conn.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))

    def url(role: str) -> str:
        return in_database.set(username=role, password=password).render_as_string(hide_password=False)

    names.owner_url, names.app_url, names.admin_url = url(names.owner), url(names.app), url(admin_url.username)
    yield names
    admin.dispose()
    drop()


def _reset_schema(pg) -> None:
    """An empty schema, made by the owner (as a fresh database's is)."""
    with _engine(pg.owner_url).begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def app_as_app_role(pg, tmp_path, monkeypatch):
    """The app connected as the app's role, its database migrated by the owner."""
    _reset_schema(pg)
    app = make_app(pg.app_url, tmp_path, monkeypatch, MIGRATION_DATABASE_URI=pg.owner_url)
    yield app
    close_app(app)


def _refused(conn, statement: str) -> str | None:
    """None if the database refused the statement for lack of privilege; else what happened.
    Rolled back either way, so one statement let through does not hide what the next does."""
    transaction = conn.begin()
    try:
        conn.execute(text(statement))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42501":  # insufficient_privilege
            return None
        return f"{statement}: refused, but not for lack of privilege: {exc.orig}"
    finally:
        transaction.rollback()
    return f"{statement}: allowed"


@needs_postgresql
def test_a_learner_signs_in_takes_a_module_and_signs_as_the_apps_role(app_as_app_role, pg):
    app = app_as_app_role
    with app.app_context():
        assert db.session.scalar(text("SELECT current_user")) == pg.app
        db.session.rollback()
    add_user(app)
    client = app.test_client()
    assert sign_in(client).status_code == 303
    through_lesson(client)
    response = pass_and_sign(client)
    assert response.status_code == 303 and "/certificate/" in response.headers["Location"]
    assert "Certificate of completion" in client.get(response.headers["Location"]).text
    assert "Passed" in client.get("/learn/").text
    runner = app.test_cli_runner()
    loaded = runner.invoke(args=["content", "load"])
    assert loaded.exit_code == 0 and "new versions stored" in loaded.output, loaded.output
    verified = runner.invoke(args=["evidence", "verify"])
    assert verified.exit_code == 0 and "evidence ok: 9 records" in verified.output, verified.output
    with app.app_context():
        assert "session.signed-in" in db.session.scalars(select(Evidence.event)).all()  # the app's role wrote it
        assert (
            db.session.scalar(select(Evidence.event).order_by(Evidence.seq.desc()).limit(1)) == "acknowledgement.signed"
        )
        assert db.session.scalars(select(ContentVersion.content_id)).all()  # stored as the app's role


@needs_postgresql
def test_the_apps_role_cannot_change_remove_or_unguard_evidence_nor_content_versions(app_as_app_role, pg):
    app = app_as_app_role
    add_user(app)
    client = app.test_client()
    sign_in(client)
    through_lesson(client)  # evidence, and the content versions it names
    with app.app_context():
        before = db.session.scalars(select(Evidence.hash).order_by(Evidence.seq)).all()
        versions = db.session.scalar(select(ContentVersion.version).limit(1))
        db.session.rollback()
    assert len(before) >= 3 and versions
    statements = []
    for table, column in APPEND_ONLY.items():
        statements += [
            f"UPDATE {table} SET {column} = {column}",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
            f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_change",
            f"ALTER TABLE {table} DISABLE TRIGGER ALL",
            f"DROP TRIGGER {table}_no_change ON {table}",
            f"DROP TABLE {table}",
            f"ALTER TABLE {table} ADD COLUMN forged text",
            f"ALTER TABLE {table} RENAME TO {table}_old",
            f"CREATE TRIGGER forged BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION rounds_refuse_change()",
        ]
    statements += [
        "DROP FUNCTION rounds_refuse_change() CASCADE",
        "CREATE OR REPLACE FUNCTION rounds_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "UPDATE alembic_version SET version_num = version_num",
    ]
    engine = _engine(pg.app_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == pg.app
        conn.rollback()
        allowed = [found for found in (_refused(conn, s) for s in statements) if found]
    engine.dispose()
    assert allowed == []
    with _engine(pg.owner_url).connect() as conn:
        guards = conn.execute(
            text(
                "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger WHERE tgname LIKE '%\\_no\\_%' ORDER BY 1, 2"
            )
        ).all()
    assert guards == [
        ("content_versions", "content_versions_no_change", "O"),
        ("content_versions", "content_versions_no_truncate", "O"),
        ("evidence", "evidence_no_change", "O"),
        ("evidence", "evidence_no_truncate", "O"),
    ]
    with app.app_context():
        assert db.session.scalars(select(Evidence.hash).order_by(Evidence.seq)).all() == before
        assert evidence.verify(db.session).ok


def _refused_upgrade(capfd) -> str:
    """What `flask db upgrade` says when it stops with an error (Flask-Migrate logs it, exit 1)."""
    return capfd.readouterr().err


def _privileges(pg) -> dict[str, set[str]]:
    """What the app's role may do to each table and sequence, whoever granted it."""
    found: dict[str, set[str]] = {}
    with _engine(pg.owner_url).connect() as conn:
        for name, kind in conn.execute(
            text(
                "SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S')"
            )
        ):
            asks = ALL_TABLE_PRIVILEGES if kind == "r" else ("USAGE", "SELECT", "UPDATE")
            check = "has_table_privilege" if kind == "r" else "has_sequence_privilege"
            found[name] = {
                p
                for p in asks
                if conn.execute(
                    text(f"SELECT {check}(:r, :t, :p)"), {"r": pg.app, "t": f"public.{name}", "p": p}
                ).scalar()
            }
        found["schema public"] = {
            p
            for p in ("USAGE", "CREATE")
            if conn.execute(text("SELECT has_schema_privilege(:r, 'public', :p)"), {"r": pg.app, "p": p}).scalar()
        }
    return found


@needs_postgresql
def test_the_apps_role_has_exactly_its_privileges_on_every_table(app_as_app_role, pg):
    found = _privileges(pg)
    ordinary = {"SELECT", "INSERT", "UPDATE", "DELETE"}
    expected = {
        "evidence": {"SELECT", "INSERT"},
        "content_versions": {"SELECT", "INSERT"},
        "alembic_version": {"SELECT"},
    }
    tables = {name for name in found if not name.endswith("_seq") and name != "schema public"}
    assert {"users", "attempts", "answers", "assignments", "outbox", "evidence", "content_versions"} <= tables
    for name in tables:
        assert found[name] == expected.get(name, ordinary), name
    sequences = [name for name in found if name.endswith("_seq")]
    assert sequences and all(found[name] == {"USAGE"} for name in sequences)
    assert found["schema public"] == {"USAGE"}


@needs_postgresql
def test_every_upgrade_grants_again_a_table_made_later_and_one_granted_more_by_hand(app_as_app_role, pg):
    with _engine(pg.owner_url).begin() as conn:  # as a later migration (or someone by hand) would
        conn.execute(text("CREATE TABLE later_things (id serial PRIMARY KEY, name text)"))
        conn.execute(text(f'GRANT TRUNCATE, TRIGGER, REFERENCES ON users TO "{pg.app}"'))
    found = _privileges(pg)
    assert found["later_things"] == {"SELECT", "INSERT"}  # default privileges: no more than append-only
    assert found["later_things_id_seq"] == {"USAGE"}
    with app_as_app_role.app_context():
        flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"))  # nothing to migrate: grants only
    found = _privileges(pg)
    assert found["later_things"] == found["users"] == {"SELECT", "INSERT", "UPDATE", "DELETE"}


@needs_postgresql
def test_upgrade_refuses_while_the_apps_role_may_change_evidence_through_public(app_as_app_role, pg, capfd):
    with _engine(pg.owner_url).begin() as conn:
        conn.execute(text("GRANT UPDATE, DELETE ON evidence TO PUBLIC"))
    capfd.readouterr()
    with app_as_app_role.app_context(), pytest.raises(SystemExit):
        flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"))
    assert f"role '{pg.app}' still may UPDATE, DELETE on evidence" in _refused_upgrade(capfd)


@needs_postgresql
def test_upgrade_refuses_an_apps_role_that_owns_a_table_and_changes_nothing(app_as_app_role, pg, capfd):
    with _engine(pg.admin_url).begin() as conn:  # a database from before the two roles
        conn.execute(text(f'ALTER TABLE outbox OWNER TO "{pg.app}"'))
        conn.execute(text(f'GRANT TRIGGER ON evidence TO "{pg.app}"'))
    capfd.readouterr()
    with app_as_app_role.app_context(), pytest.raises(SystemExit):
        flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"))
    said = _refused_upgrade(capfd)
    assert "the app's role could change or remove evidence" in said and "owns table outbox" in said, said
    assert f"REASSIGN OWNED BY {pg.app}" in said
    assert "TRIGGER" in _privileges(pg)["evidence"]  # nothing was revoked nor granted


@needs_postgresql
def test_upgrade_refuses_the_owner_as_the_apps_role_before_migrating(pg, tmp_path, monkeypatch, capfd):
    _reset_schema(pg)
    with pytest.raises(SystemExit):
        make_app(pg.owner_url, tmp_path, monkeypatch, MIGRATION_DATABASE_URI=pg.owner_url)
    assert "is the role that runs the migrations" in _refused_upgrade(capfd)
    with _engine(pg.owner_url).connect() as conn:
        assert conn.execute(text("SELECT to_regclass('public.evidence')")).scalar() is None


@needs_postgresql
def test_upgrade_refuses_a_migration_url_for_another_database(pg, tmp_path, monkeypatch, capfd):
    other = make_url(pg.owner_url).set(database="postgres").render_as_string(hide_password=False)
    with pytest.raises(SystemExit):
        make_app(pg.app_url, tmp_path, monkeypatch, MIGRATION_DATABASE_URI=other)
    assert "must name the same database" in _refused_upgrade(capfd)


@needs_postgresql
def test_a_database_of_one_role_moves_to_two_as_the_operations_guide_says(pg, tmp_path, monkeypatch):
    with _engine(pg.admin_url, isolation_level="AUTOCOMMIT").connect() as conn:  # as an older Rounds left it
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text(f'CREATE SCHEMA public AUTHORIZATION "{pg.app}"'))
        conn.execute(text(f'ALTER DATABASE "{pg.database}" OWNER TO "{pg.app}"'))
    keys = str(tmp_path / "evidence-keys")  # the same server's evidence key before and after
    app = make_app(pg.app_url, tmp_path / "one", monkeypatch, EVIDENCE_KEY_FILE=keys)  # migrated by the app's own role
    uid = add_user(app)
    with app.app_context():
        evidence.append(db.session, "test.event", user=db.session.get(User, uid), details={})
        db.session.commit()
        head = evidence.verify(db.session).head_hash
    close_app(app)
    with _engine(pg.admin_url, isolation_level="AUTOCOMMIT").connect() as conn:  # docs/operations.md
        for statement in (
            f"REASSIGN OWNED BY {pg.app} TO {pg.owner}",
            f"ALTER ROLE {pg.app} NOSUPERUSER NOCREATEDB NOCREATEROLE",
            f"REVOKE ALL ON DATABASE {pg.database} FROM PUBLIC",
            f"GRANT CONNECT ON DATABASE {pg.database} TO {pg.app}",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        ):
            conn.execute(text(statement))
    app = make_app(
        pg.app_url, tmp_path / "two", monkeypatch, MIGRATION_DATABASE_URI=pg.owner_url, EVIDENCE_KEY_FILE=keys
    )
    try:
        with app.app_context():
            assert evidence.verify(db.session).head_hash == head
            db.session.rollback()
        with _engine(pg.app_url).connect() as conn:
            assert _refused(conn, "UPDATE evidence SET event = event") is None
            assert _refused(conn, "ALTER TABLE evidence DISABLE TRIGGER evidence_no_change") is None
        assert _privileges(pg)["users"] == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    finally:
        close_app(app)


def test_the_append_only_list_names_exactly_the_tables_the_triggers_guard(app):
    """A new append-only table goes in quiz/privileges.APPEND_ONLY, or the app's role could
    change it (the trigger would still refuse, but the role could drop the trigger)."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            rows = db.session.execute(text("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            guarded = {table for table, sql in rows if "append-only" in sql}
        else:
            guarded = set(
                db.session.scalars(
                    text(
                        "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                        "WHERE p.proname = 'rounds_refuse_change'"
                    )
                )
            )
    assert guarded == set(privileges.APPEND_ONLY) == set(APPEND_ONLY)


# --- files: readable by their owner only ------------------------------------------------------


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


def test_instance_folder_sqlite_files_and_secret_key_are_readable_by_their_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "var" / "instance"))
    for name in ("DATABASE_URL", "SECRET_KEY", "MIGRATION_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    umask = os.umask(0o002)  # a common umask that lets the group read and write
    try:
        app = create_app({"TESTING": True, "CONTENT_DIR": str(DATA_CONTENT), "CONTENT_REFRESH_SECONDS": 0})
        instance = tmp_path / "var" / "instance"
        database = instance / "rounds.sqlite3"
        assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{database}"
        with app.app_context():
            flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"))
        add_user(app)  # a write: the write gate, and SQLite's -wal and -shm
        with app.app_context():
            modes = {
                path.name: _mode(path)
                for path in (
                    database,
                    Path(f"{database}-wal"),
                    Path(f"{database}-shm"),
                    Path(f"{database}-writegate"),
                    instance / "secret_key",
                )
            }
        close_app(app)
    finally:
        os.umask(umask)
    assert _mode(instance) == "0o700"
    assert modes == dict.fromkeys(modes, "0o600")


def test_an_instance_folder_open_to_others_is_left_as_it_is_and_warned_of(tmp_path, monkeypatch, caplog):
    instance = tmp_path / "instance"
    instance.mkdir()
    instance.chmod(0o755)  # as an older Rounds made it
    monkeypatch.setenv("INSTANCE_PATH", str(instance))
    for name in ("DATABASE_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    create_app({"TESTING": True, "CONTENT_DIR": str(DATA_CONTENT), "CONTENT_REFRESH_SECONDS": 0})
    assert f"instance folder {instance} is open to other users (mode 755): chmod 700 it" in caplog.text
    assert _mode(instance) == "0o755"
    assert _mode(instance / "secret_key") == _mode(instance / "rounds.sqlite3") == "0o600"


def test_a_migration_url_must_name_the_same_database_as_the_apps():
    same = privileges.check_same_database
    same("postgresql+psycopg://app@db.example/rounds", "postgresql+psycopg://owner:pw@db.example:5432/rounds")
    same("sqlite:///instance/rounds.sqlite3", f"sqlite:///{Path.cwd() / 'instance' / 'rounds.sqlite3'}")
    for other in (
        "postgresql+psycopg://owner@db.example/bench",
        "postgresql+psycopg://owner@elsewhere/rounds",
        "sqlite:///rounds.sqlite3",
    ):
        with pytest.raises(privileges.PrivilegeError, match="must name the same database"):
            same("postgresql+psycopg://app@db.example/rounds", other)

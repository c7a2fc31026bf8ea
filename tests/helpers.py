"""What the tests share: apps on a ready-made schema, people, signing in, the learner's path
through the test module, SMTP on loopback. Tests import these from here (tests/conftest.py
re-exports them for tests that import from it); no test imports another test module.

The schema is built once per test session, by the real migrations, not once per test:

- SQLite: the first app migrates a template database; every new database file after it is a
  copy of that file (``make_app``).
- PostgreSQL (TEST_DATABASE_URL): migrated once; before each test every table is emptied and
  its numbering restarted (``empty_postgresql``). A test that changed the schema itself (a
  trigger disabled, a downgrade) is noticed and the schema built again.

``make_app(..., migrate=True)`` runs the real migrations instead (tests/test_migrations.py);
so does an app with MIGRATION_DATABASE_URI (the owner role's migrations and grants).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from datetime import date, timedelta
from email import message_from_bytes, policy
from html import unescape
from pathlib import Path

import flask_migrate
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from argon2 import Parameters, Type
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from quiz import create_app
from quiz.config import PROJECT_ROOT, normalize_database_url
from quiz.db import db

DATA_CONTENT = Path(__file__).parent / "data" / "content"
PG_URL = os.environ.get("TEST_DATABASE_URL")
PASSWORD = "correct horse battery staple"
MIGRATIONS = str(PROJECT_ROOT / "migrations")
#: Argon2id at its cheapest (8 KiB, one pass): a hash in well under a millisecond instead of
#: ~100 ms. For the tests only (the app's ARGON2 setting); production's: accounts.PRODUCTION_ARGON2.
CHEAP_ARGON2 = Parameters(type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=1, memory_cost=8, parallelism=1)


# --- the schema, built once ------------------------------------------------------------------


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


@functools.cache
def _scratch() -> Path:
    """A folder for this test process's template database and instance folder."""
    folder = Path(tempfile.mkdtemp(prefix="rounds-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _migrated(url: str) -> None:
    """Run the real migrations on ``url`` with an app of its own (its instance folder in scratch)."""
    before = os.environ.get("INSTANCE_PATH")
    os.environ["INSTANCE_PATH"] = str(_scratch() / "instance")
    try:
        app = create_app(_settings(url, {}))
    finally:
        if before is None:
            del os.environ["INSTANCE_PATH"]
        else:
            os.environ["INSTANCE_PATH"] = before
    with app.app_context():
        flask_migrate.upgrade(directory=MIGRATIONS)
    close_app(app)


@functools.cache
def _sqlite_template() -> Path:
    """A SQLite database the real migrations built, made on first use (once per test process)."""
    folder = _scratch()
    template = folder / "template.sqlite3"
    _migrated(f"sqlite:///{template}")  # closing its last connection checkpoints the WAL into the file
    for leftover in (folder / "template.sqlite3-wal", folder / "template.sqlite3-shm"):
        assert not leftover.exists() or leftover.stat().st_size == 0, f"{leftover} was not checkpointed"
    return template


def _copy_template(path: Path) -> bool:
    """Put a copy of the migrated template at ``path`` if nothing is there yet; whether it did."""
    if path.exists() and path.stat().st_size > 0 or not path.parent.is_dir():
        return False
    template = _sqlite_template()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private, as the app makes it
    with os.fdopen(fd, "wb") as out, open(template, "rb") as src:
        shutil.copyfileobj(src, out)
    return True


def reset_postgresql(url: str) -> None:
    """Drop everything in the database's public schema."""
    engine = create_engine(normalize_database_url(url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    _pg_schema.pop(url, None)


#: What the schema looked like right after the migrations built it, per database URL.
_pg_schema: dict[str, str] = {}
#: Databases emptied for a test and not yet handed to an app (make_app need not migrate them).
_pg_ready: set[str] = set()

_PG_FINGERPRINT = text("""
SELECT concat_ws(' | ',
  (SELECT string_agg(version_num, ',') FROM alembic_version),
  (SELECT string_agg(concat_ws(':', c.relname, c.relkind::text, pg_get_userbyid(c.relowner)), ',' ORDER BY c.relname)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'v', 'i', 'p')),
  (SELECT string_agg(concat_ws(':', t.tgname, t.tgenabled::text, c.relname), ',' ORDER BY t.tgname)
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal),
  (SELECT string_agg(concat_ws(':', table_name, column_name, data_type, is_nullable), ','
                     ORDER BY table_name, column_name)
     FROM information_schema.columns WHERE table_schema = 'public'))
""")


def _pg_fingerprint(conn) -> str | None:
    if conn.scalar(text("SELECT to_regclass('public.alembic_version')")) is None:
        return None
    return conn.scalar(_PG_FINGERPRINT)


def _migrate_postgresql(url: str) -> None:
    reset_postgresql(url)
    _migrated(url)
    engine = create_engine(normalize_database_url(url), poolclass=NullPool)
    with engine.connect() as conn:
        _pg_schema[url] = _pg_fingerprint(conn)
    engine.dispose()


def empty_postgresql(url: str) -> None:
    """The migrated schema with no rows and every numbering at 1: migrated the first time (or
    again if a test changed the schema), emptied every time after.

    The tables are emptied as their owner would, in one transaction: the append-only triggers
    (evidence, content_versions refuse TRUNCATE) are disabled for the TRUNCATE and enabled
    again before it commits, so no other connection ever sees them off."""
    engine = create_engine(normalize_database_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            same = url in _pg_schema and _pg_fingerprint(conn) == _pg_schema[url]
            conn.rollback()
        if not same:
            _migrate_postgresql(url)
        else:
            with engine.begin() as conn:
                tables = list(
                    conn.scalars(
                        text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' "
                            "ORDER BY tablename"
                        )
                    )
                )
                guarded = list(
                    conn.scalars(
                        text(
                            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY c.relname"
                        )
                    )
                )
                for table in guarded:
                    conn.execute(text(f'ALTER TABLE "{table}" DISABLE TRIGGER USER'))
                listed = ", ".join(f'"{table}"' for table in tables)
                conn.execute(text(f"TRUNCATE {listed} RESTART IDENTITY CASCADE"))
                for table in guarded:
                    conn.execute(text(f'ALTER TABLE "{table}" ENABLE TRIGGER USER'))
    finally:
        engine.dispose()
    _pg_ready.add(url)


def forget_ready_database(url: str) -> None:
    """The test that asked for this database is over: a later make_app on it migrates as usual."""
    _pg_ready.discard(url)


# --- apps ------------------------------------------------------------------------------------


def _settings(database_url: str, config: dict) -> dict:
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CONTENT_DIR": str(DATA_CONTENT),
        "CONTENT_REFRESH_SECONDS": 0,
        "RATELIMIT_ENABLED": False,
        "ARGON2": CHEAP_ARGON2,
        # Nobody is asked for a second factor unless a test says so (tests/test_mfa.py does):
        # every other test signs in admins, compliance officers and trainers with a password.
        "MFA_ROLES": "",
    }
    settings.update(config)
    return settings


class _CompiledTemplates(BytecodeCache):
    """Templates compiled once per test process, shared by every app (Jinja checks each
    template's source against what was compiled)."""

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self._compiled:
            bucket.bytecode_from_string(self._compiled[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _CompiledTemplates()


def make_app(database_url: str, tmp_path: Path, monkeypatch, *, migrate: bool = False, **config):
    """An app for tests on ``database_url``, its schema in place: a new SQLite file is a copy of
    the migrated template, a PostgreSQL database just emptied by the ``database_url`` fixture is
    used as it is, anything else is brought up to date by the migrations (as is everything with
    ``migrate=True``, and an app that names a MIGRATION_DATABASE_URI)."""
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    real_migrations = migrate or bool(config.get("MIGRATION_DATABASE_URI"))
    ready = False
    path = _sqlite_file(database_url)
    if path is not None and not real_migrations:
        ready = _copy_template(path)
    elif database_url in _pg_ready:
        _pg_ready.discard(database_url)
        if real_migrations:
            reset_postgresql(database_url)  # from nothing, as asked
        ready = not real_migrations
    app = create_app(_settings(database_url, config))
    app.jinja_env.bytecode_cache = _TEMPLATES  # each app would compile every template again
    if not ready:
        with app.app_context():
            flask_migrate.upgrade(directory=MIGRATIONS)
    return app


def close_app(app) -> None:
    """End a test app's sessions and close its connections (PostgreSQL would keep them open)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- people and pages ------------------------------------------------------------------------


def add_user(app, email="learner@example.org", name="Dana Whitfield", job_role="front-desk", **kw):
    from quiz import accounts

    with app.app_context():
        user = accounts.create_user(
            db.session, email=email, name=name, password=kw.pop("password", PASSWORD), job_role=job_role, **kw
        )
        db.session.commit()
        return user.id


def attempt_at_first_decision(app, **user) -> int:
    """A new learner's attempt at test-callers, through the lesson and at its first decision."""
    from quiz import engine
    from quiz.models import User

    uid = add_user(app, **user)
    with app.app_context():
        lib = app.extensions["content_store"].library
        learner = db.session.get(User, uid)
        content = engine.content_to_start(lib, lib.modules["test-callers"], learner)
        attempt = engine.start_attempt(db.session, learner, content)
        while attempt.stage == "lesson":
            engine.next_screen(db.session, attempt, content, attempt.step)
        db.session.commit()
        return attempt.id


@contextmanager
def recorded_sql(app):
    """The SQL statements the app's engine runs inside the block, in order."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def record(conn, cursor, statement, *rest) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def repeated_ids(html: str) -> dict[str, int]:
    """ids a page uses more than once: a label, a link or an htmx target would find the first."""
    counts = Counter(re.findall(r'\sid="([^"]+)"', html))
    return {name: n for name, n in counts.items() if n > 1}


def sign_in(client, email="learner@example.org", password=PASSWORD):
    page = client.get("/auth/login")
    return client.post("/auth/login", data={"email": email, "password": password, "csrf_token": csrf_token(page.text)})


def signed_in_as(app, role: str):
    """A client signed in as a new account with this account role (email ``<role>@example.org``)."""
    email = f"{role}@example.org"
    add_user(app, email=email, name=f"Alex {role.title()}", role=role, job_role="leadership")
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    return client


def page_text(html: str) -> str:
    """A page's words, tags dropped and spaces collapsed, to look for a sentence in."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def run_cli(app, *args, input=None):
    """``flask --app app <args>`` run in-process on ``app``."""
    return app.test_cli_runner().invoke(args=list(args), input=input)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the app served for real ----------------------------------------------------------------


@contextmanager
def gunicorn_server(
    env: dict, log: Path, *, app: str = "app:app", port: int | None = None, wait_path: str = "/auth/login"
):
    """`make run`'s gunicorn command (``--preload``, two gthread workers) on a loopback port, with
    ``env`` as its environment and its output in ``log``. Yields the base URL once ``wait_path``
    answers (within 30 s, or the test fails with the log); stops the whole process group after."""
    port = port or free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = [
        gunicorn,
        "--preload",
        "--workers",
        "2",
        "--worker-class",
        "gthread",
        "--threads",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
        app,
    ]
    with open(log, "wb") as fh:
        server = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "gunicorn stopped:\n" + log.read_text()
            try:
                urllib.request.urlopen(base + wait_path, timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s:\n" + log.read_text()
                time.sleep(0.1)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@contextmanager
def served(app):
    """Serve ``app`` on 127.0.0.1:<free port> in threads while the block runs; its base URL.

    Stopped cleanly at the end: no new connections, then every connection still open (a
    browser's idle keep-alive or preconnected socket, whose request thread would otherwise wait
    on it for ever and outlive the app) is shut down and its thread joined. RuntimeError if a
    thread is still running after that."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request lines in the output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    connections: set[socket.socket] = set()
    handlers: set[threading.Thread] = set()
    lock = threading.Lock()
    accept, handle = server.get_request, server.process_request_thread

    def get_request():
        connection, address = accept()
        with lock:
            connections.add(connection)
        return connection, address

    def process_request_thread(request, client_address):
        with lock:
            handlers.add(threading.current_thread())
        try:
            handle(request, client_address)
        finally:
            with lock:
                connections.discard(request)
                handlers.discard(threading.current_thread())

    server.get_request, server.process_request_thread = get_request, process_request_thread
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()  # serve_forever returns: no new connections
        with lock:
            still_open, running = list(connections), list(handlers)
        for connection in still_open:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # the thread reading it sees the end
            except OSError:
                pass  # closed meanwhile
        for handler in running:
            handler.join(timeout=10)
        server.server_close()
        thread.join(timeout=10)
        left = [t.name for t in (thread, *running) if t.is_alive()]
        if left:
            raise RuntimeError(f"the live server did not stop: {', '.join(left)} still running")


# --- the learner's path through the test module (tests/data/content), over HTTP -----------------

MODULE = "/learn/test-callers/"


def step_token(html: str) -> int:
    match = re.search(r'name="step" type="hidden" value="(\d+)"', html)
    assert match, "no step token on the page"
    return int(match.group(1))


def post_step(client, action: str, htmx: bool = False, **data):
    """POST ``action`` (start, next, answer, continue...) from the module's page as it is now."""
    page = client.get(MODULE)
    form = {"csrf_token": csrf_token(page.text), "step": step_token(page.text), **data}
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(MODULE + action, data=form, headers=headers)


def choice_value(html: str, label: str) -> str:
    """What the radio button of the choice with this label posts."""
    match = re.search(r'value="([^"]+)"[^>]*>\s*<label for="[^"]+">' + re.escape(label), html)
    assert match, f"choice {label!r} not on the page"
    return match.group(1)


def choose(client, label: str, htmx: bool = False):
    page = client.get(MODULE)
    return post_step(client, "answer", htmx=htmx, choice=choice_value(page.text, label))


def through_lesson(client):
    assert post_step(client, "start").status_code == 303
    assert "First screen" in client.get(MODULE).text
    post_step(client, "next")
    assert "Second screen" in client.get(MODULE).text
    post_step(client, "next")


def pass_and_sign(client, full_name="Dana Whitfield"):
    """From the first decision: the right answers, the result, and a signed acknowledgement."""
    choose(client, "Ask for two identifiers")
    choose(client, "Only the appointment time")
    post_step(client, "continue")
    page = client.get(MODULE).text
    return client.post(
        MODULE + "acknowledge",
        data={"csrf_token": csrf_token(page), "step": step_token(page), "agree": "y", "full_name": full_name},
    )


def at_a_question(app, client) -> str:
    """A signed-in learner's module page at its first question (the page they answer on)."""
    add_user(app)
    sign_in(client)
    through_lesson(client)
    return client.get(MODULE).text


def post_an_answer(client, page: str, **headers):
    """Answer the first question with the form on ``page`` (its CSRF token, step 4, choice 1)."""
    data = {"csrf_token": csrf_token(page), "step": "4", "choice": "1"}
    return client.post(MODULE + "answer", data=data, headers=headers)


# --- records, assignments -------------------------------------------------------------------


def disable_evidence_triggers(app) -> None:
    """What an attacker with database access would do first."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            for name in ("evidence_no_update", "evidence_no_delete"):
                db.session.execute(text(f"DROP TRIGGER {name}"))
        else:
            db.session.execute(text("ALTER TABLE evidence DISABLE TRIGGER evidence_no_change"))
        db.session.commit()


def record_seqs(html: str) -> list[int]:
    """The record numbers a results table lists, top to bottom."""
    return [int(n) for n in re.findall(r'<th scope="row"><a href="/audit/records/(\d+)"', html)]


def assign_module(app, email: str, module_id: str, due_on, *, waive: str | None = None) -> None:
    """Assign the module to the person with this email (onboarding), waived if ``waive`` is a reason."""
    from sqlalchemy import select

    from quiz import assignments
    from quiz.models import User

    with app.app_context():
        person = db.session.scalar(select(User).where(User.email == email))
        a = assignments.ensure(db.session, person, module_id, due_on, "onboarding")
        if waive:
            assignments.waive(db.session, a, person, waive)
        db.session.commit()


# --- the shipped content ---------------------------------------------------------------------


@functools.cache
def shipped_library():
    """The library in content/ (loaded once)."""
    from quiz.content import load_library

    return load_library(PROJECT_ROOT / "content")


def best_choice(scenario, node_id: str, visited: set[str]):
    """The best safe choice: most points, and a way not yet taken before one that loops back."""
    node = scenario.nodes[node_id]
    safe = [c for c in node.choices if not c.critical]
    return max(safe, key=lambda c: (c.points, c.target not in visited))


# --- a real SMTP server on loopback ----------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps what arrives (or refuses it with ``refuse``)."""

    def __init__(self):
        self.messages = []
        self.recipients = []
        self.refuse: str | None = None
        self.logins: list[tuple[str, str]] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            self.logins.append((login, password))
            return AuthResult(success=(login, password) == ("rounds", "s3cret-for-tests"))
        return AuthResult(success=False)


def body_of(message) -> str:
    return message.get_content().replace("\r\n", "\n")  # CRLF on the wire


def start_server(inbox: Inbox, port: int | None = None, **kw) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port(), **kw)
    controller.start()
    inbox.port = controller.port
    return controller


def use_smtp(app, port: int, **extra) -> None:
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_STARTTLS=False,  # the test server has no certificate
        SMTP_USERNAME=None,
        SMTP_PASSWORD=None,
        SMTP_FROM="Rounds <rounds@clinic.example>",
        SMTP_TIMEOUT_SECONDS=5,
        BASE_URL="https://rounds.clinic.example",
    )
    app.config.update(extra)


def workforce(app) -> None:
    """Dana: test-callers assigned and then done (signed); Ben: test-callers overdue (past due,
    not yet marked by the daily job) and test-refresher waived; Cy (Dental Clinic): test-callers
    open and not yet due."""
    today = date.today()
    add_user(app, email="dana@example.org", name="Dana Whitfield", department="Patient Access")
    assign_module(app, "dana@example.org", "test-callers", today + timedelta(days=10))
    client = app.test_client()
    assert sign_in(client, "dana@example.org").status_code == 303
    through_lesson(client)
    assert pass_and_sign(client).status_code == 303
    add_user(app, email="ben@example.org", name="Ben Brook", department="Patient Access")
    assign_module(app, "ben@example.org", "test-callers", today - timedelta(days=3))
    assign_module(
        app, "ben@example.org", "test-refresher", today + timedelta(days=30), waive="Trained at his last employer"
    )
    add_user(app, email="cy@example.org", name="Cy Dent", department="Dental Clinic", job_role="front-desk")
    assign_module(app, "cy@example.org", "test-callers", today + timedelta(days=20))

"""Two app servers behind a load balancer behave as one (docs/deploy.md, "Several servers").

Two gunicorn servers, each with its own instance folder (as on two machines), the same
SECRET_KEY and SERVERS=2, on loopback ports against one PostgreSQL database. A learner's
requests alternate between them, one cookie jar, through a whole module; signing out on one ends
the session on the other, and so does the idle limit; an address's failed sign-ins are counted
together; and the daily refresh run from both at once assigns nothing twice.

PostgreSQL only (several servers cannot share a SQLite file): skipped without TEST_DATABASE_URL.
"""

from __future__ import annotations

import copy
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import func, inspect, select

from quiz import evidence
from quiz.config import PROJECT_ROOT
from quiz.db import db
from quiz.models import NO_PASSWORD, Assignment, Evidence, User

from .helpers import (
    DATA_CONTENT,
    PASSWORD,
    PG_URL,
    close_app,
    csrf_token,
    gunicorn_server,
    make_app,
    reset_postgresql,
)

pytestmark = pytest.mark.skipif(
    not PG_URL,
    reason="TEST_DATABASE_URL is not set: two servers need PostgreSQL to share (they cannot share a "
    "SQLite file), so the two-server test did not run",
)

BIN = Path(sys.executable).parent
SECRET_KEY = "two-servers-test-key"
EVIDENCE_KEYS = "two-servers:" + "ab" * 32  # one evidence key for both, as docs/operations.md says
MODULE = "/learn/test-callers/"
STAFF = 300  # enough people that two refresh runs started together overlap


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, name: str, content: Path) -> dict:
    return dict(
        os.environ,
        DATABASE_URL=PG_URL,
        INSTANCE_PATH=str(tmp_path / name),
        CONTENT_DIR=str(content),
        SECRET_KEY=SECRET_KEY,
        EVIDENCE_KEYS=EVIDENCE_KEYS,
        SERVERS="2",
        LOGIN_RATE_LIMIT="3 per minute",
        LOGIN_LOCKOUT_FAILURES="2",
        CONTENT_REFRESH_SECONDS="0.5",
    )


def _flask(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "flask"), "--app", "app", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )


def _serve(stack: ExitStack, env: dict, log: Path) -> str:
    return stack.enter_context(gunicorn_server(env, log, wait_path="/healthz"))


def _copy(jar: http.cookiejar.CookieJar) -> http.cookiejar.CookieJar:
    """Another browser with the same cookies (a second tab, or a stolen copy)."""
    other = http.cookiejar.CookieJar()
    for cookie in jar:
        other.set_cookie(copy.copy(cookie))
    return other


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Visitor:
    """One browser (one cookie jar) whose requests go to the servers in turn, as a load
    balancer with no sticky sessions would send them. Redirects are not followed: each request
    is one the test sends, to the next server."""

    def __init__(self, servers: list[str], jar: http.cookiejar.CookieJar | None = None) -> None:
        self.servers = servers
        self.jar = jar if jar is not None else http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirects)
        self.turn = 0
        self.served_by: list[str] = []

    def _next(self) -> str:
        base = self.servers[self.turn % len(self.servers)]
        self.turn += 1
        self.served_by.append(base)
        return base

    def request(self, path: str, fields: dict | None = None) -> tuple[int, str, str]:
        """(status, body, Location) from the next server."""
        data = urllib.parse.urlencode(fields).encode() if fields is not None else None
        try:
            with self.opener.open(self._next() + path, data=data, timeout=10) as response:
                return response.status, response.read().decode(), response.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers.get("Location", "")

    def get(self, path: str) -> str:
        status, body, location = self.request(path)
        assert status == 200, f"GET {path}: {status} {location}"
        return body

    def post(self, path: str, fields: dict) -> str:
        status, body, location = self.request(path, fields)
        assert status == 303, f"POST {path}: {status}\n{body[:500]}"
        return location

    def step(self, action: str, **fields) -> str:
        """Read the module's page from one server, send its form to the other."""
        page = self.get(MODULE)
        step = re.search(r'name="step" type="hidden" value="(\d+)"', page).group(1)
        return self.post(MODULE + action, {"csrf_token": csrf_token(page), "step": step, **fields})

    def choose(self, label: str) -> str:
        page = self.get(MODULE)
        choice = re.search(r'value="([^"]+)"[^>]*>\s*<label for="[^"]+">' + re.escape(label), page).group(1)
        return self.step("answer", choice=choice)


@pytest.fixture
def two_servers(tmp_path):
    reset_postgresql(PG_URL)
    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    one, two = _env(tmp_path, "server-one", content), _env(tmp_path, "server-two", content)
    _flask(one, "db", "upgrade")
    _flask(one, "content", "load")
    _flask(
        one,
        "users",
        "add",
        "learner@example.org",
        "--name",
        "Dana Whitfield",
        "--role",
        "learner",
        "--job-role",
        "front-desk",
        stdin=PASSWORD + "\n",
    )
    with ExitStack() as stack:
        servers = [_serve(stack, one, tmp_path / "one.log"), _serve(stack, two, tmp_path / "two.log")]
        yield servers, (one, two), (tmp_path / "one.log", tmp_path / "two.log")


def _events(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Evidence.event).order_by(Evidence.seq)))


def test_two_servers_behave_as_one_for_a_learner(two_servers, tmp_path, monkeypatch):
    servers, _, logs = two_servers
    learner = Visitor(servers)
    page = learner.get("/auth/login")
    assert learner.post(
        "/auth/login", {"email": "learner@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)}
    ).endswith("/learn/")
    assert "Test module on callers" in learner.get("/learn/")

    # A whole module, each request to the other server than the last.
    learner.step("start")
    assert "First screen" in learner.get(MODULE)
    learner.step("next")
    assert "Second screen" in learner.get(MODULE)
    learner.step("next")
    assert "The phone rings" in learner.get(MODULE)
    assert learner.choose("Ask for two identifiers").endswith("#feedback")
    learner.choose("Only the appointment time")
    learner.step("continue")
    assert "You passed" in learner.get(MODULE)
    certificate = learner.step("acknowledge", agree="y", full_name="Dana Whitfield")
    assert "/certificate/" in certificate
    assert "Certificate of completion" in learner.get(urllib.parse.urlsplit(certificate).path)
    assert set(learner.served_by) == set(servers)
    assert (
        sum(1 for a, b in zip(learner.served_by, learner.served_by[1:], strict=False) if a == b) == 0
    )  # always the other

    app = make_app(PG_URL, tmp_path / "checker", monkeypatch, EVIDENCE_KEYS=EVIDENCE_KEYS)  # the servers' key
    try:
        events = _events(app)
        assert [e for e in events if not e.startswith("assignment.")] == [
            "session.signed-in",
            "attempt.started",
            "lesson.viewed",
            "lesson.viewed",
            "choice.made",
            "choice.made",
            "scenario.finished",
            "module.passed",
            "acknowledgement.signed",
        ]  # each once, whichever server took it
        assert events.count("assignment.created") == 1 and events.count("assignment.completed") == 1

        # Idle log-off: the same cookie, its last request moved back past the idle limit (as if
        # the learner had been away 16 minutes), is refused by each server in turn.
        signer = Flask("signer")
        signer.secret_key = SECRET_KEY
        serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
        cookie = next(c for c in learner.jar if c.name == "session")
        state = serializer.loads(cookie.value)
        assert isinstance(state["seen"], int) and state["_user_id"].count(":") == 1
        away = _copy(learner.jar)
        next(c for c in away if c.name == "session").value = serializer.dumps(
            {**state, "seen": int(time.time()) - 16 * 60}
        )
        for server in servers:
            idle = Visitor([server], _copy(away))
            status, _, location = idle.request("/learn/")
            assert status in (302, 303) and "/auth/login" in location, (server, status, location)
        assert _events(app).count("session.signed-out") >= 1  # recorded as the idle end

        # Sign-out on one server ends the session on the other: a copy of the cookie taken
        # before signing out (a second tab, or a stolen copy) is refused there.
        before = _copy(learner.jar)
        first, second = servers
        signed_in = Visitor([first], learner.jar)
        page = signed_in.get("/learn/")
        assert signed_in.post("/auth/logout", {"csrf_token": csrf_token(page)}).endswith("/auth/login")
        old_cookie = Visitor([second], before)
        status, _, location = old_cookie.request("/learn/")
        assert status in (302, 303) and "/auth/login" in location, (status, location)
        status, _, location = Visitor([first], _copy(before)).request("/learn/")
        assert status in (302, 303) and "/auth/login" in location

        # Sign-in limits are counted together: 3 failures a minute from one address, whichever
        # server (and worker) took each; the next try is refused by either. And an account's
        # failures too: a wrong password on each server locks it (LOGIN_LOCKOUT_FAILURES=2), so
        # the right one, on the first server, is refused.
        codes = []
        tries = [("wrong password", servers[0]), ("wrong password", servers[1]), (PASSWORD, servers[0])]
        tries += [(PASSWORD, servers[1]), (PASSWORD, servers[0])]
        for password, server in tries:
            stranger = Visitor([server])
            page = stranger.get("/auth/login")
            status, _, _ = stranger.request(
                "/auth/login",
                {"email": "learner@example.org", "password": password, "csrf_token": csrf_token(page)},
            )
            codes.append(status)
        assert codes == [401, 401, 401, 429, 429]
        with app.app_context():
            learner = db.session.scalar(select(User).where(User.email == "learner@example.org"))
            refusals = [
                json.loads(e.details)["refused"]
                for e in db.session.scalars(
                    select(Evidence)
                    .where(Evidence.event == "session.sign-in-refused", Evidence.user_id == learner.id)
                    .order_by(Evidence.seq)
                )
            ]
            assert refusals == ["wrong-password", "wrong-password", "locked"]
            assert evidence.verify(db.session).ok
    finally:
        close_app(app)
    for log in logs:
        assert "Traceback" not in log.read_text()


def test_the_daily_refresh_run_from_both_servers_at_once_assigns_nothing_twice(two_servers, tmp_path, monkeypatch):
    _, (one, two), _ = two_servers
    app = make_app(PG_URL, tmp_path / "checker", monkeypatch, EVIDENCE_KEYS=EVIDENCE_KEYS)  # the servers' key
    try:
        with app.app_context():
            db.session.add_all(
                User(
                    email=f"staff{i}@example.org",
                    name=f"Staff {i}",
                    password_hash=NO_PASSWORD,
                    role="learner",
                    job_role="front-desk",
                    active=True,
                    session_version=1,
                    failed_logins=0,
                )
                for i in range(STAFF)
            )
            db.session.commit()
        runs = [
            subprocess.Popen(
                [str(BIN / "flask"), "--app", "app", "assignments", "refresh"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for env in (one, two)
        ]
        outputs = [run.communicate(timeout=300) for run in runs]
        # Each run either did the work or found the other doing it and said so; neither failed.
        for run, (out, err) in zip(runs, outputs, strict=True):
            assert run.returncode == 0 or "running" in err, f"exit {run.returncode}\n{out}\n{err}"
        with app.app_context():
            doubled = db.session.execute(
                select(Assignment.user_id, Assignment.module_id, func.count())
                .where(Assignment.state.in_(("open", "overdue")))
                .group_by(Assignment.user_id, Assignment.module_id)
                .having(func.count() > 1)
            ).all()
            open_count = db.session.scalar(select(func.count()).select_from(Assignment))
            assigned = db.session.scalar(
                select(func.count()).select_from(Evidence).where(Evidence.event == "assignment.created")
            )
            assert evidence.verify(db.session).ok  # the chain did not fork either
            unique_rule = any(index["unique"] for index in inspect(db.engine).get_indexes("assignments"))
        assert unique_rule  # the database refuses a second open assignment too
        assert doubled == [], f"{len(doubled)} people were assigned the same module twice: {doubled[:5]}"
        assert open_count == STAFF + 1 and assigned == STAFF + 1  # everyone once, the learner too
    finally:
        close_app(app)

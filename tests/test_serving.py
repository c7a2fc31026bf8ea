"""The production serving command (`make run`, docs/operations.md): gunicorn with ``--preload``.

The app, and the content library it parses, is built once in gunicorn's master and the workers
are forked from it. That is only safe if nothing built before the fork is shared wrongly after
it: no database connection may be open in the master, and each worker needs its own content
watcher (threads do not survive a fork). These tests serve the app that way for real.
"""

from __future__ import annotations

import http.cookiejar
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from quiz.config import PROJECT_ROOT
from quiz.db import db
from quiz.web import library

from .helpers import DATA_CONTENT, PASSWORD, close_app, csrf_token, gunicorn_server, make_app

BIN = Path(sys.executable).parent
OLD_TITLE = "Test module on callers"
NEW_TITLE = "Callers, edited while the server runs"


def _flask(env: dict, *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        [str(BIN / "flask"), "--app", "app", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )


class Browser:
    """A signed-in visitor whose every request opens a new connection, so gunicorn hands each
    one to whichever worker accepts it first."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict) -> str:
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base + path, data=data, timeout=10) as response:
            return response.read().decode()

    def sign_in(self, email: str, password: str) -> None:
        page = self.get("/auth/login")
        self.post("/auth/login", {"email": email, "password": password, "csrf_token": csrf_token(page)})


@pytest.fixture
def served(database_url, tmp_path):
    """`make run`'s gunicorn command, with two workers, on a copy of the test content (and an
    empty database: the ``database_url`` fixture resets PostgreSQL's)."""
    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        INSTANCE_PATH=str(tmp_path / "instance"),
        CONTENT_DIR=str(content),
        SECRET_KEY="serving-test-key",
        CONTENT_REFRESH_SECONDS="0.2",
    )
    _flask(env, "db", "upgrade")
    _flask(env, "content", "load")
    _flask(
        env,
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
    log = tmp_path / "gunicorn.log"
    with gunicorn_server(env, log) as base:
        yield base, content, log


def test_preloaded_workers_serve_signed_in_pages_and_see_content_edits(served):
    base, content, log = served
    learner = Browser(base)
    learner.sign_in("learner@example.org", PASSWORD)
    # Many requests, each on a new connection, so both workers serve some: each reads the
    # database on its own connections (none was opened in the master before the fork).
    for _ in range(20):
        assert OLD_TITLE in learner.get("/learn/")

    module = content / "modules" / "test-callers.md"
    module.write_text(module.read_text().replace(f"title: {OLD_TITLE}", f"title: {NEW_TITLE}"))
    # Every worker started its own watcher after the fork, so every one of them sees the edit:
    # twenty pages in a row from both workers, all with the new title.
    in_a_row, deadline = 0, time.monotonic() + 15
    while in_a_row < 20:
        assert time.monotonic() < deadline, f"the edit was not seen by every worker:\n{log.read_text()}"
        in_a_row = in_a_row + 1 if NEW_TITLE in learner.get("/learn/") else 0
        time.sleep(0.02)
    assert "Traceback" not in log.read_text()


def test_a_forked_process_opens_its_own_connections(app):
    """What keeps ``--preload`` safe even if the parent had used the database before forking."""
    with app.app_context():
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        db.session.remove()
        assert db.engine.pool.checkedin() == 1  # the parent's connection, back in its pool
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what its pool holds, then use the database
            try:
                inherited = db.engine.pool.checkedin()
                works = db.session.execute(text("SELECT 1")).scalar() == 1
                db.session.remove()
                os.write(write_end, f"{inherited} {works}".encode())
            finally:
                os._exit(0)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read_end) as fh:
            report = fh.read()
        assert status == 0 and report == "0 True"
        # The parent's own connection was neither closed nor disturbed by the child.
        assert db.engine.pool.checkedin() == 1
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        db.session.remove()


def test_building_the_app_starts_no_thread(database_url, tmp_path, monkeypatch):
    """gunicorn --preload forks the workers right after the app is built. A thread running in
    the master then (the content watcher, say) would not be in the workers, and a lock it held
    at that moment would stay held in them for good."""
    before = set(threading.enumerate())
    app = make_app(database_url, tmp_path, monkeypatch, CONTENT_REFRESH_SECONDS=2)
    try:
        time.sleep(0.1)  # Flask-Limiter's in-memory storage runs a 10 ms timer once at start
        assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []
        with app.app_context():
            library()  # a worker's first request: its own watcher starts now
        assert "content-watcher" in [t.name for t in set(threading.enumerate()) - before]
    finally:
        app.extensions["content_store"].close()
        close_app(app)

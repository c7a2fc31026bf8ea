"""Running Rounds for real (docs/deploy.md): the health check, SQLite backups that restore to a
chain `evidence verify` accepts, the settings for several servers, and sign-in limits counted in
the database, where every worker and server sees them."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select
from werkzeug.middleware.proxy_fix import ProxyFix

from quiz import create_app
from quiz.config import SeveralServersError
from quiz.db import db
from quiz.models import Evidence, RateLimitCounter, User

from .helpers import DATA_CONTENT, add_user, close_app, make_app, sign_in, signed_in_as

# --- /healthz --------------------------------------------------------------------------------


def test_healthz_says_ok_with_the_database_and_the_modules_it_serves(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["modules"] > 0
    assert "Set-Cookie" not in response.headers  # a load balancer's probe starts no session
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_is_503_when_no_content_is_loaded(database_url, tmp_path, monkeypatch):
    empty = tmp_path / "empty-content"
    empty.mkdir()
    app = make_app(database_url, tmp_path, monkeypatch, CONTENT_DIR=str(empty))
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "unavailable", "database": "ok", "modules": 0}
    finally:
        close_app(app)


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k",
            "CONTENT_DIR": str(DATA_CONTENT),
            "CONTENT_REFRESH_SECONDS": 0,
            "RATELIMIT_ENABLED": False,
            # a folder that is not there: SQLite cannot open the database
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gone' / 'rounds.sqlite3'}",
        }
    )
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "unavailable" and body["database"] == "unavailable" and body["modules"] > 0
        assert "sqlite" not in response.text.lower()  # no error text on an open page
    finally:
        close_app(app)


def test_healthz_needs_no_sign_in_and_is_never_rate_limited(database_url, tmp_path, monkeypatch):
    app = make_app(database_url, tmp_path, monkeypatch, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="1 per minute")
    try:
        # someone who must choose a new password first is not sent to that page by it either
        signed_in = signed_in_as(app, "learner")
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == "learner@example.org"))
            user.password_must_change = True
            db.session.commit()
        assert "/auth/password" in signed_in.get("/learn/").headers["Location"]  # (the gate is on)
        assert signed_in.get("/healthz").status_code == 200
        client = app.test_client()
        assert sign_in(client, email="nobody@example.org").status_code == 401
        assert sign_in(client, email="nobody@example.org").status_code == 429  # this address is limited
        assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5
    finally:
        close_app(app)


# --- backups -------------------------------------------------------------------------------


def _verify(database_url, tmp_path, monkeypatch, name):
    """`flask evidence verify` on a database, as a fresh app (a server started on a restore)."""
    app = make_app(database_url, tmp_path / name, monkeypatch)
    try:
        result = app.test_cli_runner().invoke(args=["evidence", "verify"])
        with app.app_context():
            count = db.session.scalar(select(func.count()).select_from(Evidence))
        return result, count
    finally:
        close_app(app)


def test_a_sqlite_backup_restores_to_a_database_evidence_verify_accepts(tmp_path, monkeypatch):
    live = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    app = make_app(live, tmp_path, monkeypatch)
    try:
        for role in ("learner", "manager"):
            signed_in_as(app, role)  # sign-ins are evidence
        runner = app.test_cli_runner()
        result = runner.invoke(args=["db", "backup", str(tmp_path / "backup.sqlite3")])
        assert result.exit_code == 0, result.output
        assert "backed up" in result.output and "evidence verify" in result.output
        again = runner.invoke(args=["db", "backup", str(tmp_path / "backup.sqlite3")])
        assert again.exit_code == 1 and "never overwrites" in again.output
        live_check = runner.invoke(args=["evidence", "verify"])
        assert live_check.exit_code == 0
    finally:
        close_app(app)
    assert (tmp_path / "backup.sqlite3").stat().st_mode & 0o077 == 0  # the owner's only
    assert not list(tmp_path.glob(".backup.sqlite3-*"))  # no partial copy left behind
    restored = tmp_path / "restored.sqlite3"
    shutil.copyfile(tmp_path / "backup.sqlite3", restored)  # the restore: a file put in place
    keyless, _ = _verify(f"sqlite:///{restored}", tmp_path, monkeypatch, "keyless")
    assert keyless.exit_code == 1 and "not among this server's evidence keys" in keyless.output  # no key, no proof
    (tmp_path / "restored" / "instance").mkdir(parents=True, mode=0o700)
    shutil.copyfile(tmp_path / "instance" / "evidence-keys", tmp_path / "restored" / "instance" / "evidence-keys")
    result, count = _verify(f"sqlite:///{restored}", tmp_path, monkeypatch, "restored")  # with the key's backup
    assert result.exit_code == 0, result.output
    assert count >= 2
    # the same count and head hash as the live one
    assert result.output.splitlines()[0] == live_check.output.splitlines()[0], (result.output, live_check.output)
    assert result.output.splitlines()[0].startswith("evidence ok:")


def test_db_backup_points_postgresql_to_pg_dump(tmp_path, monkeypatch):
    import os

    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set: the PostgreSQL half of db backup did not run")
    from .helpers import reset_postgresql

    reset_postgresql(url)
    app = make_app(url, tmp_path, monkeypatch)
    try:
        result = app.test_cli_runner().invoke(args=["db", "backup", str(tmp_path / "x.dump")])
        assert result.exit_code == 2 and "pg_dump" in result.output
        assert not (tmp_path / "x.dump").exists()
    finally:
        close_app(app)


# --- several servers -----------------------------------------------------------------------


def test_a_server_among_several_refuses_to_start_with_a_generated_secret_key(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SERVERS", "2")
    with pytest.raises(SeveralServersError, match="SECRET_KEY is not set"):
        create_app()
    assert not (tmp_path / "instance" / "secret_key").exists()  # none generated either
    monkeypatch.setenv("SERVERS", "1")  # the only one: it generates one, as before
    app = create_app()
    assert app.config["SECRET_KEY"] == (tmp_path / "instance" / "secret_key").read_text().strip()


def test_a_server_among_several_refuses_to_make_an_evidence_key_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("SECRET_KEY", "shared-key")
    monkeypatch.delenv("EVIDENCE_KEYS", raising=False)
    monkeypatch.delenv("EVIDENCE_KEY_FILE", raising=False)
    monkeypatch.setenv("SERVERS", "2")
    with pytest.raises(SeveralServersError, match="no evidence key file"):
        create_app()
    assert not (tmp_path / "instance" / "evidence-keys").exists()  # none made either
    monkeypatch.setenv("SERVERS", "1")  # the only one: it makes the file ...
    create_app()
    monkeypatch.setenv("SERVERS", "2")  # ... which, copied to the others, is what they need
    assert create_app().extensions["evidence_keys"]


def test_several_servers_refuse_per_process_rate_limits_and_a_bad_count(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("SECRET_KEY", "shared-key")
    monkeypatch.setenv("EVIDENCE_KEYS", "shared:" + "cd" * 32)
    monkeypatch.setenv("SERVERS", "2")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    with pytest.raises(SeveralServersError, match="memory://"):
        create_app()
    monkeypatch.delenv("RATELIMIT_STORAGE_URI")
    assert create_app().config["RATELIMIT_STORAGE_URI"] == "database://"
    monkeypatch.setenv("SERVERS", "two")
    with pytest.raises(ValueError, match="SERVERS must be a whole number, at least 1"):
        create_app()


def test_proxies_sets_how_many_forwarded_addresses_are_trusted(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("SECRET_KEY", "k")
    monkeypatch.setenv("PROXIES", "2")
    app = create_app()
    assert isinstance(app.wsgi_app, ProxyFix) and app.wsgi_app.x_for == 2 and app.wsgi_app.x_proto == 1
    monkeypatch.delenv("PROXIES")
    monkeypatch.setenv("TRUST_PROXY", "1")
    assert create_app().wsgi_app.x_for == 1
    monkeypatch.delenv("TRUST_PROXY")
    assert not isinstance(create_app().wsgi_app, ProxyFix)


def test_two_servers_on_one_database_count_an_address_s_failed_sign_ins_together(database_url, tmp_path, monkeypatch):
    """The default storage (database://): what one server (or worker) counted, the other sees."""
    first = make_app(
        database_url, tmp_path / "one", monkeypatch, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute"
    )
    second = make_app(
        database_url, tmp_path / "two", monkeypatch, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute"
    )
    try:
        assert first.config["RATELIMIT_STORAGE_URI"] == "database://"
        add_user(first, email="nurse@example.org", name="Nurse")
        one, two = first.test_client(), second.test_client()
        codes = [sign_in(client, email="x@example.org").status_code for client in (one, two, one, two, one)]
        assert codes == [401, 401, 401, 429, 429]
        with first.app_context():
            counters = db.session.execute(select(RateLimitCounter.key, RateLimitCounter.hits)).all()
        # one counter for the address, with every failure in it (a refused try is one too)
        assert [hits for _, hits in counters] == [5] and "auth.login" in counters[0][0]
    finally:
        close_app(first)
        close_app(second)


def test_a_lone_postgresql_server_with_a_generated_key_warns_that_another_would_need_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SERVERS", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://rounds_app@127.0.0.1:1/rounds")  # never connected to
    create_app()
    assert "if another server shares this database, set the same SECRET_KEY" in caplog.text
    caplog.clear()
    monkeypatch.setenv("SECRET_KEY", "set-by-the-admin")
    create_app()
    assert "SECRET_KEY is generated" not in caplog.text

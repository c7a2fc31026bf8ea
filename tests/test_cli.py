"""The command line: content check/load, users add, demo seed."""

from __future__ import annotations

import shutil

from sqlalchemy import func, select

from quiz.config import PROJECT_ROOT
from quiz.db import db
from quiz.models import ContentVersion, User

from .conftest import DATA_CONTENT, close_app, make_app


def _run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_content_check_passes_with_a_summary_of_score_ranges(app):
    result = _run(app, "content", "check")
    assert result.exit_code == 0, result.output
    assert "2 modules" in result.output and "test-check 0..4" in result.output


def test_the_shipped_content_passes_the_check(app):
    app.config["CONTENT_DIR"] = str(PROJECT_ROOT / "content")
    result = _run(app, "content", "check")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("content ok:")


def test_content_check_names_file_and_line_of_a_broken_scenario(app, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    broken = content / "scenarios" / "test-check.md"
    text = broken.read_text().replace("### Only the appointment time -> good-end", "### Only the appointment time -> nowhere")
    broken.write_text(text)
    line = text.splitlines().index("### Only the appointment time -> nowhere") + 1
    app.config["CONTENT_DIR"] = str(content)
    result = _run(app, "content", "check")
    assert result.exit_code == 1
    assert f"test-check.md:{line}:" in result.output and "nowhere" in result.output


def test_content_check_of_one_path_reports_only_that_file(app, tmp_path):
    draft = tmp_path / "drafts" / "scenarios"
    draft.mkdir(parents=True)
    (draft / "bad.md").write_text("no front matter here\n")
    result = _run(app, "content", "check", str(draft / "bad.md"))
    assert result.exit_code == 1
    assert "bad.md:1:" in result.output
    assert "test-check" not in result.output


def test_each_error_is_printed_once_by_content_check_and_logged_once_by_a_server(tmp_path, monkeypatch):
    """Building the app (as every `flask` command does) loads the content but does not log its
    errors: `content check` prints them itself. A server logs them when it first reads them."""
    from quiz.content import library as library_module

    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    broken = content / "scenarios" / "test-check.md"
    broken.write_text(broken.read_text().replace("Points: 2", "Points: two", 1))
    logged: list[str] = []  # (the app's migrations reconfigure logging, so caplog would miss them)
    monkeypatch.setattr(library_module.log, "error", lambda message, *args: logged.append(message % args))
    app = make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, monkeypatch, CONTENT_DIR=str(content))
    try:
        whole = _run(app, "content", "check")
        named = _run(app, "content", "check", str(broken))
        assert logged == []
        app.extensions["content_store"].library  # a request's first read
        app.extensions["content_store"].library
    finally:
        close_app(app)
    printed = whole.output.splitlines()
    assert printed[-1] == "5 errors" and len(set(printed)) == len(printed) == 6
    assert printed[1].endswith(
        "curricula.yml:8: module `test-callers` is not served because of errors (named on lines 8, 10, 13 and 18): "
        f"fix {broken} first"
    )
    # The same errors, in the same order, the cause first (the curricula file is not the store's).
    assert logged == [printed[0], *printed[2:-1]]
    assert named.output.splitlines() == [printed[0], "1 error"]
    assert printed[0].endswith("scenarios/test-check.md:15: `Points:` must be a whole number, got `two`")


def test_content_load_stores_sources_once(app):
    first = _run(app, "content", "load")
    second = _run(app, "content", "load")
    assert "4 new versions stored" in first.output and "0 new versions stored" in second.output
    with app.app_context():
        stored = db.session.scalar(select(ContentVersion).where(ContentVersion.content_id == "test-callers"))
        assert stored.source == (DATA_CONTENT / "modules" / "test-callers.md").read_text()


def test_users_add_reads_the_password_from_stdin(app):
    result = _run(
        app, "users", "add", "Nurse@Example.org", "--name", "Ana Lima", "--role", "learner",
        "--job-role", "clinical", "--department", "Ward 4", input="a long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User))
        assert (user.email, user.name, user.job_role, user.department) == ("nurse@example.org", "Ana Lima", "clinical", "Ward 4")
        assert user.password_hash.startswith("$argon2id$")


def test_users_add_rejects_a_short_password_and_an_unknown_supervisor(app):
    short = _run(app, "users", "add", "a@example.org", "--name", "A", "--job-role", "it", input="short\n")
    assert short.exit_code != 0 and "12 characters" in short.output
    missing = _run(app, "users", "add", "a@example.org", "--name", "A", "--job-role", "it",
                   "--supervisor", "ghost@example.org", input="a long enough passphrase\n")
    assert missing.exit_code != 0 and "ghost@example.org" in missing.output
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 0


def test_demo_seed_creates_the_organisation_once(app):
    first = _run(app, "demo", "seed")
    assert first.exit_code == 0 and "shown once" in first.output
    assert first.output.count("@demo.rounds") == 9
    second = _run(app, "demo", "seed")
    assert "not created" in second.output
    with app.app_context():
        roles = set(db.session.scalars(select(User.job_role)))
        learner = db.session.scalar(select(User).where(User.email == "frontdesk@demo.rounds"))
        assert learner.supervisor.email == "manager@demo.rounds"
    assert {"front-desk", "case-manager", "pharmacy", "business-associate"} <= roles


def test_set_password_lets_an_imported_person_sign_in_and_ends_old_sessions(app):
    from quiz.models import NO_PASSWORD

    from .conftest import add_user, sign_in

    uid = add_user(app, email="imported@example.org")
    with app.app_context():
        person = db.session.get(User, uid)
        person.password_hash = NO_PASSWORD
        version = person.session_version
        db.session.commit()
    assert sign_in(app.test_client(), "imported@example.org", "a new long passphrase").status_code == 401
    result = _run(app, "users", "set-password", "imported@example.org", input="a new long passphrase\n")
    assert result.exit_code == 0, result.output
    assert sign_in(app.test_client(), "imported@example.org", "a new long passphrase").status_code == 303
    with app.app_context():
        assert db.session.get(User, uid).session_version == version + 1
    assert _run(app, "users", "set-password", "ghost@example.org", input="a new long passphrase\n").exit_code != 0

"""The command line: content check/load, users add, demo seed, the daily jobs' --today."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta

from sqlalchemy import func, select

from quiz import assignments, clock
from quiz.config import PROJECT_ROOT
from quiz.db import db
from quiz.models import Assignment, ContentVersion, Evidence, OutboxMessage, User

from .helpers import DATA_CONTENT, add_user, close_app, make_app, run_cli


def test_content_check_passes_with_a_summary_of_score_ranges(app):
    result = run_cli(app, "content", "check")
    assert result.exit_code == 0, result.output
    assert "2 modules" in result.output and "test-check 0..4" in result.output


def test_content_policies_lists_each_our_policy_sentence_by_file_and_line(app):
    result = run_cli(app, "content", "policies")
    assert result.exit_code == 0, result.output
    from quiz.content import load_library

    path = load_library(DATA_CONTENT).modules["test-callers"].path  # as the library names files
    line = next(n for n, text in enumerate(open(path, encoding="utf-8"), start=1) if "Our policy: a call" in text)
    assert result.output.splitlines() == [
        f"{path}:{line}: Our policy: a call back on the number in the chart before anything is shared.",
        "1 policy statement in 1 file",
    ]


def test_the_shipped_content_passes_the_check(app):
    app.config["CONTENT_DIR"] = str(PROJECT_ROOT / "content")
    result = run_cli(app, "content", "check")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("content ok:")


def test_content_check_names_file_and_line_of_a_broken_scenario(app, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    broken = content / "scenarios" / "test-check.md"
    text = broken.read_text().replace(
        "### Only the appointment time -> good-end", "### Only the appointment time -> nowhere"
    )
    broken.write_text(text)
    line = text.splitlines().index("### Only the appointment time -> nowhere") + 1
    app.config["CONTENT_DIR"] = str(content)
    result = run_cli(app, "content", "check")
    assert result.exit_code == 1
    assert f"test-check.md:{line}:" in result.output and "nowhere" in result.output


def test_content_check_of_one_path_reports_only_that_file(app, tmp_path):
    draft = tmp_path / "drafts" / "scenarios"
    draft.mkdir(parents=True)
    (draft / "bad.md").write_text("no front matter here\n")
    result = run_cli(app, "content", "check", str(draft / "bad.md"))
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
        whole = run_cli(app, "content", "check")
        named = run_cli(app, "content", "check", str(broken))
        assert logged == []
        _ = app.extensions["content_store"].library  # a request's first read
        _ = app.extensions["content_store"].library
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
    first = run_cli(app, "content", "load")
    second = run_cli(app, "content", "load")
    assert "4 new versions stored" in first.output and "0 new versions stored" in second.output
    with app.app_context():
        stored = db.session.scalar(select(ContentVersion).where(ContentVersion.content_id == "test-callers"))
        assert stored.source == (DATA_CONTENT / "modules" / "test-callers.md").read_text()


def test_users_add_reads_the_password_from_stdin(app):
    result = run_cli(
        app,
        "users",
        "add",
        "Nurse@Example.org",
        "--name",
        "Ana Lima",
        "--role",
        "learner",
        "--job-role",
        "clinical",
        "--department",
        "Ward 4",
        input="a long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User))
        assert (user.email, user.name, user.job_role, user.department) == (
            "nurse@example.org",
            "Ana Lima",
            "clinical",
            "Ward 4",
        )
        assert user.password_hash.startswith("$argon2id$")


def test_users_add_rejects_a_short_password_and_an_unknown_supervisor(app):
    short = run_cli(app, "users", "add", "a@example.org", "--name", "A", "--job-role", "it", input="short\n")
    assert short.exit_code != 0 and "12 characters" in short.output
    missing = run_cli(
        app,
        "users",
        "add",
        "a@example.org",
        "--name",
        "A",
        "--job-role",
        "it",
        "--supervisor",
        "ghost@example.org",
        input="a long enough passphrase\n",
    )
    assert missing.exit_code != 0 and "ghost@example.org" in missing.output
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 0


def test_demo_seed_creates_the_organization_once(app):
    first = run_cli(app, "demo", "seed")
    assert first.exit_code == 0 and "DEMO ORGANIZATION CREATED" in first.output
    assert len(set(re.findall(r"^  (\S+@demo\.rounds) ", first.output, re.M))) == 9
    second = run_cli(app, "demo", "seed")
    assert "made earlier: nothing to do" in second.output and "demo passwords" in second.output
    with app.app_context():
        roles = set(db.session.scalars(select(User.job_role)))
        learner = db.session.scalar(select(User).where(User.email == "frontdesk@demo.rounds"))
        assert learner.supervisor.email == "manager@demo.rounds"
    assert {"front-desk", "case-manager", "pharmacy", "business-associate"} <= roles


def test_set_password_lets_an_imported_person_sign_in_and_ends_old_sessions(app):
    from quiz.models import NO_PASSWORD

    from .helpers import add_user, sign_in

    uid = add_user(app, email="imported@example.org")
    with app.app_context():
        person = db.session.get(User, uid)
        person.password_hash = NO_PASSWORD
        version = person.session_version
        db.session.commit()
    assert sign_in(app.test_client(), "imported@example.org", "a new long passphrase").status_code == 401
    result = run_cli(app, "users", "set-password", "imported@example.org", input="a new long passphrase\n")
    assert result.exit_code == 0, result.output
    assert sign_in(app.test_client(), "imported@example.org", "a new long passphrase").status_code == 303
    with app.app_context():
        assert db.session.get(User, uid).session_version == version + 1
    assert run_cli(app, "users", "set-password", "ghost@example.org", input="a new long passphrase\n").exit_code != 0


# --- --today: a missed day may be run again, a day to come is refused -----------------------


def _everything(app) -> tuple:
    """What a day's run could write: the evidence, every assignment and its state, the outbox."""
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Evidence)),
            tuple(
                db.session.execute(select(Assignment.id, Assignment.due_on, Assignment.state).order_by(Assignment.id))
            ),
            db.session.scalar(select(func.count()).select_from(OutboxMessage)),
        )


def test_refresh_and_reminders_refuse_a_day_to_come_and_write_nothing(app):
    assert run_cli(app, "demo", "seed").exit_code == 0  # onboarding due within 30 days for most learners
    before = _everything(app)
    assert before[0] > 0 and before[1] and any(state == "open" for _, _, state in before[1])
    today = clock.real_today()
    future = today + timedelta(days=45)  # every open demo assignment would be overdue then
    for command in (("assignments", "refresh"), ("reminders", "send")):
        result = run_cli(app, *command, "--today", future.isoformat())
        assert result.exit_code == 2, result.output
        assert (
            f"Invalid value for '--today': {future.isoformat()} has not happened yet: "
            f"today is {today.isoformat()} (UTC)"
        ) in result.output
        assert "a missed day can be run again, a day to come cannot" in result.output
        assert _everything(app) == before  # no evidence, no assignment marked, no outbox row
    # Not a date at all: said so, and nothing written either.
    result = run_cli(app, "assignments", "refresh", "--today", "20-01-2027")
    assert result.exit_code == 2 and "'20-01-2027' is not a date: use YYYY-MM-DD" in result.output
    assert _everything(app) == before


def test_refresh_runs_again_for_a_missed_day(app):
    uid = add_user(app)
    yesterday = clock.real_today() - timedelta(days=1)
    with app.app_context():
        assignments.ensure(
            db.session, db.session.get(User, uid), "test-callers", yesterday - timedelta(days=2), "manager-choice"
        )
        db.session.commit()
    result = run_cli(app, "assignments", "refresh", "--today", yesterday.isoformat())
    assert result.exit_code == 0, result.output
    assert "1 marked overdue" in result.output
    with app.app_context():
        record = db.session.scalar(select(Evidence).where(Evidence.event == "assignment.overdue"))
        assert json.loads(record.details)["days_late"] == 2  # late as of the day that was run
        assert record.recorded_at[:10] == clock.real_today().isoformat()  # recorded when it was
    assert run_cli(app, "evidence", "verify").exit_code == 0

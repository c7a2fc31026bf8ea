"""xAPI 1.0.3 out (quiz/xapi.py): a learner's evidence as statements, through the outbox, to a
real learning record store on loopback (ralph, started here from its own virtualenv, .venv-lrs,
which `make test` makes), read back from it; every statement Rounds makes is also checked
against ralph's strict pydantic model of an xAPI statement (tests/lrs/validate.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import urllib.request
import uuid
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, update

from quiz import audit_package, xapi
from quiz.config import PROJECT_ROOT
from quiz.db import Steps, db
from quiz.models import Attempt, Evidence, User, XapiStatement, as_utc, utcnow

from .helpers import (
    DATA_CONTENT,
    MODULE,
    add_user,
    assign_module,
    choose,
    close_app,
    csrf_token,
    free_port,
    make_app,
    page_text,
    pass_and_sign,
    post_step,
    run_cli,
    sign_in,
    signed_in_as,
    through_lesson,
)

LRS_VENV = Path(os.environ.get("ROUNDS_LRS_VENV") or PROJECT_ROOT / ".venv-lrs")
LRS_USER, LRS_PASSWORD = "rounds", "lrs-test-password"
EMAIL = "learner@example.org"
ADL = "http://adlnet.gov/expapi/verbs/"


def _lrs_venv() -> Path:
    if (LRS_VENV / "bin" / "uvicorn").exists():
        return LRS_VENV
    why = f"no LRS virtualenv at {LRS_VENV}: `make test` makes it (tests/lrs/requirements.txt)"
    if os.environ.get("CI") == "true":
        pytest.fail(why + "; CI must run the xAPI tests against a real LRS")
    pytest.skip(why)


class Lrs:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/xAPI"

    def statements(self, **params) -> list[dict]:
        """Every statement the LRS returns for the query, following its `more` links."""
        found: list[dict] = []
        url, query = self.url + "/statements", {"limit": 500, **params}
        while url:
            answer = requests.get(
                url,
                params=query,
                auth=(LRS_USER, LRS_PASSWORD),
                headers={"X-Experience-API-Version": "1.0.3"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            found += body["statements"]
            more = body.get("more")
            url, query = (self.url.rsplit("/xAPI", 1)[0] + more, None) if more else ("", None)
        return found

    def of(self, base_url: str, name: str) -> list[dict]:
        """The statements about one person, oldest first. (ralph 5.1.0's file backend matches
        its `agent` filter, not its `activity` nor `verb` filters: those it compares as IRI
        objects to strings, and finds nothing.)"""
        agent = json.dumps({"objectType": "Agent", "account": {"homePage": base_url, "name": name}})
        return sorted(self.statements(agent=agent), key=lambda s: s["timestamp"])


@pytest.fixture(scope="module")
def lrs(tmp_path_factory):
    """ralph, the LRS, with its file backend (appending: tests/lrs/lrs_app.py) and one
    basic-auth user, on a free loopback port."""
    venv = _lrs_venv()
    home = tmp_path_factory.mktemp("lrs")
    env = {
        **os.environ,
        "RALPH_APP_DIR": str(home / "app"),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_RUNSERVER_AUTH_BACKENDS": "basic",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(home / "data"),
    }
    (home / "data").mkdir()
    made = subprocess.run(
        [venv / "bin" / "ralph", "auth", "-u", LRS_USER, "-p", LRS_PASSWORD, "-s", "statements/write"]
        + ["-s", "statements/read", "-A", "rounds-tests", "http://127.0.0.1", "-w"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    port = free_port()
    log = (home / "lrs.log").open("w")
    server = subprocess.Popen(
        [venv / "bin" / "uvicorn", "lrs_app:app", "--app-dir", PROJECT_ROOT / "tests" / "lrs"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/__heartbeat__", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the LRS did not start: " + (home / "lrs.log").read_text()[-2000:])
            time.sleep(0.2)
        yield Lrs(port)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def strictly_valid(statements: list[dict]) -> None:
    """Each statement passes ralph's strict model of an xAPI statement."""
    checked = subprocess.run(
        [_lrs_venv() / "bin" / "python", PROJECT_ROOT / "tests" / "lrs" / "validate.py"],
        input=json.dumps(statements),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == [], checked.stdout


@pytest.fixture
def site():
    """A BASE_URL of the test's own: the actors' account home page, so that what each test
    sends to the one LRS is told apart."""
    return f"https://rounds-{uuid.uuid4().hex[:12]}.example"


@pytest.fixture
def app(database_url, tmp_path, monkeypatch, lrs, site):
    app = make_app(
        database_url,
        tmp_path,
        monkeypatch,
        BASE_URL=site,
        XAPI_LRS_URL=lrs.url,
        XAPI_LRS_USERNAME=LRS_USER,
        XAPI_LRS_PASSWORD=LRS_PASSWORD,
        XAPI_BATCH=50,
        XAPI_TIMEOUT_SECONDS=10,
    )
    yield app
    close_app(app)


def add_person(app, employee_id: str | None) -> int:
    """The learner, with this employee id from the roster (None: the roster gave none)."""
    uid = add_user(app)
    with app.app_context():
        db.session.get_one(User, uid).employee_id = employee_id
        db.session.commit()
    return uid


def a_learner_takes_the_module(app, *, employee_id: str | None = "E-1001") -> None:
    """Assigned the test module, the lesson, both decisions right, passed, signed: over HTTP."""
    add_person(app, employee_id)
    assign_module(app, EMAIL, "test-callers", date.today() + timedelta(days=10))
    client = app.test_client()
    assert sign_in(client).status_code == 303
    through_lesson(client)
    assert pass_and_sign(client).status_code == 303


def outbox(app) -> list[XapiStatement]:
    with app.app_context():
        rows = list(db.session.scalars(select(XapiStatement).order_by(XapiStatement.seq)))
        db.session.expunge_all()
        return rows


def test_a_learners_whole_module_reaches_the_lrs_and_reads_back_in_order(app, lrs, site):
    a_learner_takes_the_module(app)
    assert outbox(app) == []  # the learner's requests queued nothing and sent nothing
    assert lrs.of(site, "E-1001") == []

    sent = run_cli(app, "xapi", "send")
    assert sent.exit_code == 0, sent.output
    assert "8 statements queued, 8 sent, 0 refused" in sent.output

    got = lrs.of(site, "E-1001")
    verbs = [s["verb"]["id"].rsplit("/", 1)[-1] for s in got]
    assert verbs == [
        "assigned",
        "attempted",
        "experienced",
        "experienced",
        "answered",
        "answered",
        "passed",
        "accept",
    ]
    with app.app_context():
        attempt = db.session.scalars(select(Attempt)).one()
        version, policy_version = attempt.module_version, attempt.policy_version
        hashes = dict(db.session.execute(select(Evidence.seq, Evidence.hash)).tuples().all())
    module_iri = f"{site}/xapi/activities/module/test-callers"
    ext = f"{site}/xapi/extensions/"

    for statement in got:  # the organization's account id, never an email
        assert statement["actor"] == {"objectType": "Agent", "account": {"homePage": site, "name": "E-1001"}}
        assert EMAIL not in json.dumps(statement) and "mbox" not in json.dumps(statement)
        record = statement["context"]["extensions"][ext + "evidence-record"]
        assert statement["id"] == xapi.statement_id(hashes[record["seq"]])
    for statement in got[1:]:  # (an assignment is of the module, not of a version)
        assert statement["context"]["extensions"][ext + "content-version"] == version
    assert got[0]["verb"]["display"] == {"en-US": "was assigned"}
    assert got[0]["verb"]["id"] == f"{site}/xapi/verbs/assigned"
    assert got[0]["object"]["id"] == module_iri
    assert got[0]["context"]["extensions"][ext + "assignment"]["reason"] == "onboarding"

    registration = got[1]["context"]["registration"]
    assert all(s["context"]["registration"] == registration for s in got[1:])

    screens = got[2:4]
    assert [s["object"]["id"] for s in screens] == [f"{module_iri}/screen/1", f"{module_iri}/screen/2"]
    assert [s["object"]["definition"]["name"]["en-US"] for s in screens] == ["First screen", "Second screen"]
    assert all(s["context"]["contextActivities"]["parent"][0]["id"] == module_iri for s in screens)

    first, second = got[4:6]
    assert first["object"]["id"] == f"{site}/xapi/activities/scenario/test-check/call"
    definition = first["object"]["definition"]
    assert definition["type"] == "http://adlnet.gov/expapi/activities/cmi.interaction"
    assert definition["interactionType"] == "choice"
    assert [c["description"]["en-US"] for c in definition["choices"]] == [
        "Ask for two identifiers",
        "Read out the appointment time",
        "Fax the records to the number given",
    ]
    assert definition["correctResponsesPattern"] == ["choice-1"]
    assert first["result"]["response"] == "choice-1" and first["result"]["success"] is True
    assert first["context"]["contextActivities"]["grouping"][0]["id"] == module_iri
    assert first["context"]["extensions"][ext + "objective"] == "verify-identity"
    assert second["object"]["id"] == f"{site}/xapi/activities/scenario/test-check/verify"
    assert second["result"]["response"] == "choice-1"
    assert second["object"]["definition"]["correctResponsesPattern"] == ["choice-1"]

    passed = got[6]
    assert passed["verb"]["id"] == ADL + "passed" and passed["object"]["id"] == module_iri
    assert passed["result"]["success"] is True and passed["result"]["completion"] is True
    assert passed["result"]["score"] == {"raw": 4, "min": 0, "max": 4, "scaled": 1.0}
    assert passed["result"]["extensions"][ext + "pass-score"] == 4

    accepted = got[7]
    assert accepted["verb"] == {"id": "http://activitystrea.ms/schema/1.0/accept", "display": {"en-US": "accepted"}}
    assert accepted["object"]["id"] == f"{site}/xapi/activities/policy/test-verification-policy"
    policy = accepted["context"]["extensions"][ext + "policy"]
    assert policy == {"id": "test-verification-policy", "name": "Test Verification Policy", "version": policy_version}
    assert accepted["context"]["extensions"][ext + "policy-version"] == "1.0"
    assert "Dana Whitfield" not in json.dumps(got)  # nor the typed signature, nor the name

    # What was sent is exactly what the outbox keeps, and each is a valid xAPI statement.
    rows = outbox(app)
    assert [r.state for r in rows] == ["sent"] * 8 and all(r.attempts == 1 for r in rows)
    strictly_valid([json.loads(r.statement) for r in rows])

    # Sending again sends nothing new; sending the same statements again duplicates nothing.
    again = run_cli(app, "xapi", "send")
    assert again.exit_code == 0 and "0 statements queued, 0 sent" in again.output
    with app.app_context():
        db.session.execute(update(XapiStatement).values(state="queued", next_attempt_at=utcnow()))
        db.session.commit()
    resent = run_cli(app, "xapi", "send")
    assert resent.exit_code == 0 and "0 statements queued, 8 sent" in resent.output
    assert [s["id"] for s in lrs.of(site, "E-1001")] == [s["id"] for s in got]


def test_with_the_lrs_down_learners_go_on_and_the_statements_wait_with_backoff(app, lrs, site):
    app.config["XAPI_LRS_URL"] = f"http://127.0.0.1:{free_port()}/xAPI"  # nothing listens there
    add_person(app, "E-2002")
    client = app.test_client()
    assert sign_in(client).status_code == 303
    through_lesson(client)
    assert pass_and_sign(client).status_code == 303
    assert client.get(MODULE).status_code == 200  # the learner's pages never waited for the LRS

    down = run_cli(app, "xapi", "send")
    assert down.exit_code == 1
    assert "7 statements queued, 0 sent, 0 refused, 7 waiting" in down.output
    rows = outbox(app)
    assert len(rows) == 7 and {r.state for r in rows} == {"queued"}
    assert all(r.attempts == 1 and "no answer from the LRS" in (r.last_error or "") for r in rows)
    for row in rows:  # the next try in a minute, not at once
        wait = as_utc(row.next_attempt_at) - as_utc(row.created_at)
        assert timedelta(seconds=50) < wait < timedelta(minutes=3)

    waiting = run_cli(app, "xapi", "send")  # nothing is due yet: nothing tried
    assert waiting.exit_code == 0 and "0 sent, 0 refused, 0 waiting" in waiting.output
    assert {r.attempts for r in outbox(app)} == {1}

    admin = signed_in_as(app, "admin")
    page = admin.get("/admin/xapi")
    assert page.status_code == 200
    text = page_text(page.text)
    assert "Waiting to be tried again" in text and "no answer from the LRS" in text

    # Back up: Retry makes a row due at once; the rest go when their wait is over.
    row = rows[0]
    retried = admin.post(f"/admin/xapi/{row.id}/retry", data={"csrf_token": csrf_token(page.text)})
    assert retried.status_code == 303
    app.config["XAPI_LRS_URL"] = lrs.url
    one = run_cli(app, "xapi", "send")
    assert one.exit_code == 0 and "1 sent" in one.output, one.output
    with app.app_context():
        db.session.execute(update(XapiStatement).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    rest = run_cli(app, "xapi", "send")
    assert rest.exit_code == 0 and "6 sent" in rest.output
    assert len(lrs.of(site, "E-2002")) == 7
    assert [r.attempts for r in outbox(app)] == [2, 2, 2, 2, 2, 2, 2]


def test_a_statement_the_lrs_refuses_is_shown_with_its_error_and_retried_from_the_admin_page(app, lrs, site):
    add_person(app, "E-3003")
    client = app.test_client()
    assert sign_in(client).status_code == 303
    through_lesson(client)  # attempt.started and two lesson.viewed
    with app.app_context():
        library = app.extensions["content_store"].library
        assert xapi.queue(db.session, library, site, Steps(db.session)) == 3
        db.session.commit()
        bad = db.session.scalars(select(XapiStatement).order_by(XapiStatement.seq)).all()[1]
        statement = json.loads(bad.statement)
        statement["actor"] = {"objectType": "Agent", "name": "nobody"}  # no identifier: an LRS must refuse it
        bad.statement, bad_id = json.dumps(statement), bad.id
        db.session.commit()

    refused = run_cli(app, "xapi", "send")
    assert refused.exit_code == 1
    assert "2 sent, 1 refused" in refused.output
    states = {r.id: r for r in outbox(app)}
    assert states[bad_id].state == "refused" and states[bad_id].last_error.startswith("422 Unprocessable Entity")
    assert [s["verb"]["display"]["en-US"] for s in lrs.of(site, "E-3003")] == ["attempted", "experienced"]

    again = run_cli(app, "xapi", "send")  # a refused statement is not sent again by itself
    assert again.exit_code == 0 and "0 sent, 0 refused" in again.output

    admin = signed_in_as(app, "admin")
    index = admin.get("/admin/")
    assert 'href="/admin/xapi"' in index.text
    page = admin.get("/admin/xapi")
    text = page_text(page.text)
    assert "Refused by the LRS" in text and states[bad_id].last_error[:40] in text
    assert f'action="/admin/xapi/{bad_id}/retry"' in page.text
    assert admin.post(f"/admin/xapi/{bad_id}/retry", data={}).status_code == 400  # no CSRF token: nothing
    assert outbox(app)[1].state == "refused"
    done = admin.post(f"/admin/xapi/{bad_id}/retry", data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/xapi")
    assert "is queued" in page_text(admin.get("/admin/xapi").text)
    assert outbox(app)[1].state == "queued"

    with app.app_context():  # fixed (here, by hand), it goes at the next run
        row = db.session.get(XapiStatement, bad_id)
        fixed = json.loads(row.statement)
        fixed["actor"] = {"objectType": "Agent", "account": {"homePage": site, "name": "E-3003"}}
        row.statement = json.dumps(fixed)
        db.session.commit()
    sent = run_cli(app, "xapi", "send")
    assert sent.exit_code == 0 and "1 sent" in sent.output
    assert outbox(app)[1].state == "sent" and outbox(app)[1].attempts == 2

    assert client.get("/admin/xapi").status_code == 403  # the learner
    assert signed_in_as(app, "compliance").get("/admin/xapi").status_code == 403


def test_no_lrs_configured_queues_nothing(app):
    app.config["XAPI_LRS_URL"] = None
    a_learner_takes_the_module(app)
    result = run_cli(app, "xapi", "send")
    assert result.exit_code == 0 and "XAPI_LRS_URL is not set" in result.output
    assert outbox(app) == []
    page = signed_in_as(app, "admin").get("/admin/xapi")
    assert "No learning record store is configured" in page_text(page.text)


def test_every_kind_is_a_valid_statement_and_a_person_without_employee_id_is_their_rounds_account(app, site):
    """A failed attempt, a waiver and a person with no employee id, checked against the model."""
    uid = add_person(app, None)
    assign_module(app, EMAIL, "test-refresher", date.today() + timedelta(days=30), waive="Trained elsewhere")
    client = app.test_client()
    assert sign_in(client).status_code == 303
    through_lesson(client)
    choose(client, "Fax the records to the number given")  # critical: the attempt fails
    post_step(client, "continue")
    with app.app_context():
        library = app.extensions["content_store"].library
        records = [
            xapi.Record(*row) for row in db.session.execute(select(*xapi._RECORD_COLUMNS).order_by(Evidence.seq))
        ]
        built = [s for s in (xapi.Builder(db.session, library, site).statement(r) for r in records) if s]
    verbs = [s["verb"]["display"]["en-US"] for s in built]
    assert "was excused from" in verbs and "failed" in verbs and "answered" in verbs
    for statement in built:
        assert statement["actor"]["account"] == {"homePage": site, "name": f"rounds-user-{uid}"}
    waived = next(s for s in built if s["verb"]["display"]["en-US"] == "was excused from")
    assert "Trained elsewhere" not in json.dumps(waived)  # an admin's free text stays in Rounds
    failed = next(s for s in built if s["verb"]["display"]["en-US"] == "failed")
    assert failed["result"]["success"] is False
    assert failed["result"]["extensions"][f"{site}/xapi/extensions/critical-choices"] == 1
    wrong = next(s for s in built if s["verb"]["display"]["en-US"] == "answered")
    assert wrong["result"] == {
        "response": "choice-3",
        "success": False,
        "score": {"raw": 0},
        "extensions": {f"{site}/xapi/extensions/critical": True},
    }
    strictly_valid(built)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_backoff_doubles_from_a_minute_to_six_hours_at_most():
    assert [xapi.backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert xapi.backoff(30) == timedelta(hours=6)


def test_the_audit_package_holds_the_statements(app, site):
    a_learner_takes_the_module(app)
    with app.app_context():
        library = app.extensions["content_store"].library
        out = io.BytesIO()
        package = audit_package.write(
            db.session, audit_package.Scope(), out, made_by="test", library=library, base_url=site
        )
        hashes = dict(db.session.execute(select(Evidence.seq, Evidence.hash)).tuples().all())
    archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    statements = json.loads(archive.read(audit_package.STATEMENTS))
    assert len(statements) == 8
    assert [s["verb"]["display"]["en-US"] for s in statements][-2:] == ["passed", "accepted"]
    for statement in statements:
        seq = statement["context"]["extensions"][f"{site}/xapi/extensions/evidence-record"]["seq"]
        assert statement["id"] == xapi.statement_id(hashes[seq])
    assert any(m.name == audit_package.STATEMENTS for m in package.members)
    assert "statements.json" in archive.read(audit_package.SUMS).decode()
    assert "statements.json" in archive.read(audit_package.README).decode()
    strictly_valid(statements)


def test_the_settings_are_read_from_the_environment(tmp_path, monkeypatch):
    from quiz.config import from_environment

    monkeypatch.setenv("XAPI_LRS_URL", " https://lrs.example.org/xAPI/ ")
    monkeypatch.setenv("XAPI_LRS_USERNAME", "rounds")
    monkeypatch.setenv("XAPI_LRS_PASSWORD", "secret")
    monkeypatch.setenv("XAPI_BATCH", "20")
    settings = xapi.settings_from_config(from_environment(tmp_path))
    assert settings.statements_url == "https://lrs.example.org/xAPI/statements"
    assert (settings.username, settings.password, settings.batch) == ("rounds", "secret", 20)
    monkeypatch.setenv("XAPI_BATCH", "0")
    with pytest.raises(ValueError, match="XAPI_BATCH"):
        from_environment(tmp_path)
    assert DATA_CONTENT.exists()

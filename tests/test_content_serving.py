"""Content as the server sees it: broken files skipped, versions pinned, no parsing per request."""

from __future__ import annotations

import logging
import re
import shutil

import pytest
from sqlalchemy import func, select

from quiz.db import db
from quiz.models import ContentVersion, Evidence

from .helpers import (
    DATA_CONTENT,
    MODULE,
    add_user,
    choose,
    close_app,
    make_app,
    pass_and_sign,
    post_step,
    sign_in,
    through_lesson,
)


@pytest.fixture
def content_dir(tmp_path):
    target = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, target)
    return target


@pytest.fixture
def editable_app(database_url, tmp_path, monkeypatch, content_dir):
    app = make_app(database_url, tmp_path, monkeypatch, CONTENT_DIR=str(content_dir))
    yield app
    close_app(app)


def _learner(app):
    add_user(app)
    client = app.test_client()
    sign_in(client)
    return client


def test_a_broken_file_is_logged_and_everything_else_still_serves(editable_app, content_dir, caplog):
    (content_dir / "modules" / "broken.md").write_text("---\nid: broken\ntitle: [unclosed\n---\n")
    client = _learner(editable_app)
    with caplog.at_level(logging.ERROR, logger="quiz.content"):
        page = client.get("/learn/")
    assert "Test module on callers" in page.text
    messages = [r.getMessage() for r in caplog.records]
    assert any(re.search(r"broken\.md:3: `\[` starts a list", m) for m in messages), messages


def test_an_attempt_finishes_on_the_version_it_started(editable_app, content_dir):
    client = _learner(editable_app)
    through_lesson(client)
    scenario_file = content_dir / "scenarios" / "test-check.md"
    old_source = scenario_file.read_text()
    scenario_file.write_text(old_source.replace("The caller is verified. What do you share?", "EDITED TEXT"))
    choose(client, "Ask for two identifiers")
    page = client.get(MODULE).text
    assert "The caller is verified. What do you share?" in page and "EDITED TEXT" not in page
    with editable_app.app_context():
        event = db.session.scalar(select(Evidence).where(Evidence.event == "choice.made"))
        stored = db.session.scalar(
            select(ContentVersion).where(ContentVersion.content_id == "test-check", ContentVersion.specialty.is_(None))
        )
    assert f'"scenario_version":"{stored.version}"' in event.details
    assert stored.source == old_source


def test_requests_never_reparse_unchanged_content(editable_app, monkeypatch):
    import quiz.content.library as library_module

    client = _learner(editable_app)
    client.get("/learn/")  # the library is loaded by now
    calls = []
    for name in ("parse_module", "parse_scenario"):
        original = getattr(library_module, name)
        monkeypatch.setattr(library_module, name, lambda *a, _o=original, _n=name: calls.append(_n) or _o(*a))
    through_lesson(client)
    choose(client, "Ask for two identifiers")
    client.get(MODULE)
    assert calls == []


def test_a_withdrawn_module_stays_in_sight_for_those_who_took_it_and_cannot_be_started(editable_app, content_dir):
    """Deleting a module file takes it off everyone's list. A learner who took it still sees it,
    under "Earlier training", as they took it: their certificate is still one tap away, an
    attempt begun on it can be finished (on the text it began on), and it cannot be started."""
    from quiz import evidence
    from quiz.models import Attempt

    from .helpers import csrf_token

    client = _learner(editable_app)
    through_lesson(client)
    assert pass_and_sign(client).status_code == 303
    through_lesson(client)  # a second attempt, at its first decision when the file goes
    (content_dir / "modules" / "test-callers.md").unlink()

    listing = client.get("/learn/").text
    current, earlier = listing.split('<h2 id="earlier">Earlier training</h2>')
    assert "Test module on callers" not in current
    assert '<h3><a href="/learn/test-callers/">Test module on callers</a></h3>' in earlier
    assert re.search(r'class="status status-passed">Passed on <time', earlier)

    assert "The phone rings" in client.get(MODULE).text  # the open attempt, as it began
    choose(client, "Fax the records to the number given")  # critical: the attempt fails
    post_step(client, "continue")
    overview = client.get(MODULE).text
    assert "no longer on the training list, so it cannot be started again" in overview
    assert 'href="/learn/test-callers/certificate/1"' in overview
    assert 'action="/learn/test-callers/start"' not in overview
    client.post(MODULE + "start", data={"csrf_token": csrf_token(overview), "step": 0})  # an old tab
    assert client.get("/learn/test-callers/certificate/1").status_code == 200
    with editable_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attempt)) == 2
        assert evidence.verify(db.session).ok

    add_user(editable_app, email="new@example.org", name="New Starter")
    newcomer = editable_app.test_client()
    sign_in(newcomer, "new@example.org")
    assert newcomer.get(MODULE).status_code == 404  # never took it: it is simply gone
    assert "Earlier training" not in newcomer.get("/learn/").text


def test_my_training_still_serves_when_an_earlier_modules_stored_text_no_longer_parses(
    editable_app, content_dir, caplog, monkeypatch
):
    import quiz.versions
    from quiz.content import StoredContentError

    client = _learner(editable_app)
    through_lesson(client)
    pass_and_sign(client)
    (content_dir / "modules" / "test-callers.md").unlink()

    def stricter_parser(kind, path, source):  # e.g. a later parser rejects what an older one took
        raise StoredContentError(["modules/test-callers.md:3: no longer accepted"])

    monkeypatch.setattr(quiz.versions, "parse_stored", stricter_parser)
    with caplog.at_level(logging.ERROR, logger="quiz.web.learn"):
        page = client.get("/learn/")
    assert page.status_code == 200 and "<h1>My training</h1>" in page.text
    assert any("module test-callers of user" in r.getMessage() for r in caplog.records)
    assert client.get(MODULE).status_code == 404  # not a server error


def test_a_manager_is_told_when_an_open_assignment_is_for_a_withdrawn_module(editable_app, content_dir):
    from datetime import date, timedelta

    from .helpers import csrf_token

    add_user(editable_app, email="manager@example.org", name="Mo Manager", role="manager", job_role="leadership")
    ana = add_user(editable_app, email="ana@example.org", name="Ana Alvarez", supervisor_email="manager@example.org")
    manager = editable_app.test_client()
    sign_in(manager, "manager@example.org")
    page = manager.get(f"/manage/people/{ana}").text
    due = (date.today() + timedelta(days=7)).isoformat()
    manager.post(
        f"/manage/people/{ana}/assign",
        data={"csrf_token": csrf_token(page), "module_id": "test-callers", "due_on": due},
    )
    hint = "No longer in the library, so it cannot be taken"
    assert hint not in manager.get(f"/manage/people/{ana}").text
    with editable_app.app_context():  # what `content load` does: every version stored
        from quiz import versions

        versions.remember_library(db.session, editable_app.extensions["content_store"].library)
        db.session.commit()
    (content_dir / "modules" / "test-callers.md").unlink()
    page = manager.get(f"/manage/people/{ana}").text
    assert hint in page
    # still named by its title (from the stored version), not by its file id
    assert '<th scope="row">Test module on callers<br><span class="meta">No longer in the library' in page

"""Content as the server sees it: broken files skipped, versions pinned, no parsing per request."""

from __future__ import annotations

import logging
import re
import shutil

import pytest
from sqlalchemy import select

from quiz.db import db
from quiz.models import ContentVersion, Evidence

from .conftest import DATA_CONTENT, add_user, close_app, make_app, sign_in
from .test_learning_flow import MODULE, _choose, _through_lesson


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
    assert any(re.search(r"broken\.md:\d+: YAML error", m) for m in messages), messages


def test_an_attempt_finishes_on_the_version_it_started(editable_app, content_dir):
    client = _learner(editable_app)
    _through_lesson(client)
    scenario_file = content_dir / "scenarios" / "test-check.md"
    old_source = scenario_file.read_text()
    scenario_file.write_text(old_source.replace("The caller is verified. What do you share?", "EDITED TEXT"))
    _choose(client, "Ask for two identifiers")
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
    _through_lesson(client)
    _choose(client, "Ask for two identifiers")
    client.get(MODULE)
    assert calls == []

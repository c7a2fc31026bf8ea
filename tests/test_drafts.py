"""Drafts in the browser (issue 32, parts 1 and 4): drafted, checked, approved by a second
person, published atomically as an evidence record; learners never see a draft, and a file
caught half-written never takes a module offline."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from quiz import drafts
from quiz.content import load_library
from quiz.content.library import KEPT_NOTE
from quiz.db import db
from quiz.models import Assignment, ContentDraft, ContentDraftEvent, ContentVersion, Evidence

from .helpers import (
    DATA_CONTENT,
    MODULE,
    add_user,
    choose,
    close_app,
    csrf_token,
    make_app,
    pass_and_sign,
    post_step,
    run_cli,
    sign_in,
    signed_in_as,
    through_lesson,
)

MODULE_FILE = "modules/test-callers.md"
SCENARIO_FILE = "scenarios/test-check.md"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def content_dir(tmp_path):
    target = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, target)
    return target


@pytest.fixture
def app(database_url, tmp_path, monkeypatch, content_dir):
    app = make_app(database_url, tmp_path, monkeypatch, CONTENT_DIR=str(content_dir), TRY_RATE_LIMIT="1000 per minute")
    yield app
    close_app(app)


def _trainer(app, name="trainer"):
    add_user(app, email=f"{name}@example.org", name=f"Tess {name.title()}", role="trainer", job_role="leadership")
    client = app.test_client()
    assert sign_in(client, f"{name}@example.org").status_code == 303
    return client


def _start_from_live(client, source: str = "module:test-callers") -> int:
    page = client.get("/author/drafts/new")
    assert page.status_code == 200
    answer = client.post("/author/drafts/new", data={"csrf_token": csrf_token(page.text), "live-source": source})
    assert answer.status_code == 302, answer.text
    return int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def _lock(page: str) -> str:
    match = re.search(r'id="lock" name="lock" type="hidden" value="(\d+)"', page) or re.search(
        r'name="lock" type="hidden" value="(\d+)"', page
    )
    assert match, "no lock on the page"
    return match.group(1)


def _post_text(client, draft_id: int, text: str, *, check: bool = True):
    page = client.get(f"/author/drafts/{draft_id}").text
    data = {"csrf_token": csrf_token(page), "lock": _lock(page), "text": text}
    data["check" if check else "save"] = "y"
    return client.post(f"/author/drafts/{draft_id}", data=data)


def _act(client, draft_id: int, action: str):
    page = client.get(f"/author/drafts/{draft_id}").text
    return client.post(
        f"/author/drafts/{draft_id}/{action}", data={"csrf_token": csrf_token(page), "lock": _lock(page)}
    )


def _publish(client, draft_id: int):
    page = client.get(f"/author/drafts/{draft_id}/publish")
    lock = re.search(r'name="lock" type="hidden" value="(\d+)"', page.text)
    return page, client.post(
        f"/author/drafts/{draft_id}/publish",
        data={"csrf_token": csrf_token(page.text), "lock": lock.group(1) if lock else "0"},
    )


def _draft(app, draft_id: int) -> ContentDraft:
    with app.app_context():
        draft = db.session.get(ContentDraft, draft_id)
        db.session.expunge(draft)
        return draft


def _events(app, draft_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(ContentDraftEvent.action)
                .where(ContentDraftEvent.draft_id == draft_id)
                .order_by(ContentDraftEvent.id)
            )
        )


def _approved(app, content_dir, text: str, source: str = "module:test-callers"):
    """A draft with ``text``, written by one trainer and approved by a compliance officer."""
    writer = _trainer(app)
    draft_id = _start_from_live(writer, source)
    assert _post_text(writer, draft_id, text).status_code == 200
    assert _act(writer, draft_id, "submit").status_code == 302
    officer = signed_in_as(app, "compliance")
    assert _act(officer, draft_id, "approve").status_code == 302
    assert _draft(app, draft_id).status == "approved"
    return writer, draft_id


# --- drafting -------------------------------------------------------------------------------------


def test_a_draft_from_a_live_module_keeps_its_text_and_lists_every_error(app, content_dir):
    client = _trainer(app)
    draft_id = _start_from_live(client)
    live = (content_dir / MODULE_FILE).read_text()
    assert _draft(app, draft_id).text == live
    assert _draft(app, draft_id).base_version == drafts.version_of(live)
    page = client.get(f"/author/drafts/{draft_id}").text
    assert html.escape(live, quote=False).splitlines()[2] in page  # the text, in the textarea

    broken = live.replace("minutes: 3", "minutes: x").replace("pass_score: 4", "pass_score: y")
    broken = broken.replace("Check two identifiers first.", "Check two identifiers first.\n\n![a photo](x.png)")
    answer = _post_text(client, draft_id, broken)
    assert answer.status_code == 200
    # every error, each with its line, not only the first
    assert "3 errors" in answer.text
    lines = broken.splitlines()
    for wrong in ("minutes: x", "pass_score: y"):
        assert f"<code>line {lines.index(wrong) + 1}</code>" in answer.text
    assert "images are not shown on the page" in answer.text
    assert f"line {broken.splitlines().index('![a photo](x.png)') + 1}" in answer.text
    # the text is kept, as saved, in the textarea
    assert "![a photo](x.png)" in answer.text and "pass_score: y" in answer.text
    assert _draft(app, draft_id).text == broken
    assert _events(app, draft_id) == ["created", "saved", "checked"]
    # the live file is untouched, and learners still get the module
    assert (content_dir / MODULE_FILE).read_text() == live


def test_a_draft_from_a_template_passes_the_check(app, content_dir):
    client = _trainer(app)
    page = client.get("/author/drafts/new")
    for kind, content_id in (("scenario", "new-check"), ("module", "new-module")):
        answer = client.post(
            "/author/drafts/new",
            data={
                "csrf_token": csrf_token(page.text),
                "blank-kind": kind,
                "blank-content_id": content_id,
                "blank-title": f"A new {kind}",
                "blank-scenario": "test-check",
                "blank-objective": "verify-identity",
            },
        )
        assert answer.status_code == 302, answer.text
        draft_id = int(answer.headers["Location"].rsplit("/", 1)[1])
        draft = _draft(app, draft_id)
        assert draft.path == f"{kind}s/{content_id}.md" and draft.base_version is None
        checked = _post_text(client, draft_id, draft.text)
        assert "loads without errors" in checked.text, checked.text
        assert not (content_dir / draft.path).exists()
    # a template for a file that exists is refused: start from the file instead
    answer = client.post(
        "/author/drafts/new",
        data={
            "csrf_token": csrf_token(page.text),
            "blank-kind": "module",
            "blank-content_id": "test-callers",
            "blank-title": "Again",
            "blank-scenario": "test-check",
            "blank-objective": "x",
        },
    )
    assert answer.status_code == 422 and "already a file" in answer.text


def test_a_checked_draft_shows_the_map_of_its_branches(app, content_dir):
    client = _trainer(app)
    draft_id = _start_from_live(client)
    assert "Map of the branches" not in client.get(f"/author/drafts/{draft_id}").text  # not checked yet
    checked = _post_text(client, draft_id, (content_dir / MODULE_FILE).read_text())
    assert "loads without errors" in checked.text
    assert "Map of the branches" in checked.text and "<svg" in checked.text
    broken = _post_text(client, draft_id, (content_dir / MODULE_FILE).read_text().replace("minutes: 3", "minutes: x"))
    assert "Map of the branches" not in broken.text  # a file with errors has no map


def test_learners_and_managers_never_reach_drafts(app):
    add_user(app)
    learner = app.test_client()
    sign_in(learner)
    manager = signed_in_as(app, "manager")
    for client in (learner, manager):
        assert client.get("/author/drafts/").status_code == 403
    # a compliance officer reads and approves, but does not write
    officer = signed_in_as(app, "compliance")
    assert officer.get("/author/drafts/").status_code == 200
    assert officer.get("/author/drafts/new").status_code == 403


def test_no_learner_page_reads_drafts():
    """Only the drafts blueprint, the staff-only preview that plays a draft and records nothing
    (web/preview.py, its own blueprint under /author/preview), and the app that registers them
    import the drafts."""
    found = []
    for path in sorted((ROOT / "quiz" / "web").rglob("*.py")):
        if path.name in ("drafts.py", "preview.py") or path == ROOT / "quiz" / "web" / "__init__.py":
            continue
        text = path.read_text()
        if "ContentDraft" in text or re.search(r"\bdrafts\b", text):
            found.append(path.name)
    assert found == []


# --- approval -------------------------------------------------------------------------------------


def test_approval_takes_a_second_person_and_a_change_needs_it_again(app, content_dir):
    writer = _trainer(app)
    draft_id = _start_from_live(writer)
    text = (content_dir / MODULE_FILE).read_text().replace("Check two identifiers first.", "Check two identifiers.")
    _post_text(writer, draft_id, text)
    # not approvable, nor publishable, before it is submitted
    assert "Publish it now" not in writer.get(f"/author/drafts/{draft_id}/publish").text
    assert _act(writer, draft_id, "submit").status_code == 302
    assert _draft(app, draft_id).status == "awaiting-approval"

    refused = _act(writer, draft_id, "approve")
    assert refused.status_code == 302
    assert "Someone other than its authors" in writer.get(f"/author/drafts/{draft_id}").text
    assert _draft(app, draft_id).status == "awaiting-approval"
    _, publish = _publish(writer, draft_id)
    assert publish.status_code == 409 and (content_dir / MODULE_FILE).read_text() != text

    second = _trainer(app, "second")
    assert "Approve this draft" in second.get(f"/author/drafts/{draft_id}").text
    _act(second, draft_id, "approve")
    assert _draft(app, draft_id).status == "approved"

    # a change to the approved text sends it back to draft: the approval was of the old text
    _post_text(writer, draft_id, text + "\nMore.\n", check=False)
    assert _draft(app, draft_id).status == "draft"
    assert _events(app, draft_id) == ["created", "saved", "checked", "submitted", "approved", "saved"]


def test_the_approver_checks_the_draft_without_changing_it(app, content_dir):
    text = (content_dir / MODULE_FILE).read_text().replace("Second screen", "Screen two")
    writer = _trainer(app)
    draft_id = _start_from_live(writer)
    _post_text(writer, draft_id, text)
    _act(writer, draft_id, "submit")
    officer = signed_in_as(app, "compliance")
    page = officer.get(f"/author/drafts/{draft_id}").text
    assert "Screen two" in page and "<textarea" not in page  # read, not written
    answer = _act(officer, draft_id, "check")
    assert answer.status_code == 200 and "loads without errors" in answer.text
    assert _draft(app, draft_id).text == text and _draft(app, draft_id).status == "awaiting-approval"
    assert _events(app, draft_id)[-1] == "checked"
    assert (
        officer.post(f"/author/drafts/{draft_id}", data={"csrf_token": csrf_token(page), "text": "x"}).status_code
        == 403
    )


def test_a_draft_keeps_the_id_of_what_it_changes(app, content_dir):
    """Evidence names a module by its id: a draft that renames it is an error, not a new module."""
    writer = _trainer(app)
    draft_id = _start_from_live(writer)
    renamed = (content_dir / MODULE_FILE).read_text().replace("id: test-callers", "id: other-callers")
    answer = _post_text(writer, draft_id, renamed)
    assert "the id is `other-callers`, but this draft is of `test-callers`" in html.unescape(answer.text)
    assert "<code>line 2</code>" in answer.text
    _act(writer, draft_id, "submit")
    assert _draft(app, draft_id).status == "draft"


def test_a_draft_with_errors_cannot_be_submitted(app, content_dir):
    writer = _trainer(app)
    draft_id = _start_from_live(writer)
    _post_text(writer, draft_id, (content_dir / MODULE_FILE).read_text().replace("minutes: 3", "minutes: x"))
    _act(writer, draft_id, "submit")
    assert _draft(app, draft_id).status == "draft"
    assert "Fix the errors first" in writer.get(f"/author/drafts/{draft_id}").text


def test_a_stale_form_changes_nothing(app, content_dir):
    writer = _trainer(app)
    draft_id = _start_from_live(writer)
    page = writer.get(f"/author/drafts/{draft_id}").text
    _post_text(writer, draft_id, (content_dir / MODULE_FILE).read_text() + "\nOne.\n", check=False)
    old = writer.post(
        f"/author/drafts/{draft_id}",
        data={"csrf_token": csrf_token(page), "lock": _lock(page), "text": "overwritten", "save": "y"},
    )
    assert old.status_code == 409 and "changed since you opened it" in old.text
    assert "overwritten" in old.text  # the text typed is still in the box, not lost
    assert _draft(app, draft_id).text.endswith("One.\n")


# --- publishing -----------------------------------------------------------------------------------


def test_publishing_writes_the_file_atomically_and_is_an_evidence_record(app, content_dir):
    text = (
        (content_dir / MODULE_FILE)
        .read_text()
        .replace("Check two identifiers first.", "Check two identifiers, always.")
    )
    writer, draft_id = _approved(app, content_dir, text)
    page, answer = _publish(writer, draft_id)
    assert "Publish it now" in page.text and "Approved by Alex Compliance" in page.text
    assert "The policy version is unchanged" in page.text
    assert answer.status_code == 302
    assert (content_dir / MODULE_FILE).read_text() == text
    assert [
        p.name for p in (content_dir / "modules").iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")
    ] == []
    version = drafts.version_of(text)
    with app.app_context():
        record = db.session.scalar(select(Evidence).where(Evidence.event == "content.published"))
        stored = db.session.get(ContentVersion, version)
        assert stored is not None and stored.source == text
    details = json.loads(record.details)
    assert record.content_version == version and record.module_id == "test-callers"
    assert record.learner_email == "trainer@example.org"
    assert details["sha256"] == version and details["path"] == MODULE_FILE
    assert details["approved_by"] == "Alex Compliance <compliance@example.org>"
    assert details["replaced"] == _draft(app, draft_id).base_version
    assert _draft(app, draft_id).status == "published"
    assert _events(app, draft_id)[-1] == "published"
    # learners get it at once on this server
    add_user(app)
    learner = app.test_client()
    sign_in(learner)
    assert post_step(learner, "start").status_code == 303
    post_step(learner, "next")
    assert "Check two identifiers, always." in learner.get(MODULE).text


def test_publishing_over_a_file_changed_since_is_refused(app, content_dir):
    live = content_dir / MODULE_FILE
    writer, draft_id = _approved(app, content_dir, live.read_text().replace("Second screen", "Screen two"))
    someone_else = live.read_text().replace("First screen", "Screen one")
    live.write_text(someone_else)
    page, answer = _publish(writer, draft_id)
    assert "The live file changed since this draft began" in page.text and "Publish it now" not in page.text
    assert answer.status_code == 409 and "changed since you opened it" in answer.text  # no form: no lock
    answer = writer.post(
        f"/author/drafts/{draft_id}/publish",
        data={"csrf_token": csrf_token(page.text), "lock": _draft(app, draft_id).lock},
    )
    assert answer.status_code == 409 and "someone else published or edited it" in answer.text
    assert live.read_text() == someone_else
    assert _draft(app, draft_id).status == "approved"
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Evidence).where(Evidence.event == "content.published"))
            == 0
        )


def test_publishing_a_draft_that_breaks_another_file_is_refused(app, content_dir):
    """Checked with the rest of the content: a check whose points no longer reach the pass mark
    of the modules that use it would take them offline."""
    scenario = (
        (content_dir / SCENARIO_FILE)
        .read_text()
        .replace("Points: 2\n\nRight: verify first.", "Points: 0\n\nRight: verify first.")
    )
    writer, draft_id = _approved_scenario(app, scenario)
    page, answer = _publish(writer, draft_id)
    assert "it would stop these from being served" in page.text and "Publish it now" not in page.text
    assert "<code>" in page.text and "test-callers.md:" in page.text
    assert answer.status_code == 409
    assert (content_dir / SCENARIO_FILE).read_text() != scenario


def _approved_scenario(app, text):
    writer = _trainer(app)
    draft_id = _start_from_live(writer, "scenario:test-check:")
    _post_text(writer, draft_id, text)
    with app.app_context():  # submitted and approved in the core: the page refuses a draft with errors
        draft = db.session.get(ContentDraft, draft_id)
        draft.status = "approved"
        db.session.add(
            ContentDraftEvent(draft_id=draft_id, action="approved", user_id=draft.created_by_id, version="x")
        )
        db.session.commit()
    return writer, draft_id


def test_without_approval_a_trainer_publishes_alone(database_url, tmp_path, monkeypatch, content_dir):
    app = make_app(database_url, tmp_path, monkeypatch, CONTENT_DIR=str(content_dir), CONTENT_APPROVAL="none")
    try:
        writer = _trainer(app)
        draft_id = _start_from_live(writer)
        text = (content_dir / MODULE_FILE).read_text() + "\nA closing word.\n"
        _post_text(writer, draft_id, text)
        assert "Send for approval" not in writer.get(f"/author/drafts/{draft_id}").text
        _, answer = _publish(writer, draft_id)
        assert answer.status_code == 302
        assert (content_dir / MODULE_FILE).read_text() == text
    finally:
        close_app(app)


def test_an_unknown_approval_setting_stops_the_start(monkeypatch, tmp_path):
    from quiz.config import from_environment

    monkeypatch.setenv("CONTENT_APPROVAL", "maybe")
    with pytest.raises(ValueError, match="CONTENT_APPROVAL must be one of second-person, none"):
        from_environment(tmp_path)


def test_a_new_policy_version_lists_who_will_be_assigned_retraining(app, content_dir):
    add_user(app)
    learner = app.test_client()
    sign_in(learner)
    through_lesson(learner)
    assert pass_and_sign(learner).status_code in (200, 303)
    add_user(app, email="never@example.org", name="Nora Never")  # never took it: not retrained
    text = (content_dir / MODULE_FILE).read_text().replace('version: "1.0"', 'version: "2.0"')
    writer, draft_id = _approved(app, content_dir, text)
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Assignment))
    page = writer.get(f"/author/drafts/{draft_id}/publish")
    assert "1 person will be assigned retraining" in page.text
    assert "from 1.0 to 2.0" in page.text and "Dana Whitfield" in page.text and "Nora Never" not in page.text
    with app.app_context():  # a dry run: nothing assigned by looking
        assert db.session.scalar(select(func.count()).select_from(Assignment)) == before


def test_an_attempt_begun_on_the_old_version_finishes_on_it(app, content_dir):
    add_user(app)
    early = app.test_client()
    sign_in(early)
    through_lesson(early)
    choose(early, "Ask for two identifiers")  # mid-attempt, on the old check
    old = "The caller is verified. What do you share?"
    text = (content_dir / SCENARIO_FILE).read_text().replace(old, "NEW WORDING: what do you share?")
    writer, draft_id = _approved(app, content_dir, text, "scenario:test-check:")
    _, answer = _publish(writer, draft_id)
    assert answer.status_code == 302
    page = early.get(MODULE).text
    assert old in page and "NEW WORDING" not in page
    choose(early, "Only the appointment time")
    post_step(early, "continue")
    assert "acknowledge" in early.get(MODULE).text  # finished, on the old version

    add_user(app, email="late@example.org", name="Lee Late")
    late = app.test_client()
    sign_in(late, "late@example.org")
    through_lesson(late)
    choose(late, "Ask for two identifiers")
    page = late.get(MODULE).text
    assert "NEW WORDING" in page and old not in page


# --- the file -------------------------------------------------------------------------------------


def test_an_atomic_write_leaves_the_old_file_whole_if_it_fails(tmp_path, monkeypatch):
    target = tmp_path / "modules" / "m.md"
    target.parent.mkdir()
    target.write_text("old text\n")

    def fails(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fails)
    with pytest.raises(OSError):
        drafts.write_atomically(target, "new text\n")
    assert target.read_text() == "old text\n"
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind
    monkeypatch.undo()
    drafts.write_atomically(target, "new text\n")
    assert target.read_text() == "new text\n" and list(target.parent.iterdir()) == [target]


def test_a_publish_in_progress_is_never_read(tmp_path):
    """The temporary file a publish writes before its rename is hidden: the loader never reads
    it, so no reader sees a half-written file."""
    shutil.copytree(DATA_CONTENT, tmp_path / "content")
    half = (tmp_path / "content" / MODULE_FILE).read_text()[:200]
    (tmp_path / "content" / "modules" / ".test-callers.md.0123abcd.tmp").write_text(half)
    library = load_library(tmp_path / "content")
    assert library.errors == [] and "test-callers" in library.modules


def test_a_half_written_file_does_not_take_its_module_offline(app, content_dir):
    """Written by hand (an editor, a copy): the server keeps serving the file's last good
    version, and says so; ``content check`` reports the error."""
    add_user(app)
    learner = app.test_client()
    sign_in(learner)
    assert "Test module on callers" in learner.get("/learn/").text
    live = content_dir / MODULE_FILE
    whole = live.read_text()
    live.write_text(whole[: len(whole) // 3])  # cut off mid front matter
    assert "Test module on callers" in learner.get("/learn/").text
    through_lesson(learner)  # it can still be taken, as it was
    trainer = _trainer(app)
    content_page = trainer.get("/author/").text
    assert KEPT_NOTE in html.unescape(content_page)
    result = run_cli(app, "content", "check")
    assert result.exit_code == 1 and "test-callers.md" in result.output
    live.write_text(whole.replace("Second screen", "Screen two"))  # fixed: the new text serves
    learner.get("/learn/")
    with app.app_context():
        library = app.extensions["content_store"].library
        assert library.errors == [] and "Screen two" in library.modules["test-callers"].source


def test_the_try_page_keeps_the_pasted_text_and_lists_every_error(app, content_dir):
    client = _trainer(app)
    page = client.get("/author/try")
    text = (
        (content_dir / MODULE_FILE)
        .read_text()
        .replace("minutes: 3", "minutes: x")
        .replace("pass_score: 4", "pass_score: y")
    )
    answer = client.post("/author/try", data={"csrf_token": csrf_token(page.text), "text": text})
    lines = text.splitlines()
    assert "2 errors" in answer.text
    assert f"<code>line {lines.index('minutes: x') + 1}</code>" in answer.text
    assert f"<code>line {lines.index('pass_score: y') + 1}</code>" in answer.text
    assert "pass_score: y" in answer.text and "minutes: x" in answer.text  # still in the box


def test_a_slip_in_the_front_matter_does_not_hide_errors_further_down(app, content_dir):
    """The Try page and drafts (and ``content check``) list the body's errors too when the
    front matter cannot be read."""
    client = _trainer(app)
    page = client.get("/author/try")
    text = (content_dir / MODULE_FILE).read_text().replace("title: Test module on callers", "title: [unclosed")
    text = text.replace("Check two identifiers first.", "![a photo](x.png)")
    answer = client.post("/author/try", data={"csrf_token": csrf_token(page.text), "text": text})
    lines = text.splitlines()
    assert "2 errors" in answer.text
    assert f"<code>line {lines.index('title: [unclosed') + 1}</code>" in answer.text
    assert f"<code>line {lines.index('![a photo](x.png)') + 1}</code> images are not shown" in answer.text

"""Trainers playing a module as a learner (issue 32, part 2): the learner's own pages, any role,
specialty and state, Back to try every choice, and nothing recorded."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from quiz import preview as core
from quiz.content import load_library
from quiz.db import db
from quiz.models import Answer, Attempt, ContentDraft, ContentVersion, Evidence

from .helpers import DATA_CONTENT, choice_value, csrf_token, page_text, repeated_ids, signed_in_as, step_token

BASE = "/author/preview/test-callers/"
DENTAL_FRONT_DESK = "?role=front-desk&specialty=dental&state="
BANNER = "Preview — nothing is recorded"


def _counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Attempt, Answer, Evidence, ContentVersion)
        }


def _post(client, action: str, query: str = DENTAL_FRONT_DESK, htmx: bool = False, **data):
    page = client.get(BASE + query).text
    form = {"csrf_token": csrf_token(page), "step": step_token(page), **data}
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(BASE + action + query, data=form, headers=headers)


def _choose(client, label: str, query: str = DENTAL_FRONT_DESK, htmx: bool = False):
    page = client.get(BASE + query).text
    return _post(client, "answer", query, htmx=htmx, choice=choice_value(page, label))


def test_a_trainer_plays_a_module_as_a_dental_front_desk_learner_and_nothing_is_recorded(app):
    client = signed_in_as(app, "trainer")
    before = _counts(app)

    overview = client.get(BASE + DENTAL_FRONT_DESK)
    assert overview.status_code == 200
    assert BANNER in overview.text and "Front desk (Dental), any state" in page_text(overview.text)
    assert "<title>Preview: Test module on callers" in overview.text
    assert _post(client, "start").status_code == 303

    lesson = client.get(BASE + DENTAL_FRONT_DESK).text
    assert BANNER in lesson and "First screen" in lesson and "Lesson: screen 1 of 2" in lesson
    _post(client, "next")
    assert "Second screen" in client.get(BASE + DENTAL_FRONT_DESK).text
    _post(client, "back")  # the lesson's own Back: the previous screen
    assert "First screen" in client.get(BASE + DENTAL_FRONT_DESK).text
    _post(client, "next")
    _post(client, "next")

    question = client.get(BASE + DENTAL_FRONT_DESK).text
    assert BANNER in question
    assert "The phone rings at the dental desk" in question  # the dental version of the check
    assert "A caller asks about a treatment plan balance." in question
    assert not repeated_ids(question)

    # A critical choice: its feedback, then Back, and another choice
    response = _choose(client, "Read out the balance")
    assert response.status_code == 303 and response.headers["Location"].endswith("#feedback")
    page = client.get(BASE + DENTAL_FRONT_DESK).text
    assert "Critical: this choice fails the attempt" in page and "You shared before verifying." in page
    assert BANNER in page
    _post(client, "back")
    page = client.get(BASE + DENTAL_FRONT_DESK).text
    assert "The phone rings at the dental desk" in page and "Critical" not in page

    _choose(client, "Ask for two identifiers")
    page = client.get(BASE + DENTAL_FRONT_DESK).text
    assert "Good choice" in page and "Right: verify first." in page
    _choose(client, "Only the balance")
    page = client.get(BASE + DENTAL_FRONT_DESK).text
    assert "Records protected" in page and "See your result" in page
    _post(client, "continue")

    result = client.get(BASE + DENTAL_FRONT_DESK).text
    text = page_text(result)
    assert BANNER in result and "You passed" in text
    assert "Score 4 of 4; pass mark 4." in text
    assert "I will verify callers before I share anything." in text
    assert "signing is turned off here" in text
    assert re.search(r"<fieldset disabled[^>]*>.*Sign and finish", result, re.S)
    # signing does nothing; the page is as it was
    assert _post(client, "acknowledge", agree="y", full_name="Alex Trainer").status_code == 303
    assert "You passed" in client.get(BASE + DENTAL_FRONT_DESK).text

    assert _counts(app) == before  # no attempt, answer, evidence, nor stored content version


def test_a_failed_walk_shows_the_missed_objectives_and_back_undoes_the_last_step(app):
    client = signed_in_as(app, "trainer")
    query = "?role=front-desk&specialty=&state="
    _post(client, "start", query)
    _post(client, "skip", query)  # the preview's own "Skip to the check"
    page = client.get(BASE + query).text
    assert "The phone rings" in page and "dental" not in page  # the general version
    _choose(client, "Fax the records to the number given", query)
    page = client.get(BASE + query).text
    assert "Records sent" in page
    _post(client, "continue", query)
    failed = page_text(client.get(BASE + query).text)
    assert "Not passed yet" in failed and "Objectives missed" in failed
    assert "Verify identity and authority before sharing." in failed and "Try again" in failed
    _post(client, "back", query)  # from the result back to the ending
    assert "Records sent" in client.get(BASE + query).text
    _post(client, "continue", query)
    _post(client, "start", query)  # "Try again": from the first lesson screen
    assert "First screen" in client.get(BASE + query).text


def test_htmx_gets_the_learner_pages_blocks_with_the_preview_controls(app):
    client = signed_in_as(app, "trainer")
    _post(client, "start")
    _post(client, "skip")
    response = _choose(client, "Ask for two identifiers", htmx=True)
    assert response.status_code == 200 and "Vary" in response.headers
    assert 'id="step"' in response.text and "Good choice" in response.text
    assert "Back: undo the last step" in response.text
    assert "/author/preview/test-callers/answer?role=front-desk" in response.text
    assert "<html" not in response.text


def test_texas_shows_the_signed_statement_and_a_role_not_given_the_module_is_said(app):
    client = signed_in_as(app, "trainer")
    query = "?role=billing&specialty=&state=TX"
    page = page_text(client.get(BASE + query).text)
    assert "Billing (general), TX" in page
    assert "Learners with these settings are not given this module: it is for Front desk, Case manager." in page
    _post(client, "start", query)
    _post(client, "skip", query)
    _choose(client, "Ask for two identifiers", query)
    _choose(client, "Only the appointment time", query)
    _post(client, "continue", query)
    text = page_text(client.get(BASE + query).text)
    assert "You passed" in text and "signed statement of completion under Texas Health and Safety Code" in text


def test_a_stale_form_changes_nothing(app):
    client = signed_in_as(app, "trainer")
    _post(client, "start")
    page = client.get(BASE + DENTAL_FRONT_DESK).text
    form = {"csrf_token": csrf_token(page), "step": step_token(page)}
    client.post(BASE + "next" + DENTAL_FRONT_DESK, data=form)
    client.post(BASE + "next" + DENTAL_FRONT_DESK, data=form)  # a double tap
    assert "Second screen" in client.get(BASE + DENTAL_FRONT_DESK).text


def test_settings_are_asked_for_and_checked(app):
    client = signed_in_as(app, "trainer")
    page = client.get(BASE)
    assert page.status_code == 200 and 'name="role"' in page.text and 'value="TX"' in page.text
    assert client.get(BASE + "?role=astronaut").status_code == 400
    assert client.get(BASE + "?role=front-desk&specialty=dental&state=ZZ").status_code == 400
    assert client.get("/author/preview/no-such-module/" + DENTAL_FRONT_DESK).status_code == 404
    content = client.get("/author/modules/test-callers").text
    assert 'action="/author/preview/test-callers/"' in content and "Play as a learner" in content


@pytest.mark.parametrize("role", ["learner", "manager"])
def test_learners_and_managers_may_not_preview(app, role):
    client = signed_in_as(app, role)
    assert client.get(BASE + DENTAL_FRONT_DESK).status_code == 403
    page = client.get("/learn/").text
    assert (
        client.post(BASE + "start" + DENTAL_FRONT_DESK, data={"csrf_token": csrf_token(page), "step": 0}).status_code
        == 403
    )


@pytest.mark.parametrize("role", ["admin", "compliance"])
def test_admins_and_compliance_officers_may_preview(app, role):
    assert signed_in_as(app, role).get(BASE + DENTAL_FRONT_DESK).status_code == 200


# --- drafts -----------------------------------------------------------------------------------


def _dental_draft(client, text_change=("at the dental desk", "at the dental reception")) -> int:
    """A draft of the dental version of test-check, saved with one change."""
    page = client.get("/author/drafts/new")
    answer = client.post(
        "/author/drafts/new", data={"csrf_token": csrf_token(page.text), "live-source": "scenario:test-check:dental"}
    )
    assert answer.status_code == 302, answer.text
    draft_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    page = client.get(f"/author/drafts/{draft_id}").text
    with client.application.app_context():
        text = db.session.get(ContentDraft, draft_id).text
    assert text_change[0] in text
    lock = re.search(r'name="lock" type="hidden" value="(\d+)"', page).group(1)
    saved = client.post(
        f"/author/drafts/{draft_id}",
        data={"csrf_token": csrf_token(page), "lock": lock, "text": text.replace(*text_change), "save": "y"},
    )
    assert saved.status_code in (200, 302, 303), saved.text
    return draft_id


def test_a_draft_is_played_in_place_of_its_live_file_and_nothing_is_recorded(app):
    client = signed_in_as(app, "trainer")
    draft_id = _dental_draft(client)
    draft_page = client.get(f"/author/drafts/{draft_id}").text
    link = f"/author/preview/test-callers/?draft={draft_id}"
    assert f'href="{link}"' in draft_page and "Play “Test module on callers”" in draft_page
    settings = client.get(link).text
    assert f'name="draft" value="{draft_id}"' in settings
    before = _counts(app)

    query = f"{DENTAL_FRONT_DESK}&draft={draft_id}"
    _post(client, "start", query)
    _post(client, "skip", query)
    page = client.get(BASE + query).text
    assert "The phone rings at the dental reception" in page  # the draft's text
    assert "not published" in page_text(page) and BANNER in page
    assert (
        f'action="/author/preview/test-callers/answer?role=front-desk&amp;specialty=dental&amp;state=&amp;draft={draft_id}"'
        in page
    )
    _choose(client, "Ask for two identifiers", query)
    assert "Right: verify first." in client.get(BASE + query).text
    # the live content, in the same session, is its own preview and still has the live text
    _post(client, "start")
    _post(client, "skip")
    assert "The phone rings at the dental desk" in client.get(BASE + DENTAL_FRONT_DESK).text
    assert _counts(app) == before


def test_a_draft_with_errors_is_not_played_and_its_errors_are_listed(app):
    client = signed_in_as(app, "trainer")
    draft_id = _dental_draft(client, ("-> verify", "-> nowhere"))
    response = client.get(f"{BASE}{DENTAL_FRONT_DESK}&draft={draft_id}")
    assert response.status_code == 409
    assert "This draft cannot be played yet" in response.text and "nowhere" in response.text


def test_a_compliance_officer_who_approves_plays_the_draft_and_learners_cannot(app):
    draft_id = _dental_draft(signed_in_as(app, "trainer"))
    query = f"{DENTAL_FRONT_DESK}&draft={draft_id}"
    compliance = signed_in_as(app, "compliance")
    assert "Play “Test module on callers”" in compliance.get(f"/author/drafts/{draft_id}").text
    _post(compliance, "start", query)
    _post(compliance, "skip", query)
    assert "The phone rings at the dental reception" in compliance.get(BASE + query).text
    assert signed_in_as(app, "learner").get(BASE + query).status_code == 403
    assert compliance.get(f"{BASE}{DENTAL_FRONT_DESK}&draft=999").status_code == 404
    assert compliance.get(f"{BASE}{DENTAL_FRONT_DESK}&draft=x").status_code == 400


def test_the_learner_pages_are_unchanged_for_learners(app, learner):
    page = learner.get("/learn/test-callers/").text
    assert BANNER not in page and 'action="/learn/test-callers/start"' in page


def test_replay_stops_at_a_step_the_content_does_not_allow():
    lib = load_library(DATA_CONTENT)
    content = core.content_for(lib, lib.modules["test-callers"], core.Settings("front-desk", "dental"))
    assert content is not None
    walk = core.replay(content, "k", ["n", "n", "9", "1"])
    assert walk.steps == ["n", "n"] and walk.attempt.stage == "scenario"
    walk = core.replay(content, "k", ["s", "2"])
    assert walk.answer is not None and walk.answer.critical and walk.attempt.stage == "ending"

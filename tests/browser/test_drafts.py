"""A trainer changes a module in the browser, a compliance officer approves it, the trainer
publishes it, and a learner gets the new version: with JavaScript and without."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import Page, expect

from ..helpers import DATA_CONTENT, PASSWORD, add_user
from .axe import axe_violations
from .conftest import LEARNER_EMAIL

pytestmark = pytest.mark.browser

NEW_WORDS = "Ask for two identifiers, every single time."


@pytest.fixture
def live_content(tmp_path):
    """A copy of the test content the test may publish into."""
    target = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, target)
    return target


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_draft_approve_publish_and_a_learner_gets_it(live_app, live_server, live_content, new_page, js):
    add_user(live_app, email="trainer@example.org", name="Tess Trainer", role="trainer", job_role="leadership")
    add_user(live_app, email="officer@example.org", name="Olu Officer", role="compliance", job_role="leadership")
    live = live_content / "modules" / "test-callers.md"

    trainer = new_page("desktop", js, bypass_csp=js)  # axe-core is injected as an inline script
    _sign_in(trainer, live_server, "trainer@example.org")
    trainer.get_by_role("link", name="Drafts").click()
    trainer.get_by_role("link", name="Start a draft").click()
    trainer.get_by_label("A module or check that learners have now").select_option("module:test-callers")
    trainer.get_by_role("button", name="Start a draft from it").click()
    expect(trainer.get_by_role("heading", name="Draft of modules/test-callers.md")).to_be_visible()

    box = trainer.get_by_label("The file's text (Markdown)")
    text = box.input_value()
    box.fill(text.replace("Check two identifiers first.", "Check two identifiers first.\n\n![a photo](x.png)"))
    trainer.get_by_role("button", name="Save and check").click()
    expect(trainer.get_by_text("1 error: this draft cannot be published")).to_be_visible()
    assert "![a photo](x.png)" in box.input_value()  # the text is kept after the check
    if js:
        assert axe_violations(trainer) == []
    box.fill(text.replace("Check two identifiers first.", NEW_WORDS))
    trainer.get_by_role("button", name="Save and check").click()
    expect(trainer.get_by_text("This draft loads without errors")).to_be_visible()
    trainer.get_by_role("button", name="Send for approval").click()
    expect(trainer.get_by_text("Waiting for another trainer or a compliance officer")).to_be_visible()
    assert live.read_text() == text  # nothing live yet

    officer = new_page("desktop", js)
    _sign_in(officer, live_server, "officer@example.org")
    officer.get_by_role("link", name="Drafts").click()
    officer.get_by_role("link", name="modules/test-callers.md").click()
    officer.get_by_role("button", name="Approve this draft").click()
    expect(officer.get_by_text("Approved: a trainer can publish it now.")).to_be_visible()

    trainer.reload()
    trainer.get_by_role("link", name="Publish…").click()
    expect(trainer.get_by_text("Approved by Olu Officer")).to_be_visible()
    if js:
        assert axe_violations(trainer) == []
    trainer.get_by_role("button", name="Publish it now").click()
    expect(trainer.get_by_text("Published: modules/test-callers.md is live now")).to_be_visible()
    assert NEW_WORDS in live.read_text()

    learner = new_page("phone", js)
    _sign_in(learner, live_server, LEARNER_EMAIL)
    learner.goto(live_server + "/learn/test-callers/")
    learner.get_by_role("button", name="Start").click()
    learner.get_by_role("button", name="Next").click()
    expect(learner.get_by_text(NEW_WORDS)).to_be_visible()

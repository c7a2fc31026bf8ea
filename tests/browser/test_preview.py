"""A trainer plays a shipped module as a dental front-desk learner, in Chromium on a phone, with
JavaScript on and off, as it is live (from the Content page's form) and with a draft of its
dental check (from the draft's page): the lesson, the dental check, a wrong choice's feedback,
Back, the best walk, the result and the acknowledgement (signing turned off), under the preview
banner all the way, and nothing recorded (issue 32, part 2)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from quiz.config import PROJECT_ROOT
from quiz.db import db
from quiz.models import Answer, Attempt, Evidence

from ..helpers import PASSWORD, add_user, best_choice, shipped_library
from .paths import heading

pytestmark = pytest.mark.browser

MODULE_ID = "front-desk-callers"
BANNER = "Preview — nothing is recorded"


@pytest.fixture
def live_content():
    return PROJECT_ROOT / "content"


def _counts(app) -> dict[str, int]:
    with app.app_context():
        return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in (Attempt, Answer, Evidence)}


def _banner(page: Page, draft: bool) -> None:
    banner = page.locator(".preview-banner")
    expect(banner).to_contain_text(BANNER)
    expect(banner).to_contain_text("Front desk (Dental), any state")
    if draft:
        expect(banner).to_contain_text("not published")


#: The draft's change: the first decision's title, which the walk then looks for.
DRAFTED_TITLE = "A full schedule, a caller who sounds very sure"


def _draft_of_the_dental_check(page: Page, base: str, scenario) -> None:
    """Start a draft of the dental check, change its first decision's title, save it, and open
    the preview from the draft's page."""
    page.goto(base + "/author/drafts/new")
    page.get_by_label("A module or check that learners have now").select_option(f"scenario:{scenario.id}:dental")
    page.get_by_role("button", name="Start a draft from it").click()
    text = page.get_by_label("The file's text (Markdown)")
    source = text.input_value()
    assert scenario.start_node.title in source
    text.fill(source.replace(scenario.start_node.title, DRAFTED_TITLE, 1))
    page.get_by_role("button", name="Save the draft").click()
    page.get_by_role("link", name="Play “Callers who sound sure”").click()


@pytest.mark.parametrize("source", ["live", "draft"])
@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_a_trainer_plays_a_module_as_a_dental_front_desk_learner(live_app, live_server, new_page, js, source):
    library = shipped_library()
    module = library.modules[MODULE_ID]
    scenario = library.scenario_for(module.scenario_ids[0], "dental")
    assert scenario is not None and scenario.specialty == "dental"  # the premise: a dental version
    add_user(live_app, email="trainer@example.org", name="Tess Trainer", role="trainer", job_role="leadership")
    page = new_page("phone", js)
    page.goto(live_server + "/auth/login")
    page.get_by_label("Email").fill("trainer@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page, "Content")).to_be_visible()
    before = _counts(live_app)

    draft = source == "draft"
    if draft:
        _draft_of_the_dental_check(page, live_server, scenario)
        before = _counts(live_app)  # the draft's own history is not the preview's
    else:
        page.goto(f"{live_server}/author/modules/{MODULE_ID}")
    expect(page.get_by_label("Job role")).to_have_value("front-desk")
    page.get_by_label("Specialty").select_option("dental")
    page.get_by_role("button", name="Play as a learner").click()
    expect(heading(page, module.title)).to_be_visible()
    _banner(page, draft)
    page.get_by_role("button", name="Start", exact=True).click()

    for screen in module.screens[:-1]:
        expect(heading(page, screen.title)).to_be_visible()
        page.get_by_role("button", name="Next", exact=True).click()
    expect(heading(page, module.screens[-1].title)).to_be_visible()
    _banner(page, draft)
    page.get_by_role("button", name="Start the check").click()

    first = scenario.start_node
    first_title = DRAFTED_TITLE if draft else first.title
    expect(heading(page, first_title)).to_be_visible()  # the dental version's first decision
    _banner(page, draft)
    wrong = next(c for c in first.choices if not c.correct)
    page.get_by_label(wrong.label, exact=True).check()
    page.get_by_role("button", name="Choose").click()
    feedback = page.locator("#feedback")
    expect(feedback).to_contain_text(f"You chose: {wrong.label}")
    expect(feedback.get_by_role("heading")).to_have_text(
        "Critical: this choice fails the attempt" if wrong.critical else "Not the best choice"
    )
    _banner(page, draft)
    page.get_by_role("button", name="Back: undo the last step").click()
    expect(page.locator("#feedback")).to_have_count(0)
    expect(heading(page, first_title)).to_be_visible()

    node_id, visited = scenario.start, set()
    while not scenario.nodes[node_id].is_ending:
        visited.add(node_id)
        choice = best_choice(scenario, node_id, visited)
        page.get_by_label(choice.label, exact=True).check()
        page.get_by_role("button", name="Choose").click()
        expect(page.locator("#feedback")).to_contain_text(f"You chose: {choice.label}")
        node_id = choice.target
    expect(page.get_by_text(scenario.nodes[node_id].outcome or "", exact=False).first).to_be_visible()
    page.get_by_role("button", name="See your result").click()

    expect(heading(page, "You passed")).to_be_visible()
    _banner(page, draft)
    expect(page.get_by_text("signing is turned off here")).to_be_visible()
    expect(page.get_by_role("button", name="Sign and finish")).to_be_disabled()
    expect(page.get_by_label("Type your full name to sign")).to_be_disabled()
    assert page.title().startswith("Preview: ")

    assert _counts(live_app) == before  # no attempt, answer or evidence

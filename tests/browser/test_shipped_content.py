"""Every shipped module (content/), taken in Chromium on a 320-pixel phone with JavaScript on,
the way a learner of its role takes it: overview, every lesson screen, the best answer at each
decision, every ending, the acknowledgement and the certificate.

The other browser tests walk the small fixed test module; this one guards what trainers write.
On every screen: no serious or critical axe-core finding and nothing pushing the page sideways,
whatever lists, links and citations a lesson, a scenario or a choice's feedback holds. Each screen is also
saved, full length, to test-artifacts/screenshots/shipped-phone/<module>/ for a reviewer to read
the real lessons as a phone shows them.
"""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import Page, expect

from quiz.config import PROJECT_ROOT
from quiz.db import db
from quiz.models import User

from ..helpers import add_user, best_choice, close_app, make_app, shipped_library, sign_in
from .axe import FAIL_ON, axe_violations
from .conftest import SCREENSHOTS, served
from .paths import heading

pytestmark = pytest.mark.browser

CONTENT = PROJECT_ROOT / "content"
LIBRARY = shipped_library()  # the walk that passes it: best_choice
SHOTS = SCREENSHOTS / "shipped-phone"
LEARNER_NAME = "Sam Rivera"


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory):
    """The app on the shipped content, served on 127.0.0.1 for the whole module (one database:
    each module's walk has a learner of its own)."""
    monkeypatch = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("shipped")
    app = make_app(f"sqlite:///{tmp / 'shipped.sqlite3'}", tmp, monkeypatch, CONTENT_DIR=str(CONTENT))
    shutil.rmtree(SHOTS, ignore_errors=True)  # this run's screenshots only
    try:
        with served(app) as base:
            yield app, base
    finally:
        close_app(app)
        monkeypatch.undo()


def _step_token(page: Page) -> int:
    return int(page.locator('#step input[name="step"]').first.get_attribute("value"))


def _press(page: Page, button: str) -> None:
    """Press a step button and wait for the next step's form (htmx swaps it in; waiting in the
    page is quicker than expect()'s polling, and there are some 260 screens to go through)."""
    step = _step_token(page)
    page.get_by_role("button", name=button, exact=True).click()
    page.locator(f'#step input[name="step"][value="{step + 1}"]').first.wait_for(state="attached")


def _text(html_text: str) -> str:
    """A node or screen title as the browser shows it (the library keeps plain text)."""
    return re.sub(r"\s+", " ", html_text).strip()


@pytest.mark.parametrize("module_id", sorted(LIBRARY.modules))
def test_every_shipped_module_reads_well_on_a_320_pixel_phone(shipped_server, new_page, module_id):
    app, base = shipped_server
    module = LIBRARY.modules[module_id]
    specialty = module.specialties[0] if module.specialties else None
    email = f"{module_id}@example.org"
    learner = add_user(app, email=email, name=LEARNER_NAME, job_role=module.roles[0], specialty=specialty)
    if module.states:  # a state-law module is listed for learners who work in that state
        with app.app_context():
            db.session.get(User, learner).work_state = module.states[0]
            db.session.commit()

    page: Page = new_page("small-phone", True, bypass_csp=True)  # bypass_csp: axe is injected
    shots = SHOTS / module_id
    shots.mkdir(parents=True, exist_ok=True)
    screens: list[str] = []
    problems: list[str] = []

    def checkpoint(name: str) -> None:
        screens.append(name)
        label = f"{len(screens):02d}-{name}"
        page.screenshot(path=str(shots / f"{label}.png"), full_page=True)
        width, viewport = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if width > viewport:
            problems.append(f"{label}: the page is {width} px wide on a {viewport} px screen")
        for v in axe_violations(page):
            if v["impact"] in FAIL_ON:
                problems.append(f"{label}: [{v['impact']}] {v['id']} ({v['help']}) at {', '.join(v['targets'])}")

    # Signed in by the app itself (the sign-in page has tests of its own): its session cookie
    # handed to the browser saves a page load and a password check per module.
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    page.context.add_cookies([{"name": "session", "value": client.get_cookie("session").value, "url": base}])
    page.goto(base + "/learn/")
    expect(heading(page, "My training")).to_be_visible()
    page.get_by_role("link", name=module.title, exact=True).click()
    expect(heading(page, module.title)).to_be_visible()
    checkpoint("overview")
    page.get_by_role("button", name="Start", exact=True).click()
    page.locator("#screen-title").wait_for()

    for number, screen in enumerate(module.screens, start=1):
        expect(page.get_by_text(f"Lesson: screen {number} of {len(module.screens)}")).to_be_visible()
        expect(page.locator("#screen-title")).to_have_text(_text(screen.title))
        checkpoint(f"lesson-{number}")
        _press(page, "Start the check" if number == len(module.screens) else "Next")

    for index, scenario_id in enumerate(module.scenario_ids):
        scenario = LIBRARY.scenario_for(scenario_id, specialty)
        node_id, visited, answers = scenario.start, set(), 0
        expect(page.locator("#node-title")).to_have_text(_text(scenario.nodes[node_id].title))
        checkpoint(f"check-{index + 1}-question")
        while not scenario.nodes[node_id].is_ending:
            choice = best_choice(scenario, node_id, visited)
            visited.add(node_id)
            page.get_by_label(choice.label, exact=True).check()
            _press(page, "Choose")
            expect(page.locator("#feedback .you-chose")).to_have_text(f"You chose: {choice.label}")
            node_id = choice.target
            expect(page.locator("#node-title")).to_have_text(_text(scenario.nodes[node_id].title))
            answers += 1
            assert answers < 50, f"{scenario_id}: the best answers never reach an ending"
            checkpoint(f"check-{index + 1}-answer-{answers}")
        _press(page, "See your result" if index + 1 == len(module.scenario_ids) else "Next check")

    expect(heading(page, "You passed")).to_be_visible()
    checkpoint("acknowledgement")
    page.get_by_label("I have read and agree to this statement.").check()
    page.get_by_label("Type your full name to sign").fill(LEARNER_NAME)
    page.get_by_role("button", name="Sign and finish").click()
    expect(page.get_by_text("Certificate of completion")).to_be_visible()
    expect(page.locator(".cert-module")).to_have_text(module.title)
    checkpoint("certificate")

    expected = 3 + len(module.screens) + len(module.scenario_ids)  # overview, acknowledgement, certificate
    assert len(screens) > expected, screens  # and at least one answer
    assert not problems, f"{module_id} on a 320 px phone:\n  " + "\n  ".join(problems)

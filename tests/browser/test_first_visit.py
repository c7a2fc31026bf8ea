"""A newcomer's first visit (issue 30), in a real browser on a 390-pixel phone, with JavaScript on
and off: the demo organization `make run` seeds, with an organization in New York.

- the demo shows the product: the manager's team has someone overdue and someone who failed;
- counted words read right ("1 missed it", "Assign to the 1 who missed it", never "(s)");
- people's words: the results page names the objective in words, not by its id;
- the organization's clock: a certificate is dated in New York time;
- refreshers that fit: the list for a front-desk learner's missed objective offers no module
  that is not for the front desk (the business associates' modules were offered before).
"""

from __future__ import annotations

import re

import pytest

from quiz.config import PROJECT_ROOT
from quiz.content import load_library

from ..helpers import close_app, make_app, run_cli, served

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path, monkeypatch):
    monkeypatch.setenv("TIME_ZONE", "America/New_York")
    app = make_app(
        f"sqlite:///{tmp_path / 'demo.sqlite3'}", tmp_path, monkeypatch, CONTENT_DIR=str(PROJECT_ROOT / "content")
    )
    seeded = run_cli(app, "demo", "seed")
    assert seeded.exit_code == 0, seeded.output
    passwords = dict(re.findall(r"^  (\S+@demo\.rounds) +(\S+) ", seeded.output, re.M))
    with served(app) as base:
        yield base, passwords
    close_app(app)


def _sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(base + "/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _words(page) -> str:
    return " ".join(page.inner_text("main").split())


def _no_sideways_scroll(page) -> None:
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width <= viewport, f"{page.url}: {width} px wide on a {viewport} px screen"


def _no_plural_by_hand(text: str) -> None:
    assert "(s)" not in text
    assert not re.search(r"\b1 (people|modules|records|problems|assignments|messages)\b", text), text


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_a_first_visit_to_the_demo_on_a_phone(demo, new_page, js):
    base, passwords = demo
    page = new_page("phone", js)

    _sign_in(page, base, "manager@demo.rounds", passwords["manager@demo.rounds"])
    team = _words(page)
    assert page.url.endswith("/manage/")  # the manager lands on the team
    assert re.search(r"Priya Raman.*Overdue", team) and "Attempted, not passed" in team
    _no_plural_by_hand(team)
    _no_sideways_scroll(page)

    page.goto(base + "/manage/modules/front-desk-callers")
    results = _words(page)
    assert "1 missed it: Dana Whitfield" in results
    assert page.get_by_role("button", name="Assign to the 1 who missed it").is_visible()
    _no_plural_by_hand(results)
    library = load_library(PROJECT_ROOT / "content")
    module = library.modules["front-desk-callers"]
    assert module.objectives and any(" ".join(text.split()) in results for text in module.objectives.values())
    assert [o for o in module.objectives if o in results] == []  # objectives in words, never by id
    offered = page.locator("select[id^=module_id] option").all_inner_texts()
    assert offered, "a refresher list for Dana's missed objective"
    not_for_front_desk = {m.title for m in library.modules.values() if "front-desk" not in m.roles}
    assert not [o for o in offered if any(o.startswith(title) for title in not_for_front_desk)], offered
    _no_sideways_scroll(page)

    learner = new_page("phone", js)
    _sign_in(learner, base, "frontdesk@demo.rounds", passwords["frontdesk@demo.rounds"])
    learner.goto(base + "/learn/front-desk-callers/certificate/2")
    certificate = _words(learner)
    assert re.search(r"Completed \d\d \w+ 20\d\d, \d\d:\d\d E[SD]T", certificate), certificate
    _no_sideways_scroll(learner)

"""A trainer reads the map of a check's branches, on a 390-pixel phone and on a computer, with
JavaScript and without: on the module's Content page and on the Try page, a crafted ending that
a failing walk reaches and that reads as a success is flagged; on the phone the map is a list
(the drawing folded away, the page never wider than the screen), on the computer a drawing too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..helpers import DATA_CONTENT, PASSWORD, add_user
from ..test_branch_map import MISLEADING_OUTCOME, misleading_check
from .axe import FAIL_ON, axe_violations
from .conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

FLAG = f"“{MISLEADING_OUTCOME}” reads as a success, but a walk that fails"


@pytest.fixture
def live_content(tmp_path: Path) -> Path:
    """The test content, with the critical choice's ending worded as a success."""
    content = tmp_path / "misleading-content"
    shutil.copytree(DATA_CONTENT, content)
    (content / "scenarios" / "test-check.md").write_text(misleading_check(), encoding="utf-8")
    return content


def _sign_in_as_trainer(live_app, page, base: str) -> None:
    add_user(live_app, email="trainer@example.org", name="Tess Trainer", role="trainer", job_role="leadership")
    page.goto(base + "/auth/login")
    page.get_by_label("Email").fill("trainer@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _check_the_map(page, device: str, js: bool, name: str) -> None:
    section = page.locator("#test-check-general-map").locator("xpath=..")
    assert section.get_by_text(FLAG).is_visible()
    ending = section.locator(".ending-misleading", has_text=f"“{MISLEADING_OUTCOME}”")
    assert ending.get_by_text("Misleading: reads as a success").is_visible()
    decisions = section.locator("ol.branch-list > li")
    assert decisions.count() == 4 and decisions.first.is_visible()
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width <= viewport, f"{name}: the page is {width} px wide on a {viewport} px screen"
    wide, folded = section.locator(".branch-drawing.wide-only svg"), section.locator("details.branch-drawing")
    if device == "phone":
        assert not wide.is_visible() and folded.is_visible()
        folded.locator("summary").click()  # a details element opens without JavaScript
        assert folded.locator("svg").is_visible()
        assert "MISLEADING" in folded.locator("svg").text_content()
    else:
        assert wide.is_visible() and not folded.is_visible()
        assert "MISLEADING" in wide.text_content()
    violations = [v for v in axe_violations(page) if v["impact"] in FAIL_ON] if js else []  # axe needs JavaScript
    assert not violations, f"{name}: {[v['id'] for v in violations]}"
    folder = SCREENSHOTS / "branch-map"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_a_trainer_sees_the_map_flag_a_misleading_ending(live_app, live_server, new_page, device, js):
    page = new_page(device, js, bypass_csp=True)  # for axe-core, added to the page
    _sign_in_as_trainer(live_app, page, live_server)
    assert page.goto(live_server + "/author/modules/test-callers").status == 200
    _check_the_map(page, device, js, f"{device}-{'js' if js else 'nojs'}-module")

    page.goto(live_server + "/author/try")
    page.get_by_label("Or paste the file's text").fill(misleading_check())
    page.get_by_role("button", name="Check it").click()
    page.wait_for_load_state()
    assert page.get_by_text("This scenario loads without errors").is_visible()
    _check_the_map(page, device, js, f"{device}-{'js' if js else 'nojs'}-try")

"""axe-core on every screen of the learner's path, and on every manager and admin page: no
serious or critical violation.

These pages are opened with Playwright's bypass_csp, so the injected axe script can run (see
axe.py). A JavaScript-off page cannot run axe at all, so its document is re-shown in a
JavaScript-on page for axe (axe_violations_without_js)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .axe import FAIL_ON, axe_violations, axe_violations_without_js
from .conftest import PATH_RUNS
from .paths import heading, take_the_module
from .staff import sign_in_as_admin

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    "device, js, scheme",
    # the path's runs, and the dark colors without JavaScript too: contrast is a serious rule
    [*PATH_RUNS, pytest.param("desktop", False, "dark", id="desktop-dark-nojs")],
)
def test_no_serious_or_critical_axe_violations_on_any_screen(live_server, new_page, device, js, scheme):
    page = new_page(device, js, bypass_csp=True, scheme=scheme)
    inspector = None if js else new_page(device, True, bypass_csp=True, scheme=scheme)
    found: dict[str, list[dict]] = {}
    screens = []

    def checkpoint(name: str) -> None:
        screens.append(name)
        violations = axe_violations(page) if js else axe_violations_without_js(page, inspector)
        bad = [v for v in violations if v["impact"] in FAIL_ON]
        if bad:
            found[name] = bad

    # The sign-in page with its error summary, first.
    page.goto(live_server + "/auth/login")
    page.get_by_label("Email").fill("learner@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page, "There is a problem")).to_be_visible()
    checkpoint("sign-in-with-error")

    take_the_module(page, live_server, js, checkpoint)
    assert len(screens) == 16, screens
    assert not found, "axe-core found serious/critical violations:\n" + "\n".join(
        f"  {screen}: [{v['impact']}] {v['id']} ({v['help']}) at {', '.join(v['targets'])}"
        for screen, violations in found.items()
        for v in violations
    )


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_no_serious_or_critical_axe_violations_on_manager_and_admin_pages(live_app, live_server, new_page, device):
    page = new_page(device, True, bypass_csp=True)
    found = {}
    for path in sign_in_as_admin(live_app, page, live_server):
        assert page.goto(live_server + path).status == 200, path
        bad = [v for v in axe_violations(page) if v["impact"] in FAIL_ON]
        if bad:
            found[path] = bad
        if (
            path.startswith("/manage/people/") and "/certificates/" not in path
        ):  # the premise: a history, failed and passed
            expect(page.get_by_text("not passed")).to_have_count(1)
            expect(page.locator("a[href*='/certificates/']")).to_have_count(1)
        if "/certificates/" in path:  # the premise: a certificate with its code and check address
            expect(page.locator("#cert-code")).to_have_count(1)
        if path == "/audit/training":  # the premise: report rows, a state in its color, departments
            expect(page.locator("td .badge-current")).to_have_count(1)
            expect(page.locator(".by-department tbody tr")).to_have_count(2)
    assert not found, "axe-core found serious/critical violations:\n" + "\n".join(
        f"  {path}: [{v['impact']}] {v['id']} ({v['help']}) at {', '.join(v['targets'])}"
        for path, violations in found.items()
        for v in violations
    )


def test_no_serious_or_critical_axe_violations_when_a_trainer_tries_a_file(live_app, live_server, new_page):
    """The answers of "Try a file" (a POST, so not among the pages above): a file with an error
    and what it would break, and a good module laid bare."""
    from ..helpers import DATA_CONTENT

    page = new_page("phone", True, bypass_csp=True)
    sign_in_as_admin(live_app, page, live_server)
    scenario = (DATA_CONTENT / "scenarios" / "test-check.md").read_text(encoding="utf-8")
    module = (DATA_CONTENT / "modules" / "test-callers.md").read_text(encoding="utf-8")
    found = {}
    for name, text, expected in (
        (
            "broken scenario",
            scenario.replace("Points: 2", "Points: two", 1),
            "It would also stop these from being served",
        ),
        ("good module", module, "Test module on callers, as it would be"),
        ("nothing given", "", "There is a problem"),
    ):
        page.goto(live_server + "/author/try")
        page.get_by_label("Or paste the file's text").fill(text)
        page.get_by_role("button", name="Check it").click()
        expect(page.get_by_role("heading", name=expected)).to_be_visible()
        bad = [v for v in axe_violations(page) if v["impact"] in FAIL_ON]
        if bad:
            found[name] = bad
    assert not found, found

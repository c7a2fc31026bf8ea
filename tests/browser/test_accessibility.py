"""axe-core on every screen of the learner's path: no serious or critical violation.

The app's CSP (script-src 'self') would block the injected axe script, so these tests, and only
these, run with Playwright's bypass_csp. A JavaScript-off page cannot run axe at all, so its
document is re-shown in a JavaScript-on page for axe (see axe_violations_without_js)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import AXE
from .paths import heading, take_the_module

pytestmark = pytest.mark.browser

FAIL_ON = {"serious", "critical"}

RUN_AXE = """async () => {
  const results = await axe.run(document, {
    resultTypes: ['violations'],
    rules: {'target-size': {enabled: true}},  // WCAG 2.2 AA; off by default in axe 4
  });
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(' ')),
  }));
}"""


def axe_violations(page) -> list[dict]:
    if not page.evaluate("typeof window.axe === 'object'"):  # again after each full page load
        page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE)


def axe_violations_without_js(page, inspector) -> list[dict]:
    """axe-core needs JavaScript (and timers), which a JavaScript-off page will not run. So show
    the very same document (its DOM, at its URL, with the same CSS and viewport) in a second,
    JavaScript-on page, and run axe there."""
    html = page.content()
    url = page.url.split("#")[0]
    same = lambda u: u == url  # noqa: E731

    inspector.route(same, lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html))
    try:
        inspector.goto(url)
    finally:
        inspector.unroute(same)
    return axe_violations(inspector)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_no_serious_or_critical_axe_violations_on_any_screen(live_server, new_page, device, js):
    page = new_page(device, js, bypass_csp=True)
    inspector = None if js else new_page(device, True, bypass_csp=True)
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

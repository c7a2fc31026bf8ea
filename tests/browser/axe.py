"""axe-core in a real page: inject the vendored script and list what it finds.

The app's CSP (script-src 'self') would block the injected script, so pages checked with it are
opened with Playwright's bypass_csp. Used by test_accessibility (every screen of the path) and
test_weak_network (the message a failed request leaves)."""

from __future__ import annotations

from .conftest import AXE

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

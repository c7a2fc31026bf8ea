"""The narrowest phones (320 CSS pixels, or a bigger one with large text): nothing on any screen
of the learner's path pushes the page sideways (WCAG 1.4.10, reflow), even when a trainer's
lesson has a wide table, a long link and a long line of code; and nothing is cut off when the
reader widens the spacing of text (WCAG 1.4.12). Managers' and admins' pages do not push the page
sideways either: their wide tables scroll in their own box."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..helpers import DATA_CONTENT
from .axe import FAIL_ON, axe_violations
from .conftest import DEVICES
from .paths import take_the_module
from .staff import sign_in_as_admin

pytestmark = pytest.mark.browser

WIDE_MARKDOWN = """
| Identifier | Where to find it | Accept it when | Never accept it when |
|---|---|---|---|
| Date of birth | The registration screen | It matches exactly | The caller guesses twice |
| Medical record number | The wristband or the chart header | All eight digits match | It is read from a photo |

See https://www.hhs.gov/hipaa/for-professionals/privacy/guidance/access/index.html#verificationrequirements for more.

```
CALLBACK-NUMBER-FROM-THE-CHART-NOT-FROM-THE-CALLER-0123456789-0123456789
```
"""
FIRST_SCREEN = "Callers can sound sure and still be wrong.\n"


@pytest.fixture
def live_content(tmp_path: Path) -> Path:
    """The test content, with the wide things on the lesson's first screen."""
    content = tmp_path / "wide-content"
    shutil.copytree(DATA_CONTENT, content)
    module = content / "modules" / "test-callers.md"
    text = module.read_text(encoding="utf-8")
    assert FIRST_SCREEN in text
    module.write_text(text.replace(FIRST_SCREEN, FIRST_SCREEN + WIDE_MARKDOWN, 1), encoding="utf-8")
    return content


# WCAG 1.4.12's test values, as a reader's own style sheet (or a bookmarklet) would set them.
TEXT_SPACING = """* { line-height: 1.5 !important; letter-spacing: 0.12em !important;
                     word-spacing: 0.16em !important; }
                 p { margin-bottom: 2em !important; }"""

# Anything whose content is taller or wider than its box while the box hides the overflow.
CLIPPED = """() => [...document.querySelectorAll('body *')].filter(e => {
  const s = getComputedStyle(e);
  if (e.closest('.visually-hidden, .skip')) return false;
  const hides = v => v === 'hidden' || v === 'clip';
  return (hides(s.overflowY) && e.scrollHeight > e.clientHeight + 1) ||
         (hides(s.overflowX) && e.scrollWidth > e.clientWidth + 1);
}).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))"""


@pytest.mark.parametrize(
    "js, spacing", [(True, False), (False, False), (True, True)], ids=["js", "nojs", "js-text-spacing"]
)
def test_no_screen_scrolls_sideways_on_a_320_pixel_phone(live_server, new_page, js, spacing):
    # A reader's own style sheet is not the page's, so the page's CSP does not apply to it:
    # bypass_csp lets the injected <style> stand in for one.
    page = new_page("small-phone", js, bypass_csp=spacing)
    if spacing:  # on every page the browser loads, as a reader's own style sheet would be
        page.context.add_init_script(
            "document.addEventListener('DOMContentLoaded', () => { const s = document.createElement('style');"
            f" s.textContent = {TEXT_SPACING!r}; document.head.appendChild(s); }});"
        )
    screens = []

    def no_sideways_scroll(name: str) -> None:
        if spacing:
            assert page.evaluate("getComputedStyle(document.body).letterSpacing") != "normal", "spacing not applied"
            assert not page.evaluate(CLIPPED), f"{name}: cut off with wider text spacing: {page.evaluate(CLIPPED)}"
        width, viewport = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width <= viewport, f"{name}: the page is {width} px wide on a {viewport} px screen"
        if name == "lesson-first-screen":  # the premise: the wide things are on this screen
            assert page.locator("#step table th").count() == 4
            assert page.locator("#step pre").count() == 1
        screens.append(name)

    take_the_module(page, live_server, js, no_sideways_scroll)
    assert "lesson-first-screen" in screens and len(screens) == 15, screens


def test_manager_and_admin_pages_do_not_scroll_sideways_on_a_320_pixel_phone(live_app, live_server, new_page):
    # Their tables may be wider than a phone: each scrolls in its own box, and nothing in it (a
    # visually hidden label, say) may push the page itself wide.
    page = new_page("small-phone", js=True)
    wide = {}
    for path in sign_in_as_admin(live_app, page, live_server):
        response = page.goto(live_server + path)
        assert response.status == 200, path
        width, viewport = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if width > viewport:
            wide[path] = width
        if path == "/admin/roster":  # the premise: hidden labels inside a table wider than the phone
            assert page.locator(".table-wrap .visually-hidden").count() > 0
            assert page.evaluate("document.querySelector('.table-wrap').scrollWidth") > viewport
    assert not wide, f"pages wider than the {viewport} px screen: {wide}"


def _in_view(page, locator) -> bool:
    """Whether the element is wholly inside the screen and inside the box it scrolls in (a
    table's wrapper), so it is seen without scrolling anything sideways."""
    box = locator.bounding_box()
    if box is None:
        return False
    right = locator.evaluate(
        """el => { const wrap = el.closest('.table-wrap');
                   return wrap ? wrap.getBoundingClientRect().right : Infinity; }"""
    )
    return box["x"] >= 0 and box["x"] + box["width"] <= min(page.viewport_size["width"], right)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_actions_a_manager_or_admin_takes_on_a_row_are_in_view_on_a_phone(live_app, live_server, new_page, js):
    # A table wider than the phone scrolls in its own box; what a manager does to a row (waive
    # an assignment) and what an admin decides (clear for PHI access) sit in the columns seen first.
    page = new_page("phone", js, bypass_csp=js)  # bypass_csp: room for axe-core
    pages = sign_in_as_admin(live_app, page, live_server)

    def axe_finds_nothing_serious() -> None:
        if js:
            assert not [v for v in axe_violations(page) if v["impact"] in FAIL_ON]

    page.goto(live_server + pages[1])  # the learner's person page
    page.get_by_role("button", name="Assign").click()
    waive = page.locator("summary", has_text="Waive")
    assert _in_view(page, waive)
    waive.click()
    reason = page.get_by_label("Reason to waive")
    assert _in_view(page, reason) and _in_view(page, page.get_by_role("button", name="Confirm waiver"))
    # an empty reason goes to the server (novalidate), which answers with the error summary
    page.get_by_role("button", name="Confirm waiver").click()
    assert page.locator(".error-summary a").inner_text() == "Say why this training is waived."
    error = page.locator(".row-form .field-error")
    assert error.inner_text().endswith("Say why this training is waived.")
    assert _in_view(page, error) and _in_view(page, page.get_by_label("Reason to waive"))
    axe_finds_nothing_serious()
    page.set_viewport_size(DEVICES["small-phone"]["viewport"])
    for shown in (error, page.get_by_label("Reason to waive"), page.get_by_role("button", name="Confirm waiver")):
        assert _in_view(page, shown)

    page.set_viewport_size(DEVICES["phone"]["viewport"])
    page.goto(live_server + "/admin/roster")
    assert page.evaluate("document.querySelector('.table-wrap').scrollWidth") > page.viewport_size["width"]  # premise
    buttons = page.get_by_role("button", name="Mark cleared")
    assert buttons.count() == 2
    axe_finds_nothing_serious()
    for size in (DEVICES["phone"]["viewport"], DEVICES["small-phone"]["viewport"]):
        page.set_viewport_size(size)
        assert all(_in_view(page, buttons.nth(i)) for i in range(2)), size
        assert _in_view(page, page.locator("tbody .badge").first), size

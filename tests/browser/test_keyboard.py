"""The passing path with the keyboard alone (Tab, Shift+Tab, arrows, Space, Enter): no clicks."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .paths import FOCUS_RING, MODULE_TITLE, heading, sign_in, tab_to, take_the_module_by_keyboard

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_whole_passing_path_by_keyboard_only(live_server, new_page, device):
    page = new_page(device, js=True)
    take_the_module_by_keyboard(page, live_server)


def test_focus_moves_with_a_tap_without_a_ring_and_shows_one_after_a_key(live_server, new_page):
    """Each new screen takes focus (so a screen reader reads on from there). A tap draws no ring
    round it, which on a phone would frame every lesson screen in yellow; a key press does."""
    page = new_page("phone", js=True)
    sign_in(page, live_server)
    page.get_by_role("link", name=MODULE_TITLE).click()
    page.get_by_role("button", name="Start").tap()
    expect(heading(page, "First screen")).to_be_visible()
    expect(page.locator("section.screen")).to_be_focused()
    assert not page.evaluate(FOCUS_RING), "a tap left a focus ring round the new screen"
    tab_to(page, "button", "Next")
    page.keyboard.press("Enter")
    expect(heading(page, "Second screen")).to_be_visible()
    expect(page.locator("section.screen")).to_be_focused()
    assert page.evaluate(FOCUS_RING), "a key press left no focus ring on the new screen"

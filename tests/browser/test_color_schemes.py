"""A phone set to dark gets dark screens (a night shift's phone does not glare), but never dark
paper: a certificate printed or saved as PDF from that phone is dark ink on white.

Contrast in both schemes is axe-core's job (test_accessibility runs it on every screen in
each); this checks which colors apply where."""

from __future__ import annotations

import pytest

from .paths import sign_in

pytestmark = pytest.mark.browser

BODY_COLORS = "() => { const s = getComputedStyle(document.body); return [s.color, s.backgroundColor]; }"
THEME_COLOR = (
    "() => [...document.querySelectorAll('meta[name=theme-color]')].find(m => matchMedia(m.media).matches).content"
)
LIGHT = ["rgb(27, 31, 36)", "rgb(255, 255, 255)"]  # --ink on --bg, light
DARK = ["rgb(230, 237, 243)", "rgb(15, 20, 25)"]  # --ink on --bg, dark


@pytest.mark.parametrize("scheme, on_screen, bar", [("light", LIGHT, "#f6f8fa"), ("dark", DARK, "#1a2129")])
def test_the_screen_follows_the_phone_and_paper_is_always_light(live_server, new_page, scheme, on_screen, bar):
    page = new_page("phone", True, scheme=scheme)
    sign_in(page, live_server)
    assert page.evaluate(BODY_COLORS) == on_screen
    assert page.evaluate(THEME_COLOR) == bar  # the browser's own bar matches the page
    button = page.locator(".top button")  # "Sign out": the form controls follow the scheme too
    assert page.evaluate("b => getComputedStyle(b).colorScheme", button.element_handle()) == scheme

    page.emulate_media(media="print")
    assert page.evaluate(BODY_COLORS) == LIGHT

"""The passing path with the keyboard alone (Tab, Shift+Tab, arrows, Space, Enter): no clicks."""

from __future__ import annotations

import pytest

from .paths import take_the_module_by_keyboard

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_whole_passing_path_by_keyboard_only(live_server, new_page, device):
    page = new_page(device, js=True)
    take_the_module_by_keyboard(page, live_server)

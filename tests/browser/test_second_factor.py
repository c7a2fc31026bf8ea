"""The second factor's pages in a real browser without JavaScript (tests/test_mfa.py has the
rules): set it up from the key shown on the page, keep the recovery codes, sign in again with a
code. axe-core finds no serious or critical violation on them, and none pushes a 320-pixel
phone's page sideways (its QR code is drawn on the server, as inline SVG)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
import pytest
from playwright.sync_api import expect

from ..helpers import PASSWORD, add_user, close_app, make_app
from .axe import FAIL_ON, axe_violations_without_js
from .paths import heading

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(tmp_path, monkeypatch, live_content):
    """As conftest's, with the second factor asked of admins (the suite's default is nobody)."""
    app = make_app(
        f"sqlite:///{tmp_path / 'browser.sqlite3'}",
        tmp_path,
        monkeypatch,
        CONTENT_DIR=str(live_content),
        MFA_ROLES="admin,compliance,trainer",
    )
    yield app
    close_app(app)


def sign_in(page, base: str) -> None:
    page.goto(base + "/auth/login")
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_setting_up_and_signing_in_with_a_second_factor_without_javascript(live_app, live_server, new_page, device):
    add_user(live_app, email="admin@example.org", name="Avery Admin", role="admin", job_role="leadership")
    page = new_page(device, False)
    inspector = new_page(device, True, bypass_csp=True)
    found: dict[str, list[dict]] = {}

    def checkpoint(name: str) -> None:
        bad = [v for v in axe_violations_without_js(page, inspector) if v["impact"] in FAIL_ON]
        if bad:
            found[name] = bad
        width, viewport = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width <= viewport, f"{name}: {width} > {viewport}"

    sign_in(page, live_server)
    expect(heading(page, "Set up your second factor")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    checkpoint("set-up")
    secret = page.locator("#mfa-secret").inner_text().replace(" ", "")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Set up").click()
    expect(heading(page, "Your recovery codes")).to_be_visible()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    checkpoint("recovery codes")
    page.get_by_role("link", name="I have saved them: go on").click()
    page.wait_for_url("**/admin/roster")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server)
    expect(heading(page, "Your code")).to_be_visible()
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page, "There is a problem")).to_be_visible()
    checkpoint("code refused")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at(datetime.now(UTC), counter_offset=1))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/roster")
    page.get_by_role("link", name="Second factor", exact=True).first.click()
    expect(heading(page, "Your second factor")).to_be_visible()
    checkpoint("your second factor")
    assert not found, "axe-core found serious/critical violations:\n" + "\n".join(
        f"  {screen}: [{v['impact']}] {v['id']} ({v['help']}) at {', '.join(v['targets'])}"
        for screen, violations in found.items()
        for v in violations
    )

"""The audit package in a real browser: a field in error is shown in the summary and beside the
field (axe on that page too), and the button downloads a ZIP whose files all match SHA256SUMS,
with JavaScript and without (htmx must not get in the way of a download)."""

from __future__ import annotations

import hashlib
import zipfile

import pytest
from playwright.sync_api import expect

from .axe import FAIL_ON, axe_violations
from .staff import sign_in_as_admin

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_an_audit_package_downloads_from_the_browser_and_a_bad_day_is_shown_beside_its_field(
    live_app, live_server, new_page, tmp_path, js
):
    page = new_page("phone", js, bypass_csp=js)
    sign_in_as_admin(live_app, page, live_server)
    page.goto(live_server + "/audit/package")
    page.get_by_label("From (UTC day)").fill("2000-02-01")
    page.get_by_label("To (UTC day, included)").fill("2000-01-01")
    page.get_by_role("button", name="Make the package").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page.locator(".field-error")).to_have_text("Error: The last day is before the first day.")
    if js:
        bad = [v for v in axe_violations(page) if v["impact"] in FAIL_ON]
        assert not bad, bad

    page.get_by_label("To (UTC day, included)").fill("")
    page.get_by_label("From (UTC day)").fill("")
    with page.expect_download() as download:
        page.get_by_role("button", name="Make the package").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("rounds-audit-package-") and saved.suffix == ".zip"
    archive = zipfile.ZipFile(saved)
    sums = archive.read("SHA256SUMS").decode().splitlines()
    assert len(sums) >= 6
    for line in sums:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
    assert b"learner@example.org" in archive.read("evidence.csv")

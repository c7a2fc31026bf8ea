"""Small screens and small things (issue 30, part 7), in a real browser on a 390-pixel phone: the
outbox's subjects read as words, not three letters a line; the icons and the web manifest every
page names are there (no 404); the authoring guide is reached from the Content and Try pages,
with JavaScript on and off."""

from __future__ import annotations

from datetime import date

import pytest

from ..helpers import PASSWORD, add_user
from .conftest import DEVICES

pytestmark = pytest.mark.browser

SUBJECT = "Rounds: training 1 overdue and 1 due soon"
#: A subject link on the phone: its first line at least this wide (CSS pixels), in at most this many lines.
MIN_LINE_WIDTH, MAX_LINES = 200, 2


def _sign_in(page, base: str, email: str, lands_on: str) -> None:
    page.goto(base + "/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{lands_on}")


def _no_sideways_scroll(page) -> None:
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width <= viewport, f"{page.url}: {width} px wide on a {viewport} px screen"


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_outbox_subjects_read_on_a_390_pixel_phone(live_app, live_server, new_page, js):
    from quiz.db import db
    from quiz.models import OutboxMessage

    add_user(live_app, email="admin@example.org", name="Avery Admin", role="admin", job_role="leadership")
    with live_app.app_context():
        for n, address in enumerate(
            ["learner@example.org", "a.very.long.address.for.a.recipient@radiology.hospital.example.org"]
        ):
            db.session.add(
                OutboxMessage(
                    to_address=address,
                    subject=SUBJECT,
                    body="Hi",
                    kind="digest",
                    digest_day=date.today(),
                    transport="outbox",
                    error="SMTP refused the recipient (550 mailbox unavailable)" if n else None,
                )
            )
        db.session.commit()
    page = new_page("phone", js)
    _sign_in(page, live_server, "admin@example.org", "/admin/roster")
    page.goto(live_server + "/admin/outbox")
    links = page.get_by_role("link", name=SUBJECT)
    assert links.count() == 2
    for i in range(2):
        lines = links.nth(i).evaluate("el => [...el.getClientRects()].map(r => Math.round(r.width)).filter(w => w > 0)")
        # (the last line may be short: the first is as wide as the words allow)
        assert 0 < len(lines) <= MAX_LINES and lines[0] >= MIN_LINE_WIDTH, lines
    # Every cell of a row is on the screen, without scrolling sideways (the page or the table).
    viewport = DEVICES["phone"]["viewport"]["width"]
    for cell in page.locator("table.outbox tbody td:visible, table.outbox tbody th").all():
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport, cell.inner_text()
    _no_sideways_scroll(page)
    # Each value is still named: the column's header is read out before it (the label is CSS text).
    label = page.locator("table.outbox tbody td[data-label=To]").first.evaluate(
        "el => getComputedStyle(el, '::before').content"
    )
    assert label == '"To: "'
    links.first.click()
    page.wait_for_url("**/admin/outbox/*")


def test_every_page_has_its_icons_and_manifest(live_server, new_page):
    page = new_page("phone", True)
    failed = []
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    page.goto(live_server + "/auth/login")
    hrefs = page.eval_on_selector_all(
        "link[rel=icon], link[rel=apple-touch-icon], link[rel=manifest]", "ls => ls.map(l => [l.rel, l.href])"
    )
    assert sorted(rel for rel, _ in hrefs) == ["apple-touch-icon", "icon", "icon", "manifest"]
    for rel, href in hrefs:
        response = page.request.get(href)
        assert response.status == 200, (rel, href)
    manifest = page.evaluate("fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())")
    for icon in manifest["icons"]:
        assert page.request.get(live_server + icon["src"]).status == 200, icon
    # Where a browser looks without asking the page: there too.
    assert page.request.get(live_server + "/favicon.ico").status == 200
    assert page.request.get(live_server + "/apple-touch-icon.png").status == 200
    assert not failed, failed


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_authoring_guide_is_reached_from_the_content_and_try_pages(live_app, live_server, new_page, js):
    add_user(live_app, email="trainer@example.org", name="Terry Trainer", role="trainer", job_role="leadership")
    page = new_page("phone", js)
    _sign_in(page, live_server, "trainer@example.org", "/author/")
    for start in ("/author/", "/author/try"):
        page.goto(live_server + start)
        page.get_by_role("link", name="Authoring guide").first.click()
        page.wait_for_url("**/author/guide")
        assert page.get_by_role("heading", level=1).inner_text() == "Authoring guide for trainers"
        _no_sideways_scroll(page)
    # The guide's own links to its sections land on them.
    page.locator("a[href='#what-content-check-catches']").first.click()
    page.wait_for_url("**/author/guide#what-content-check-catches")
    target = page.locator("#what-content-check-catches")
    assert target.is_visible() and target.bounding_box()["y"] < DEVICES["phone"]["viewport"]["height"]

"""The learner's path through the test module (tests/data/content), as a real browser user takes
it: by pointer (`take_the_module`) or by keyboard only (`take_the_module_by_keyboard`).

Each screen worth a look is handed to ``checkpoint(name)`` (screenshots, axe-core)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from ..helpers import PASSWORD
from .conftest import LEARNER_EMAIL, LEARNER_NAME

MODULE_TITLE = "Test module on callers"
ANSWER_PATH = "/learn/test-callers/answer"
TICK_ERROR = "Tick the box to confirm the statement."
NAME_ERROR = "Type your full name to sign."
CHOICE_ERROR = "Choose one answer."

Checkpoint = Callable[[str], None]


def _nothing(name: str) -> None:
    return None


def heading(page: Page, text: str):
    return page.get_by_role("heading", name=text, exact=True)


def passed_on_dates() -> set[str]:
    """How "Passed on <date>" may read now (UTC, as the app stores it; either side of midnight)."""
    now = datetime.now(UTC)
    return {(now + delta).strftime("%d %b %Y") for delta in (timedelta(minutes=-5), timedelta(0))}


def module_status(page: Page):
    """The status line on My training of the test module's card (there are other modules)."""
    card = page.locator(".card").filter(has=page.get_by_role("link", name=MODULE_TITLE, exact=True))
    return card.locator(".status")


def assert_passed_on_today(page: Page) -> None:
    status = module_status(page)
    expect(status).to_have_text(re.compile(r"^Passed on \d{2} \w{3} \d{4}$"))
    text = status.inner_text().strip()
    assert text.removeprefix("Passed on ") in passed_on_dates(), text


def assert_error_summary(page: Page, expected: list[str], invalid_marked: bool = True) -> None:
    """The summary is at the top, takes focus, links to each field, and the same words are
    beside the field."""
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: "))  # read first by a screen reader
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    links = summary.get_by_role("link")
    expect(links).to_have_text(expected)
    assert page.evaluate(
        """() => { const s = document.querySelector('.error-summary');
                   return [...document.querySelectorAll('#step form, #step input')].every(
                       e => s.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING); }"""
    ), "the error summary is not above the form"
    for i, words in enumerate(expected):
        href = links.nth(i).get_attribute("href")
        assert href and href.startswith("#"), href
        field_id = href[1:]
        field = page.locator(f"#{field_id}")
        expect(field).to_have_count(1)
        # the words beside the field are what the field's aria-describedby points at
        expect(field).to_have_attribute("aria-describedby", re.compile(r"\S+-error\b"))
        described = field.get_attribute("aria-describedby").split()[0]
        beside = page.locator(f"#{described}")
        expect(beside).to_contain_text(words)
        if invalid_marked:
            expect(field).to_have_attribute("aria-invalid", "true")


# --- by pointer (click and type) -----------------------------------------------------------


def sign_in(page: Page, base: str, checkpoint: Checkpoint = _nothing) -> None:
    page.goto(base + "/learn/")  # not signed in: sent to the sign-in page
    expect(heading(page, "Sign in")).to_be_visible()
    checkpoint("sign-in")
    expect(page.get_by_label("Email")).to_have_attribute("type", "email")  # the phone's email keyboard
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")  # never shown in clear
    page.get_by_label("Email").fill(LEARNER_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page, "My training")).to_be_visible()


def _press(page: Page, button: str, then: str) -> None:
    """Press a step button and wait until the next screen (heading ``then``) is there."""
    page.get_by_role("button", name=button, exact=True).click()
    expect(heading(page, then)).to_be_visible()


def _through_lesson(page: Page, checkpoint: Checkpoint, first_time: bool) -> None:
    expect(page.get_by_text("Lesson: screen 1 of 2")).to_be_visible()
    if first_time:
        checkpoint("lesson-first-screen")
    _press(page, "Next", "Second screen")
    expect(page.get_by_text("Lesson: screen 2 of 2")).to_be_visible()
    if first_time:
        checkpoint("lesson-second-screen")
    _press(page, "Start the check", "The phone rings")


def _answer(page: Page, label: str, js: bool, feedback_title: str) -> None:
    """Choose an answer. With JavaScript, prove htmx did it: no navigation, focus on the feedback,
    and the live region announces the choice."""
    page.get_by_label(label, exact=True).check()
    choose = page.get_by_role("button", name="Choose", exact=True)
    if not js:
        choose.click()
        expect(page.locator("#feedback .you-chose")).to_have_text(f"You chose: {label}")
        expect(heading(page, feedback_title)).to_be_visible()
        assert page.url.endswith("#feedback"), page.url
        expect(page.locator("#feedback")).to_be_focused()  # autofocus, on a full page load too
        return
    page.evaluate("window.__roundsMarker = 'still the same document'")
    with page.expect_response(lambda r: r.url.endswith(ANSWER_PATH) and r.request.method == "POST") as answered:
        choose.click()
    response = answered.value
    assert response.status == 200, response.status  # htmx gets the blocks, not a 303 redirect
    assert response.request.headers.get("hx-request") == "true"
    expect(page.locator("#feedback .you-chose")).to_have_text(f"You chose: {label}")
    expect(heading(page, feedback_title)).to_be_visible()
    assert page.evaluate("window.__roundsMarker") == "still the same document", "the answer reloaded the page"
    expect(page.locator("#feedback")).to_be_focused()
    expect(page.locator("#announcer")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#announcer")).to_contain_text(f"You chose: {label}")


def to_the_first_question(page: Page, base: str) -> None:
    """Sign in, start the test module and page through its lesson to the first decision."""
    sign_in(page, base)
    page.get_by_role("link", name=MODULE_TITLE, exact=True).click()
    _press(page, "Start", "First screen")
    _through_lesson(page, _nothing, first_time=False)


def take_the_module(page: Page, base: str, js: bool, checkpoint: Checkpoint = _nothing) -> None:
    """Sign in, fail on a critical choice, review, try again, pass, sign, certificate."""
    sign_in(page, base, checkpoint)
    checkpoint("my-training")
    expect(module_status(page)).to_have_text("Not started")
    page.get_by_role("link", name=MODULE_TITLE, exact=True).click()
    expect(heading(page, MODULE_TITLE)).to_be_visible()
    checkpoint("overview")
    _press(page, "Start", "First screen")
    _through_lesson(page, checkpoint, first_time=True)
    checkpoint("question")

    # The wrong path first: a critical choice ends the attempt.
    _answer(page, "Fax the records to the number given", js, "Critical: this choice fails the attempt")
    feedback = page.locator("#feedback")
    expect(feedback).to_have_class(re.compile(r"\bcritical\b"))
    expect(feedback).to_contain_text("You chose: Fax the records to the number given")
    expect(feedback).to_contain_text("Records went to an unverified number.")
    expect(heading(page, "Records sent")).to_be_visible()
    expect(page.get_by_text("Outcome: Unverified disclosure")).to_be_visible()
    checkpoint("feedback-critical-and-ending")
    _press(page, "See your result", "What to review")
    review = page.locator("section.review")
    expect(review).to_contain_text("a critical choice fails the attempt whatever the score")
    expect(review).to_contain_text("Verify identity and authority before sharing.")
    expect(page.locator("#step .status")).to_have_text("Not passed yet")
    checkpoint("result-what-to-review")

    # Try again, the right way.
    _press(page, "Try again", "First screen")
    _through_lesson(page, checkpoint, first_time=False)
    _answer(page, "Ask for two identifiers", js, "Good choice")
    expect(page.locator("#feedback")).to_contain_text("Right: verify first.")
    expect(heading(page, "Verified")).to_be_visible()
    checkpoint("feedback-good-and-next-question")
    page.get_by_role("button", name="Choose", exact=True).click()  # nothing chosen
    assert_error_summary(page, [CHOICE_ERROR], invalid_marked=False)  # a fieldset: no aria-invalid
    checkpoint("question-error")
    _answer(page, "Only the appointment time", js, "Good choice")
    expect(heading(page, "Protected")).to_be_visible()
    expect(page).to_have_title(f"{MODULE_TITLE} · Rounds")  # the error is gone, and so is "Error: "
    expect(page.get_by_text("Outcome: Records protected")).to_be_visible()
    checkpoint("feedback-and-ending-passed")
    _press(page, "See your result", "You passed")
    expect(page.get_by_text("Score 4 of 4; pass mark 4.")).to_be_visible()
    expect(page.locator("blockquote.statement")).to_have_text("I will verify callers before I share anything.")
    checkpoint("acknowledgement")

    # Sign with nothing filled in: the error summary.
    page.get_by_role("button", name="Sign and finish").click()
    assert_error_summary(page, [TICK_ERROR, NAME_ERROR])
    checkpoint("acknowledgement-errors")
    page.get_by_label("I have read and agree to this statement.").check()
    page.get_by_label("Type your full name to sign").fill(LEARNER_NAME)
    page.get_by_role("button", name="Sign and finish").click()

    expect(page.get_by_text("Certificate of completion")).to_be_visible()
    expect(heading(page, LEARNER_NAME)).to_be_visible()
    expect(page.locator(".cert-module")).to_have_text(MODULE_TITLE)
    pdf_link = page.get_by_role("link", name="Download as PDF")
    expect(pdf_link).to_have_attribute("href", re.compile(r"/learn/test-callers/certificate/\d+\.pdf$"))
    download = page.request.get(base + pdf_link.get_attribute("href"))  # with this browser's session
    assert download.ok and download.body().startswith(b"%PDF-"), download.status
    checkpoint("certificate")
    page.get_by_role("link", name="Back to My training").click()
    expect(heading(page, "My training")).to_be_visible()
    assert_passed_on_today(page)
    checkpoint("my-training-passed")


# --- by keyboard only ---------------------------------------------------------------------

_FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return {tag: 'body', name: ''};
  const label = e.labels && e.labels.length ? e.labels[0].innerText : '';
  const name = (label || e.getAttribute('aria-label') || e.innerText || e.value || '').trim().replace(/\\s+/g, ' ');
  return {tag: e.tagName.toLowerCase(), type: e.getAttribute('type') || '', id: e.id, name, checked: !!e.checked};
}"""


def focused(page: Page) -> dict:
    return page.evaluate(_FOCUSED)


def tab_to(
    page: Page, tag: str, name: str | None = None, type_: str | None = None, backwards: bool = False, limit: int = 40
) -> dict:
    """Press Tab (or Shift+Tab) until the focused element is the one described; fail if never."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        now = focused(page)
        seen.append(f"{now['tag']}{'[' + now.get('type', '') + ']' if now.get('type') else ''} {now['name']!r}")
        if now["tag"] == tag and (name is None or now["name"] == name) and (type_ is None or now["type"] == type_):
            return now
    raise AssertionError(f"never reached <{tag}> {name!r} by keyboard; focus went: " + " → ".join(seen))


FOCUS_RING = """() => { const s = getComputedStyle(document.activeElement);
                        return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"""


def _assert_focus_kept(page: Page, where: str) -> None:
    """After an htmx swap focus must land in the new content (htmx moves it to [autofocus] when
    the swap settles), not fall back to <body>, where a screen reader would lose its place; and a
    keyboard user must see where it went (the focus ring)."""
    try:
        expect(page.locator("#step *:focus, #step:focus")).to_have_count(1, timeout=3_000)
    except AssertionError:
        raise AssertionError(f"focus was lost after {where}: it is on {focused(page)}") from None
    assert page.evaluate(FOCUS_RING), f"no focus ring after {where} by keyboard, on {focused(page)}"


def _key_step(page: Page, button: str, then: str, key: str = "Enter") -> None:
    tab_to(page, "button", button)
    page.keyboard.press(key)
    expect(heading(page, then)).to_be_visible()
    _assert_focus_kept(page, f"pressing {button!r}")


def _choose_by_keyboard(page: Page, label: str, feedback_title: str) -> None:
    now = tab_to(page, "input", type_="radio")  # into the radio group
    for _ in range(6):  # arrow keys move through the group, checking as they go
        if now["name"] == label:
            break
        page.keyboard.press("ArrowDown")
        now = focused(page)
    assert now["name"] == label, f"arrow keys never reached {label!r}"
    if not now["checked"]:
        page.keyboard.press("Space")
    expect(page.get_by_label(label, exact=True)).to_be_checked()
    tab_to(page, "button", "Choose")
    page.keyboard.press("Enter")
    expect(page.locator("#feedback .you-chose")).to_have_text(f"You chose: {label}")
    expect(heading(page, feedback_title)).to_be_visible()
    expect(page.locator("#feedback")).to_be_focused()
    assert page.evaluate(FOCUS_RING), "no focus ring on the feedback after answering by keyboard"


def take_the_module_by_keyboard(page: Page, base: str) -> None:
    """The passing path with page.keyboard only (after the first page.goto)."""
    page.goto(base + "/auth/login")
    tab_to(page, "input", "Email")
    page.keyboard.type(LEARNER_EMAIL)
    tab_to(page, "input", "Password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(heading(page, "My training")).to_be_visible()

    tab_to(page, "a", MODULE_TITLE)
    page.keyboard.press("Enter")
    expect(heading(page, MODULE_TITLE)).to_be_visible()
    _key_step(page, "Start", "First screen")
    _key_step(page, "Next", "Second screen")
    _key_step(page, "Start the check", "The phone rings", key="Space")
    _choose_by_keyboard(page, "Ask for two identifiers", "Good choice")
    tab_to(page, "button", "Choose")  # nothing chosen yet: the error summary takes focus
    page.keyboard.press("Enter")
    assert_error_summary(page, [CHOICE_ERROR], invalid_marked=False)
    _choose_by_keyboard(page, "Only the appointment time", "Good choice")
    expect(heading(page, "Protected")).to_be_visible()
    _key_step(page, "See your result", "You passed")

    # Submit empty, then follow the summary's links to fix each field.
    tab_to(page, "button", "Sign and finish")
    page.keyboard.press("Enter")
    assert_error_summary(page, [TICK_ERROR, NAME_ERROR])
    tab_to(page, "a", TICK_ERROR)
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "agree", f"the summary link did not move focus to the checkbox: {focused(page)}"
    page.keyboard.press("Space")
    expect(page.locator("#agree")).to_be_checked()
    tab_to(page, "input", "Type your full name to sign")
    page.keyboard.type(LEARNER_NAME)
    tab_to(page, "input", "I have read and agree to this statement.", backwards=True)  # still ticked?
    assert focused(page)["checked"], "the box came unticked"
    tab_to(page, "button", "Sign and finish")
    page.keyboard.press("Enter")

    expect(page.get_by_text("Certificate of completion")).to_be_visible()
    tab_to(page, "a", "Back to My training")
    page.keyboard.press("Enter")
    expect(heading(page, "My training")).to_be_visible()
    assert_passed_on_today(page)

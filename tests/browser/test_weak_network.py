"""Weak hospital Wi-Fi: when an answer's request fails, hangs or meets an error, the learner is
told, can try again, and the answer is recorded exactly once (JavaScript on: htmx; without
JavaScript the browser's own error page and a resubmit do the same, see test_learning_flow)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from ..helpers import PASSWORD
from .axe import FAIL_ON, axe_violations
from .conftest import LEARNER_EMAIL, SCREENSHOTS
from .paths import ANSWER_PATH, MODULE_TITLE, heading, sign_in, take_the_module, to_the_first_question

pytestmark = pytest.mark.browser

RIGHT = "Ask for two identifiers"
#: Chrome DevTools' "Fast 3G" preset: what a phone often gets on a busy ward's Wi-Fi.
FAST_3G = {"offline": False, "latency": 562.5, "downloadThroughput": 1_474_560 // 8, "uploadThroughput": 675_000 // 8}
NOT_REACHED = "Rounds could not be reached, so this may not have been saved."
SERVER_ERROR = "Something went wrong on our side, so this may not have been saved."


def screenshot(page, name: str, js: bool = True) -> None:
    """Beside the learner path's phone screenshots (test_learner_path numbers those 01-15)."""
    folder = SCREENSHOTS / ("phone-js" if js else "phone-nojs")
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def answers_recorded(app) -> int:
    from sqlalchemy import func, select

    from quiz.db import db
    from quiz.models import Answer, Evidence

    with app.app_context():
        answers = db.session.scalar(select(func.count()).select_from(Answer))
        events = db.session.scalar(select(func.count()).select_from(Evidence).where(Evidence.event == "choice.made"))
        db.session.remove()
    assert answers == events, (answers, events)
    return answers


def is_answer(request) -> bool:
    return request.method == "POST" and request.url.endswith(ANSWER_PATH)


def choose(page, label: str = RIGHT) -> None:
    page.get_by_label(label, exact=True).check()
    page.get_by_role("button", name="Choose", exact=True).click()


def expect_message(page, text: str) -> None:
    """Shown above the button, announced (role=alert), focused; the button works again."""
    note = page.locator("#step form .request-error")
    expect(note).to_have_count(1)
    expect(note).to_have_attribute("role", "alert")
    expect(note).to_contain_text(text)
    expect(note).to_be_focused()
    expect(page.get_by_role("button", name="Choose", exact=True)).to_be_enabled()
    assert page.evaluate(
        "() => { const n = document.querySelector('.request-error');"
        " return !!(n.compareDocumentPosition(document.querySelector('#step form button')) & Node.DOCUMENT_POSITION_FOLLOWING); }"
    ), "the message is not above the button"


def expect_feedback(page, label: str = RIGHT) -> None:
    expect(page.locator("#feedback .you-chose")).to_have_text(f"You chose: {label}")
    expect(heading(page, "Good choice")).to_be_visible()
    expect(page.locator(".request-error")).to_have_count(0)


def test_no_connection_says_so_and_the_retry_records_the_answer_once(live_server, live_app, new_page):
    page = new_page("phone", True, bypass_csp=True)  # for axe-core, as in test_accessibility
    to_the_first_question(page, live_server)
    page.route(lambda url: url.endswith(ANSWER_PATH), lambda route: route.abort("internetdisconnected"))
    choose(page)
    expect_message(page, NOT_REACHED)
    bad = [v for v in axe_violations(page) if v["impact"] in FAIL_ON]
    assert not bad, bad
    screenshot(page, "16-answer-not-sent")
    assert answers_recorded(live_app) == 0

    page.unroute_all()
    page.keyboard.press("Tab")  # by keyboard: from the message, the next stop is the button
    expect(page.get_by_role("button", name="Choose", exact=True)).to_be_focused()
    page.keyboard.press("Enter")  # the choice is still ticked
    expect_feedback(page)
    assert answers_recorded(live_app) == 1


def test_a_reply_lost_after_the_server_recorded_it_is_not_recorded_twice(live_server, live_app, new_page):
    page = new_page("phone", True)
    to_the_first_question(page, live_server)

    def arrives_but_reply_is_lost(route):
        route.fetch()  # the server gets it and records the answer ...
        route.abort("connectionreset")  # ... and the phone never hears back

    page.route(lambda url: url.endswith(ANSWER_PATH), arrives_but_reply_is_lost)
    choose(page)
    expect_message(page, NOT_REACHED)
    assert answers_recorded(live_app) == 1

    page.unroute_all()
    page.get_by_role("button", name="Choose", exact=True).click()  # the same form, sent again
    expect_feedback(page)  # the server shows the answer it kept
    assert answers_recorded(live_app) == 1


def test_a_server_error_says_so_and_a_hung_request_is_given_up(live_server, live_app, new_page):
    page = new_page("phone", True)
    to_the_first_question(page, live_server)
    page.route(lambda url: url.endswith(ANSWER_PATH), lambda route: route.fulfill(status=500, body="boom"))
    choose(page)
    expect_message(page, SERVER_ERROR)
    page.unroute_all()

    # A request that never answers: while it waits the learner sees it is being sent (the
    # button disabled, "Sending…" beside it); htmx gives up after its timeout (20 s in
    # base.html; made short here) and says so, instead of leaving the button disabled for good.
    page.evaluate("htmx.config.timeout = 2500")
    held = []
    page.route(lambda url: url.endswith(ANSWER_PATH), lambda route: held.append(route))  # never fulfilled
    sending = page.locator('#step form[action$="/answer"] .sending')  # the answer form's, not another step form's
    expect(sending).to_be_hidden()
    page.get_by_role("button", name="Choose", exact=True).click()
    expect(sending).to_be_visible()
    expect(sending).to_have_text("Sending…")
    expect(page.get_by_role("button", name="Choose", exact=True)).to_be_disabled()
    expect_message(page, NOT_REACHED)
    expect(sending).to_be_hidden()
    assert answers_recorded(live_app) == 0
    for route in held:  # end the hung request's route here, not when it is garbage-collected
        try:
            route.abort()
        except PlaywrightError:
            pass  # the browser has dropped the request already
    page.unroute_all(behavior="ignoreErrors")
    page.get_by_role("button", name="Choose", exact=True).click()
    expect_feedback(page)
    assert answers_recorded(live_app) == 1


def test_signed_out_elsewhere_the_answer_goes_to_sign_in_and_says_it_was_not_recorded(live_server, live_app, new_page):
    page = new_page("phone", True)
    to_the_first_question(page, live_server)
    page.context.clear_cookies()  # signed out in another tab, or the session ended
    with page.expect_response(lambda r: is_answer(r.request)) as answered:
        choose(page)
    assert answered.value.headers.get("hx-redirect") == "/auth/login?next=/learn/test-callers/"
    expect(heading(page, "Sign in")).to_be_visible()
    expect(page.locator(".flash")).to_have_count(1)
    expect(page.locator(".flash")).to_contain_text("What you just sent was not recorded")
    assert answers_recorded(live_app) == 0


def test_without_javascript_an_answer_after_the_session_expired_signs_in_and_comes_back(
    live_server, live_app, new_page
):
    """The phone was put down past the idle limit, so its cookie is gone: the answer is not
    recorded, the learner is told so on the sign-in page, and signing in leads back to it."""
    page = new_page("phone", False)
    to_the_first_question(page, live_server)
    page.context.clear_cookies()
    choose(page)
    expect(heading(page, "Sign in")).to_be_visible()
    expect(page.locator(".flash").first).to_contain_text(
        "You were signed out (in another tab, or the page was open too long)."
    )
    screenshot(page, "16-signed-out-after-idle", js=False)
    assert answers_recorded(live_app) == 0
    page.get_by_label("Email").fill(LEARNER_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label(RIGHT, exact=True)).to_be_visible()  # the same question
    choose(page)
    expect_feedback(page)
    assert answers_recorded(live_app) == 1


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_signed_out_on_another_device_the_learner_signs_in_and_is_back_at_the_question(
    live_server, live_app, new_page, js
):
    """Signing out on another device ends every session. The answer sent here is not recorded;
    the learner is told so, signs in, and lands on the same question (before: the sign-in
    redirected to the answer's address, which only takes POSTs: 405)."""
    from quiz import accounts
    from quiz.db import db
    from quiz.models import User

    page = new_page("phone", js)
    to_the_first_question(page, live_server)
    with live_app.app_context():
        accounts.end_all_sessions(db.session.query(User).filter_by(email=LEARNER_EMAIL).one())
        db.session.commit()
        db.session.remove()
    choose(page)
    expect(heading(page, "Sign in")).to_be_visible()
    expect(page.locator(".flash").first).to_contain_text("What you just sent was not recorded")
    screenshot(page, "18-signed-out-elsewhere" if js else "17-signed-out-elsewhere", js=js)
    assert answers_recorded(live_app) == 0
    page.get_by_label("Email").fill(LEARNER_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(heading(page, MODULE_TITLE)).to_be_visible()
    expect(page.get_by_label(RIGHT, exact=True)).to_be_visible()  # the same question, unanswered
    choose(page)
    expect_feedback(page)
    assert answers_recorded(live_app) == 1


def test_the_whole_path_works_on_a_slow_connection(live_server, live_app, new_page):
    """Fail, review, retry, pass, sign and see the certificate with every request slowed to
    "Fast 3G" (560 ms round trips): nothing times out, nothing is missed, no answer doubles."""
    page = new_page("phone", True)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", FAST_3G)
    take_the_module(page, live_server, js=True)
    assert answers_recorded(live_app) == 3  # the critical choice, then the two right ones
    # The premise held: the last page load's request and response took at least one slow trip.
    trip = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.responseEnd - n.requestStart; })()"
    )
    assert trip >= 500, f"the connection was not slowed ({trip:.0f} ms)"


def test_a_lesson_step_that_fails_says_so_too(live_server, live_app, new_page):
    """Next, Back, Start and Continue are htmx forms too: the same message, in that form."""
    page = new_page("phone", True)
    sign_in(page, live_server)
    page.get_by_role("link", name=MODULE_TITLE, exact=True).click()
    page.get_by_role("button", name="Start", exact=True).click()
    expect(heading(page, "First screen")).to_be_visible()
    page.route(lambda url: url.endswith("/next"), lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Next", exact=True).click()
    note = page.locator("#step form .request-error")
    expect(note).to_contain_text(NOT_REACHED)
    expect(note).to_be_focused()
    expect(heading(page, "First screen")).to_be_visible()  # still where the learner was
    screenshot(page, "17-next-not-sent")
    page.unroute_all()
    page.get_by_role("button", name="Next", exact=True).click()
    expect(heading(page, "Second screen")).to_be_visible()
    expect(page.locator(".request-error")).to_have_count(0)

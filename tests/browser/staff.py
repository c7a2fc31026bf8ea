"""Managers', trainers' and admins' pages, for the browser tests that check every one of them."""

from __future__ import annotations

from ..helpers import PASSWORD, add_user, choose, pass_and_sign, post_step, sign_in, through_lesson

#: Every page a manager or admin opens with a GET ({learner}: the live app's learner's id;
#: {code}: their certificate's code).
STAFF_PAGES = [
    "/manage/",
    "/manage/people/{learner}",
    "/manage/modules/",
    "/manage/modules/test-callers",
    "/manage/events/",
    "/manage/events/new",
    "/admin/",
    "/admin/roster",
    "/admin/roster/import",
    "/admin/outbox",
    "/admin/people/{learner}/password",
    "/admin/people/{learner}/role",
    "/admin/people/{learner}/second-factor",
    "/author/",
    "/author/modules/test-callers",
    "/author/try",
    "/author/guide",
    "/author/drafts/",
    "/author/drafts/new",
    "/author/preview/test-callers/",
    "/author/preview/test-callers/?role=front-desk&specialty=dental&state=TX",
    "/audit/training",
    "/audit/training?state=done",
    "/audit/",
    "/audit/?event=choice.made&since=2000-01-01",
    "/audit/records/1",
    "/audit/chain",
    "/audit/package",
    "/audit/certificates",
    "/manage/people/{learner}/certificates/test-callers/2",
    "/audit/certificates?code={code}",
    "/c",
    "/c/{code}",
    "/auth/password",
]


def sign_in_as_admin(live_app, page, base: str) -> list[str]:
    """Add an admin (who sees everyone), and the first time give the learner a history to show
    (an assignment, a failed attempt, then a passed and signed one that completes it) and the
    admin, in another department, an assignment of their own; sign in as the admin. Returns
    STAFF_PAGES with the learner's id in."""
    from datetime import date, timedelta

    from quiz import assignments
    from quiz.db import db
    from quiz.models import User

    with live_app.app_context():
        known = db.session.query(User).filter_by(email="admin@example.org").one_or_none() is not None
    if not known:
        add_user(
            live_app,
            email="admin@example.org",
            name="Avery Admin",
            role="admin",
            job_role="leadership",
            department="Compliance",
        )
        with live_app.app_context():
            learner = db.session.query(User).filter_by(email="learner@example.org").one()
            assignments.ensure(db.session, learner, "test-callers", date.today() + timedelta(days=7), "onboarding")
            admin = db.session.query(User).filter_by(email="admin@example.org").one()
            assignments.ensure(
                db.session, admin, "test-refresher", date.today() + timedelta(days=30), "annual-refresher"
            )
            db.session.commit()
        client = live_app.test_client()
        sign_in(client, "learner@example.org")
        through_lesson(client)
        choose(client, "Fax the records to the number given")  # critical: the attempt fails
        post_step(client, "continue")
        through_lesson(client)  # the second attempt
        assert pass_and_sign(client).status_code == 303
    from quiz.certificate_codes import grouped
    from quiz.models import Attempt

    with live_app.app_context():
        learner = db.session.query(User).filter_by(email="learner@example.org").one().id
        signed = db.session.query(Attempt).filter(Attempt.user_id == learner, Attempt.certificate_code.is_not(None))
        code = grouped(signed.one().certificate_code)
    page.goto(base + "/auth/login")
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/roster")  # where an admin lands (web/common.py, LANDING)
    return [path.format(learner=learner, code=code) for path in STAFF_PAGES]

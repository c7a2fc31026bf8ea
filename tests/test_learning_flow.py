"""The learner's path through a module, without JavaScript (plain POST/redirect) and with htmx."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from quiz import evidence
from quiz.db import db
from quiz.models import Answer, Attempt, Evidence

from .helpers import (
    MODULE,
    add_user,
    attempt_at_first_decision,
    choice_value,
    choose,
    csrf_token,
    page_text,
    pass_and_sign,
    post_step,
    recorded_sql,
    repeated_ids,
    sign_in,
    step_token,
    through_lesson,
)


def _events(app, event=None):
    with app.app_context():
        query = select(Evidence).order_by(Evidence.seq)
        if event:
            query = query.where(Evidence.event == event)
        return list(db.session.scalars(query))


def test_my_training_lists_the_modules_for_my_role(learner):
    page = learner.get("/learn/")
    assert "Test module on callers" in page.text
    assert "Not started" in page.text


def test_a_module_for_another_role_is_not_listed_nor_reachable(app, client):
    add_user(app, email="it@example.org", job_role="it")
    sign_in(client, "it@example.org")
    assert "Test module on callers" not in client.get("/learn/").text
    assert client.get(MODULE).status_code == 404


def test_passing_path_end_to_end_without_javascript(app, learner):
    through_lesson(learner)
    page = learner.get(MODULE)
    assert "The phone rings" in page.text
    # the page never says where a choice leads or which is right
    assert "-&gt; verify" not in page.text and "Points" not in page.text and "good-end" not in page.text
    response = choose(learner, "Ask for two identifiers")
    assert response.status_code == 303 and response.headers["Location"].endswith("#feedback")
    page = learner.get(MODULE)
    assert "Good choice" in page.text and "Right: verify first." in page.text
    assert "Verified" in page.text
    choose(learner, "Only the appointment time")
    page = learner.get(MODULE)
    assert "Records protected" in page.text
    post_step(learner, "continue")
    page = learner.get(MODULE)
    assert "You passed" in page.text and "Test Verification Policy" in page.text
    form = {
        "csrf_token": csrf_token(page.text),
        "step": step_token(page.text),
        "agree": "y",
        "full_name": "dana  whitfield",
    }
    response = learner.post(MODULE + "acknowledge", data=form)
    assert response.status_code == 303 and "/certificate/1" in response.headers["Location"]
    certificate = learner.get(response.headers["Location"])
    assert "Certificate of completion" in certificate.text and "Dana Whitfield" in certificate.text
    listing = learner.get("/learn/").text
    assert "Passed" in listing and "on <time" in listing
    names = [e.event for e in _events(app)]
    assert names == [
        "session.signed-in",
        "attempt.started",
        "lesson.viewed",
        "lesson.viewed",
        "choice.made",
        "choice.made",
        "scenario.finished",
        "module.passed",
        "acknowledgement.signed",
    ]
    with app.app_context():
        assert evidence.verify(db.session).ok


def test_the_certificate_shows_the_learner_as_signed_even_after_their_account_changes(app, learner):
    from quiz.models import User

    through_lesson(learner)
    location = pass_and_sign(learner).headers["Location"]
    [signed] = _events(app, "acknowledgement.signed")
    with app.app_context():  # later: a new surname and a move to billing
        user = db.session.scalars(select(User).where(User.email == "learner@example.org")).one()
        user.name, user.job_role = "Dana Reyes", "billing"
        db.session.commit()
    page = learner.get(location).text
    assert '<h1 id="cert-title">Dana Whitfield</h1>' in page and "Dana Reyes" not in page.split("</header>")[-1]
    assert "<dt>Job role</dt><dd>Front desk</dd>" in page
    assert f"<dt>Evidence record</dt><dd>No. {signed.seq}, <code>{signed.hash[:16]}</code></dd>" in page


def test_a_typed_signature_matches_despite_curly_apostrophes_dashes_and_accents():
    """Phone keyboards type O’Brien (curly) and – (dash) for ' and -; an accented letter may
    arrive as one character, as a letter and a combining accent, or (on a keyboard without
    it) as the plain letter."""
    from types import SimpleNamespace

    from quiz.engine import name_matches

    account = SimpleNamespace(name="Siobh\u00e1n O'Brien-Nu\u00f1ez")  # as the roster has it
    assert name_matches(account, "siobha\u0301n o\u2019brien\u2013nun\u0303ez")  # as an iPhone may send it
    assert name_matches(account, "  SIOBH\u00c1N   O\u02bcBRIEN\u2011NU\u00d1EZ ")
    assert name_matches(account, "Siobhan O'Brien-Nunez")
    assert not name_matches(account, "Siobh\u00e1n O'Brien")  # not the full name
    assert not name_matches(account, "Siobhan OBrien Nunez")


def test_the_signature_field_is_a_name_to_phones_not_a_word_to_correct(learner):
    through_lesson(learner)
    choose(learner, "Ask for two identifiers")
    choose(learner, "Only the appointment time")
    post_step(learner, "continue")
    field = re.search(r'<input[^>]*id="full_name"[^>]*>', learner.get(MODULE).text).group(0)
    for attribute in ('autocomplete="name"', 'autocapitalize="words"', 'autocorrect="off"', 'spellcheck="false"'):
        assert attribute in field


def test_acknowledgement_errors_are_shown_beside_the_fields(learner):
    through_lesson(learner)
    choose(learner, "Ask for two identifiers")
    choose(learner, "Only the appointment time")
    post_step(learner, "continue")
    page = learner.get(MODULE)
    form = {"csrf_token": csrf_token(page.text), "step": step_token(page.text), "full_name": "Someone Else"}
    response = learner.post(MODULE + "acknowledge", data=form)
    assert "There is a problem" in response.text
    assert response.text.count("Tick the box to confirm the statement.") == 2  # summary + field
    assert response.text.count("Type your full name as it is on your account: Dana Whitfield.") == 2
    assert 'href="#agree"' in response.text and 'href="#full_name"' in response.text


def test_critical_choice_fails_whatever_the_score_and_offers_review_and_retry(app, learner):
    through_lesson(learner)
    choose(learner, "Fax the records to the number given")
    page = learner.get(MODULE)
    assert "Critical: this choice fails the attempt" in page.text
    post_step(learner, "continue")
    page = learner.get(MODULE)
    assert "What to review" in page.text and "critical choice fails" in page.text
    assert "Verify identity and authority before sharing." in page.text
    assert "Not passed yet" in learner.get("/learn/").text
    assert post_step(learner, "start").status_code == 303
    assert "First screen" in learner.get(MODULE).text
    with app.app_context():
        attempts = list(db.session.scalars(select(Attempt).order_by(Attempt.number)))
        assert [(a.number, a.passed) for a in attempts] == [(1, False), (2, None)]
    assert [e.event for e in _events(app, "module.failed")] == ["module.failed"]


def test_a_revisited_decision_scores_nothing_the_second_time(app, learner):
    through_lesson(learner)
    choose(learner, "Read out the appointment time")
    choose(learner, "Say nothing and take the next call")  # loops back to the start
    choose(learner, "Ask for two identifiers")  # 2 points the first time, 0 now
    choose(learner, "Only the appointment time")
    post_step(learner, "continue")
    with app.app_context():
        attempt = db.session.scalar(select(Attempt))
        assert [a.points for a in attempt.answers] == [0, 0, 0, 2]
        assert attempt.score == 2 and attempt.passed is False


def test_only_a_decision_on_a_loop_reads_earlier_answers_to_grade(app):
    """Grading asks the database whether a decision was answered before only where a walk can
    come back (on a loop of choices); elsewhere the answer is a first visit without asking."""
    from quiz import engine

    attempt_id = attempt_at_first_decision(app)
    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        content = engine.content_for(db.session, app.extensions["content_store"].library, attempt)
        assert attempt.node_id == "call"  # on the loop: asks
        with recorded_sql(app) as seen:
            plan = engine.plan_choice(db.session, attempt, content, attempt.step, 1)
        assert plan.first_visit and sum("FROM answers" in s for s in seen) == 1
        engine.record_choice(db.session, attempt, content, plan)  # -> verify, off every loop
        db.session.commit()
        with recorded_sql(app) as seen:
            plan = engine.plan_choice(db.session, attempt, content, attempt.step, 1)
        assert plan.first_visit and not any("FROM answers" in s for s in seen)


def test_an_answer_moves_the_attempt_on_with_one_update_and_writes_one_answer(app):
    """The answer's writes are one compare-and-set UPDATE of the attempt, one answer row and
    its evidence; the attempt in hand shows the new state and is not written a second time."""
    from quiz import engine

    attempt_id = attempt_at_first_decision(app)
    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        content = engine.content_for(db.session, app.extensions["content_store"].library, attempt)
        step = attempt.step
        with recorded_sql(app) as seen:
            answer = engine.choose(db.session, attempt, content, step, 1)  # ask for two identifiers
            db.session.commit()
        writes = [" ".join(s.split()[:3]) for s in seen if s.lstrip().startswith(("INSERT", "UPDATE"))]
        assert writes == ["UPDATE attempts SET", "INSERT INTO answers", "INSERT INTO evidence"]
        assert (attempt.step, attempt.node_id, attempt.stage) == (step + 1, "verify", "scenario")
        stored = db.session.scalars(select(Answer)).one()
        assert (answer.id, answer.step, answer.to_node, answer.points) == (stored.id, step, "verify", 2)
        db.session.expire_all()
        assert db.session.get(Attempt, attempt_id).step == step + 1


def test_the_answer_that_ends_a_scenario_counts_in_its_score(app):
    """The score recorded when a scenario ends includes the ending answer, even when the
    attempt's answers were read before it was written."""
    from quiz import engine

    attempt_id = attempt_at_first_decision(app)
    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        content = engine.content_for(db.session, app.extensions["content_store"].library, attempt)
        assert attempt.answers == []  # read now: must not be stale when the scenario ends
        engine.choose(db.session, attempt, content, attempt.step, 1)  # -> verify, 2 points
        engine.choose(db.session, attempt, content, attempt.step, 1)  # -> good-end, 2 points
        db.session.commit()
        assert attempt.stage == "ending" and [a.points for a in attempt.answers] == [2, 2]
    finished = _events(app, "scenario.finished")
    assert [json.loads(e.details)["score"] for e in finished] == [4]


def test_a_supervised_learners_answer_loads_the_supervisor_with_the_learner(app, client):
    """Evidence names the supervisor; loading them must not add a query inside the writing
    transaction (under SQLite's write lock): one users query for the whole answer."""
    add_user(app, email="boss@example.org", name="Robin Boss", job_role="leadership")
    add_user(app, supervisor_email="boss@example.org")
    assert sign_in(client).status_code == 303
    through_lesson(client)
    page = client.get(MODULE).text
    form = {
        "csrf_token": csrf_token(page),
        "step": step_token(page),
        "choice": choice_value(page, "Ask for two identifiers"),
    }
    with recorded_sql(app) as seen:
        assert client.post(MODULE + "answer", data=form).status_code == 303
    assert sum("FROM users" in s for s in seen) == 1
    made = _events(app, "choice.made")
    assert [e.supervisor for e in made] == ["Robin Boss <boss@example.org>"]


def test_double_submitted_answer_records_one_answer_and_one_event(app, learner):
    through_lesson(learner)
    page = learner.get(MODULE)
    form = {
        "csrf_token": csrf_token(page.text),
        "step": step_token(page.text),
        "choice": choice_value(page.text, "Ask for two identifiers"),
    }
    first = learner.post(MODULE + "answer", data=form)
    second = learner.post(MODULE + "answer", data=form)  # the double tap / replay
    assert first.status_code == second.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(Answer.id))) == 1
    assert len(_events(app, "choice.made")) == 1


def test_back_button_resubmission_of_an_old_answer_changes_nothing(app, learner):
    through_lesson(learner)
    old = learner.get(MODULE).text  # the page as it was; the learner answers, then goes back
    choose(learner, "Ask for two identifiers")
    stale = {
        "csrf_token": csrf_token(old),
        "step": step_token(old),
        "choice": choice_value(old, "Fax the records to the number given"),
    }
    learner.post(MODULE + "answer", data=stale)
    with app.app_context():
        answers = list(db.session.scalars(select(Answer)))
        assert [(a.node_id, a.critical) for a in answers] == [("call", False)]


def test_a_choice_posts_a_code_that_tells_nothing_of_the_file(app, client):
    """The radio values are codes of the attempt, not the choices' numbers in the file: two
    learners at the same decision get different codes, and the file's number (what a page
    served before this change posted) is refused with a message and records nothing."""
    values = []
    for email in ("one@example.org", "two@example.org"):
        add_user(app, email=email)
        learner = app.test_client()
        assert sign_in(learner, email).status_code == 303
        through_lesson(learner)
        page = learner.get(MODULE).text
        values.append(re.findall(r'name="choice"[^>]*type="radio" value="([^"]+)"', page))
    first, second = values
    assert len(first) == len(second) >= 3
    assert not set(first) & set(second)
    assert not set(first) & {str(n) for n in range(10)}
    response = post_step(learner, "answer", choice="1")
    assert response.status_code == 200
    assert (
        "This question changed since your page was loaded, so that answer was not recorded. Choose again."
        in response.text
    )
    with app.app_context():
        assert db.session.scalar(select(func.count(Answer.id))) == 0
    assert _events(app, "choice.made") == []


def test_missing_choice_is_reported_beside_the_field(learner):
    through_lesson(learner)
    response = post_step(learner, "answer")
    assert response.status_code == 200
    assert response.text.count("Choose one answer.") == 2
    assert 'href="#choice-0"' in response.text
    # the error-summary pattern: the title says so first, for a screen reader
    assert "<title>Error: Test module on callers · Rounds</title>" in response.text


def test_the_title_says_error_while_an_htmx_answer_is_refused_and_not_after(learner):
    through_lesson(learner)
    refused = post_step(learner, "answer", htmx=True)
    assert "Choose one answer." in refused.text
    assert refused.text.lstrip().startswith("<title>Error: Test module on callers · Rounds</title>")
    answered = choose(learner, "Ask for two identifiers", htmx=True)
    assert "Good choice" in answered.text
    assert answered.text.lstrip().startswith("<title>Test module on callers · Rounds</title>")
    assert "<title>Test module on callers · Rounds</title>" in learner.get(MODULE).text


def test_htmx_answer_returns_only_the_step_and_announcer_blocks(learner):
    through_lesson(learner)
    response = choose(learner, "Ask for two identifiers", htmx=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers.get("Vary", "")
    # the fragment's own <title> first (htmx makes it the page's title), then the step
    assert response.text.lstrip().startswith('<title>Test module on callers · Rounds</title>\n<div id="step"')
    assert "<html" not in response.text
    assert 'id="feedback"' in response.text and "autofocus" in response.text
    assert 'hx-swap-oob="innerHTML"' in response.text and "You chose: Ask for two identifiers" in response.text


def test_resume_on_another_device_at_the_same_place(app, learner):
    through_lesson(learner)
    choose(learner, "Ask for two identifiers")
    other_device = app.test_client()
    sign_in(other_device)
    page = other_device.get(MODULE).text
    assert "Verified" in page and "Good choice" in page


def test_specialty_variant_is_served_to_a_dental_learner(app, client):
    add_user(app, email="dental@example.org", name="Luis Ortega", specialty="dental")
    sign_in(client, "dental@example.org")
    through_lesson(client)
    assert "at the dental desk" in client.get(MODULE).text


def test_a_learner_cannot_see_another_learners_certificate(app, learner):
    through_lesson(learner)
    pass_and_sign(learner)
    other = app.test_client()
    add_user(app, email="other@example.org", name="Other Person")
    sign_in(other, "other@example.org")
    assert other.get(MODULE + "certificate/1").status_code == 404
    assert "Not started" in other.get("/learn/").text


def test_taking_a_passed_module_again_keeps_the_certificate_link(app, learner):
    through_lesson(learner)
    pass_and_sign(learner)
    through_lesson(learner)  # a second attempt, failed on purpose
    choose(learner, "Fax the records to the number given")
    post_step(learner, "continue")
    page = learner.get(MODULE).text
    assert "Passed" in page and 'href="/learn/test-callers/certificate/1"' in page


def test_an_assigned_module_outside_my_role_is_listed_with_its_due_date_and_opens(app, client):
    from datetime import date

    from quiz import assignments
    from quiz.models import User

    uid = add_user(app, email="it@example.org", name="Ida Tech", job_role="it")
    with app.app_context():
        person = db.session.get(User, uid)
        assignments.ensure(db.session, person, "test-callers", date(2030, 1, 15), "manager-choice")
        db.session.commit()
    sign_in(client, "it@example.org")
    listing = client.get("/learn/").text
    assert "Test module on callers" in listing and 'Due <time datetime="2030-01-15">' in listing
    assert '<p class="meta">Assigned by your manager.</p>' in listing  # and why
    assert client.get(MODULE).status_code == 200


def test_a_state_law_module_is_only_for_staff_in_its_states(app, client, tmp_path):
    from quiz.content import load_library

    from .helpers import DATA_CONTENT

    library = load_library(DATA_CONTENT)
    module = library.modules["test-callers"]
    from dataclasses import replace

    texas_only = replace(module, states=("TX",))
    assert texas_only.covers_state("TX") and not texas_only.covers_state("OH") and not texas_only.covers_state(None)
    assert module.covers_state(None)


def test_after_a_role_change_earlier_training_keeps_the_module_and_its_certificate(app, learner):
    from quiz.models import User

    through_lesson(learner)
    pass_and_sign(learner)
    with app.app_context():  # moved from the front desk to billing
        user = db.session.scalars(select(User).where(User.email == "learner@example.org")).one()
        user.job_role = "billing"
        db.session.commit()
    current, earlier = learner.get("/learn/").text.split('<h2 id="earlier">Earlier training</h2>')
    assert "Test module on callers" not in current
    assert '<h3><a href="/learn/test-callers/">Test module on callers</a></h3>' in earlier
    overview = learner.get(MODULE).text
    assert 'href="/learn/test-callers/certificate/1"' in overview
    assert "no longer on the training list" not in overview  # still offered: theirs to take again


def test_the_certificate_points_to_the_next_module_on_my_list(app, learner):
    through_lesson(learner)
    location = pass_and_sign(learner).headers["Location"]
    page = learner.get(location).text
    assert 'Next on your list: <a href="/learn/test-refresher/">Test refresher on verifying callers</a> (' in page


def test_next_up_is_the_first_unpassed_module_on_the_list_other_than_the_one_just_done():
    from types import SimpleNamespace

    from quiz import engine

    passed, todo = engine.ModuleStatus("passed", "Passed"), engine.ModuleStatus("not-started", "Not started")
    a, b, c = (SimpleNamespace(id=x) for x in "abc")
    listing = engine.TrainingList(
        current=[(a, todo, None), (b, passed, None), (c, todo, None)], earlier=[], unreadable=[]
    )
    assert engine.next_up(listing, "a")[0] is c  # b is passed
    assert engine.next_up(listing, "c")[0] is a
    assert engine.next_up(engine.TrainingList([(a, passed, None)], [], []), "b") is None


def test_no_screen_of_the_path_uses_an_id_twice(app, learner):
    # Several forms on one screen each carry the CSRF and step tokens: as hidden inputs they need
    # no id, and must not repeat one (the step's container is #step, htmx's target).
    pages = {"my training": learner.get("/learn/").text, "overview": learner.get(MODULE).text}

    def look(name: str, response=None) -> None:
        pages[name] = response.text if response is not None else learner.get(MODULE).text

    post_step(learner, "start")
    look("lesson 1")
    post_step(learner, "next")
    look("lesson 2")
    post_step(learner, "next")
    look("question")
    look("htmx feedback", choose(learner, "Read out the appointment time", htmx=True))
    look("feedback and next question")
    choose(learner, "Say nothing and take the next call")  # back to the first decision
    choose(learner, "Fax the records to the number given")  # critical: the attempt fails
    post_step(learner, "continue")
    look("result: what to review")
    post_step(learner, "start")
    look("lesson read before: skip offered")
    assert "Skip to the check" in pages["lesson read before: skip offered"]
    post_step(learner, "skip")
    look("question: read the lesson again offered")
    assert "Read the lesson again" in pages["question: read the lesson again offered"]
    post_step(learner, "lesson")
    through_lesson(learner)
    choose(learner, "Ask for two identifiers")
    choose(learner, "Only the appointment time")
    post_step(learner, "continue")
    look("acknowledgement")
    look(
        "acknowledgement errors",
        learner.post(
            MODULE + "acknowledge",
            data={"csrf_token": csrf_token(pages["acknowledgement"]), "step": step_token(pages["acknowledgement"])},
        ),
    )
    assert "There is a problem" in pages["acknowledgement errors"]
    page = pages["acknowledgement"]
    signed = learner.post(
        MODULE + "acknowledge",
        data={"csrf_token": csrf_token(page), "step": step_token(page), "agree": "y", "full_name": "Dana Whitfield"},
    )
    look("certificate", learner.get(signed.headers["Location"]))
    assert "Certificate of completion" in pages["certificate"]
    repeated = {name: ids for name, html in pages.items() if (ids := repeated_ids(html))}
    assert not repeated, repeated


def test_choices_are_shuffled_per_attempt_and_stay_put_within_one():
    from types import SimpleNamespace

    from quiz import engine
    from quiz.content import load_library

    from .helpers import DATA_CONTENT

    library = load_library(DATA_CONTENT)
    module = library.modules["test-callers"]
    content = engine.AttemptContent(module, tuple(library.scenario_for(s, None) for s in module.scenario_ids))
    start = content.scenario(0).start_node
    as_written = [c.number for c in start.choices]
    assert len(as_written) >= 3  # the premise: enough choices for the order to tell something

    def order(attempt_id: int) -> list[int]:
        attempt = SimpleNamespace(id=attempt_id, scenario_index=0, node_id=start.id, choice_key=f"key-{attempt_id}")
        return [c.number for c in engine.choices_in_order(attempt, content)]

    orders = {attempt_id: order(attempt_id) for attempt_id in range(1, 41)}
    assert all(sorted(o) == sorted(as_written) for o in orders.values())  # every choice, once
    assert all(order(attempt_id) == o for attempt_id, o in orders.items())  # the same on every visit
    assert len({tuple(o) for o in orders.values()}) > 1  # but not the same for every attempt
    firsts = {o[0] for o in orders.values()}
    assert firsts == set(as_written)  # and no choice is always, or never, first


# --- the result: score out of the highest possible, each objective once -------------------------


def _section(html: str, css_class: str) -> str:
    """The words of the page's <section class="css_class">."""
    match = re.search(rf'<section class="{css_class}".*?</section>', html, re.S)
    assert match, f"no {css_class} section on the page"
    return page_text(match.group(0))


def test_a_failed_result_lists_an_objective_missed_twice_once(app, learner):
    through_lesson(learner)
    choose(learner, "Read out the appointment time")  # verify-identity missed at "The phone rings"
    choose(learner, "Say nothing and take the next call")  # ... and again at "Already told"
    choose(learner, "Ask for two identifiers")  # a revisit: no points
    choose(learner, "Only the appointment time")  # minimum-necessary: right the first time
    post_step(learner, "continue")
    review = _section(learner.get(MODULE).text, "review")
    # 2 points; 4 is the most the version taken allows; 4 to pass
    assert "Score 2 of 4; pass mark 4." in review
    assert "critical choice" not in review
    assert review.count("Verify identity and authority before sharing.") == 1
    missed, met = review.split("Objectives missed")[1].split("Objectives met")
    assert "Verify identity and authority before sharing. Missed at The phone rings , Already told ." in missed
    assert "Share only what is needed." in met and "Share only what is needed." not in missed
    assert "Not reached" not in review


def test_a_critical_result_says_so_and_what_the_walk_never_reached(app, learner):
    through_lesson(learner)
    choose(learner, "Fax the records to the number given")
    post_step(learner, "continue")
    review = _section(learner.get(MODULE).text, "review")
    assert "Score 0 of 4; pass mark 4, and a critical choice fails the attempt whatever the score." in review
    assert (
        "Critical: Verify identity and authority before sharing. Missed at The phone rings (critical choice)." in review
    )
    # the walk ended before any decision on sharing only what is needed: neither met nor missed
    assert review.split("Not reached in this attempt")[1].count("Share only what is needed.") == 1
    assert "Objectives met" not in review


def test_the_passed_result_shows_the_objectives_met_before_signing(app, learner):
    through_lesson(learner)
    choose(learner, "Ask for two identifiers")
    choose(learner, "Only the appointment time")
    post_step(learner, "continue")
    passed = _section(learner.get(MODULE).text, "passed")
    assert "You passed Score 4 of 4; pass mark 4." in passed
    met = passed.split("Objectives met")[1]
    assert "Verify identity and authority before sharing." in met and "Share only what is needed." in met
    assert "Objectives missed" not in passed and "Not reached" not in passed


def test_the_highest_score_comes_from_the_versions_taken_even_once_out_of_the_library(app):
    """An attempt pinned to a version no longer served reads it from the database: its score
    range is worked out there too, so the result still says "of" what."""
    from quiz import engine
    from quiz.content.parse import version_of
    from quiz.models import ContentVersion

    from .helpers import DATA_CONTENT

    served = (DATA_CONTENT / "scenarios" / "test-check.md").read_text(encoding="utf-8")
    old = served.replace(
        "### Only the appointment time -> good-end\nPoints: 2", "### Only the appointment time -> good-end\nPoints: 3"
    )
    assert old != served  # the premise: an earlier text, worth one point more, not in the library
    attempt_id = attempt_at_first_decision(app)
    with app.app_context():
        db.session.add(
            ContentVersion(
                version=version_of(old),
                kind="scenario",
                content_id="test-check",
                path="scenarios/test-check.md",
                source=old,
            )
        )
        attempt = db.session.get(Attempt, attempt_id)
        attempt.scenario_versions = json.dumps([version_of(old)])  # as if started on that text
        db.session.commit()
        lib = app.extensions["content_store"].library
        assert version_of(old) not in {s.version for s in lib.all_scenarios()}
        content = engine.content_for(db.session, lib, attempt)
        assert content.scenarios[0].scores is not None and engine.highest_score(content) == 5
        engine.choose(db.session, attempt, content, attempt.step, 2)  # read out the time: wrong
        result = engine.result(attempt, content)
        assert (result.score, result.highest, result.pass_score) == (0, 5, 4)
        assert [(o.objective, o.state) for o in result.objectives] == [
            ("verify-identity", "missed"),
            ("minimum-necessary", "not-reached"),
        ]


# --- a retry may skip a lesson read before ----------------------------------------------------


def _fail_once(client):
    through_lesson(client)
    choose(client, "Fax the records to the number given")
    post_step(client, "continue")


def test_a_retry_can_skip_the_lesson_read_before_without_javascript(app, learner):
    post_step(learner, "start")
    assert "Skip to the check" not in learner.get(MODULE).text  # never read: no skipping
    refused = post_step(learner, "skip")
    assert refused.status_code == 303 and "First screen" in learner.get(MODULE).text
    assert _events(app, "lesson.skipped") == []
    post_step(learner, "next")
    post_step(learner, "next")
    choose(learner, "Fax the records to the number given")
    post_step(learner, "continue")

    post_step(learner, "start")  # the second attempt
    first = learner.get(MODULE).text
    assert "First screen" in first and "Skip to the check" in first
    post_step(learner, "next")  # reads the first screen again, then skips from the second
    response = post_step(learner, "skip")
    assert response.status_code == 303
    page = learner.get(MODULE).text
    assert "The phone rings" in page and "Read the lesson again" in page
    [skipped] = _events(app, "lesson.skipped")
    assert json.loads(skipped.details) == {
        "attempt": 2,
        "of": 2,
        "viewed": [{"screen": 1, "title": "First screen"}],
        "not_viewed": [{"screen": 2, "title": "Second screen"}],
        "read_before": [{"screen": 1, "attempts": [1]}, {"screen": 2, "attempts": [1]}],
    }
    with app.app_context():
        assert evidence.verify(db.session).ok


def test_the_lesson_stays_reachable_from_the_check_until_the_first_answer(app, learner):
    _fail_once(learner)
    post_step(learner, "start")
    post_step(learner, "skip")
    assert post_step(learner, "lesson").status_code == 303  # "Read the lesson again"
    page = learner.get(MODULE).text
    assert "Lesson: screen 1 of 2" in page and "First screen" in page
    assert [json.loads(e.details)["attempt"] for e in _events(app, "lesson.reopened")] == [2]
    post_step(learner, "next")
    post_step(learner, "next")  # "Start the check"
    assert "The phone rings" in learner.get(MODULE).text
    viewed = [json.loads(e.details) for e in _events(app, "lesson.viewed")]
    assert [(v["attempt"], v["screen"]) for v in viewed] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    choose(learner, "Ask for two identifiers")
    page = learner.get(MODULE).text
    assert "Verified" in page and "Read the lesson again" not in page
    stale = post_step(learner, "lesson")  # too late once answered: nothing changes
    assert stale.status_code == 303 and "Verified" in learner.get(MODULE).text
    assert len(_events(app, "lesson.reopened")) == 1


def test_a_lesson_counts_as_read_only_where_its_screens_are_word_for_word_the_same(app):
    """Skipping needs every screen viewed before with the same title and text: in the same
    module version, or in another whose screens did not change."""
    from dataclasses import replace

    from quiz import engine
    from quiz.models import User

    lib = app.extensions["content_store"].library
    module = lib.modules["test-callers"]
    uid = add_user(app)
    with app.app_context():
        learner = db.session.get(User, uid)
        content = engine.content_to_start(lib, module, learner)
        first = engine.start_attempt(db.session, learner, content)
        engine.next_screen(db.session, first, content, first.step)  # the first screen only
        db.session.commit()
        first.stage = "finished"  # given up after one screen
        db.session.commit()
        second = engine.start_attempt(db.session, learner, content)
        read = engine.lesson_read(db.session, lib, second, content)
        assert (read.read_before, read.skippable) == ({0: (1,)}, False)  # one screen of two
        assert engine.skip_lesson(db.session, lib, second, content, second.step) is False
        while second.stage == "lesson":
            engine.next_screen(db.session, second, content, second.step)
        second.stage = "finished"
        db.session.commit()
        third = engine.start_attempt(db.session, learner, content)
        assert engine.skip_lesson(db.session, lib, third, content, third.step)  # read nothing
        third.stage = "finished"
        db.session.commit()

        # a later version of the module: another pass mark and the same screens, or new words
        same_screens = replace(module, version="a" * 64, pass_score=3)
        new_words = replace(
            module, version="b" * 64, screens=(module.screens[0], replace(module.screens[1], html="<p>New words.</p>"))
        )
        for edited, read_before in (
            (same_screens, {0: (1, 2), 1: (2,)}),  # every screen, in attempts 1 and 2
            (new_words, {0: (1, 2)}),  # the second screen's new words never
        ):
            fourth = Attempt(
                user_id=uid,
                module_id=module.id,
                number=4,
                module_version=edited.version,
                policy_version="1.0",
                scenario_versions="[]",
                stage="lesson",
                screen=0,
                step=0,
            )
            read = engine.lesson_read(db.session, lib, fourth, engine.AttemptContent(edited, content.scenarios))
            assert read.read_before == read_before and read.skippable is (len(read_before) == 2), edited.version

"""What trainers learn from the answers (quiz/answer_stats.py): per decision and content
version, how many chose each choice, first-try facility and the discrimination index, from a
seeded set of attempts whose figures are worked out by hand below; and the Content page that
shows them, from one grouped query."""

from __future__ import annotations

import pytest

from quiz import answer_stats, versions
from quiz.db import db
from quiz.models import Answer, Attempt, User

from .helpers import page_text, recorded_sql, signed_in_as

MODULE = "test-callers"


def _seed(app, plan):
    """``plan``: (specialty, passed, number, {node id: choice number}) per attempt, each by a new
    learner; ``passed`` None is an attempt not finished. Returns nothing: rows are committed."""
    with app.app_context():
        lib = app.extensions["content_store"].library
        versions.remember_library(db.session, lib)
        module = lib.modules[MODULE]
        count = db.session.query(User).count()
        for i, (specialty, passed, number, answers) in enumerate(plan):
            user = User(
                email=f"seed{count + i}@example.org", name=f"Seed {i}", password_hash="x", job_role="front-desk"
            )
            db.session.add(user)
            db.session.flush()
            for n in range(1, number + 1):
                attempt = Attempt(
                    user_id=user.id,
                    module_id=MODULE,
                    number=n,
                    module_version=module.version,
                    policy_version=module.policy_version,
                    scenario_versions="{}",
                    stage="finished" if passed is not None else "scenario",
                    passed=passed,
                )
                db.session.add(attempt)
                db.session.flush()
                scenario = lib.scenarios["test-check"][specialty]
                for step, (node_id, choice_number) in enumerate(answers.items()):
                    node = scenario.nodes[node_id]
                    choice = node.choice(choice_number)
                    db.session.add(
                        Answer(
                            attempt_id=attempt.id,
                            step=step,
                            scenario_index=0,
                            scenario_id="test-check",
                            scenario_version=scenario.version,
                            node_id=node_id,
                            objective=node.objective,
                            choice_number=choice_number,
                            to_node=choice.target,
                            first_visit=True,
                            points=choice.points,
                            correct=choice.correct,
                            critical=choice.critical,
                        )
                    )
                    if node_id == "call":  # a second visit at the same decision: never counted
                        db.session.add(
                            Answer(
                                attempt_id=attempt.id,
                                step=step + 100,
                                scenario_index=0,
                                scenario_id="test-check",
                                scenario_version=scenario.version,
                                node_id=node_id,
                                objective=node.objective,
                                choice_number=3,
                                to_node="faxed",
                                first_visit=False,
                                points=0,
                                correct=False,
                                critical=True,
                            )
                        )
        db.session.commit()


def _plan():
    """General version, 20 finished first attempts: 10 passed, 10 failed.

    At "The phone rings" (call; 1 correct, 2 not, 3 critical): passers 9x1, 1x2; failers 2x1,
    6x2, 2x3. Facility 11/20; D = 9/10 - 2/10 = 0.7; choice 2's D = 1/10 - 6/10 = -0.5.
    At "Verified" (verify; 1 correct, 2 not): passers 3x1, 7x2; failers 6x1, 4x2. Facility 9/20;
    choice 2 chosen 11 times, more than the correct one (confusing); D = 3/10 - 6/10 = -0.3
    (misleading). At "Already told" (told; 1 correct): 20 passers and 1 failer, all choice 1:
    facility 21/21 with 21 answers (too easy); D = 1 - 1 = 0.
    Dental version: 2 passed attempts, choice 1 at call: facility 1, D left out (no failers),
    under 20 answers. Not counted: a second attempt, an unfinished one, and second visits."""
    plan = []
    call = [1] * 9 + [2] + [1] * 2 + [2] * 6 + [3] * 2
    verify = [1] * 3 + [2] * 7 + [1] * 6 + [2] * 4
    for i in range(20):
        plan.append((None, i < 10, 1, {"call": call[i], "verify": verify[i]}))
    for i in range(21):
        plan.append((None, i < 20, 1, {"told": 1}))
    plan.append(("dental", True, 1, {"call": 1}))
    plan.append(("dental", True, 1, {"call": 1}))
    plan.append((None, True, 2, {"call": 2, "verify": 2}))  # counted only in its first attempt
    plan.append((None, None, 1, {"call": 2, "verify": 2}))  # not finished: not counted
    return plan


def _by_node(found, label=""):
    version = next(v for v in found if v.scenario_id == "test-check" and v.label == label)
    return version, {d.node_id: d for d in version.decisions}


def test_seeded_answers_give_the_counts_facility_and_discrimination_worked_out_by_hand(app):
    _seed(app, _plan())
    with app.app_context():
        lib = app.extensions["content_store"].library
        found = answer_stats.module_answer_stats(db.session, lib, MODULE)
    general, nodes = _by_node(found, "General")
    call, verify, told = nodes["call"], nodes["verify"], nodes["told"]
    # the second attempt (1 more answer at call and verify) counts in its first attempt only
    assert call.answered == 21 and verify.answered == 21
    assert [c.chosen for c in call.choices] == [11, 8, 2]
    assert call.passed == 11 and call.failed == 10
    assert call.facility == pytest.approx(11 / 21)
    assert call.discrimination == pytest.approx(9 / 11 - 2 / 10)
    assert call.choices[1].discrimination == pytest.approx(2 / 11 - 6 / 10)
    assert call.flags == []
    assert [c.chosen for c in verify.choices] == [9, 12]
    assert verify.facility == pytest.approx(9 / 21)
    assert verify.discrimination == pytest.approx(3 / 11 - 6 / 10)
    assert verify.flags == ["confusing", "misleading"]
    assert told.answered == 21 and told.facility == 1.0 and told.discrimination == pytest.approx(0.0)
    assert told.flags == ["too easy"]
    assert general.current and general.attempts == 21
    dental, dnodes = _by_node(found, "Dental")
    assert dnodes["call"].answered == 2 and dnodes["call"].facility == 1.0
    assert dnodes["call"].discrimination is None  # nobody failed: no D
    assert dnodes["call"].small and dnodes["call"].flags == []  # too few to call it too easy


def test_partly_correct_answers_are_counted_apart_from_the_facility():
    choices = [
        answer_stats.ChoiceStats(1, "best", "yes", False),
        answer_stats.ChoiceStats(2, "safe", "partly", False),
        answer_stats.ChoiceStats(3, "wrong", "no", False),
    ]
    counts = {(1, True): 10, (2, True): 6, (2, False): 2, (3, False): 2}
    stats = answer_stats.decision_stats("n", "N", None, choices, counts)
    assert stats.answered == 20 and stats.facility == pytest.approx(0.5) and stats.partly_share == pytest.approx(0.4)
    assert stats.discrimination == pytest.approx(10 / 16 - 0 / 4)
    assert stats.flags == []


def test_the_content_page_shows_the_figures_per_version_with_a_caution_from_one_query(app):
    _seed(app, _plan())
    client = signed_in_as(app, "trainer")
    with recorded_sql(app) as statements:
        page = client.get(f"/author/modules/{MODULE}").text
    assert sum(1 for s in statements if "FROM answers" in s) == 1  # one grouped query, not one per decision
    text = page_text(page.split('id="answer-stats-title"')[1])
    assert "Verified (n = 21) confusing misleading" in text
    assert "First-try facility 43% · D -0.33 (11 passed, 10 failed)" in text
    assert "Already told (n = 21) too easy" in text
    assert "Caution: only 2 answers" in text  # the dental version
    assert "The phone rings at the dental desk (n = 2)" in text


def test_a_module_with_no_answers_says_so(app):
    page = signed_in_as(app, "trainer").get(f"/author/modules/{MODULE}").text
    assert "No answers yet." in page_text(page.split('id="answer-stats-title"')[1])

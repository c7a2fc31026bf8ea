"""Scoring and the walk (quiz/engine.py, quiz/content/walks.py) on a plain Session: the pass
mark, a critical choice failing whatever the score, a revisited decision scoring nothing, and
the step token that makes a stale request change nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from quiz import engine
from quiz.content import ScoreRange
from quiz.content.parse import parse_module, parse_scenario
from quiz.content.walks import score_range, walks_of
from quiz.models import Answer, Evidence

from .conftest import LIBRARY, TODAY

MODULE = LIBRARY.modules["test-callers"]  # pass mark 4; its check is test-check
CHECK = LIBRARY.scenarios["test-check"][None]


def _at_the_check(session, person, content=None):
    learner = person()
    content = content or engine.content_to_start(LIBRARY, MODULE, learner)
    attempt = engine.start_attempt(session, learner, content)
    while attempt.stage == "lesson":
        assert engine.next_screen(session, attempt, content, attempt.step)
    return attempt, content


def _take(session, attempt, content, *labels: str):
    """Answer the current decision with each choice (by its label) in turn."""
    for label in labels:
        node = engine.current_node(attempt, content)
        choice = next(c for c in node.choices if c.label == label)
        assert engine.choose(session, attempt, content, attempt.step, choice.number) is not None


def _finish(session, attempt, content):
    assert attempt.stage == "ending"
    assert engine.continue_after_ending(session, attempt, content, attempt.step)
    assert attempt.stage == "finished"


def _events(session) -> list[str]:
    return list(session.scalars(select(Evidence.event).order_by(Evidence.seq)))


def test_the_walk_goes_through_the_lesson_to_the_check_and_back(session, person):
    learner = person()
    content = engine.content_to_start(LIBRARY, MODULE, learner)
    attempt = engine.start_attempt(session, learner, content)
    assert (attempt.stage, attempt.screen, attempt.number) == ("lesson", 0, 1)
    assert engine.start_attempt(session, learner, content) is attempt  # a double tap: one attempt
    assert engine.next_screen(session, attempt, content, attempt.step)
    assert engine.previous_screen(session, attempt, attempt.step) and attempt.screen == 0
    for _ in MODULE.screens:
        engine.next_screen(session, attempt, content, attempt.step)
    assert (attempt.stage, attempt.node_id) == ("scenario", CHECK.start)
    assert engine.reopen_lesson(session, attempt, content, attempt.step)  # before the first answer
    assert (attempt.stage, attempt.screen) == ("lesson", 0)


def test_a_stale_step_token_changes_nothing(session, person):
    attempt, content = _at_the_check(session, person)
    stale = attempt.step - 1
    assert engine.next_screen(session, attempt, content, stale) is False
    assert engine.choose(session, attempt, content, stale, 1) is None
    assert attempt.node_id == CHECK.start
    assert session.scalar(select(Answer.id)) is None


def test_the_right_answers_reach_the_pass_mark_and_pass(session, person):
    attempt, content = _at_the_check(session, person)
    _take(session, attempt, content, "Ask for two identifiers", "Only the appointment time")
    _finish(session, attempt, content)
    assert (attempt.score, attempt.passed) == (4, True)  # exactly the pass mark
    result = engine.result(attempt, content)
    assert (result.score, result.highest, result.pass_score, result.critical) == (4, 4, 4, False)
    assert [o.state for o in result.objectives] == ["met", "met"]
    session.commit()
    assert _events(session)[-1] == "module.passed"


def test_below_the_pass_mark_fails(session, person):
    attempt, content = _at_the_check(session, person)
    _take(session, attempt, content, "Read out the appointment time", "Report it to the privacy officer")
    _finish(session, attempt, content)
    assert (attempt.score, attempt.passed) == (1, False)
    result = engine.result(attempt, content)
    assert [(o.objective, o.state) for o in result.objectives] == [
        ("verify-identity", "missed"),
        ("minimum-necessary", "not-reached"),
    ]
    session.commit()
    assert _events(session)[-1] == "module.failed"


def test_a_revisited_decision_scores_nothing_the_second_time(session, person):
    """Read out the time (0), say nothing and the caller rings back: the first decision again.
    The right answer there now scores nothing, so 0 + 0 + 0 + 2 stays below the mark."""
    attempt, content = _at_the_check(session, person)
    _take(
        session,
        attempt,
        content,
        "Read out the appointment time",
        "Say nothing and take the next call",
        "Ask for two identifiers",
        "Only the appointment time",
    )
    _finish(session, attempt, content)
    answers = sorted(attempt.answers, key=lambda a: a.step)
    assert [(a.node_id, a.first_visit, a.points) for a in answers] == [
        ("call", True, 0),
        ("told", True, 0),
        ("call", False, 0),
        ("verify", True, 2),
    ]
    assert (attempt.score, attempt.passed) == (2, False)
    missed = {o.objective: o for o in engine.result(attempt, content).objectives}
    assert missed["verify-identity"].state == "missed"  # the first answer is the one that counts


SCORED_CRITICAL_MODULE = """\
---
id: m1
title: Module one
roles: [front-desk]
minutes: 3
objectives:
  ask: Ask first.
cites: [45 CFR 164.530(b)]
policy:
  name: Privacy policy
  version: "1"
pass_score: 2
scenarios: [s1]
acknowledgement: I agree.
---

## Screen one

Text.
"""

SCORED_CRITICAL_CHECK = """\
---
id: s1
title: Scenario one
---

## The call {#call}
Objective: ask

### Ask who is calling -> safe
Points: 2

Right.

### Fax the chart at once -> faxed
Points: 2
Critical: yes

Fast, and it left for an unknown number.

## Safe {#safe}
Ending: Safe

Good.

## Faxed {#faxed}
Ending: Faxed

Bad.
"""


def _parsed(kind, path, text):
    item, problems = (parse_module if kind == "module" else parse_scenario)(path, text)
    assert item is not None, problems
    return item


def test_a_critical_choice_fails_the_attempt_whatever_the_score(session, person):
    module = _parsed("module", "modules/m1.md", SCORED_CRITICAL_MODULE)
    check = _parsed("scenario", "scenarios/s1.md", SCORED_CRITICAL_CHECK)
    attempt, content = _at_the_check(session, person, engine.AttemptContent(module, (check,)))
    _take(session, attempt, content, "Fax the chart at once")
    _finish(session, attempt, content)
    assert attempt.score == 2 == module.pass_score
    assert attempt.passed is False
    assert engine.result(attempt, content).critical
    session.commit()
    failed = session.scalars(select(Evidence).where(Evidence.event == "module.failed")).one()
    assert json.loads(failed.details)["critical_choices"] == [{"scenario": "s1", "node": "call", "choice": 2}]


def test_the_walks_of_a_check_sum_first_answers_and_mark_critical_ones():
    """walks.py sums up every walk as the engine scores it: 4 at best, 0 at worst, and the
    critical walk (the fax) is set apart from the safe ones."""
    assert score_range(CHECK) == ScoreRange(lowest=0, highest=4, highest_safe=4)
    walks = walks_of(CHECK)
    assert {w.points for w in walks if w.critical} == {0}
    assert max(w.points for w in walks if not w.critical) == 4
    scored = _parsed("scenario", "scenarios/s1.md", SCORED_CRITICAL_CHECK)
    assert score_range(scored) == ScoreRange(lowest=2, highest=2, highest_safe=2)
    assert {(w.points, w.critical) for w in walks_of(scored)} == {(2, False), (2, True)}


@pytest.mark.parametrize("typed", ["Dana Whitfield", "  dana   WHITFIELD ", "Daná Whitfield"])
def test_a_signature_is_the_learners_name_as_people_type_it(person, typed):
    assert engine.name_matches(person(name="Dana Whitfield"), typed)


def test_signing_a_passed_attempt_records_once_and_closes_its_assignment(session, person):
    from quiz import assignments

    attempt, content = _at_the_check(session, person)
    assignments.ensure(session, attempt.user, MODULE.id, TODAY, "onboarding")
    _take(session, attempt, content, "Ask for two identifiers", "Only the appointment time")
    _finish(session, attempt, content)
    with pytest.raises(ValueError):
        engine.acknowledge(session, attempt, content, "Someone Else", signed_in_with_admin_set_password=False)
    assert engine.acknowledge(session, attempt, content, attempt.user.name, signed_in_with_admin_set_password=False)
    assert not engine.acknowledge(session, attempt, content, attempt.user.name, signed_in_with_admin_set_password=False)
    assert engine.status_of([attempt]).state == "passed"
    assert assignments.open_assignment(session, attempt.user_id, MODULE.id) is None
    session.commit()
    assert _events(session).count("acknowledgement.signed") == 1

"""The scoring rules the checker holds every module to, over every walk of its checks
(quiz/content/walks.py), and the chance of passing by guessing. Plain objects, no app."""

from __future__ import annotations

import pytest

from quiz.content.parse import parse_module, parse_scenario
from quiz.content.validate import build_library
from quiz.content.walks import guess_chance, walks_of

MODULE = """\
---
id: m1
title: Module one
roles: [front-desk]
minutes: 3
objectives:
  ask: Ask first.
  report: Report at once.
cites: [45 CFR 164.530(b)]
policy:
  name: Privacy policy
  version: "1"
pass_score: 4
scenarios: [s1]
acknowledgement: I agree.
---

## Screen one

Text.
"""

#: Two decisions worth 2 each; a mistake at the first leads to a recovery decision worth 1.
SCENARIO = """\
---
id: s1
title: Scenario one
---

## The call {#call}
Objective: ask

### Ask who is calling -> report
Points: 2

Right.

### Read out the chart -> recover
Points: 0

Wrong.

### Fax the chart -> end
Points: 0
Critical: yes

This is critical: it left for an unknown number.

## Recover {#recover}
Objective: ask

### Tell the privacy officer now -> report
Points: 1

Right, late.

### Say nothing -> report
Points: 0

Wrong again.

## Report {#report}
Objective: report

### Report it today -> end
Points: 2

Right.

### Wait a week -> end
Points: 0

Too late.

## End {#end}
Ending: Done
"""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def errors_of(module_text: str = MODULE, *scenario_texts: str) -> list[tuple[str, int, str]]:
    module, problems = parse_module("modules/m1.md", module_text)
    assert module is not None and problems == []
    scenarios = []
    for n, text in enumerate(scenario_texts or (SCENARIO,)):
        scenario, problems = parse_scenario(f"scenarios/s{n + 1}.md", text)
        assert scenario is not None and problems == [], problems
        scenarios.append(scenario)
    library = build_library([module], scenarios)
    return [(e.path, e.line, e.message) for e in library.errors]


def test_a_recovery_that_gives_the_point_back_is_a_free_pass():
    # Read out the chart (0), recover (1), report (2) = 3 < 4: fails. With pass_score 3 it passes.
    assert errors_of() == []
    found = errors_of(MODULE.replace("pass_score: 4", "pass_score: 3"))
    assert found == [
        (
            "scenarios/s1.md",
            line_of(SCENARIO, "### Read out the chart"),
            "this choice is marked incorrect, but a walk that takes it can still pass module `m1` (pass mark 3) "
            "with 3 points: make it critical, take points off that walk, or add `Recoverable: yes` if passing "
            "after it is right",
        )
    ]


def test_recoverable_is_the_authors_decision():
    text = SCENARIO.replace(
        "### Read out the chart -> recover\nPoints: 0\n",
        "### Read out the chart -> recover\nPoints: 0\nRecoverable: yes\n",
    )
    assert errors_of(MODULE.replace("pass_score: 4", "pass_score: 3"), text) == []


def test_an_incorrect_choice_worth_points_counts_too():
    # Correct: no on a 1-point choice: the walk loses 1 of 4 and still reaches a pass mark of 3.
    text = SCENARIO.replace(
        "### Report it today -> end\nPoints: 2\n", "### Report it today -> end\nPoints: 2\n"
    ).replace("### Wait a week -> end\nPoints: 0\n", "### Wait a week -> end\nPoints: 1\nCorrect: no\n")
    found = errors_of(MODULE.replace("pass_score: 4", "pass_score: 3"), text)
    assert ("scenarios/s1.md", line_of(text, "### Wait a week")) in [(p, n) for p, n, _ in found]


def test_a_cautious_answer_that_cannot_pass_is_an_inverted_lesson():
    # "Refuse politely" leaks nothing (partly correct, 1 point) but 1 + 2 < 4.
    text = SCENARIO.replace(
        "### Fax the chart -> end",
        "### Refuse politely and hang up -> report\nPoints: 1\n\nSafe, not helpful.\n\n### Fax the chart -> end",
    )
    found = errors_of(MODULE, text)
    assert found == [
        (
            "scenarios/s1.md",
            line_of(text, "### Refuse politely"),
            "a walk of only correct or partly correct choices through this choice scores 3, below the pass mark 4 "
            "of module `m1`: give those choices more points, or lower `pass_score`",
        )
    ]
    assert (
        errors_of(
            MODULE.replace("pass_score: 4", "pass_score: 3"),
            text.replace(
                "### Read out the chart -> recover\nPoints: 0\n",
                "### Read out the chart -> recover\nPoints: 0\nCritical: yes\n",
            ),
        )
        == []
    )


def test_an_objective_missed_at_every_decision_cannot_pass():
    # Both "ask" decisions answered wrongly (each recoverable), then reporting (3) passes.
    text = (
        SCENARIO.replace(
            "### Read out the chart -> recover\nPoints: 0\n",
            "### Read out the chart -> recover\nPoints: 0\nRecoverable: yes\n",
        )
        .replace("### Say nothing -> report\nPoints: 0\n", "### Say nothing -> report\nPoints: 0\nRecoverable: yes\n")
        .replace("### Report it today -> end\nPoints: 2\n", "### Report it today -> end\nPoints: 3\n")
    )
    found = errors_of(MODULE.replace("pass_score: 4", "pass_score: 3"), text)
    assert found == [
        (
            "scenarios/s1.md",
            line_of(text, "## The call"),
            "objective `ask` can be missed at every decision that tests it on a walk that still passes module `m1` "
            "(pass mark 3) with 3 points: make one of those choices worth less, or not recoverable",
        )
    ]


def test_each_check_is_combined_with_the_best_of_the_others():
    other = SCENARIO.replace("id: s1", "id: s2")
    module = MODULE.replace("scenarios: [s1]", "scenarios: [s1, s2]").replace("pass_score: 4", "pass_score: 7")
    # Read out the chart (0) + recover (1) + report (2) = 3, plus 4 from the other check = 7.
    found = errors_of(module, SCENARIO, other)
    assert {(p, n) for p, n, _ in found} == {
        ("scenarios/s1.md", line_of(SCENARIO, "### Read out the chart")),
        ("scenarios/s2.md", line_of(other, "### Read out the chart")),
    }
    assert all("with 7 points" in message for _, _, message in found)


def test_recoverable_is_refused_where_it_means_nothing():
    text = SCENARIO.replace("Points: 0\nCritical: yes\n", "Points: 0\nCritical: yes\nRecoverable: yes\n").replace(
        "### Ask who is calling -> report\nPoints: 2\n",
        "### Ask who is calling -> report\nPoints: 2\nRecoverable: yes\n",
    )
    scenario, problems = parse_scenario("s.md", text)
    assert problems == []
    library = build_library([], [scenario])
    assert {(e.line, e.message) for e in library.errors} == {
        (line_of(text, "### Fax the chart"), "a critical choice fails the attempt, so it cannot be `Recoverable: yes`"),
        (
            line_of(text, "### Ask who is calling"),
            "`Recoverable: yes` is for a choice marked incorrect; this one counts as correct",
        ),
    }


def test_partly_correct_by_default_or_by_word():
    text = SCENARIO.replace(
        "### Tell the privacy officer now -> report\nPoints: 1\n",
        "### Tell the privacy officer now -> report\nPoints: 1\nCorrect: partly\n",
    )
    scenario, problems = parse_scenario("s.md", text)
    assert problems == [] and scenario is not None
    recover = scenario.nodes["recover"].choices
    assert (recover[0].correct, recover[0].partly) == (True, True)
    plain, _ = parse_scenario(
        "s.md", SCENARIO.replace("### Wait a week -> end\nPoints: 0\n", "### Wait a week -> end\nPoints: 1\n")
    )
    report = plain.nodes["report"].choices
    assert [(c.correct, c.partly) for c in report] == [(True, False), (True, True)]
    assert [(c.correct, c.partly) for c in plain.nodes["call"].choices] == [
        (True, False),
        (False, False),
        (False, False),
    ]


def test_walks_count_only_first_answers():
    scenario, _ = parse_scenario("s.md", SCENARIO)
    assert sorted({(w.points, w.critical) for w in walks_of(scenario)}) == [
        (0, False),
        (0, True),
        (1, False),
        (2, False),
        (3, False),
        (4, False),
    ]


def test_guessing_passes_by_the_counted_chance():
    scenario, _ = parse_scenario("s.md", SCENARIO)
    # Pass (4) only by Ask (1/3) then Report today (1/2).
    assert guess_chance([scenario], 4) == pytest.approx(1 / 6)
    # Two checks: both must pass.
    assert guess_chance([scenario, scenario], 8) == pytest.approx(1 / 36)

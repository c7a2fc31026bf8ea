"""The shipped curriculum: coverage of roles, specialties and topics, reading level, and the
generated coverage matrix in docs/curriculum.md."""

from __future__ import annotations


import pytest
import textstat

from quiz.config import PROJECT_ROOT
from quiz.content import JOB_ROLES, SPECIALTIES, TOPICS, load_library
from quiz.content.curriculum import is_frontline, lesson_text, matrix, track

LIBRARY = load_library(PROJECT_ROOT / "content")
MAX_GRADE = 8.0
STATE_LAWS = {"TX", "CA", "NY", "MA"}


def test_the_content_has_no_errors():
    assert [str(e) for e in LIBRARY.errors] == []


@pytest.mark.parametrize("role", JOB_ROLES)
def test_every_role_track_has_onboarding_and_two_refreshers(role):
    onboarding, refreshers = track(LIBRARY, role)
    assert len(onboarding) >= 1, f"{role} has no onboarding module"
    assert len(refreshers) >= 2, f"{role} has {len(refreshers)} refresher(s)"


@pytest.mark.parametrize("role", ["front-desk", "clinical"])
def test_front_desk_and_clinical_scenarios_exist_in_every_specialty(role):
    for_role = [m for m in LIBRARY.modules.values() if role in m.roles]
    varied = {
        sid
        for m in for_role
        for sid in m.scenario_ids
        if set(SPECIALTIES) <= set(LIBRARY.scenarios.get(sid, {}))
    }
    assert varied, f"no {role} scenario has variants for all of {SPECIALTIES}"


def test_every_topic_is_covered():
    covered = {t for m in LIBRARY.modules.values() for t in m.topics}
    assert sorted(set(TOPICS) - covered) == []


def test_state_mandates_module_covers_the_four_states():
    assert any(STATE_LAWS <= set(m.states) or (m.states and "state-law" in m.topics) for m in LIBRARY.modules.values())
    states = {s for m in LIBRARY.modules.values() if "state-law" in m.topics for s in m.states}
    assert STATE_LAWS <= states


@pytest.mark.parametrize("module_id", sorted(LIBRARY.modules))
def test_every_module_has_manager_notes_and_the_not_legal_advice_note(module_id):
    module = LIBRARY.modules[module_id]
    notes = module.manager_notes_html.lower()
    assert "talking points" in notes and "follow-up question" in notes and "escalate" in notes
    assert "not legal advice" in module.source.lower()
    assert module.objectives and module.cites and module.policy_version and module.acknowledgement


@pytest.mark.parametrize(
    "module_id", sorted(m.id for m in LIBRARY.modules.values() if is_frontline(m))
)
def test_frontline_lessons_read_at_grade_eight_or_below(module_id):
    text = lesson_text(LIBRARY.modules[module_id])
    grade = textstat.flesch_kincaid_grade(text)
    assert grade <= MAX_GRADE, f"{module_id}: Flesch-Kincaid grade {grade:.1f} > {MAX_GRADE}"


def test_every_scenario_puts_three_decisions_on_the_way_to_its_endings():
    for scenario in LIBRARY.all_scenarios():
        decisions = [n for n in scenario.nodes.values() if not n.is_ending]
        assert len(decisions) >= 3, f"{scenario.path}: only {len(decisions)} decision points"
        assert any(c.critical for n in decisions for c in n.choices), f"{scenario.path}: no critical choice"


def test_docs_curriculum_is_generated_from_the_content():
    committed = (PROJECT_ROOT / "docs" / "curriculum.md").read_text(encoding="utf-8")
    assert committed == matrix(LIBRARY), "docs/curriculum.md is stale: run `flask --app app content matrix -o docs/curriculum.md`"

"""The shipped curriculum: no errors, every house standard met, and what only the library as
a whole can show: coverage of roles, specialties and topics, and the generated coverage matrix
in docs/curriculum.md.

What one file is held to (reading level, manager notes, decisions...) is checked by
``content check`` itself (quiz/content/standards.py), so a trainer's file that passes the check
passes here too; tests/test_content_rules.py shows each standard failing."""

from __future__ import annotations


import pytest

from quiz.config import PROJECT_ROOT
from quiz.content import JOB_ROLES, SPECIALTIES, TOPICS, load_library
from quiz.content.curriculum import matrix, track

LIBRARY = load_library(PROJECT_ROOT / "content")
STATE_LAWS = {"TX", "CA", "NY", "MA"}


def test_the_content_has_no_errors_and_meets_every_standard():
    assert [str(e) for e in LIBRARY.errors] == []
    assert [str(e) for e in LIBRARY.standards] == []


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


def test_docs_curriculum_is_generated_from_the_content():
    committed = (PROJECT_ROOT / "docs" / "curriculum.md").read_text(encoding="utf-8")
    assert committed == matrix(LIBRARY), "docs/curriculum.md is stale: run `flask --app app content matrix -o docs/curriculum.md`"

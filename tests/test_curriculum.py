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
from quiz.content.coverage import matrix, track
from quiz.content.curricula import load_curricula

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
        sid for m in for_role for sid in m.scenario_ids if set(SPECIALTIES) <= set(LIBRARY.scenarios.get(sid, {}))
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
    assert committed == matrix(
        LIBRARY
    ), "docs/curriculum.md is stale: run `flask --app app content matrix -o docs/curriculum.md`"


# --- Missed objectives come back: onboarding and refreshers share objective ids ---------------

CURRICULA, CURRICULA_ERRORS = load_curricula(PROJECT_ROOT / "content", LIBRARY)

#: Onboarding objectives that no refresher in the role's plan (or everyone's) trains yet, so a
#: miss cannot be followed up by a refresher. Each comes back only when the onboarding module
#: recurs, a year after it was completed. Keep this list short: when a refresher gets a decision
#: that tests one of these, declare the same id there and take the line out (the test says so).
NO_REFRESHER_YET = {
    ("front-desk", "family-involvement"): "no front-desk refresher has a decision about family or friends",
    ("case-manager", "what-is-phi"): "no case-manager refresher tests it on its own; it is part of other skills there",
    ("case-manager", "family-involvement"): "no case-manager refresher has a decision about family or caregivers",
    ("case-manager", "verify-identity"): "only behavioral-health-boundaries trains it, so only in behavioral health",
    ("pharmacy", "pickup-judgment"): "no pharmacy refresher has a pickup by someone else",
    ("pharmacy", "incidental-safeguards"): "no pharmacy refresher has counseling or talk at the counter",
    ("clinical", "family-involvement"): "no clinical refresher has a decision about family or friends",
    ("billing", "minimum-necessary"): "no billing refresher has a decision about sending only what the task needs",
    ("it", "least-privilege"): "no IT refresher has an access request or a shared login",
    ("it", "approved-systems"): "no IT refresher has a workaround tool to steer staff away from",
    ("leadership", "governance-roles"): "no leadership refresher has a new system, vendor or policy decision",
    ("leadership", "training-records"): "no leadership refresher has retraining after a material change",
}


def _gaps(role: str) -> dict[str, list[str]]:
    """Each onboarding objective of the role that some specialty's refreshers (the role's plan
    and everyone's, kind refresher) do not declare, with the specialties left without one."""
    plan = CURRICULA.plan(role)
    refreshers = [LIBRARY.modules[r.module] for r, _ in CURRICULA.refreshers(role) if r.module in LIBRARY.modules]
    refreshers = [m for m in refreshers if m.kind == "refresher"]
    gaps: dict[str, list[str]] = {}
    for module_id in plan.onboarding:
        onboarding = LIBRARY.modules[module_id]
        for specialty in (*SPECIALTIES, None):
            if not onboarding.is_for(role, specialty):
                continue
            declared = {o for m in refreshers if m.is_for(role, specialty) for o in m.objectives}
            for objective in onboarding.objectives:
                if objective not in declared:
                    gaps.setdefault(objective, []).append(specialty or "no specialty")
    return gaps


def test_curricula_loads_without_errors():
    assert [str(e) for e in CURRICULA_ERRORS] == []


@pytest.mark.parametrize("role", JOB_ROLES)
def test_every_onboarding_objective_is_followed_up_by_a_refresher_of_the_role(role):
    """A missed objective is followed up by a refresher that declares the same id and that the
    person may take (quiz/assignments.py follow_ups), so every objective of a role's onboarding
    is declared by a refresher in that role's plan or everyone's, in every specialty, unless it
    is a documented exception."""
    assert role in CURRICULA.roles, f"{role} has no plan in curricula.yml"
    gaps = _gaps(role)
    unexplained = {o: s for o, s in gaps.items() if (role, o) not in NO_REFRESHER_YET}
    assert unexplained == {}, (
        f"{role}: onboarding objectives no refresher of the role declares (by specialty): {unexplained}; "
        "give the refresher that trains the skill the same objective id"
    )
    stale = sorted(o for r, o in NO_REFRESHER_YET if r == role and o not in gaps)
    assert stale == [], f"{role}: a refresher now declares {stale}: take them out of NO_REFRESHER_YET"

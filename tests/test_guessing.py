"""A learner who does not read cannot pass by picking the same place or value every time.

Each module of every role and specialty is walked over plain HTTP, without JavaScript and
without reading the page's words, by learners who always pick the first radio button, the last
one, or the one with the lowest value. Each attempt shuffles its choices with a key of its own
and names them with codes made from it, so each of these learners picks, in effect, at random:
the number of their passes must be what random picking gives (worked out exactly from the
content, quiz.content.walks.guess_chance), not more. The bound is the count a random picker
reaches less than once in a million runs, so the test does not fail by bad luck.
"""

from __future__ import annotations

import re

import pytest

from quiz.config import PROJECT_ROOT
from quiz.content import SPECIALTIES, load_library
from quiz.content.walks import guess_chance
from quiz.db import db
from quiz.models import User

from .helpers import add_user, csrf_token, make_app, sign_in

LIBRARY = load_library(PROJECT_ROOT / "content")
#: Every module in every version a learner can get: the general one, and each specialty's
#: where the module has a variant for it (a role changes nothing in what the module asks).
CASES = [
    (module_id, specialty)
    for module_id, module in sorted(LIBRARY.modules.items())
    for specialty in [None, *SPECIALTIES]
    if (not module.specialties or specialty in module.specialties)
    and (
        specialty is None
        or specialty in module.specialties
        or any(specialty in LIBRARY.scenarios.get(s, {}) for s in module.scenario_ids)
    )
]
STRATEGIES = {
    "first": lambda values: values[0],
    "last": lambda values: values[-1],
    "lowest value": min,
}
VIEW = re.compile(r'class="step step-([a-z]+)"')
STEP = re.compile(r'name="step" type="hidden" value="(\d+)"')
RADIO = re.compile(r'name="choice"[^>]*type="radio" value="([^"]+)"')


def chance(module_id: str, specialty: str | None) -> float:
    module = LIBRARY.modules[module_id]
    return guess_chance([LIBRARY.scenario_for(s, specialty) for s in module.scenario_ids], module.pass_score)


def tail(chances: list[float], at_least: int) -> float:
    """P(at least ``at_least`` of independent events with these chances happen)."""
    counts = [1.0]
    for p in chances:
        counts = [
            (counts[k] if k < len(counts) else 0.0) * (1 - p) + (counts[k - 1] * p if k else 0.0)
            for k in range(len(counts) + 1)
        ]
    return sum(counts[at_least:])


def walk(client, module_id: str, pick) -> bool:
    """Take the module once, picking by ``pick`` (values in page order -> one); passed?"""
    url = f"/learn/{module_id}/"
    started = False
    for _ in range(200):
        page = client.get(url).text
        view = VIEW.search(page).group(1)
        form = {"csrf_token": csrf_token(page), "step": STEP.search(page).group(1)}
        if view == "acknowledge":  # passed: sign, so the next walk of this module starts afresh
            assert started, f"{module_id}: an earlier attempt was left unsigned"
            signed = client.post(url + "acknowledge", data={**form, "agree": "y", "full_name": "Guessing Learner"})
            assert signed.status_code == 303
            return True
        if view == "overview" and started:
            return False
        if view == "overview":
            action, started = "start", True
        elif view == "lesson":
            action = "next"
        elif view == "ending":
            action = "continue"
        else:
            action, form["choice"] = "answer", pick(RADIO.findall(page))
        assert client.post(url + action, data=form).status_code == 303
    raise AssertionError(f"{module_id}: no end after 200 steps")


@pytest.fixture(scope="module")
def shipped_app(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("guessing")
    app = make_app(f"sqlite:///{tmp / 'guessing.sqlite3'}", tmp, monkeypatch, CONTENT_DIR=str(PROJECT_ROOT / "content"))
    yield app
    monkeypatch.undo()


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_always_the_same_place_passes_no_more_often_than_random(shipped_app, strategy):
    email = f"{strategy.replace(' ', '-')}@example.org"
    user_id = add_user(shipped_app, email=email, name="Guessing Learner")
    client = shipped_app.test_client()
    assert sign_in(client, email).status_code == 303
    passes = 0
    for module_id, specialty in CASES:
        module = LIBRARY.modules[module_id]
        with shipped_app.app_context():  # the learner this module is for
            user = db.session.get(User, user_id)
            user.job_role, user.specialty = module.roles[0], specialty
            user.work_state = module.states[0] if module.states else None
            db.session.commit()
        passes += walk(client, module_id, STRATEGIES[strategy])
    chances = [chance(m, s) for m, s in CASES]
    expected = sum(chances)
    print(f"{strategy}: {passes} of {len(CASES)} walks passed; random picking passes {expected:.2f} on average")
    assert tail(chances, passes) >= 1e-6, (
        f"always picking the {strategy} passed {passes} of {len(CASES)} walks; random picking passes "
        f"{expected:.1f} on average and {passes} or more less than once in a million"
    )


def test_the_bound_would_catch_the_old_answer_in_the_page():
    """The premise: before choices were shuffled with a secret key and named with codes, always
    picking the lowest value passed 26 of 42 walks (62%); that share is far beyond the bound."""
    chances = [chance(m, s) for m, s in CASES]
    assert tail(chances, -(-26 * len(CASES) // 42)) < 1e-6

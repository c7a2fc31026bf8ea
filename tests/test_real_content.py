"""Every shipped module can be taken end to end through the web, in every specialty variant:
the best answers pass, and a critical choice fails whatever the score."""

from __future__ import annotations

import re
from html import unescape

import pytest

from quiz.config import PROJECT_ROOT
from quiz.content import SPECIALTIES

from .helpers import add_user, best_choice, csrf_token, make_app, shipped_library, sign_in

LIBRARY = shipped_library()
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


def value_of(html: str, label: str) -> str:
    """What the page's radio button for the choice with this label posts (a code of the attempt)."""
    radios = re.findall(r'name="choice"[^>]*value="([^"]+)">\s*<label for="[^"]+">(.*?)</label>', html, re.S)
    return next(value for value, text in radios if unescape(text).strip() == label)


def _step(html: str) -> int:
    return int(re.search(r'name="step" type="hidden" value="(\d+)"', html).group(1))


@pytest.fixture(scope="module")
def real_app(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("real")
    app = make_app(f"sqlite:///{tmp / 'real.sqlite3'}", tmp, monkeypatch, CONTENT_DIR=str(PROJECT_ROOT / "content"))
    yield app
    monkeypatch.undo()


@pytest.mark.parametrize("module_id,specialty", CASES)
def test_the_best_answers_pass_every_module(real_app, module_id, specialty):
    module = LIBRARY.modules[module_id]
    email = f"{module_id}.{specialty or 'general'}@example.org"
    add_user(real_app, email=email, name="Real Learner", job_role=module.roles[0], specialty=specialty)
    if module.states:
        from quiz.db import db
        from quiz.models import User

        with real_app.app_context():
            user = db.session.query(User).filter_by(email=email).one()
            user.work_state = module.states[0]
            db.session.commit()
    client = real_app.test_client()
    sign_in(client, email)
    url = f"/learn/{module_id}/"
    page = client.get(url).text
    client.post(url + "start", data={"csrf_token": csrf_token(page), "step": 0})
    for _ in module.screens:
        page = client.get(url).text
        client.post(url + "next", data={"csrf_token": csrf_token(page), "step": _step(page)})
    for scenario_id in module.scenario_ids:
        scenario = LIBRARY.scenario_for(scenario_id, specialty)
        node_id, visited = scenario.start, set()
        while not scenario.nodes[node_id].is_ending:
            page = client.get(url).text
            assert scenario.nodes[node_id].title in page.replace("&#39;", "'").replace("&amp;", "&").replace(
                "&#34;", '"'
            ).replace("&quot;", '"')
            best = best_choice(scenario, node_id, visited)
            visited.add(node_id)
            client.post(
                url + "answer",
                data={"csrf_token": csrf_token(page), "step": _step(page), "choice": value_of(page, best.label)},
            )
            node_id = best.target
        page = client.get(url).text
        client.post(url + "continue", data={"csrf_token": csrf_token(page), "step": _step(page)})
    page = client.get(url).text
    assert "You passed" in page, f"{module_id} [{specialty}] did not pass on the best answers"
    response = client.post(
        url + "acknowledge",
        data={"csrf_token": csrf_token(page), "step": _step(page), "agree": "y", "full_name": "Real Learner"},
    )
    assert response.status_code == 303 and "/certificate/" in response.headers["Location"]

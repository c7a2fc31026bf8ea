"""Refreshers that fit the person (issue 30, part 6): the manager's refresher list for a missed
objective offers only modules the people who missed it may take (their job role and specialty,
as the modules' audiences and the curricula say), and the assigning POST refuses any other, with
a clear message, rather than only leaving it off the list."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from quiz import assignments
from quiz.content import load_library
from quiz.content.curricula import load_curricula
from quiz.db import db
from quiz.models import Assignment, User

from .helpers import DATA_CONTENT, add_user, choose, close_app, csrf_token, make_app, page_text, sign_in, through_lesson

#: Trains the same objective as the test modules, but only for business associates' staff; the
#: shortest refresher of all, so a list that did not look at who may take it would offer it first.
BA_MODULE = "test-ba-verify"
#: The same objective, for the front desk of behavioral health only.
BH_MODULE = "test-bh-verify"


def _module(module_id: str, title: str, audience: str) -> str:
    source = (DATA_CONTENT / "modules" / "test-refresher.md").read_text(encoding="utf-8")
    return (
        source.replace("id: test-refresher", f"id: {module_id}")
        .replace("title: Test refresher on verifying callers", f"title: {title}")
        .replace("roles: [front-desk]", audience)
        .replace("minutes: 2", "minutes: 1")
    )


@pytest.fixture
def content(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    modules = content / "modules"
    (modules / f"{BA_MODULE}.md").write_text(
        _module(BA_MODULE, "Verifying requests at a business associate", "roles: [business-associate]"),
        encoding="utf-8",
    )
    (modules / f"{BH_MODULE}.md").write_text(
        _module(
            BH_MODULE, "Verifying callers in behavioral health", "roles: [front-desk]\nspecialties: [behavioral-health]"
        ),
        encoding="utf-8",
    )
    return content


@pytest.fixture
def app(database_url, tmp_path, monkeypatch, content):
    app = make_app(database_url, tmp_path, monkeypatch, CONTENT_DIR=str(content))
    yield app
    close_app(app)


def _person(id: int, job_role: str, specialty: str | None = None, work_state: str | None = None):
    return User(id=id, job_role=job_role, specialty=specialty, work_state=work_state)


def test_the_list_offers_only_what_the_people_who_missed_it_may_take(content):
    library = load_library(content)
    curricula, errors = load_curricula(content, library)
    assert not errors and {BA_MODULE, BH_MODULE} <= library.modules.keys()

    def offered(*people) -> list[tuple[str, list[int]]]:
        return [
            (o.module.id, sorted(o.takers))
            for o in assignments.refresher_offers(library, curricula, "verify-identity", list(people), "test-callers")
        ]

    desk, bh = _person(1, "front-desk"), _person(2, "front-desk", "behavioral-health")
    # Those all may take first (a refresher first); then the behavioral-health one, for the one
    # it is for; never the business associates'.
    assert offered(desk, bh) == [("test-refresher", [1, 2]), ("test-callers", [1, 2]), (BH_MODULE, [2])]
    assert offered(desk) == [("test-refresher", [1]), ("test-callers", [1])]
    assert offered(_person(3, "business-associate")) == [(BA_MODULE, [3])]
    # A case manager may take the onboarding module it was missed in, not the front desk's refreshers.
    assert offered(_person(4, "case-manager")) == [("test-callers", [4])]
    # Nothing in this library is for a pharmacist: nothing is offered, rather than anything at all.
    assert offered(_person(5, "pharmacy")) == []
    # When no module trains the objective, what the person may take, marked as not training it.
    others = assignments.refresher_offers(library, curricula, "no-such-objective", [desk])
    assert [(o.module.id, o.trains) for o in others] == [("test-refresher", False), ("test-callers", False)]


def test_a_state_law_module_is_for_everyone_who_works_in_that_state(content):
    library = load_library(content)
    curricula, _ = load_curricula(content, library)
    module = library.modules["test-callers"]  # the TX rule's module; written for front desk and case managers
    assert not assignments.may_take(curricula, module, _person(1, "billing"))
    assert assignments.may_take(curricula, module, _person(1, "billing", work_state="TX"))
    assert not assignments.may_take(curricula, library.modules[BA_MODULE], _person(1, "front-desk"))


def _org(app) -> dict[str, int]:
    """Ana (front desk) and Bea (front desk, behavioral health) both miss verify-identity."""
    add_user(app, email="manager@example.org", name="Mo Manager", role="manager", job_role="leadership")
    ids = {
        "ana": add_user(app, email="ana@example.org", name="Ana Alvarez", supervisor_email="manager@example.org"),
        "bea": add_user(
            app,
            email="bea@example.org",
            name="Bea Brooks",
            specialty="behavioral-health",
            supervisor_email="manager@example.org",
        ),
    }
    for email in ("ana@example.org", "bea@example.org"):
        client = app.test_client()
        sign_in(client, email)
        through_lesson(client)
        choose(client, "Read out the appointment time")  # wrong at first try
    return ids


def _remediate(client, module_id: str):
    page = client.get("/manage/modules/test-callers").text
    return client.post(
        "/manage/modules/test-callers/remediate",
        data={"csrf_token": csrf_token(page), "objective": "verify-identity", "module_id": module_id, "due_in_days": 7},
    )


def _assigned(app, module_id: str) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Assignment.user_id).where(Assignment.module_id == module_id)))


def test_the_results_page_lists_only_refreshers_they_may_take(app):
    _org(app)
    manager = app.test_client()
    sign_in(manager, "manager@example.org")
    page = manager.get("/manage/modules/test-callers").text
    select_ = page[page.index('name="module_id"') : page.index("</select>", page.index('name="module_id"'))]
    assert 'value="test-refresher"' in select_
    assert f'value="{BH_MODULE}"' in select_ and "for 1 of the 2" in select_
    assert BA_MODULE not in page and "business associate" not in page


def test_assigning_a_module_they_may_not_take_is_refused_with_a_reason(app):
    _org(app)
    manager = app.test_client()
    sign_in(manager, "manager@example.org")
    response = _remediate(manager, BA_MODULE)  # not on the list: sent by hand
    assert response.status_code == 422
    assert (
        "Verifying requests at a business associate is not for the people who missed this: "
        "their job role or specialty may not take it." in page_text(response.text)
    )
    assert _assigned(app, BA_MODULE) == []


def test_a_module_for_some_of_them_is_assigned_to_those_only(app):
    ids = _org(app)
    manager = app.test_client()
    sign_in(manager, "manager@example.org")
    response = _remediate(manager, BH_MODULE)
    assert response.status_code == 303
    assert _assigned(app, BH_MODULE) == [ids["bea"]]
    flashed = page_text(manager.get(response.headers["Location"]).text)
    assert (
        "Assigned Verifying callers in behavioral health to 1 person who missed it; "
        "not assigned to Ana Alvarez: it is not for their job role or specialty." in flashed
    )
    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.module_id == BH_MODULE))
        assert (a.reason, a.objective, a.due_on > date.today()) == ("manager-choice", "verify-identity", True)

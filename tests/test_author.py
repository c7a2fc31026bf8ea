"""The trainers' area: the content as the server loaded it, errors by file and line, and each
module laid bare (every branch, its points, where it leads). Read-only."""

from __future__ import annotations

import re
import shutil
from html import unescape

import pytest

from .conftest import DATA_CONTENT, add_user, close_app, make_app, repeated_ids, sign_in


def _signed_in(app, role: str):
    email = f"{role}@example.org"
    add_user(app, email=email, name=f"Alex {role.title()}", role=role, job_role="leadership")
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    return client


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.mark.parametrize("role, allowed", [("learner", False), ("manager", False), ("trainer", True), ("admin", True)])
def test_only_trainers_and_admins_open_the_content_area_and_see_it_in_the_menu(app, role, allowed):
    client = _signed_in(app, role)
    assert client.get("/author/").status_code == (200 if allowed else 403)
    assert client.get("/author/modules/test-callers").status_code == (200 if allowed else 403)
    assert ('href="/author/"' in client.get("/learn/").text) is allowed


def test_the_content_page_lists_every_module_and_says_all_is_well(app):
    page = _signed_in(app, "trainer").get("/author/").text
    assert "Every content file loads without errors." in page
    assert 'href="/author/modules/test-callers"' in page and 'href="/author/modules/test-refresher"' in page
    assert "Modules (2)" in page
    assert "content ok: 2 modules" in page  # the same summary line as `flask content check`


def test_a_broken_file_is_named_with_its_line_and_left_out(tmp_path, monkeypatch):
    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    module = content / "modules" / "test-refresher.md"
    text = module.read_text(encoding="utf-8")
    lines = text.split("\n")
    body = next(i for i, line in enumerate(lines) if line.startswith("## ")) + 1
    lines.insert(body, "A diagram: ![the callback flow](flow.png)")
    module.write_text("\n".join(lines), encoding="utf-8")
    app = make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, monkeypatch, CONTENT_DIR=str(content))
    try:
        client = _signed_in(app, "trainer")
        page = _text(client.get("/author/").text)
        assert "1 error: these files are not served until fixed" in page
        assert f"modules/test-refresher.md:{body + 1} images are not shown on the page" in page
        assert "Modules (1)" in page
        assert client.get("/author/modules/test-refresher").status_code == 404
    finally:
        close_app(app)


def test_a_module_is_laid_bare_with_every_branch_of_every_version(app):
    page = _signed_in(app, "trainer").get("/author/modules/test-callers").text
    text = _text(page)
    lib = app.extensions["content_store"].library
    module = lib.modules["test-callers"]
    for screen in module.screens:
        assert screen.title in text
    versions = lib.scenarios[module.scenario_ids[0]]
    assert set(versions) == {None, "dental"}  # the premise: a general and a dental version
    assert "General version" in text and "Dental version" in text
    assert text.index("General version") < text.index("Dental version")
    for scenario in versions.values():
        key = f"{scenario.id}-{scenario.specialty or 'general'}"
        for node in scenario.nodes.values():
            assert f'id="{key}-{node.id}"' in page
            for choice in node.choices:
                assert f'href="#{key}-{choice.target}"' in page  # each choice links to where it leads
    critical = next(c for n in versions[None].nodes.values() for c in n.choices if c.critical)
    assert f"{critical.label} → " in text and "critical: fails the attempt" in text
    assert module.acknowledgement in text
    assert not repeated_ids(page)
    assert "<form" not in page.split("</header>", 1)[1]  # read-only (the only form is Sign out)

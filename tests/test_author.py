"""The trainers' area: the content as the server loaded it, errors by file and line, and each
module laid bare (every branch, its points, where it leads). Read-only."""

from __future__ import annotations

import io
import re
import shutil

import pytest

from .helpers import (
    DATA_CONTENT,
    close_app,
    csrf_token,
    make_app,
    page_text,
    recorded_sql,
    repeated_ids,
    signed_in_as,
)


@pytest.mark.parametrize("role, allowed", [("learner", False), ("manager", False), ("trainer", True), ("admin", True)])
def test_only_trainers_and_admins_open_the_content_area_and_see_it_in_the_menu(app, role, allowed):
    client = signed_in_as(app, role)
    assert client.get("/author/").status_code == (200 if allowed else 403)
    assert client.get("/author/modules/test-callers").status_code == (200 if allowed else 403)
    assert ('href="/author/"' in client.get("/learn/").text) is allowed


def test_the_content_page_lists_every_module_and_says_all_is_well(app):
    page = signed_in_as(app, "trainer").get("/author/").text
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
        client = signed_in_as(app, "trainer")
        page = page_text(client.get("/author/").text)
        assert "1 error: these files are not served until fixed" in page
        assert f"modules/test-refresher.md:{body + 1} images are not shown on the page" in page
        assert "Modules (1)" in page
        assert client.get("/author/modules/test-refresher").status_code == 404
    finally:
        close_app(app)


def test_a_module_is_laid_bare_with_every_branch_of_every_version(app):
    page = signed_in_as(app, "trainer").get("/author/modules/test-callers").text
    text = page_text(page)
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
    # read-only: besides Sign out, only the preview's GET form (who to play the module as)
    forms = re.findall(r"<form[^>]*>", page.split("</header>", 1)[1])
    assert forms == ['<form method="get" action="/author/preview/test-callers/" class="stack preview-form" novalidate>']


def test_the_module_page_says_the_chance_of_passing_by_guessing(app):
    # test-check: pass (4) needs "Ask" (1 of 3) then "Only the appointment time" (1 of 2);
    # its dental version: "Ask" or "call back" (2 of 3), then the one right choice of two.
    text = page_text(signed_in_as(app, "trainer").get("/author/modules/test-callers").text)
    assert "Passed by guessing General: 17%; Dental: 33%" in text


# --- trying a file before it is saved -----------------------------------------------------------


def _try(client, *, text: str | None = None, file: tuple[bytes, str] | None = None):
    token = csrf_token(client.get("/author/try").text)
    data = {"csrf_token": token, "text": text or ""}
    if file is not None:
        data["file"] = (io.BytesIO(file[0]), file[1])
    return client.post("/author/try", data=data, content_type="multipart/form-data")


def test_trying_a_good_file_shows_the_module_as_it_would_be_and_saves_nothing(app):
    client = signed_in_as(app, "trainer")
    source = (DATA_CONTENT / "modules" / "test-callers.md").read_text(encoding="utf-8")
    edited = source.replace("title: Test module on callers", "title: Callers, rewritten", 1)
    assert edited != source  # the premise
    response = _try(client, file=(edited.encode("utf-8"), "test-callers.md"))
    assert response.status_code == 200
    text = page_text(response.text)
    assert "This module loads without errors: it is laid bare below the form." in text
    assert "it would take the place of tests/data/content/modules/test-callers.md" in text
    assert "Callers, rewritten" in text and "First screen" in text  # laid bare, lesson and all
    assert 'id="test-check-general-call"' in response.text  # its check, every node
    assert (DATA_CONTENT / "modules" / "test-callers.md").read_text(encoding="utf-8") == source
    assert "Test module on callers" in client.get("/author/modules/test-callers").text  # served as before


def test_trying_a_broken_file_names_each_error_by_line_and_what_it_would_break(app):
    client = signed_in_as(app, "trainer")
    source = (DATA_CONTENT / "scenarios" / "test-check.md").read_text(encoding="utf-8")
    broken = source.replace("Points: 2", "Points: two", 1)
    line = broken.split("\n").index("Points: two") + 1
    response = _try(client, text=broken.replace("\n", "\r\n"))  # as a browser sends a textarea
    assert response.status_code == 200
    text = page_text(response.text)
    assert "1 error: this scenario would not be served until fixed." in text
    assert f"line {line} `Points:` must be a whole number, got `two`" in text
    assert "It would also stop these from being served" in text
    assert "modules/test-callers.md:16 scenario `test-check` has errors, so this module cannot be served" in text
    assert 'id="test-check-general-call"' not in response.text  # nothing laid bare that would not load


def test_trying_a_new_scenario_shows_its_check_and_says_no_module_uses_it(app):
    client = signed_in_as(app, "trainer")
    source = (DATA_CONTENT / "scenarios" / "test-check.md").read_text(encoding="utf-8")
    new = source.replace("id: test-check", "id: brand-new-check", 1)
    text = page_text(_try(client, file=(new.encode("utf-8"), "brand-new-check.md")).text)
    assert (
        "This scenario loads without errors: it is laid bare below the form." in text
        and "Saved, it would be a new scenario." in text
    )
    assert "No module uses this check yet." in text and "The phone rings" in text


@pytest.mark.parametrize(
    "text, file, field, message",
    [
        ("", None, "text", "Choose a file, or paste its text."),
        ("some text", (b"---\nid: x\n---\n", "x.md"), "file", "Choose a file or paste its text, not both."),
        ("", (b"hello", "notes.txt"), "file", "Choose a Markdown file: its name ends in .md."),
        (
            "",
            (b"---\nid: caf\xe9\n---\n", "cafe.md"),
            "file",
            "This file is not UTF-8 text (line 2): save it as UTF-8.",
        ),
        (
            "",
            (b"x" * (400 * 1024 + 1), "huge.md"),
            "file",
            "This file is larger than 400 KB: no lesson or check is that long.",
        ),
    ],
)
def test_a_bad_try_is_refused_beside_its_field(app, text, file, field, message):
    response = _try(signed_in_as(app, "trainer"), text=text, file=file)
    assert response.status_code == 400
    assert f'<a href="#{field}">{message}</a>' in response.text
    assert f'id="{field}-error"' in response.text


def test_only_trainers_and_admins_may_try_a_file(app):
    assert signed_in_as(app, "manager").get("/author/try").status_code == 403
    assert 'href="/author/try"' in signed_in_as(app, "admin").get("/author/").text


def test_a_module_draft_named_as_a_module_is_checked_as_one(app):
    """The content rule would take a file with neither pass_score nor scenarios for a scenario;
    named as a file in modules/, it is checked as the module it would replace."""
    source = (DATA_CONTENT / "modules" / "test-callers.md").read_text(encoding="utf-8")
    draft = "\n".join(line for line in source.split("\n") if not line.startswith(("pass_score:", "scenarios:")))
    assert draft != source  # the premise
    text = page_text(_try(signed_in_as(app, "trainer"), file=(draft.encode("utf-8"), "test-callers.md")).text)
    assert "this module would not be served until fixed" in text
    assert "it would take the place of tests/data/content/modules/test-callers.md" in text


def test_text_too_large_for_any_form_gets_a_page_that_says_so(app):
    client = signed_in_as(app, "trainer")
    token = csrf_token(client.get("/author/try").text)
    response = client.post(
        "/author/try", data={"csrf_token": token, "text": "x" * 600_000}, content_type="multipart/form-data"
    )
    assert response.status_code == 413
    assert "What was sent is too large for this form." in response.text and "Rounds" in response.text


def test_trying_a_file_takes_no_write_lock(app):
    client = signed_in_as(app, "trainer")
    source = (DATA_CONTENT / "modules" / "test-callers.md").read_text(encoding="utf-8")
    with recorded_sql(app) as seen:
        assert "loads without errors" in _try(client, text=source).text
    assert not [s for s in seen if s.startswith(("BEGIN IMMEDIATE", "INSERT", "UPDATE", "DELETE"))]


def test_the_content_page_lists_causes_first_then_what_they_stop_then_the_standards(tmp_path, monkeypatch):
    """As `content check` prints them (tests/test_content_rules.py): each file's own errors, then
    their consequences naming the file to fix, the curricula file's included; then the house
    standards, for files that are still served. A file that is never read is listed too."""
    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    check = (content / "scenarios" / "test-check.md").read_text(encoding="utf-8")
    (content / "scenarios" / "extra.md").write_text(
        check.replace("id: test-check", "id: extra-check").replace("Points: 2", "Points: two", 1), encoding="utf-8"
    )
    module = (content / "modules" / "test-callers.md").read_text(encoding="utf-8")
    (content / "modules" / "extra.md").write_text(
        module.replace("id: test-callers", "id: extra-module").replace(
            "scenarios: [test-check]", "scenarios: [extra-check]"
        ),
        encoding="utf-8",
    )
    curricula = content / "curricula.yml"
    curricula.write_text(
        curricula.read_text(encoding="utf-8").replace(
            "    onboarding: [test-callers]\n    recurring:",
            "    onboarding: [test-callers, extra-module]\n    recurring:",
        ),
        encoding="utf-8",
    )
    refresher = content / "modules" / "test-refresher.md"
    refresher.write_text(
        refresher.read_text(encoding="utf-8").replace("**Follow-up question:**", "**Question:**"), encoding="utf-8"
    )
    (content / "modules" / "new-lesson.markdown").write_text("---\nid: new-lesson\n---\n", encoding="utf-8")
    (content / "modules" / ".gitkeep").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    app = make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, monkeypatch, CONTENT_DIR="content")
    try:
        page = page_text(signed_in_as(app, "trainer").get("/author/").text)
        result = app.test_cli_runner().invoke(args=["content", "check"])
    finally:
        close_app(app)
    printed = result.output.splitlines()
    assert printed == [
        "content/modules/new-lesson.markdown:0: this file is never read: content files must end in .md; rename it to new-lesson.md",
        "content/scenarios/extra.md:15: `Points:` must be a whole number, got `two`",
        "content/curricula.yml:8: module `extra-module` is not served because of errors: fix content/scenarios/extra.md first",
        "content/modules/extra.md:16: scenario `extra-check` has errors, so this module cannot be served: fix content/scenarios/extra.md first",
        "content/modules/test-refresher.md:24: standard: the manager notes have no follow-up question: add **Follow-up question:** and one question to ask the team",
        "4 errors, 1 standard not met",
    ]
    assert "4 errors: these files are not served until fixed" in page
    assert "1 house standard not met: these files are still served" in page
    shown = [line.replace(": standard: " if ": standard: " in line else ": ", " ", 1) for line in printed[:-1]]
    missing = [line for line in shown if line not in page]
    assert not missing, (missing, page)
    assert [page.index(line) for line in shown] == sorted(page.index(line) for line in shown)  # in order
    assert "gitkeep" not in page and "content has 4 errors, 1 standard not met" in page


def test_trying_a_file_below_the_standards_says_so_and_that_it_would_still_be_served(app):
    source = (DATA_CONTENT / "modules" / "test-callers.md").read_text(encoding="utf-8")
    draft = source.replace("*This module is training, not legal advice.*", "Ask if unsure.")
    assert draft != source  # the premise
    text = page_text(_try(signed_in_as(app, "trainer"), text=draft).text)
    assert "This module loads without errors" in text
    assert "It falls short of the house standards (it would still be served)" in text
    assert "the module does not say it is not legal advice" in text


def test_the_policy_statements_to_confirm_are_listed_by_file_and_line(app):
    """Every "our policy" sentence, for the privacy officer to check against real policy."""
    from quiz.content import policies

    client = signed_in_as(app, "trainer")
    lib = app.extensions["content_store"].library
    found = policies.statements(lib)
    assert found  # the premise: the test content states a policy
    index = page_text(client.get("/author/").text)
    assert f"{len(found)} “our policy” statement" in index
    page = page_text(client.get("/author/policies").text)
    for statement in found:
        assert f"line {statement.line}: {statement.text}" in page
        assert statement.path in page

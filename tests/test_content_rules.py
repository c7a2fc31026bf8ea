"""Each content rule, shown failing: ``flask content check`` on a content folder of its own.

Every folder under tests/content_fixtures/rules/ that has an ``expected.txt`` is a content folder
(modules/, scenarios/, a curricula.yml if it needs one): minimal files that pass every check and
standard, plus the one slip the rule catches. ``expected.txt`` holds exactly what
``content check`` prints for it, run from that folder (so paths are relative to it). To add a
rule, add a folder; the folder ``clean`` is the slip-free starting point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import close_app, make_app

RULES = Path(__file__).parent / "content_fixtures" / "rules"
FOLDERS = sorted(p.parent.name for p in RULES.glob("*/expected.txt"))


@pytest.fixture(scope="module")
def cli_app(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("rules")
    app = make_app(f"sqlite:///{tmp / 'rules.sqlite3'}", tmp, monkeypatch)
    yield app
    close_app(app)
    monkeypatch.undo()


def test_there_are_rules_to_check():
    assert "clean" in FOLDERS and len(FOLDERS) > 1


@pytest.mark.parametrize("folder", FOLDERS)
def test_content_check_prints_exactly_what_each_rule_expects(cli_app, folder, monkeypatch):
    monkeypatch.chdir(RULES / folder)
    monkeypatch.setitem(cli_app.config, "CONTENT_DIR", ".")
    result = cli_app.test_cli_runner().invoke(args=["content", "check"])
    expected = (RULES / folder / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert result.output.splitlines() == expected
    assert result.exit_code == (0 if expected[-1].startswith("content ok") else 1)


def test_us_spelling_leaves_ids_targets_and_code_alone():
    from quiz.content.spelling import british

    assert british("## The neighbour at the counter {#the-neighbour}") == [("neighbour", "neighbor")]
    assert british("### Call her back -> the-neighbour") == []
    assert british("start: the-neighbour") == []
    assert british("Type `colour` in the box, then Recognise and apologise.") == [
        ("Recognise", "Recognize"),
        ("apologise", "apologize"),
    ]
    assert british("Advise the patient; otherwise exercise care.") == []

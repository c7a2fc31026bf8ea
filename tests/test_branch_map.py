"""The map of a check's branches (quiz/content/branch_map.py): for every shipped scenario,
every node is on it, and which endings passing and failing walks reach agrees with a plain
walk of every path; a crafted ending that a failing walk reaches and that reads as a success is
flagged; the drawing is well-formed SVG with every label escaped, and the list view names every
decision and ending. Then the Content and Try pages that show it."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

from quiz.content import load_library
from quiz.content.branch_map import branch_map, maps_of, others_best, reads_as_success, to_svg
from quiz.content.parse import parse_module, parse_scenario
from quiz.content.validate import build_library

from .helpers import DATA_CONTENT, close_app, csrf_token, make_app, page_text, shipped_library, signed_in_as

SVG = "{http://www.w3.org/2000/svg}"


def _outcomes(scenario, visits: int = 2):
    """(ending, points, took a critical choice) for every path from the start that meets no
    node more than ``visits`` times, scored as the engine scores (first answers only): a
    plain search, independent of walks.py."""
    found = set()

    def walk(node_id, seen, answered, points, critical):
        node = scenario.nodes[node_id]
        if node.is_ending:
            found.add((node_id, points, critical))
            return
        for choice in node.choices:
            if seen.get(choice.target, 0) >= visits:
                continue
            first = node_id not in answered
            walk(
                choice.target,
                {**seen, choice.target: seen.get(choice.target, 0) + 1},
                answered | {node_id},
                points + (choice.points if first else 0),
                critical or choice.critical,
            )

    walk(scenario.start, {scenario.start: 1}, frozenset(), 0, False)
    return found


def _shipped_maps():
    lib = shipped_library()
    for module in sorted(lib.modules.values(), key=lambda m: m.id):
        checks = lib.checks_of(module)
        for i, versions in enumerate(checks):
            for scenario in versions:
                yield module, scenario, others_best(checks, i, scenario.specialty), lib


def test_every_shipped_map_has_every_node_and_tells_passing_from_failing_as_every_path_does():
    checked = 0
    for module, scenario, others, _ in _shipped_maps():
        found = branch_map(scenario, module.pass_score, others, module.objectives)
        ids = {n.id for n in (*found.decisions, *found.endings)}
        assert ids == set(scenario.nodes), scenario.path
        assert all(n.depth is not None for n in (*found.decisions, *found.endings)), scenario.path
        assert not [f for f in found.flags if f.kind != "misleading-ending"], scenario.path
        assert all(d.objective == scenario.nodes[d.id].objective for d in found.decisions)
        paths = _outcomes(scenario)
        for ending in found.endings:
            here = [(p, c) for e, p, c in paths if e == ending.id]
            assert here, f"{scenario.path}: no path reaches {ending.id}"
            passing = any(not c and p + others >= module.pass_score for p, c in here)
            failing = any(c or p + others < module.pass_score for p, c in here)
            assert (ending.passing, ending.failing) == (passing, failing), f"{scenario.path} {ending.id}"
            assert ending.misleading == (failing and reads_as_success(ending.outcome))
        checked += 1
    assert checked >= 50  # the premise: every version of every shipped check


@pytest.mark.parametrize(
    "outcome, success",
    [
        ("Records protected", True),
        ("Records protected and safe", True),
        ("Records kept safe; the home call reported", True),
        ("Incident reported", False),
        ("Records protected, but no way forward", False),
        ("Incident not reported", False),
        ("Misuse of your log-in went unreported", False),
        ("Unverified disclosure", False),
        ("Whole chart faxed to an unchecked number", False),
        ("Patient photo posted publicly", False),
        ("", False),
    ],
)
def test_an_ending_reads_as_a_success_when_it_names_a_good_result_and_no_shortfall(outcome, success):
    assert reads_as_success(outcome) is success


MODULE = """\
---
id: m1
title: Module one
roles: [front-desk]
minutes: 3
objectives:
  verify-identity: Verify first.
  minimum-necessary: Share only what is needed.
cites: [45 CFR 164.530(b)]
policy:
  name: Privacy policy
  version: "1"
pass_score: 4
scenarios: [test-check]
acknowledgement: I agree.
---

## Screen one

Text.
"""

#: The test check, with the critical choice's ending worded as a success: the critical walk
#: fails, and its learner reads "Records protected and safe".
MISLEADING_OUTCOME = "Records protected and safe"


def misleading_check() -> str:
    text = (DATA_CONTENT / "scenarios" / "test-check.md").read_text(encoding="utf-8")
    assert "Ending: Unverified disclosure" in text  # the premise
    return text.replace("Ending: Unverified disclosure", f"Ending: {MISLEADING_OUTCOME}", 1)


def _map(scenario_text: str, module_text: str = MODULE):
    module, problems = parse_module("modules/m1.md", module_text)
    assert module is not None and problems == []
    scenario, problems = parse_scenario("scenarios/test-check.md", scenario_text)
    assert scenario is not None and problems == [], problems
    lib = build_library([module], [scenario])
    assert lib.errors == [], lib.errors
    return maps_of(module, lib.checks_of(module))["test-check-general"]


def test_a_failing_walk_to_an_ending_that_reads_as_a_success_is_flagged():
    found = _map(misleading_check())
    faxed = found.node("faxed")
    assert faxed.failing and not faxed.passing and faxed.failing_critical and faxed.misleading
    assert [(f.kind, f.node) for f in found.flags] == [
        ("misleading-ending", "faxed"),
        ("misleading-ending", "good-end"),
    ]
    assert "after a critical choice" in found.flags[0].message
    # the test check as written: its critical walk's ending says what went wrong
    plain = _map((DATA_CONTENT / "scenarios" / "test-check.md").read_text(encoding="utf-8"))
    assert plain.node("faxed").failing and not plain.node("faxed").misleading
    # "Records protected" is reached by the best walk (2 + 2), and by a walk that reads out the
    # time, says nothing, is called back and then verifies (0 + 2): it fails, and reads a success
    good = plain.node("good-end")
    assert good.passing and good.failing and good.misleading and not good.failing_critical
    assert [(f.kind, f.node) for f in plain.flags] == [("misleading-ending", "good-end")]
    assert "with fewer points than the pass mark 4" in plain.flags[0].message
    # "Incident reported" says what was done, not a verdict: failing walks end there, unflagged
    reported = plain.node("reported-end")  # at most 0 + 1 or 2 + 1: below the pass mark 4
    assert reported.failing and not reported.passing and not reported.misleading


def test_without_a_pass_mark_walks_are_not_told_apart_and_nothing_is_called_misleading():
    scenario, _ = parse_scenario("scenarios/test-check.md", misleading_check())
    lib = build_library([], [scenario])
    found = maps_of(None, [lib.versions_of("test-check")])["test-check-general"]
    assert not found.tells_pass_from_fail and found.flags == ()


def test_a_node_never_reached_and_a_decision_with_no_way_out_are_flagged():
    # built straight from the parse: the checker would refuse this file, a draft may not be checked
    text = (
        misleading_check()
        + "\n## Lost {#lost}\nObjective: verify-identity\n\nNobody comes here.\n\n### Loop -> lost\n\nAgain.\n\n### Again -> lost\n\nAgain.\n"
    )
    scenario, _ = parse_scenario("scenarios/test-check.md", text)
    found = branch_map(scenario, 4)
    kinds = {(f.kind, f.node) for f in found.flags}
    assert ("unreachable", "lost") in kinds and ("dead-end", "lost") not in kinds  # dead ends: reached ones only
    assert not found.walked  # a parse alone has no walks: endings are not told apart
    assert not found.tells_pass_from_fail


HOSTILE = '<script>alert("x")</script> & "quotes" \x01'


def test_the_drawing_is_well_formed_svg_with_every_label_escaped():
    text = misleading_check().replace("## The phone rings {#call}", f"## {HOSTILE} {{#call}}", 1)
    text = text.replace("### Ask for two identifiers -> verify", f"### Ask {HOSTILE} -> verify", 1)
    found = _map(text)
    svg = to_svg(found)
    root = ET.fromstring(svg)  # raises on anything not well-formed
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    assert "<script" not in svg and "&lt;script&gt;" in svg
    texts = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "MISLEADING" in texts and "CRITICAL" in texts and "START" in texts
    titles = " ".join(t.text or "" for t in root.iter(f"{SVG}title"))
    assert '<script>alert("x")</script>' in titles  # the full label, as text
    assert "2 misleading endings flagged" in root.find(f"{SVG}desc").text
    assert 'id="' not in svg  # no ids: the drawing may appear twice on a page


# --- the pages ---------------------------------------------------------------------------------


def test_the_module_page_shows_each_versions_map_with_every_decision_and_ending(app):
    lib = app.extensions["content_store"].library
    page = signed_in_as(app, "trainer").get("/author/modules/test-callers").text
    assert page.count('class="branch-map"') == len(lib.versions_of("test-check"))
    for scenario in lib.versions_of("test-check"):
        key = f"test-check-{scenario.specialty or 'general'}"
        section = page.split(f'id="{key}-map"')[1].split("</section>")[0]
        lists = page_text(section.split('class="branch-list"', 1)[1])
        for node in scenario.nodes.values():
            assert node.title in lists, node.id
            if node.is_ending:
                assert f"“{node.outcome}”" in lists
            for choice in node.choices:
                assert choice.label in lists
        assert section.count("<svg") == 2  # the drawing, and the same folded for a phone
    assert "“Unverified disclosure” reads as a success" not in page


@pytest.fixture
def misleading_app(tmp_path, monkeypatch):
    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    (content / "scenarios" / "test-check.md").write_text(misleading_check(), encoding="utf-8")
    assert load_library(content).errors == []  # the premise: the crafted check is served
    app = make_app(f"sqlite:///{tmp_path / 'a.sqlite3'}", tmp_path, monkeypatch, CONTENT_DIR=str(content))
    yield app
    close_app(app)


def test_the_module_page_flags_a_misleading_ending(misleading_app):
    page = signed_in_as(misleading_app, "trainer").get("/author/modules/test-callers").text
    section = page.split('id="test-check-general-map"')[1].split("</section>")[0]
    text = page_text(section)
    assert f"Misleading ending. “{MISLEADING_OUTCOME}” reads as a success" in text
    assert "⚠ Misleading: reads as a success, but a failing walk ends here" in text


def test_the_try_page_maps_a_tried_check_and_flags_its_misleading_ending(app):
    client = signed_in_as(app, "trainer")
    token = csrf_token(client.get("/author/try").text)
    response = client.post("/author/try", data={"csrf_token": token, "text": misleading_check()})
    assert response.status_code == 200
    section = response.text.split('id="test-check-general-map"')[1].split("</section>")[0]
    assert f"Misleading ending. “{MISLEADING_OUTCOME}” reads as a success" in page_text(section)
    assert "reach the pass mark 4" in page_text(section)  # told apart with the module's pass mark

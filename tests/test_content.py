"""Tests for quiz.content: parsing, validation, scoring, sanitizing, loading and the live store."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from quiz import content
from quiz.content import (
    ContentError,
    ContentStore,
    Library,
    Module,
    Scenario,
    ScoreRange,
    StoredContentError,
    load_library,
    parse_stored,
    render_markdown,
    summary_line,
)
from quiz.content import library as library_module
from quiz.content.parse import parse_module, parse_scenario, slugify
from quiz.content.walks import TooComplex, score_range

FIXTURES = Path(__file__).parent / "content_fixtures" / "content"

MODULE = """\
---
id: m1
title: Module one
roles: [front-desk]
minutes: 3
objectives:
  obj-a: Do A.
cites: [45 CFR 164.530(b)]
policy:
  name: Privacy policy
  version: "1"
pass_score: 2
scenarios: [s1]
acknowledgement: I agree.
---

## Screen one

Text.
"""

SCENARIO = """\
---
id: s1
title: Scenario one
---

## Start {#start}
Objective: obj-a

Situation.

### Good -> good-end
Points: 2

Fine.

### Bad -> bad-end
Points: 0

Not fine.

## Good end {#good-end}
Ending: Safe

## Bad end {#bad-end}
Ending: Unsafe
"""


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line containing ``needle`` (keeps expected lines exact)."""
    hits = [i for i, line in enumerate(text.split("\n"), 1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> Library:
    """Write ``files`` (relative to content/) under tmp_path, chdir there, load the library."""
    monkeypatch.chdir(tmp_path)
    for rel, text in files.items():
        path = tmp_path / "content" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return load_library(Path("content"))


def only_error(library: Library) -> ContentError:
    assert len(library.errors) == 1, [str(e) for e in library.errors]
    return library.errors[0]


def assert_error(library: Library, path: str, line: int, fragment: str) -> None:
    err = only_error(library)
    assert (err.path, err.line) == (path, line), str(err)
    assert fragment in err.message, str(err)


def scenario_errors(text: str) -> list[ContentError]:
    found, errors = parse_scenario("s.md", text)
    assert found is None
    return errors


def module_errors(text: str) -> list[ContentError]:
    found, errors = parse_module("m.md", text)
    assert found is None
    return errors


def one(errors: list[ContentError]) -> ContentError:
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


# ------------------------------------------------------------------------- round trip


def test_fixture_library_loads_cleanly() -> None:
    lib = load_library(FIXTURES)
    assert lib.errors == []
    assert set(lib.modules) == {"front-desk-callers"}
    assert set(lib.scenarios["front-desk-caller"]) == {None, "dental"}


def test_module_round_trip() -> None:
    text = (FIXTURES / "modules" / "front-desk-callers.md").read_text(encoding="utf-8")
    module, errors = parse_module("m.md", text)
    assert errors == [] and isinstance(module, Module)
    assert module.id == "front-desk-callers"
    assert module.roles == ("front-desk",)
    assert module.specialties == ()
    assert module.minutes == 4
    assert list(module.objectives) == ["verify-identity", "minimum-necessary"]
    assert module.cites == ("45 CFR 164.514(h)", "45 CFR 164.502(b)")
    assert (module.policy_name, module.policy_version) == ("Verification of Identity and Authority", "2.1")
    assert module.pass_score == 4
    assert module.scenario_ids == ("front-desk-caller",)
    assert module.acknowledgement.startswith("I have completed this training")
    # Untitled intro screen, two titled screens; "# Title" and manager notes are not screens.
    assert [s.title for s in module.screens] == ["", "Why callers are a risk", "Three checks before you share"]
    assert module.screens[0].html == "<p>Callers often sound certain.</p>"
    assert "<em>phone</em>" in module.screens[1].html
    assert "## not a heading, just code" in module.screens[1].html  # fenced, not split
    assert "<ol>" in module.screens[2].html
    assert "team huddle" in module.manager_notes_html
    assert all("huddle" not in s.html for s in module.screens)
    assert module.version == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert module.source == text and module.path == "m.md"


def test_manager_notes_heading_is_case_insensitive() -> None:
    module, errors = parse_module("m.md", MODULE + "\n## MANAGER NOTES\n\nSecret.\n")
    assert errors == [] and module is not None
    assert [s.title for s in module.screens] == ["Screen one"]
    assert "Secret." in module.manager_notes_html


def test_scenario_round_trip_and_defaults() -> None:
    text = (FIXTURES / "scenarios" / "front-desk-caller.md").read_text(encoding="utf-8")
    scenario, errors = parse_scenario("s.md", text)
    assert errors == [] and isinstance(scenario, Scenario)
    assert scenario.start == "the-call" and scenario.specialty is None
    assert scenario.cites == ("45 CFR 164.514(h)",)
    assert list(scenario.nodes) == ["the-call", "the-chart-has-a-note", "faxed", "told-too-much", "protected"]
    call = scenario.start_node
    assert call.title == "The phone rings" and call.objective == "verify-identity" and not call.is_ending
    assert call.line == line_of(text, "{#the-call}")
    assert "Mr Okafor" in call.body_html and "Objective" not in call.body_html
    first, second, third = call.choices
    assert (first.number, first.target, first.points, first.correct, first.critical) == (
        1,
        "told-too-much",
        0,
        False,
        False,
    )
    assert first.label == "Read her the appointment time, since she knows his name and birthday"
    assert (second.target, second.points, second.correct) == ("the-chart-has-a-note", 2, True)
    assert (third.target, third.critical, third.correct) == ("faxed", True, False)  # "→" arrow
    assert third.line == line_of(text, "### Fax his visit summary")
    assert "cannot take back" in third.feedback_html and "Critical" not in third.feedback_html
    chart = scenario.nodes["the-chart-has-a-note"]  # id from the title; lowercase setting name
    assert chart.objective == "minimum-necessary"
    assert chart.choices[0].correct is True  # default: points > 0
    assert (chart.choices[1].points, chart.choices[1].correct) == (-1, False)
    assert scenario.nodes["faxed"].outcome == "Unverified disclosure; an incident to report"
    assert scenario.scores is None  # parse alone does not score


def test_start_defaults_to_first_node_and_slugify() -> None:
    scenario, errors = parse_scenario("s.md", SCENARIO.replace("## Start {#start}", "## What now, Sam?"))
    assert errors == [] and scenario is not None
    assert scenario.start == "what-now-sam"
    assert slugify("Records went -- out!") == "records-went-out"


def test_heading_inside_fenced_code_is_not_a_node() -> None:
    text = SCENARIO.replace("Situation.", "Situation.\n\n```\n## Not a node {#x}\n### Not a choice -> y\n```")
    scenario, errors = parse_scenario("s.md", text)
    assert errors == [] and scenario is not None
    assert list(scenario.nodes) == ["start", "good-end", "bad-end"]
    assert len(scenario.nodes["start"].choices) == 2
    assert "Not a node" in scenario.nodes["start"].body_html


def test_crlf_text_parses_and_version_hashes_exact_bytes() -> None:
    text = SCENARIO.replace("\n", "\r\n")
    scenario, errors = parse_scenario("s.md", text)
    assert errors == [] and scenario is not None
    assert scenario.version == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert scenario.nodes["start"].line == 6


# ------------------------------------------------------------------ front matter errors


def test_missing_front_matter() -> None:
    err = one(scenario_errors("# Just a title\n"))
    assert (err.path, err.line) == ("s.md", 1) and "missing front matter" in err.message


def test_unclosed_front_matter() -> None:
    err = one(module_errors("---\nid: m1\n\n## Screen\n"))
    assert err.line == 1 and "closing" in err.message


@pytest.mark.parametrize(
    "old, new, at, message",
    [
        (
            "title: Module one",
            "title: Module: one",
            "title: Module: one",
            'a colon followed by a space inside a value ends it: put the whole title in double quotes: `title: "Module: one"`',
        ),
        (
            "title: Module one",
            'title: "She said "no""',
            "title: ",
            "`title` starts with a quote mark, so it ends at the next one and the rest of the line cannot be read: "
            """put the whole title in single quotes: `title: 'She said "no"'`""",
        ),
        (
            "title: Module one",
            'title: "No" means no',
            "title: ",
            "`title` starts with a quote mark, so it ends at the next one and the rest of the line cannot be read: "
            """put the whole title in single quotes: `title: '"No" means no'`""",
        ),
        (
            "title: Module one",
            "title: 'It's one'",
            "title: ",
            "`title` starts with a quote mark, so it ends at the next one and the rest of the line cannot be read: "
            """put the whole title in double quotes: `title: "It's one"`""",
        ),
        (
            "title: Module one",
            'title: "Module one',
            "title: ",
            '`title` starts with a quote mark that is not closed on this line: end it with ", or put the whole title in '
            'double quotes: `title: "Module one"`',
        ),
        ("  obj-a: Do A.", "\tobj-a: Do A.", "obj-a", "YAML does not allow tabs for indentation: use spaces"),
        (
            '  version: "1"',
            '   version: "1"',
            "version",
            "`version` is indented under `name`, which already has a value on its own line: line it up with `name`",
        ),
        (
            "  name: Privacy policy",
            "   name: Privacy policy",
            'version: "1"',
            "`version` is indented 2 spaces, but `name` above it is indented 3: what is at one level must start in the "
            "same column; line them up",
        ),
        (
            "cites: [45 CFR 164.530(b)]",
            "cites:\n  - 45 CFR 164.530(b)\n - 45 CFR 164.502(b)",
            "- 45 CFR 164.502(b)",
            "the list item is indented 1 space, but the list item above it is indented 2: what is at one level must start "
            "in the same column; line them up",
        ),
        (
            "minutes: 3",
            " minutes: 3",
            "minutes",
            "`minutes` is indented under `roles`, which already has a value on its own line: line it up with `roles`",
        ),
        ("id: m1", " id: m1", "id: m1", "the fields start at the beginning of the line: remove the spaces before `id`"),
        ("title: Module one", "title:Module one", "title:", "put a space after the colon: `title: Module one`"),
        (
            "roles: [front-desk]",
            "roles: [front-desk",
            "roles:",
            "`[` starts a list, which must end with `]` on the same line: close it, or, if this is text, put the whole "
            'roles in double quotes: `roles: "[front-desk"`',
        ),
        (
            "title: Module one",
            "title: @home",
            "title:",
            'a value cannot start with `@`: put the whole title in double quotes: `title: "@home"`',
        ),
    ],
)
def test_yaml_slips_are_explained_at_their_line_with_the_fix(old: str, new: str, at: str, message: str) -> None:
    text = MODULE.replace(old, new, 1)
    assert text != MODULE  # the premise
    err = one(module_errors(text))
    assert (err.line, err.message) == (line_of(text, at), message)


def test_yaml_that_no_rule_explains_gets_yaml_s_words_reworded() -> None:
    text = MODULE.replace("cites: [45 CFR 164.530(b)]", "cites:\n  - 45 CFR 164.530(b)\n  more: text")
    err = one(module_errors(text))
    assert err.line == line_of(text, "more: text")
    assert err.message == (
        "the front matter cannot be read from here (YAML says: did not find expected '-' indicator): check the "
        "quotes, colons and indentation of this line and the one above"
    )


def test_curricula_yaml_slips_are_explained_at_their_line() -> None:
    from quiz.content.frontmatter import read_yaml_document

    _, errors = read_yaml_document("curricula.yml", "roles:\n  front-desk:\n\tonboarding: [m1]\n")
    assert [str(e) for e in errors] == ["curricula.yml:3: YAML does not allow tabs for indentation: use spaces"]


def test_unknown_field_reports_its_line() -> None:
    text = MODULE.replace("minutes: 3", "minutes: 3\nminuets: 4")
    err = one(module_errors(text))
    assert err.line == line_of(text, "minuets") and "unknown field `minuets`" in err.message
    assert "did you mean `minutes`" in err.message


def test_ill_typed_field_reports_its_line() -> None:
    text = MODULE.replace("minutes: 3", "minutes: four")
    err = one(module_errors(text))
    assert err.line == line_of(text, "minutes: four") and "`minutes` must be a whole number" in err.message


def test_unquoted_policy_version_reports_nested_line() -> None:
    text = MODULE.replace('version: "1"', "version: 2.1")
    err = one(module_errors(text))
    assert err.line == line_of(text, "version: 2.1") and "quote it" in err.message


def test_missing_required_field() -> None:
    text = MODULE.replace("acknowledgement: I agree.\n", "")
    err = one(module_errors(text))
    assert err.line == 1 and "missing required field `acknowledgement`" in err.message


def test_duplicate_front_matter_key() -> None:
    text = MODULE.replace("minutes: 3", "minutes: 3\nminutes: 5")
    err = one(module_errors(text))
    assert err.line == line_of(text, "minutes: 5") and "twice" in err.message


def test_unknown_role_reports_item_line() -> None:
    text = MODULE.replace("roles: [front-desk]", "roles:\n  - front-desk\n  - janitor")
    err = one(module_errors(text))
    assert err.line == line_of(text, "- janitor") and "unknown job role `janitor`" in err.message


def test_unknown_specialty_in_module_and_scenario() -> None:
    text = MODULE.replace("minutes: 3", "specialties: [dentistry]\nminutes: 3")
    err = one(module_errors(text))
    assert err.line == line_of(text, "dentistry") and "unknown specialty" in err.message
    text = SCENARIO.replace("title: Scenario one", "title: Scenario one\nspecialty: podiatry")
    err = one(scenario_errors(text))
    assert err.line == line_of(text, "podiatry") and "unknown specialty `podiatry`" in err.message


def test_kind_topics_and_states_parse_and_default() -> None:
    module, errors = parse_module("m.md", MODULE)
    assert errors == [] and (module.kind, module.topics, module.states) == ("onboarding", (), ())
    text = MODULE.replace(
        "minutes: 3", "minutes: 3\nkind: refresher\ntopics: [phi-basics, sanctions]\nstates: [TX, CA]"
    )
    module, errors = parse_module("m.md", text)
    assert errors == [] and module.kind == "refresher"
    assert module.topics == ("phi-basics", "sanctions") and module.states == ("TX", "CA")


def test_unknown_kind_topic_and_state_report_their_lines() -> None:
    text = MODULE.replace("minutes: 3", "minutes: 3\nkind: annual\ntopics:\n  - phi-basics\n  - gossip\nstates: [XX]")
    errors = module_errors(text)
    found = {(e.line, e.message.split(";")[0]) for e in errors}
    assert (line_of(text, "kind: annual"), "`kind` must be one of: onboarding, refresher") in found
    assert (line_of(text, "- gossip"), "unknown topic `gossip`") in found
    assert (line_of(text, "XX"), "unknown state (two-letter code) `XX`") in found


# ------------------------------------------------------------------------ body errors


def test_points_must_be_integer() -> None:
    text = SCENARIO.replace("Points: 2", "Points: two")
    err = one(scenario_errors(text))
    assert err.line == line_of(text, "Points: two") and "whole number" in err.message


def test_yes_no_values() -> None:
    text = SCENARIO.replace("Points: 0", "Points: 0\nCorrect: maybe")
    err = one(scenario_errors(text))
    assert err.line == line_of(text, "Correct: maybe") and "must be yes, partly or no" in err.message
    ok, errors = parse_scenario("s.md", SCENARIO.replace("Points: 0", "Points: 0\nCORRECT: True\nCritical: NO"))
    assert errors == [] and ok is not None and ok.nodes["start"].choices[1].correct is True


def test_choice_without_arrow() -> None:
    text = SCENARIO.replace("### Bad -> bad-end", "### Bad")
    err = one(scenario_errors(text))
    assert err.line == line_of(text, "### Bad") and "-> node-id" in err.message


def test_duplicate_node_id() -> None:
    text = SCENARIO.replace("## Bad end {#bad-end}", "## Bad end {#good-end}")
    err = one(scenario_errors(text))
    assert err.line == line_of(text, "## Bad end") and "already used at line" in err.message


def test_text_before_first_node() -> None:
    text = SCENARIO.replace("## Start {#start}", "# Title\n\nIntro nobody sees.\n\n## Start {#start}")
    err = one(scenario_errors(text))
    assert err.line == line_of(text, "Intro nobody sees") and "never shown" in err.message


def test_setting_in_the_wrong_place() -> None:
    text = SCENARIO.replace("Objective: obj-a", "Objective: obj-a\nPoints: 3")
    err = one(scenario_errors(text))
    assert err.line == line_of(text, "Points: 3") and "belongs right under a choice" in err.message


# ------------------------------------------------------------------- validation errors


def test_valid_pair_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = load(tmp_path, monkeypatch, {"modules/m1.md": MODULE, "scenarios/s1.md": SCENARIO})
    assert lib.errors == []
    assert set(lib.modules) == {"m1"}
    assert lib.scenario_for("s1", None).scores == ScoreRange(0, 2, 2)
    assert lib.modules["m1"].path == "content/modules/m1.md"


def test_duplicate_module_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = load(
        tmp_path,
        monkeypatch,
        {
            "modules/a.md": MODULE,
            "modules/b.md": MODULE.replace("title: Module one", "title: Copy"),
            "scenarios/s1.md": SCENARIO,
        },
    )
    assert_error(lib, "content/modules/b.md", 2, "already defined in content/modules/a.md")
    assert lib.modules["m1"].title == "Module one"  # the first one keeps serving


def test_duplicate_scenario_id_and_specialty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = load(
        tmp_path,
        monkeypatch,
        {
            "modules/m1.md": MODULE,
            "scenarios/a.md": SCENARIO,
            "scenarios/b.md": SCENARIO + "\n",
        },
    )
    assert_error(lib, "content/scenarios/b.md", 2, "scenario `s1` is already defined in content/scenarios/a.md")
    assert "m1" in lib.modules


def test_variant_without_general_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    variant = SCENARIO.replace("title: Scenario one", "specialty: dental\ntitle: Scenario one")
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.dental.md": variant})
    assert_error(lib, "content/scenarios/s1.dental.md", 3, "has no general version")
    assert lib.scenarios == {}


def test_module_naming_missing_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = MODULE.replace("scenarios: [s1]", "scenarios:\n  - s1\n  - s2")
    lib = load(tmp_path, monkeypatch, {"modules/m1.md": text, "scenarios/s1.md": SCENARIO})
    assert_error(lib, "content/modules/m1.md", line_of(text, "- s2"), "scenario `s2` does not exist")
    assert lib.modules == {} and "s1" in lib.scenarios


def test_choice_to_missing_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SCENARIO.replace("### Bad -> bad-end", "### Bad -> nowhere")
    text = text.replace("## Bad end {#bad-end}\nEnding: Unsafe\n", "")
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    assert_error(lib, "content/scenarios/s1.md", line_of(text, "-> nowhere"), "node `nowhere`, which does not exist")


def test_missing_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SCENARIO.replace("title: Scenario one", "title: Scenario one\nstart: begin")
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    assert_error(lib, "content/scenarios/s1.md", line_of(text, "start: begin"), "start node `begin` does not exist")


def test_unreachable_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SCENARIO + "\n## Orphan {#orphan}\nEnding: Never\n"
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    assert_error(lib, "content/scenarios/s1.md", line_of(text, "## Orphan"), "no walk from the start reaches")


def test_decision_point_with_one_choice() -> None:
    text = SCENARIO.replace("### Bad -> bad-end\nPoints: 0\n", "Also bad\n")
    scenario, errors = parse_scenario("s.md", text)
    assert errors == [] and scenario is not None
    errs = content.validate.check_scenario(scenario)
    messages = [(e.line, e.message) for e in errs]
    assert (6, "a decision point needs at least two choices") in messages
    assert any(line == line_of(text, "## Bad end") and "no walk" in msg for line, msg in messages)


def test_non_ending_without_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SCENARIO.replace("Ending: Unsafe", "Nothing happens.")
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    assert_error(lib, "content/scenarios/s1.md", line_of(text, "## Bad end"), "no choices and is not an ending")


def test_ending_with_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SCENARIO.replace("Ending: Unsafe", "Ending: Unsafe\n\n### Retry -> start\n\n### Stop -> good-end")
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    assert_error(lib, "content/scenarios/s1.md", line_of(text, "## Bad end"), "an ending cannot have choices")


def test_loop_with_no_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SCENARIO.replace("### Bad -> bad-end", "### Bad -> spin") + (
        "\n## Spin {#spin}\nObjective: obj-a\n\n### Again -> spin\n\n### Back -> spin-two\n"
        "\n## Spin two {#spin-two}\nObjective: obj-a\n\n### Round -> spin\n\n### And round -> spin-two\n"
    )
    text = text.replace("## Bad end {#bad-end}\nEnding: Unsafe\n", "")
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    found = [(e.path, e.line, e.message) for e in lib.errors]
    assert found == [
        (
            "content/scenarios/s1.md",
            line_of(text, "## Spin {#spin}"),
            "no way out to an ending from here: every path loops back",
        ),
        (
            "content/scenarios/s1.md",
            line_of(text, "## Spin two"),
            "no way out to an ending from here: every path loops back",
        ),
    ]


def test_decision_point_without_objective(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SCENARIO.replace("Objective: obj-a\n", "")
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    assert_error(lib, "content/scenarios/s1.md", 6, "needs an `Objective:` line")


def test_objective_not_declared_by_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = MODULE.replace("id: m1", "id: m2").replace("obj-a: Do A.", "obj-b: Do B.")
    lib = load(tmp_path, monkeypatch, {"modules/m1.md": MODULE, "modules/m2.md": other, "scenarios/s1.md": SCENARIO})
    assert_error(lib, "content/scenarios/s1.md", line_of(SCENARIO, "## Start"), "not declared by module `m2`")
    assert set(lib.modules) == {"m1"}  # the module that declares it still serves
    assert "content/modules/m2.md" in only_error(lib).message


def test_critical_choice_marked_correct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SCENARIO.replace("Points: 0", "Points: 0\nCorrect: yes\nCritical: yes")
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    assert_error(lib, "content/scenarios/s1.md", line_of(text, "### Bad"), "critical choice cannot also be correct")


def test_critical_choice_correct_by_default_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SCENARIO.replace("Points: 2", "Points: 2\nCritical: yes")
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    assert_error(lib, "content/scenarios/s1.md", line_of(text, "### Good"), "add `Correct: no`")


def test_pass_score_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = MODULE.replace("pass_score: 2", "pass_score: 3")
    lib = load(tmp_path, monkeypatch, {"modules/m1.md": text, "scenarios/s1.md": SCENARIO})
    assert_error(lib, "content/modules/m1.md", line_of(text, "pass_score"), "best safe total is 2")
    assert lib.modules == {}


def test_pass_score_needing_critical_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = SCENARIO.replace("Points: 0", "Points: 5\nCorrect: no\nCritical: yes")
    lib = load(
        tmp_path,
        monkeypatch,
        {
            "modules/m1.md": MODULE.replace("pass_score: 2", "pass_score: 5"),
            "scenarios/s1.md": scenario,
        },
    )
    assert only_error(lib).line == line_of(MODULE, "pass_score")
    assert lib.scenario_for("s1", None).scores == ScoreRange(2, 5, 2)


def test_pass_score_checked_against_hardest_variant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    variant = SCENARIO.replace("title: Scenario one", "specialty: dental\ntitle: Scenario one").replace(
        "Points: 2", "Points: 1"
    )
    lib = load(
        tmp_path,
        monkeypatch,
        {
            "modules/m1.md": MODULE,
            "scenarios/s1.md": SCENARIO,
            "scenarios/s1.dental.md": variant,
        },
    )
    assert_error(lib, "content/modules/m1.md", line_of(MODULE, "pass_score"), "s1[dental] 1")


# ---------------------------------------------------------------------------- scoring


LOOP = """\
---
id: loop
title: Loop
---

## Ask {#ask}
Objective: obj-a

### Guess -> ask
Points: -1

### Check -> check
Points: 3

## Check {#check}
Objective: obj-a

### Go back and ask again -> ask
Points: 4

### Share safely -> safe
Points: 1

### Fax it -> fax
Points: 10
Correct: no
Critical: yes

Records went to a number nobody checked.

## Safe {#safe}
Ending: Safe

## Fax {#fax}
Ending: Faxed
"""


def test_score_range_loop_revisits_do_not_score() -> None:
    scenario, errors = parse_scenario("loop.md", LOOP)
    assert errors == [] and scenario is not None
    scores = score_range(scenario)
    # Highest: Check (3) then Fax (10) = 13; the "go back" loop may add its 4 once, but then the
    # learner is back at an answered point and scores nothing more: 3 + 4 = 7 (safe), 3 + 10.
    # Lowest: Guess (-1) loops back to ask; answering it again scores 0; Share (1) at check: 0.
    assert scores == ScoreRange(lowest=0, highest=13, highest_safe=7)


def test_score_range_every_walk_critical() -> None:
    text = SCENARIO.replace("Points: 2", "Points: 2\nCorrect: no\nCritical: yes").replace(
        "Points: 0", "Points: 0\nCritical: yes"
    )
    scenario, errors = parse_scenario("s.md", text)
    assert errors == [] and scenario is not None
    assert score_range(scenario) == ScoreRange(0, 2, None)


def test_score_range_budget_caps_work(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every decision point links to every other: the number of answered sets explodes.
    size = 14
    parts = ["---\nid: web\ntitle: Web\n---\n"]
    for i in range(size):
        parts.append(f"## N{i} {{#n{i}}}\nObjective: obj-a\n")
        for j in range(size):
            if j != i:
                parts.append(f"### To {j} -> n{j}\nPoints: {j}\n")
        parts.append("### Stop -> end\n")
    parts.append("## End {#end}\nEnding: Done\n")
    scenario, errors = parse_scenario("web.md", "\n".join(parts))
    assert errors == [] and scenario is not None
    with pytest.raises(TooComplex):
        score_range(scenario, budget=2_000)
    monkeypatch.setattr(content.walks, "WORK_BUDGET", 2_000)
    analyzed, problems = content.validate.analyze_scenario(scenario)
    assert analyzed is None and "too many nodes or loops" in one(problems).message
    assert problems[0].line == scenario.start_node.line


def test_score_range_small_scenarios_are_fast_and_exact() -> None:
    scenario, _ = parse_scenario("s.md", SCENARIO)
    assert scenario is not None
    assert score_range(scenario) == ScoreRange(0, 2, 2)


# --------------------------------------------------------------------------- rendering


def test_sanitizer_strips_dangerous_html() -> None:
    html = render_markdown(
        "Hi <script>alert(1)</script>\n\n"
        '<a href="https://example.org" onclick="steal()" style="color:red">ok</a>\n\n'
        "[bad](javascript:alert(1)) [mail](mailto:privacy@example.org)\n\n"
        '<iframe src="https://evil.example"></iframe>\n\n**bold**'
    )
    assert "<script" not in html and "alert(1)" not in html
    assert "onclick" not in html and "style=" not in html
    assert "javascript:" not in html and "<iframe" not in html
    assert '<a href="https://example.org" rel="noopener noreferrer">ok</a>' in html
    assert 'href="mailto:privacy@example.org"' in html
    assert "<strong>bold</strong>" in html


def test_markdown_tables_render() -> None:
    html = render_markdown("| a | b |\n|:--|---|\n| 1 | 2 |")
    assert "<table>" in html and "<td>1</td>" in html and "style" not in html


# ------------------------------------------------- what would not reach learners as written


@pytest.mark.parametrize(
    "line, message",
    [
        ("A diagram: ![the callback flow](callback.png)", "images are not shown"),
        ("A diagram: ![the callback flow][flow]", "images are not shown"),
        ("A diagram: ![the callback flow] [flow]", "images are not shown"),
        ("See [](https://www.hhs.gov/hipaa/) for more.", "a link needs words"),
        ("See [ ](https://www.hhs.gov/hipaa/) for more.", "a link needs words"),
        ("Call <u>this</u> number.", "HTML <u> is not shown"),
        ('<div class="box">Boxed text</div>', "HTML <div> is not shown"),
        ("Hi <script>alert(1)</script>", "HTML <script> is not shown"),
    ],
)
def test_markdown_that_would_vanish_or_not_be_read_out_is_an_error_at_its_line(
    line: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = MODULE.replace("Text.\n", f"Text.\n\n{line}\n")
    _, errors = parse_module("m.md", text)
    err = one(errors)  # one error for <u>...</u>, not one per tag
    assert err.line == line_of(text, line) and message in err.message, str(err)
    lib = load(tmp_path, monkeypatch, {"modules/m1.md": text, "scenarios/s1.md": SCENARIO})
    assert_error(lib, "content/modules/m1.md", err.line, message)
    assert lib.modules == {}  # not served until fixed


def test_a_stored_version_with_such_text_still_opens_for_those_who_took_it() -> None:
    """It was served under the rules of its day, and evidence names it."""
    text = MODULE.replace("Text.\n", "Text.\n\nCall <u>this</u> number.\n")
    module = parse_stored("module", "content/modules/m1.md", text)
    assert "Call this number." in module.screens[0].html


def test_the_same_in_a_scenario_node_and_in_a_choice_s_feedback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = SCENARIO.replace("Situation.", "Situation. ![a fax machine](fax.jpg)").replace("Fine.", "Fine, see [](#).")
    _, errors = parse_scenario("s.md", text)
    assert [(e.line, e.message.split(":")[0].split(" (")[0]) for e in errors] == [
        (line_of(text, "Situation."), "images are not shown on the page"),
        (line_of(text, "Fine, see"), "a link needs words that say where it goes"),
    ]
    lib = load(tmp_path, monkeypatch, {"modules/m1.md": MODULE, "scenarios/s1.md": text})
    assert lib.scenarios == {} and lib.modules == {}  # the module's check is not served either
    assert [e.path for e in lib.errors].count("content/modules/m1.md") == 1


def test_code_autolinks_and_allowed_html_are_fine() -> None:
    body = (
        "Text with `<div>` and `![x](y.png)` in code, a <br> break, <https://www.hhs.gov/> and\n"
        "<privacy@example.org> autolinks, a < b, [a link](https://example.org), [x][ref] and [ ] (a box).\n\n"
        "```html\n<div>![x](y.png)</div>\n[](z)\n```\n\n"
        "| a | b |\n|---|---|\n| <strong>1</strong> | 2 |\n"
    )
    module, errors = parse_module("m.md", MODULE.replace("Text.\n", body))
    assert errors == [] and module is not None
    html = module.screens[0].html
    assert "&lt;div&gt;" in html and "<br>" in html and "<strong>1</strong>" in html


@pytest.mark.parametrize(
    "line, scheme",
    [
        ("Call [the desk](tel:+15555550100).", "tel"),
        ("[Run it](javascript:alert(1))", "javascript"),
        ("[Run it](JavaScript:alert(1))", "JavaScript"),
        ("[Run it]( javascript:alert(1))", "javascript"),
        ("[Run it](javascript&#58;alert(1))", "javascript"),
        ("[The policy](file:///S:/Policies/verify.docx)", "file"),
        ("[The policy](C:/Policies/verify.docx)", "C"),
        ("[A picture](data:text/html,hello)", "data"),
        ("[Old files](ftp://files.example.org/)", "ftp"),
        ("[Text us](sms:+15555550100)", "sms"),
        ("[The [nested] desk](tel:+15555550100)", "tel"),
        ("[The desk](<tel:+15555550100>)", "tel"),
        ("See [the desk][desk].\n\n[desk]: tel:+15555550100", "tel"),
        ('See [the desk][desk].\n\n[desk]: <tel:+15555550100> "The desk"', "tel"),
        ("Call <tel:+15555550100> now.", "tel"),
        ("Press <javascript:alert(1)> now.", "javascript"),
        ("Get <ftp://files.example.org/> now.", "ftp"),
        ('<a href="tel:+15555550100">Call</a>', "tel"),
    ],
)
def test_a_link_the_page_would_strip_is_an_error_naming_its_kind(line: str, scheme: str) -> None:
    html = render_markdown(line)
    assert "href" not in html  # the premise: the sanitizer drops the target (or all of it)
    text = MODULE.replace("Text.\n", f"Text.\n\n{line}\n")
    _, errors = parse_module("m.md", text)
    err = one(errors)
    at = next(n for n in line.split("\n") if scheme + ":" in n or "&#58;" in n)
    assert err.line == line_of(text, at)
    assert err.message.startswith(
        f"a `{scheme}:` link would be removed from the page (only http:, https: and mailto: links are kept): "
    )


@pytest.mark.parametrize(
    "line",
    [
        "[HHS](https://www.hhs.gov/hipaa/)",
        "[HHS](HTTP://www.hhs.gov/)",
        "<https://www.hhs.gov/>",
        "[Write to us](mailto:privacy@example.org)",
        "<privacy@example.org>",
        "<mailto:privacy@example.org>",
        "[Below](#steps)",
        "[The form](/forms/release)",
        "[Next](next-page)",
        "`[x](tel:+15555550100)`",
        "\\[x](tel:+15555550100)",
        "[x] (tel:+15555550100)",
    ],
)
def test_links_the_page_keeps_are_fine(line: str) -> None:
    module, errors = parse_module("m.md", MODULE.replace("Text.\n", f"Text.\n\n{line}\n"))
    assert errors == [] and module is not None


def test_a_critical_choice_needs_feedback() -> None:
    text = SCENARIO.replace(
        "### Bad -> bad-end\nPoints: 0\n\nNot fine.\n", "### Bad -> bad-end\nPoints: 0\nCritical: yes\n\n"
    )
    err = one(parse_scenario("s.md", text)[1])
    assert err.line == line_of(text, "Critical: yes")
    assert err.message.startswith("a critical choice needs feedback: ")
    with_feedback = text.replace("Critical: yes\n\n", "Critical: yes\n\nThat sent records to a stranger.\n")
    assert parse_scenario("s.md", with_feedback)[1] == []


def test_a_setting_written_below_text_is_an_error_at_its_line() -> None:
    text = SCENARIO.replace(
        "### Good -> good-end\nPoints: 2\n\nFine.\n", "### Good -> good-end\nFine.\n\nPoints: 2\ncorrect: Yes\n"
    )
    _, errors = parse_scenario("s.md", text)
    assert [(e.line, e.message) for e in errors] == [
        (
            line_of(text, "Points: 2"),
            "`Points:` comes after text, so learners would see it and it does nothing: move it "
            "right under the `###` heading of the choice",
        ),
        (
            line_of(text, "correct: Yes"),
            "`correct:` comes after text, so learners would see it and it does nothing: move it "
            "right under the `###` heading of the choice",
        ),
    ]
    node = SCENARIO.replace("Situation.\n", "Situation.\nEnding: Too late\nPoints: 3\n")
    assert [(e.line, e.message) for e in parse_scenario("s.md", node)[1]] == [
        (
            line_of(node, "Ending: Too late"),
            "`Ending:` comes after text, so learners would see it and it does nothing: "
            "move it right under the `##` heading of the node",
        ),
        (
            line_of(node, "Points: 3"),
            "`Points:` belongs right under a choice (### heading); here it comes after text, "
            "so learners would see it and it does nothing",
        ),
    ]


def test_such_slips_keep_a_file_from_learners_but_not_a_version_they_already_took(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like an image (lint.py): the text is at fault, not the structure, and evidence names the
    version a learner took under the rules of its day."""
    text = SCENARIO.replace("### Good -> good-end\nPoints: 2\n\nFine.\n", "### Good -> good-end\nFine.\nPoints: 2\n")
    assert parse_stored("scenario", "content/scenarios/s1.md", text).nodes["start"].choices[0].points == 0
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": text})
    assert lib.scenarios == {} and [e.line for e in lib.errors] == [line_of(text, "Points: 2")]


def test_prose_and_code_that_look_a_little_like_settings_are_text() -> None:
    body = (
        "Fine.\n\nCorrect: you checked first.\nPoints: of view differ.\nObjective: Share less.\n\n"
        "```\nPoints: 2\nCritical: yes\n```\n"
    )
    scenario, errors = parse_scenario("s.md", SCENARIO.replace("Fine.\n", body))
    assert errors == [] and scenario is not None


# --------------------------------------------------------------------- library loading


def test_a_checks_versions_come_general_first_then_by_specialty() -> None:
    lib = load_library(FIXTURES)
    sid = next(sid for sid, variants in lib.scenarios.items() if len(variants) > 1)
    versions = lib.versions_of(sid)
    assert versions[0].specialty is None
    assert [v.specialty for v in versions[1:]] == sorted(v for v in lib.scenarios[sid] if v)
    assert lib.versions_of("no-such-check") == []


def test_variant_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    variant = SCENARIO.replace("title: Scenario one", "specialty: dental\ntitle: Dental one")
    lib = load(
        tmp_path,
        monkeypatch,
        {
            "modules/m1.md": MODULE,
            "scenarios/s1.md": SCENARIO,
            "scenarios/s1.dental.md": variant,
        },
    )
    assert lib.errors == []
    assert lib.scenario_for("s1", "dental").title == "Dental one"
    assert lib.scenario_for("s1", "pharmacy").title == "Scenario one"
    assert lib.scenario_for("s1", None).title == "Scenario one"
    assert lib.scenario_for("nope", None) is None


def test_broken_file_skipped_others_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other_module = MODULE.replace("id: m1", "id: m2").replace("scenarios: [s1]", "scenarios: [s2]")
    lib = load(
        tmp_path,
        monkeypatch,
        {
            "modules/m1.md": MODULE,
            "modules/m2.md": other_module,
            "scenarios/s1.md": SCENARIO,
            "scenarios/s2.md": SCENARIO.replace("id: s1", "id: s2").replace("Points: 2", "Points: lots"),
        },
    )
    assert set(lib.modules) == {"m1"} and set(lib.scenarios) == {"s1"}
    # The cause first, then what it stops, naming the file to fix.
    assert [str(e) for e in lib.errors] == [
        f"content/scenarios/s2.md:{line_of(SCENARIO, 'Points: 2')}: `Points:` must be a whole number, got `lots`",
        f"content/modules/m2.md:{line_of(other_module, 'scenarios:')}: scenario `s2` has errors, so this module "
        "cannot be served: fix content/scenarios/s2.md first",
    ]
    assert lib.errors[1].cause == "content/scenarios/s2.md"


def test_missing_content_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lib = load_library(Path("nothing-here"))
    assert [(e.path, e.line) for e in lib.errors] == [("nothing-here", 0)]


def test_non_utf8_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = load(tmp_path, monkeypatch, {"scenarios/s1.md": SCENARIO})
    (tmp_path / "content" / "scenarios" / "s1.md").write_bytes(b"---\nid: s1\ntitle: caf\xe9\n---\n")
    lib = load_library(Path("content"))
    assert_error(lib, "content/scenarios/s1.md", 3, "not UTF-8")


def test_extra_paths_kind_by_front_matter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load(tmp_path, monkeypatch, {"scenarios/s1.md": SCENARIO})
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "new-module.md").write_text(MODULE, encoding="utf-8")
    (tmp_path / "drafts" / "s3.md").write_text(SCENARIO.replace("id: s1", "id: s3"), encoding="utf-8")
    lib = load_library(Path("content"), [Path("drafts/new-module.md"), Path("drafts")])
    assert lib.errors == []
    assert set(lib.modules) == {"m1"} and set(lib.scenarios) == {"s1", "s3"}
    # Naming a file that is also under the root does not load it twice.
    again = load_library(Path("content"), [Path("content/scenarios/s1.md")])
    assert again.errors == [] and set(again.scenarios) == {"s1"}


def test_summary_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    variant = SCENARIO.replace("title: Scenario one", "specialty: dental\ntitle: D").replace("Points: 2", "Points: 3")
    lib = load(
        tmp_path,
        monkeypatch,
        {
            "modules/m1.md": MODULE,
            "scenarios/s1.md": SCENARIO,
            "scenarios/s1.dental.md": variant,
        },
    )
    # The module has no manager notes and the scenarios one decision each: below the standards.
    assert summary_line(lib) == "content has 6 standards not met: 1 module, 2 scenarios (s1 0..2, s1[dental] 0..3)"
    assert summary_line(lib, (0, 0)) == "content ok: 1 module, 2 scenarios (s1 0..2, s1[dental] 0..3)"


# ------------------------------------------------------------------ cache and storage


def test_parse_cache_returns_identical_object() -> None:
    text = SCENARIO.replace("Scenario one", "Cached scenario")
    first = parse_stored("scenario", "s.md", text)
    second = parse_stored("scenario", "s.md", text)
    assert first is second
    assert isinstance(first, Scenario) and first.scores == ScoreRange(0, 2, 2)
    moved = parse_stored("scenario", "elsewhere.md", text)
    assert moved.path == "elsewhere.md" and moved.nodes is first.nodes  # shared parse


def _record_calls(monkeypatch: pytest.MonkeyPatch, name: str, record) -> None:
    """Wrap ``library_module.<name>`` so each call first passes its arguments to ``record``."""
    real = getattr(library_module, name)

    def recorded(*args):  # type: ignore[no-untyped-def]
        record(*args)
        return real(*args)

    monkeypatch.setattr(library_module, name, recorded)


def test_parse_cache_does_not_parse_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    _record_calls(monkeypatch, "parse_module", lambda path, text: calls.append(path))
    text = MODULE.replace("Module one", "Counted module")
    library_module.parse_cached("module", "m.md", text)
    library_module.parse_cached("module", "m.md", text)
    assert calls == ["m.md"]


def test_parse_stored_raises_with_errors() -> None:
    with pytest.raises(StoredContentError) as info:
        parse_stored("module", "old.md", MODULE.replace("minutes: 3", "minutes: 0"))
    assert isinstance(info.value, ValueError)
    assert [(e.path, e.line) for e in info.value.errors] == [("old.md", line_of(MODULE, "minutes"))]
    with pytest.raises(ValueError):
        parse_stored("lesson", "x.md", MODULE)


# ----------------------------------------------------------------------- content store


def _bump(path: Path, text: str) -> None:
    """Rewrite a file and move its mtime forward, so the change is visible even on coarse clocks."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 5_000_000_000, before + 5_000_000_000))


def test_content_store_picks_up_edits_and_skips_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load(tmp_path, monkeypatch, {"modules/m1.md": MODULE, "scenarios/s1.md": SCENARIO})
    reads: list[str] = []
    _record_calls(monkeypatch, "_read_file", lambda path: reads.append(path.name))
    store = ContentStore(Path("content"), min_interval=0)
    first = store.library
    assert sorted(reads) == ["m1.md", "s1.md"] and first.errors == []
    module_before = first.modules["m1"]

    assert store.library is first  # nothing changed: same library, nothing re-read
    assert len(reads) == 2

    _bump(tmp_path / "content" / "scenarios" / "s1.md", SCENARIO.replace("Scenario one", "Edited"))
    second = store.library
    assert second.scenario_for("s1", None).title == "Edited"
    assert sorted(reads) == ["m1.md", "s1.md", "s1.md"]  # only the edited file was re-read
    assert second.modules["m1"] is module_before  # unchanged module not re-parsed


def test_content_store_respects_min_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load(tmp_path, monkeypatch, {"modules/m1.md": MODULE, "scenarios/s1.md": SCENARIO})
    store = ContentStore(Path("content"), min_interval=3600)
    _bump(tmp_path / "content" / "scenarios" / "s1.md", SCENARIO.replace("Scenario one", "Edited"))
    assert store.library.scenario_for("s1", None).title == "Scenario one"
    assert store.refresh(force=True).scenario_for("s1", None).title == "Edited"


def test_content_store_logs_each_error_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = SCENARIO.replace("id: s1", "id: s9").replace("Points: 2", "Points: x")
    load(tmp_path, monkeypatch, {"modules/m1.md": MODULE, "scenarios/s1.md": SCENARIO, "scenarios/s9.md": broken})
    with caplog.at_level(logging.ERROR, logger="quiz.content"):
        store = ContentStore(Path("content"), min_interval=0)
        _bump(tmp_path / "content" / "modules" / "m1.md", MODULE + "\nMore.\n")
        assert "m1" in store.library.modules  # rebuilt, and the good content still serves
    messages = [r.getMessage() for r in caplog.records if r.name == "quiz.content"]
    assert messages == [
        f"content/scenarios/s9.md:{line_of(SCENARIO, 'Points: 2')}: `Points:` must be a whole number, got `x`"
    ]


def test_content_store_keeps_serving_a_files_last_good_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file edited into errors (or caught half-written) keeps its last good version served,
    with its errors listed and one more saying so; fixed, the new text serves; deleted, it is
    withdrawn. A file broken from the start has nothing to keep."""
    from quiz.content.library import KEPT_NOTE

    load(tmp_path, monkeypatch, {"modules/m1.md": MODULE, "scenarios/s1.md": SCENARIO})
    store = ContentStore(Path("content"), min_interval=0)
    scenario = tmp_path / "content" / "scenarios" / "s1.md"
    _bump(scenario, SCENARIO[: len(SCENARIO) // 2])  # half of it
    served = store.library
    assert served.scenario_for("s1", None).title == "Scenario one" and "m1" in served.modules
    own = [e for e in served.errors if e.path == "content/scenarios/s1.md"]
    assert KEPT_NOTE in [e.message for e in own] and len(own) >= 2, own
    assert served.unserved_modules == {}

    _bump(scenario, SCENARIO.replace("Scenario one", "Edited"))
    assert store.library.scenario_for("s1", None).title == "Edited" and store.library.errors == []
    _bump(scenario, "---\nid: s1\n")  # broken again: the last good version is now "Edited"
    assert store.library.scenario_for("s1", None).title == "Edited"

    scenario.unlink()
    assert store.library.scenario_for("s1", None) is None and "m1" not in store.library.modules

    _bump(tmp_path / "content" / "modules" / "m1.md", MODULE.replace("pass_score:", "pass_score: x\nold:"))
    fresh = ContentStore(Path("content"), min_interval=0)  # broken since this process began
    assert "m1" not in fresh.library.modules
    assert KEPT_NOTE not in [e.message for e in fresh.library.errors]


def test_which_files_are_content(tmp_path: Path) -> None:
    """Markdown files at any depth, hidden ones and links to files included; links to
    directories not followed; anything else left out. The watcher's listing and a full load
    use this same rule."""
    modules = tmp_path / "content" / "modules"
    (modules / "sub").mkdir(parents=True)
    (tmp_path / "elsewhere" / "deep").mkdir(parents=True)
    for name in ("a.md", "sub/b.md", ".hidden.md", "upper.MD", "notes.txt"):
        (modules / name).write_text("x", encoding="utf-8")
    (tmp_path / "elsewhere" / "c.md").write_text("x", encoding="utf-8")
    (tmp_path / "elsewhere" / "deep" / "d.md").write_text("x", encoding="utf-8")
    (modules / "dir.md").mkdir()
    (modules / "linkdir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (modules / "linkfile.md").symlink_to(tmp_path / "elsewhere" / "c.md")
    (modules / "broken.md").symlink_to(tmp_path / "nowhere.md")
    (tmp_path / "content" / "scenarios").mkdir()
    (tmp_path / "content" / "scenarios" / "s.md").write_text("xy", encoding="utf-8")

    expected = [".hidden.md", "a.md", "linkfile.md", "sub/b.md"]
    assert [p.relative_to(modules).as_posix() for p in library_module._markdown_files(modules)] == expected
    listed = library_module._listing(tmp_path / "content")
    assert {
        Path(p).relative_to(tmp_path / "content").as_posix(): (size, kind) for p, (_, size, kind) in listed.items()
    } == {
        **{f"modules/{name}": (1, "module") for name in expected},
        "scenarios/s.md": (2, "scenario"),
    }
    assert library_module._listing(tmp_path / "missing") == {}


def _wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_watching_store_checks_on_its_own_thread_never_the_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's requests only read the library; the watcher thread finds edits."""
    load(tmp_path, monkeypatch, {"modules/m1.md": MODULE, "scenarios/s1.md": SCENARIO})
    checked_on: list[str] = []
    _record_calls(monkeypatch, "_listing", lambda root, *strays: checked_on.append(threading.current_thread().name))
    store = ContentStore(Path("content"), min_interval=0.05, watch=True)
    try:
        assert checked_on == ["MainThread"]  # the first load, before any request
        assert store.library.scenario_for("s1", None).title == "Scenario one"
        _bump(tmp_path / "content" / "scenarios" / "s1.md", SCENARIO.replace("Scenario one", "Edited"))
        assert _wait_for(lambda: store.library.scenario_for("s1", None).title == "Edited")
        assert checked_on[0] == "MainThread" and len(checked_on) > 1
        assert set(checked_on[1:]) == {"content-watcher"}
    finally:
        store.close()
    assert not store._watcher.is_alive()


def test_watcher_survives_a_failed_check_and_restarts_when_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A check that raises is logged and the last library keeps serving; a watcher that is not
    running (a process forked after the app was built has none) is started on the next read."""
    load(tmp_path, monkeypatch, {"modules/m1.md": MODULE, "scenarios/s1.md": SCENARIO})
    store = ContentStore(Path("content"), min_interval=0.05, watch=True)
    real_listing = library_module._listing
    failures = []

    def failing_once(root: Path, *strays):
        if not failures:
            failures.append(root)
            raise OSError("disk went away")
        return real_listing(root, *strays)

    monkeypatch.setattr(library_module, "_listing", failing_once)
    watcher = None
    try:
        with caplog.at_level(logging.ERROR, logger="quiz.content"):
            first = store.library
            assert _wait_for(lambda: failures)
            assert store.library is first
            _bump(tmp_path / "content" / "scenarios" / "s1.md", SCENARIO.replace("Scenario one", "Edited"))
            assert _wait_for(lambda: store.library.scenario_for("s1", None).title == "Edited")
        assert any("checking content for changed content failed" in r.getMessage() for r in caplog.records)

        watcher = store._watcher
        store._watcher = threading.Thread(target=lambda: None)  # as after a fork: not alive
        _ = store.library
        assert store._watcher is not watcher and store._watcher.is_alive()
    finally:
        store.close()
        if watcher is not None:
            watcher.join(timeout=5)


def test_app_watches_content_unless_refresh_is_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from .helpers import make_app

    url = f"sqlite:///{tmp_path}/w.sqlite3"
    served = make_app(url, tmp_path, monkeypatch, CONTENT_REFRESH_SECONDS=2).extensions["content_store"]
    on_read = make_app(url, tmp_path, monkeypatch).extensions["content_store"]  # the tests' 0
    try:
        assert served.watch and not on_read.watch
    finally:
        served.close()


def _brute_force(scenario: Scenario) -> ScoreRange | None:
    """Every reachable (node, answered, score, safe) state; independent of the real search."""
    from collections import deque

    start = (scenario.start, frozenset(), 0, True)
    seen = {start}
    queue = deque([start])
    finals: list[tuple[int, bool]] = []
    while queue:
        node_id, answered, score, safe = queue.popleft()
        node = scenario.nodes[node_id]
        if node.is_ending:
            finals.append((score, safe))
            continue
        for choice in node.choices:
            first = node_id not in answered
            state = (
                choice.target,
                answered | {node_id},
                score + (choice.points if first else 0),
                safe and not choice.critical,
            )
            if state not in seen:
                seen.add(state)
                queue.append(state)
    if not finals:
        return None
    safe_scores = [s for s, ok in finals if ok]
    return ScoreRange(min(s for s, _ in finals), max(s for s, _ in finals), max(safe_scores) if safe_scores else None)


def test_score_range_matches_brute_force_on_random_graphs() -> None:
    import random

    from quiz.content import Choice, Node

    rng = random.Random(20240601)
    compared = 0
    for _ in range(400):
        decisions = [f"d{i}" for i in range(rng.randint(1, 6))]
        endings = [f"e{i}" for i in range(rng.randint(1, 2))]
        targets = decisions + endings
        nodes: dict[str, Node] = {}
        for i, node_id in enumerate(decisions):
            choices = tuple(
                Choice(n + 1, f"c{n}", rng.choice(targets), rng.randint(-2, 3), False, rng.random() < 0.2, "", 0)
                for n in range(rng.randint(1, 3))
            )
            nodes[node_id] = Node(node_id, node_id, "", "obj-a", None, choices, i)
        for node_id in endings:
            nodes[node_id] = Node(node_id, node_id, "", None, "End", (), 0)
        scenario = Scenario("r", "R", None, "d0", nodes, (), "r.md", "", "")
        expected = _brute_force(scenario)
        assert score_range(scenario) == expected, nodes
        compared += expected is not None
    assert compared > 100  # most random graphs do reach an ending


def test_revisitable_decisions_are_those_on_a_loop_of_choices() -> None:
    """Only these can be answered twice in one walk (the engine asks about earlier answers for
    these alone). In the test call: the phone rings -> read it out -> say nothing -> rings."""
    lib = load_library(Path(__file__).parent / "data" / "content")
    scenario = lib.scenario_for("test-check", None)
    assert scenario.revisitable == {"call", "told"}
    assert {"verify", "overshare"} <= {n.id for n in scenario.nodes.values() if not n.is_ending}
    looped = parse_scenario(
        "s.md",
        "---\nid: s\ntitle: S\nstart: a\n---\n# S\n\n## A {#a}\nObjective: o\n\nText.\n\n"
        "### Stay -> a\nPoints: 0\n\nAgain.\n\n### Go -> end\nPoints: 1\n\nOut.\n\n"
        "## End {#end}\nEnding: Done\n\nDone.\n",
    )[0]
    assert looped is not None and looped.revisitable == {"a"}  # a choice back to itself


def test_every_job_role_and_specialty_has_a_label_people_read():
    from quiz.content import JOB_ROLES, LABELS, SPECIALTIES, label

    assert set(JOB_ROLES) | set(SPECIALTIES) <= set(LABELS)
    assert label("front-desk") == "Front desk" and label("it") == "IT"
    assert label("behavioral-health") == "Behavioral health"
    assert label("not-a-code") == "not-a-code" and label(None) == ""


def test_a_role_reads_with_its_specialty_only_when_that_adds_something():
    from quiz.content import role_label

    assert role_label("front-desk", "dental") == "Front desk (Dental)"
    assert role_label("front-desk", None) == "Front desk"
    assert role_label("pharmacy", "pharmacy") == "Pharmacy"
    assert role_label("clinical", "behavioral-health", "{role}, {specialty}") == "Clinical, Behavioral health"


def test_trying_a_file_replaces_the_one_with_its_id_and_specialty_and_writes_nothing() -> None:
    from quiz.content import try_file

    root = Path(__file__).parent / "data" / "content"
    before = {p: p.read_bytes() for p in root.rglob("*.md")}
    dental = (root / "scenarios" / "test-check.dental.md").read_text(encoding="utf-8")
    trial = try_file(root, "mine.md", dental)
    assert trial.kind == "scenario" and trial.replaces.endswith("scenarios/test-check.dental.md")
    assert not trial.errors and not trial.caused
    assert (
        trial.content is not None
        and trial.content.specialty == "dental"
        and trial.content.path == "mine.md (not saved)"
    )
    assert {s.specialty for s in trial.library.versions_of("test-check")} == {None, "dental"}  # the general one kept
    # The same check with no specialty takes the general version's place instead.
    general = try_file(root, "g.md", (root / "scenarios" / "test-check.md").read_text(encoding="utf-8"))
    assert general.replaces.endswith("scenarios/test-check.md")
    # A module with a new id is a new module, beside the others.
    module = (
        (root / "modules" / "test-callers.md").read_text(encoding="utf-8").replace("id: test-callers", "id: another", 1)
    )
    new = try_file(root, "another.md", module)
    assert new.replaces is None and set(new.library.modules) == {"test-callers", "test-refresher", "another"}
    # A new scenario that happens to share a module's file name is still a scenario.
    check = (
        (root / "scenarios" / "test-check.md").read_text(encoding="utf-8").replace("id: test-check", "id: new-check", 1)
    )
    clash = try_file(root, "test-callers.md", check)
    assert clash.kind == "scenario" and clash.replaces is None and not clash.errors
    assert {p: p.read_bytes() for p in root.rglob("*.md")} == before
    cache = library_module._cache
    assert not any(entry.path.endswith("(not saved)") for entry in cache.values())  # trials stay out of the cache

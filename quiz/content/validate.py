"""Checks that need the whole scenario graph or more than one file.

``analyze_scenario`` covers one scenario on its own (so a stored old version can be scored
without the rest of the library); ``build_library`` adds the cross-file rules and decides what
is left out. Whatever fails is dropped with its errors; everything else keeps serving.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable

from . import walks as walking
from .frontmatter import field_line
from .model import SPECIALTIES, ContentError, Library, Module, Scenario, error_order


def _label(scenario: Scenario) -> str:
    return f"{scenario.id}[{scenario.specialty}]" if scenario.specialty else scenario.id


def check_scenario(scenario: Scenario) -> list[ContentError]:
    """Graph rules for one scenario: targets, start, reachability, ways out, node shapes."""
    errors: list[ContentError] = []
    nodes = scenario.nodes

    def error(line: int, message: str) -> None:
        errors.append(ContentError(scenario.path, line, message))

    for node in nodes.values():
        if node.is_ending and node.choices:
            error(node.line, "an ending cannot have choices: remove the `Ending:` line or the `###` choices")
        elif not node.is_ending:
            if not node.choices:
                error(
                    node.line, "this node has no choices and is not an ending: add `###` choices or an `Ending:` line"
                )
            elif len(node.choices) < 2:
                error(node.line, "a decision point needs at least two choices")
            if node.objective is None and node.choices:
                error(node.line, "a decision point needs an `Objective:` line")
        for choice in node.choices:
            if choice.target not in nodes:
                error(choice.line, f"this choice leads to node `{choice.target}`, which does not exist")
            if choice.critical and choice.correct:
                why = "" if not choice.points > 0 else " (it has Points above 0, so add `Correct: no`)"
                error(choice.line, f"a critical choice cannot also be correct{why}")
            if choice.recoverable and choice.critical:
                error(choice.line, "a critical choice fails the attempt, so it cannot be `Recoverable: yes`")
            elif choice.recoverable and choice.correct:
                error(choice.line, "`Recoverable: yes` is for a choice marked incorrect; this one counts as correct")
    if scenario.start not in nodes:
        error(field_line(scenario.source, "start"), f"start node `{scenario.start}` does not exist")
        return sorted(errors, key=lambda e: e.line)

    reachable = _closure([scenario.start], lambda n: (c.target for c in nodes[n].choices if c.target in nodes))
    for node in nodes.values():
        if node.id not in reachable:
            error(node.line, "no walk from the start reaches this node")
    incoming: dict[str, list[str]] = {n: [] for n in nodes}
    for node in nodes.values():
        for choice in node.choices:
            if choice.target in nodes:
                incoming[choice.target].append(node.id)
    can_end = _closure([n.id for n in nodes.values() if n.is_ending], lambda n: incoming[n])
    for node_id in reachable - can_end:
        node = nodes[node_id]
        if node.choices:  # a node without choices already has its own error
            error(node.line, "no way out to an ending from here: every path loops back")
    return sorted(errors, key=lambda e: e.line)


def _closure(start: Iterable[str], step: Callable[[str], Iterable[str]]) -> set[str]:
    """Every id reachable from ``start`` by repeatedly applying ``step``."""
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in step(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def analyze_scenario(scenario: Scenario) -> tuple[Scenario | None, list[ContentError]]:
    """Check one scenario and fill in its score range; (None, errors) if it is unusable."""
    if scenario.scores is not None:
        return scenario, []
    errors = check_scenario(scenario)
    if errors:
        return None, errors
    try:
        walks = walking.walks_of(scenario)
    except walking.TooComplex:
        line = scenario.start_node.line
        return None, [
            ContentError(
                scenario.path,
                line,
                "too many nodes or loops to work out the score range; simplify the loops "
                "(fewer choices leading back to earlier nodes) or split the scenario",
            )
        ]
    scores = walking.range_of(walks)
    assert scores is not None  # check_scenario guarantees an ending is reachable
    return dataclasses.replace(scenario, scores=scores, walks=walks), []


def build_library(
    modules: Iterable[Module],
    scenarios: Iterable[Scenario],
    errors: Iterable[ContentError] = (),
    broken_scenarios: Iterable[tuple[str, str | None, str]] = (),
) -> Library:
    """Apply every cross-file rule and assemble what passes.

    ``errors`` are earlier (parse) errors to keep; ``broken_scenarios`` are the (id, specialty,
    path) of scenario files that did not parse, so a module naming one is told it "has errors"
    and which file to fix, not that it "does not exist". Errors come in ``error_order``, each
    once.
    """
    library = Library(errors=list(errors))
    failed = _add_scenarios(library, sorted(scenarios, key=lambda s: s.path), broken_scenarios)
    for module in sorted(modules, key=lambda m: m.path):
        _add_module(library, module, failed)
    library.errors = sorted(dict.fromkeys(library.errors), key=error_order)
    return library


def _add_scenarios(
    library: Library, scenarios: list[Scenario], broken: Iterable[tuple[str, str | None, str]]
) -> dict[str, str]:
    """Add the scenarios that pass. Return, for each id that has a file but is not served, the
    file to fix: the general version's if it has errors (no version is served without it)."""
    failed_general: dict[str, str] = {}
    failed_variant: dict[str, str] = {}
    for scenario_id, specialty, path in broken:
        (failed_variant if specialty else failed_general).setdefault(scenario_id, path)
    seen: dict[tuple[str, str | None], Scenario] = {}
    good: list[Scenario] = []
    for scenario in scenarios:
        key = (scenario.id, scenario.specialty)
        if key in seen:
            library.errors.append(
                ContentError(
                    scenario.path,
                    field_line(scenario.source, "id"),
                    f"scenario `{_label(scenario)}` is already defined in {seen[key].path}",
                )
            )
            continue
        seen[key] = scenario
        analyzed, problems = analyze_scenario(scenario)
        library.errors.extend(problems)
        if analyzed is not None:
            good.append(analyzed)
        else:
            (failed_variant if scenario.specialty else failed_general).setdefault(scenario.id, scenario.path)
    general = {s.id for s in good if s.specialty is None}
    for scenario in good:
        if scenario.specialty is not None and scenario.id not in general:
            line = field_line(scenario.source, "specialty")
            cause = failed_general.get(scenario.id)
            if cause is not None:
                library.errors.append(
                    ContentError(
                        scenario.path,
                        line,
                        f"variant of `{scenario.id}` cannot be served: its general version has errors; fix {cause} first",
                        cause=cause,
                    )
                )
            else:
                library.errors.append(
                    ContentError(
                        scenario.path,
                        line,
                        f"variant of `{scenario.id}` has no general version: add a file with `id: {scenario.id}` "
                        "and no `specialty` (every scenario needs one)",
                    )
                )
                failed_variant.setdefault(scenario.id, scenario.path)
            continue
        library.scenarios.setdefault(scenario.id, {})[scenario.specialty] = scenario
    failed = {**failed_variant, **failed_general}
    return {scenario_id: path for scenario_id, path in failed.items() if scenario_id not in library.scenarios}


def _add_module(library: Library, module: Module, failed: dict[str, str]) -> None:
    if module.id in library.modules:
        other = library.modules[module.id]
        library.errors.append(
            ContentError(
                module.path, field_line(module.source, "id"), f"module `{module.id}` is already defined in {other.path}"
            )
        )
        return
    problems: list[ContentError] = []
    for i, scenario_id in enumerate(module.scenario_ids):
        if scenario_id not in library.scenarios:
            line = field_line(module.source, "scenarios", i)
            cause = failed.get(scenario_id)
            if cause is None:
                problems.append(
                    ContentError(
                        module.path, line, f"scenario `{scenario_id}` does not exist, so this module cannot be served"
                    )
                )
            else:
                problems.append(
                    ContentError(
                        module.path,
                        line,
                        f"scenario `{scenario_id}` has errors, so this module cannot be served: fix {cause} first",
                        cause=cause,
                    )
                )
    if not problems:
        problems = _objective_errors(library, module) + _pass_score_errors(library, module)
    if not problems:
        problems = _scoring_errors(library, module)
    if problems:
        library.errors.extend(problems)
        return
    library.modules[module.id] = module


def _objective_errors(library: Library, module: Module) -> list[ContentError]:
    """Every decision point of every variant must name an objective this module declares."""
    errors: list[ContentError] = []
    for scenario_id in module.scenario_ids:
        for scenario in library.scenarios[scenario_id].values():
            for node in scenario.nodes.values():
                if not node.is_ending and node.objective not in module.objectives:
                    errors.append(
                        ContentError(
                            scenario.path,
                            node.line,
                            f"objective `{node.objective}` is not declared by module `{module.id}` "
                            f"({module.path}), which uses this scenario",
                        )
                    )
    return errors


def _pass_score_errors(library: Library, module: Module) -> list[ContentError]:
    """The pass mark must be reachable without a critical choice, in the hardest variant."""
    best = 0
    parts: list[str] = []
    for scenario_id in module.scenario_ids:
        variants = library.scenarios[scenario_id].values()
        hardest = min(variants, key=lambda s: _safe_or_floor(s))
        safe = hardest.scores.highest_safe if hardest.scores else None
        if safe is None:
            return [
                ContentError(
                    module.path,
                    field_line(module.source, "pass_score"),
                    f"`pass_score` cannot be reached: every walk through scenario `{_label(hardest)}` "
                    "takes a critical choice",
                )
            ]
        best += safe
        parts.append(f"{_label(hardest)} {safe}")
    if best < module.pass_score:
        return [
            ContentError(
                module.path,
                field_line(module.source, "pass_score"),
                f"`pass_score` {module.pass_score} cannot be reached without a critical choice: the best "
                f"safe total is {best} ({', '.join(parts)})",
            )
        ]
    return []


def _scoring_errors(library: Library, module: Module) -> list[ContentError]:
    """The scoring rules (walks.scoring_errors) for each set of versions a learner can get:
    the general versions, and each specialty's (its variant where there is one)."""
    errors: dict[ContentError, None] = {}
    seen: set[tuple[str, ...]] = set()
    specialties: tuple[str | None, ...] = module.specialties or (None,) + SPECIALTIES
    for specialty in specialties:
        checks = [library.scenario_for(sid, specialty) for sid in module.scenario_ids]
        versions = tuple(s.version for s in checks if s is not None)
        if versions in seen or len(versions) != len(checks):
            continue
        seen.add(versions)
        errors.update(dict.fromkeys(walking.scoring_errors(module, checks)))  # type: ignore[arg-type]
    return list(errors)


def _safe_or_floor(scenario: Scenario) -> float:
    scores = scenario.scores
    return float("-inf") if scores is None or scores.highest_safe is None else scores.highest_safe

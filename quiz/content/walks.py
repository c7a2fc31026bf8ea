"""Every walk through a scenario, summed up, and the scoring rules a module must keep.

A walk goes from the start to an ending. As the engine scores it, only the first answer at each
decision counts; a walk may loop back to a decision it has seen, answer it again for nothing, and
go on from there. A walk is summed up as a ``Walk``: its points, whether it took a critical
choice, what the scoring rules need to know about the choices it made, and the ending it reaches
(for the map of the branches, ``branch_map.py``). Walks with the same
summary are one, so a scenario has few summaries even when it has many walks.

The search runs over states (node, decisions already answered), as the score range once did:

* the answered set only grows when a *new* decision is answered, so the search over new
  answers is acyclic and can be memoised;
* moving between decisions already answered scores nothing and changes nothing but whether a
  critical choice was taken, so from there we only need the ways out (to an ending or to a
  decision not yet answered), found by a plain graph search.

The answered set is trimmed to the decisions still reachable; a work budget guards against the
rare graph whose number of states explodes (``TooComplex``).

``scoring_errors`` holds a module to three rules over the walks of its checks (docs/authoring.md,
"How scoring works"): no walk passes after a choice marked incorrect unless the author declared
it recoverable; every walk of correct (or partly correct) choices can pass; no passing walk
misses an objective at every decision that tests it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

from ..words import ngettext
from .frontmatter import field_line
from .model import Choice, ContentError, Module, Node, Scenario, ScoreRange

#: Maximum work (choices examined, summed over all states) before giving up on a scenario.
#: Ordinary scenarios need hundreds, a hub with "try again" links on every node tens of
#: thousands; the cap keeps a pathological file to about a second, once per version (cached).
WORK_BUDGET = 1_000_000


class TooComplex(Exception):
    """The scenario has too many distinct walks (or is too deep) to sum up within the budget."""


class Walk(NamedTuple):
    """One kind of walk from the start to an ending (walks alike in all of these are one)."""

    points: int  # first answers only
    critical: bool  # took a critical choice, at any visit
    wrong_line: int  # line of the first choice marked incorrect and not recoverable; 0: none
    all_correct: bool  # every first answer counts as correct, and nothing critical
    partly_line: int  # line of the first partly correct first answer; 0: none
    tested: frozenset[str]  # objectives of the decisions answered
    met: frozenset[str]  # objectives answered correctly at least once
    ending: str = ""  # the id of the ending the walk reaches (branch_map.py tells endings apart)


def _ended(ending: str) -> frozenset[Walk]:
    """The rest of a walk that has reached an ending: nothing more to score."""
    return frozenset({Walk(0, False, 0, True, 0, frozenset(), frozenset(), ending)})


def _after_first_answer(node: Node, choice: Choice, rest: Walk) -> Walk:
    """A walk that answers ``node`` for the first time with ``choice``, then goes on as ``rest``."""
    wrong = not choice.correct and not choice.recoverable
    objective = frozenset((node.objective,)) if node.objective else frozenset()
    return Walk(
        points=rest.points + choice.points,
        critical=rest.critical or choice.critical,
        wrong_line=choice.line if wrong else rest.wrong_line,
        all_correct=rest.all_correct and choice.correct and not choice.critical,
        partly_line=choice.line if choice.partly else rest.partly_line,
        tested=rest.tested | objective,
        met=rest.met | objective if choice.correct else rest.met,
        ending=rest.ending,
    )


def _after_revisit(critical: bool, rest: Walk) -> Walk:
    """A walk that roams decisions already answered (scoring nothing) before going on as ``rest``."""
    if not critical:
        return rest
    return rest._replace(critical=True, all_correct=False)


def _reachable_decisions(nodes: dict[str, Node], bit: dict[str, int]) -> dict[str, int]:
    """For every node, the decisions reachable from it (itself included), as a bit mask."""
    result: dict[str, int] = {}
    for start in nodes:
        seen = {start}
        queue = deque([start])
        while queue:
            for choice in nodes[queue.popleft()].choices:
                if choice.target in nodes and choice.target not in seen:
                    seen.add(choice.target)
                    queue.append(choice.target)
        result[start] = sum(bit.get(n, 0) for n in seen)
    return result


class _Search:
    """Answered sets are bit masks over the decisions (cheap to trim, hash and compare)."""

    def __init__(self, scenario: Scenario, budget: int) -> None:
        self.nodes = scenario.nodes
        decisions = [n for n, node in self.nodes.items() if not node.is_ending]
        self.bit = {n: 1 << i for i, n in enumerate(decisions)}
        self.reach = _reachable_decisions(self.nodes, self.bit)
        self.budget = budget
        self.fresh: dict[tuple[str, int], frozenset[Walk]] = {}
        self.revisit: dict[tuple[str, int], frozenset[Walk]] = {}

    def _spend(self, work: int) -> None:
        self.budget -= work
        if self.budget < 0:
            raise TooComplex

    def arrive(self, node_id: str, answered: int) -> frozenset[Walk]:
        """The rest of every walk that has just reached ``node_id``."""
        node = self.nodes.get(node_id)
        if node is None:
            return frozenset()
        if node.is_ending:
            return _ended(node_id)
        answered &= self.reach[node_id]
        if answered & self.bit[node_id]:
            return self.again(node_id, answered)
        return self.first(node_id, answered)

    def first(self, node_id: str, answered: int) -> frozenset[Walk]:
        """A decision answered for the first time: the choice counts."""
        key = (node_id, answered)
        if key in self.fresh:
            return self.fresh[key]
        node = self.nodes[node_id]
        now = answered | self.bit[node_id]
        walks: set[Walk] = set()
        for choice in node.choices:
            rest = self.arrive(choice.target, now)
            self._spend(len(rest) + 1)
            walks.update(_after_first_answer(node, choice, walk) for walk in rest)
        self.fresh[key] = result = frozenset(walks)
        return result

    def again(self, node_id: str, answered: int) -> frozenset[Walk]:
        """Back at an answered decision: roam answered ones for nothing, gather the ways out."""
        key = (node_id, answered)
        if key in self.revisit:
            return self.revisit[key]
        walks: set[Walk] = set()
        seen = {(node_id, False)}
        queue = deque(seen)
        while queue:
            current, critical = queue.popleft()
            choices = self.nodes[current].choices
            self._spend(len(choices) + 1)
            for choice in choices:
                took_critical = critical or choice.critical
                target = self.nodes.get(choice.target)
                if target is None:
                    continue
                if not target.is_ending and answered & self.bit[choice.target]:
                    state = (choice.target, took_critical)
                    if state not in seen:
                        seen.add(state)
                        queue.append(state)
                    continue
                rest = self.arrive(choice.target, answered)
                self._spend(len(rest))
                walks.update(_after_revisit(took_critical, walk) for walk in rest)
        self.revisit[key] = result = frozenset(walks)
        return result


def walks_of(scenario: Scenario, budget: int | None = None) -> frozenset[Walk]:
    """Every kind of walk from the start to an ending (empty if no ending can be reached).

    Raises TooComplex if more than ``budget`` (default WORK_BUDGET) units of work are needed.
    """
    if scenario.start not in scenario.nodes:
        return frozenset()
    try:
        return _Search(scenario, WORK_BUDGET if budget is None else budget).arrive(scenario.start, 0)
    except RecursionError as exc:  # depth grows with the number of decisions
        raise TooComplex from exc


def score_range(scenario: Scenario, budget: int | None = None) -> ScoreRange | None:
    """Lowest and highest score over all walks, and the highest without a critical choice;
    None if no ending is reachable. Raises TooComplex as ``walks_of`` does."""
    return range_of(walks_of(scenario, budget))


def range_of(walks: Iterable[Walk]) -> ScoreRange | None:
    """Lowest and highest score of these walks, and the highest without a critical choice."""
    walks = list(walks)
    if not walks:
        return None
    safe = [w.points for w in walks if not w.critical]
    return ScoreRange(
        lowest=min(w.points for w in walks),
        highest=max(w.points for w in walks),
        highest_safe=max(safe) if safe else None,
    )


# ------------------------------------------------------------------------- the module's rules


def _best(walks: Iterable[Walk]) -> int | None:
    return max((w.points for w in walks), default=None)


def scoring_errors(module: Module, checks: list[Scenario]) -> list[ContentError]:
    """The scoring rules, for a module whose checks (one version of each, as one learner gets
    them) are ``checks``. Each walk of one check is combined with the best safe walks of the
    others: the most generous the rest of the module can be."""
    errors: dict[tuple[str, int, str], ContentError] = {}

    def error(scenario: Scenario, line: int, message: str) -> None:
        errors.setdefault((scenario.path, line, message), ContentError(scenario.path, line, message))

    walks = [scenario.walks for scenario in checks]
    safe = [[w for w in these if not w.critical] for these in walks]
    best_safe = [_best(these) for these in safe]
    if any(b is None for b in best_safe):
        return []  # pass_score cannot be reached at all: that has its own error
    total_best = sum(b for b in best_safe if b is not None)
    mark = module.pass_score
    of_module = f"module `{module.id}` (pass mark {mark})"

    for i, scenario in enumerate(checks):
        others = total_best - (best_safe[i] or 0)
        # Rule 1: a walk through a choice marked incorrect cannot pass, unless declared recoverable.
        worst: dict[int, int] = {}
        for w in safe[i]:
            if w.wrong_line and w.points + others >= mark:
                worst[w.wrong_line] = max(worst.get(w.wrong_line, w.points), w.points)
        for line, points in sorted(worst.items()):
            error(
                scenario,
                line,
                (
                    f"this choice is marked incorrect, but a walk that takes it can still pass {of_module} "
                    + ngettext("with %(num)d point", "with %(num)d points", points + others)
                    + ": make it critical, take points off that walk, or add "
                    "`Recoverable: yes` if passing after it is right"
                ),
            )
        # Rule 3: no passing walk misses an objective at every decision that tests it (walks that
        # took a non-recoverable wrong choice are rule 1's).
        for objective in sorted({o for w in safe[i] for o in w.tested}):
            missed = [w.points for w in safe[i] if not w.wrong_line and objective in w.tested - w.met]
            if missed and max(missed) + others >= mark:
                node = next(n for n in scenario.nodes.values() if n.objective == objective)
                error(
                    scenario,
                    node.line,
                    (
                        f"objective `{objective}` can be missed at every decision that tests it on a walk "
                        f"that still passes {of_module} "
                        + ngettext("with %(num)d point", "with %(num)d points", max(missed) + others)
                        + ": make one of those choices worth less, or not recoverable"
                    ),
                )

    # Rule 2: every walk of correct (or partly correct) choices can pass.
    right = [[w for w in these if w.all_correct] for these in walks]
    for i, scenario in enumerate(checks):
        if not right[i]:
            error(
                scenario,
                scenario.start_node.line,
                (
                    "no walk through this check is made only of choices that count as correct: give the "
                    "decisions on the way to an ending a correct choice"
                ),
            )
    if not all(right):
        return list(errors.values())
    lowest = [min(w.points for w in these) for these in right]
    highest = [max(w.points for w in these) for these in right]
    if sum(lowest) >= mark:
        return list(errors.values())
    blamed = False
    for i, scenario in enumerate(checks):
        score = lowest[i] + sum(highest) - highest[i]
        if score >= mark:
            continue
        blamed = True
        weakest = min((w for w in right[i] if w.points == lowest[i]), key=lambda w: w.partly_line or 10**9)
        line = weakest.partly_line or scenario.start_node.line
        through = "through this choice " if weakest.partly_line else ""
        rest = " with the best of the other checks" if len(checks) > 1 else ""
        error(
            scenario,
            line,
            (
                f"a walk of only correct or partly correct choices {through}scores {score}{rest}, below the "
                f"pass mark {mark} of module `{module.id}`: give those choices more points, or lower `pass_score`"
            ),
        )
    if not blamed:
        line = field_line(module.source, "pass_score")
        message = (
            f"a walk of only correct or partly correct choices through every check scores "
            f"{sum(lowest)}, below `pass_score` {mark}: give those choices more points, or lower it"
        )
        errors.setdefault((module.path, line, message), ContentError(module.path, line, message))
    return list(errors.values())


# ------------------------------------------------------------------------------ guessing


def _guess_outcomes(scenario: Scenario, steps: int = 500) -> dict[tuple[int, bool], float]:
    """How a learner who picks uniformly at random at every decision ends one check:
    probability of each (points, took a critical choice). Worked out step by step over
    (node, decisions answered, points, critical); what is still walking after ``steps``
    choices (only a check that loops can keep anyone that long) is counted as passing
    with every point, so the chance is never understated."""
    nodes = scenario.nodes
    walking: dict[tuple[str, frozenset[str], int, bool], float] = {(scenario.start, frozenset(), 0, False): 1.0}
    ended: dict[tuple[int, bool], float] = {}
    for _ in range(steps):
        if not walking:
            return ended
        after: dict[tuple[str, frozenset[str], int, bool], float] = {}
        for (node_id, answered, points, critical), chance in walking.items():
            node = nodes[node_id]
            if node.is_ending:
                ended[(points, critical)] = ended.get((points, critical), 0.0) + chance
                continue
            first = node_id not in answered
            share = chance / len(node.choices)
            for choice in node.choices:
                state = (
                    choice.target,
                    answered | {node_id},
                    points + (choice.points if first else 0),
                    critical or choice.critical,
                )
                after[state] = after.get(state, 0.0) + share
        walking = after
    best = scenario.scores.highest if scenario.scores else 0
    left = sum(walking.values())
    ended[(best, False)] = ended.get((best, False), 0.0) + left
    return ended


def guess_chance(checks: list[Scenario], pass_score: int) -> float:
    """The chance that a learner who picks at random at every decision passes a module with
    these checks (one version of each): what any fixed way of picking without reading earns,
    since each attempt shuffles its choices (engine.choices_in_order)."""
    totals: dict[int, float] = {0: 1.0}  # points so far -> chance, walks without a critical choice
    for scenario in checks:
        outcomes = _guess_outcomes(scenario)
        combined: dict[int, float] = {}
        for so_far, chance in totals.items():
            for (points, critical), p in outcomes.items():
                if not critical:
                    combined[so_far + points] = combined.get(so_far + points, 0.0) + chance * p
        totals = combined
    return sum(chance for points, chance in totals.items() if points >= pass_score)


def guessing(module: Module, checks: list[list[Scenario]]) -> list[tuple[str | None, float]]:
    """(specialty or None for the general versions, chance of passing by guessing) for each set
    of versions a learner can get; ``checks`` is each check's versions (Library.checks_of)."""
    specialties = [None, *sorted({s.specialty for versions in checks for s in versions if s.specialty})]
    found: list[tuple[str | None, float]] = []
    seen: set[tuple[str, ...]] = set()
    for specialty in specialties:
        chosen = [
            next((s for s in versions if s.specialty == specialty), None)
            or next((s for s in versions if s.specialty is None), None)
            for versions in checks
        ]
        if any(s is None for s in chosen):
            continue
        key = tuple(s.version for s in chosen if s is not None)
        if key not in seen:
            seen.add(key)
            found.append((specialty, guess_chance([s for s in chosen if s is not None], module.pass_score)))
    return found

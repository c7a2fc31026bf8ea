"""Lowest and highest score a scenario allows, under the "only the first answer counts" rule.

A walk may loop back to a node it has seen; the learner answers again but scores nothing. The
score of a walk therefore depends on which decision points were already answered, so the search
runs over states (node, answered set). Two facts keep it small and correct:

* the answered set only grows when a *new* decision point is answered, so the search over new
  answers is acyclic and can be memoised;
* moving between already-answered points scores 0, so from such a point we only need the set of
  ways out (to an ending or to a point not yet answered), found by a plain graph search.

The answered set is also trimmed to the points still reachable from the current node; points
that can never come up again do not change the outcome. A work budget guards against the rare
graph whose number of states explodes.
"""

from __future__ import annotations

from collections import deque

from .model import Node, Scenario, ScoreRange

#: (lowest, highest, highest without a critical choice or None); None overall: no ending reachable.
_Range = tuple[int, int, int | None]

#: Maximum work (choices examined, summed over all states) before giving up on a scenario.
#: Ordinary scenarios need hundreds, a hub with "try again" links on every node tens of
#: thousands; the cap keeps a pathological file to about a second, once per version (cached).
WORK_BUDGET = 1_000_000


class TooComplex(Exception):
    """The scenario has too many distinct walks (or is too deep) to score within the budget."""


def _combine(a: _Range | None, b: _Range | None) -> _Range | None:
    if a is None:
        return b
    if b is None:
        return a
    safe = [x for x in (a[2], b[2]) if x is not None]
    return min(a[0], b[0]), max(a[1], b[1]), max(safe) if safe else None


def _shift(r: _Range, points: int, safe: bool) -> _Range:
    return r[0] + points, r[1] + points, r[2] + points if safe and r[2] is not None else None


def _reachable_decisions(nodes: dict[str, Node], bit: dict[str, int]) -> dict[str, int]:
    """For every node, the decision points reachable from it (itself included), as a bit mask."""
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
    """Answered sets are bit masks over the decision points (cheap to trim, hash and compare)."""

    def __init__(self, scenario: Scenario, budget: int) -> None:
        self.nodes = scenario.nodes
        decisions = [n for n, node in self.nodes.items() if not node.is_ending]
        self.bit = {n: 1 << i for i, n in enumerate(decisions)}
        self.reach = _reachable_decisions(self.nodes, self.bit)
        self.budget = budget
        self.fresh: dict[tuple[str, int], _Range | None] = {}
        self.revisit: dict[tuple[str, int], _Range | None] = {}

    def _spend(self, work: int) -> None:
        self.budget -= work
        if self.budget < 0:
            raise TooComplex

    def arrive(self, node_id: str, answered: int) -> _Range | None:
        """Range of the rest of a walk that has just reached ``node_id``."""
        node = self.nodes.get(node_id)
        if node is None:
            return None
        if node.is_ending:
            return 0, 0, 0
        answered &= self.reach[node_id]
        if answered & self.bit[node_id]:
            return self.again(node_id, answered)
        return self.first(node_id, answered)

    def first(self, node_id: str, answered: int) -> _Range | None:
        """A decision point answered for the first time: the choice's points count."""
        key = (node_id, answered)
        if key in self.fresh:
            return self.fresh[key]
        choices = self.nodes[node_id].choices
        self._spend(len(choices) + 1)
        result: _Range | None = None
        now = answered | self.bit[node_id]
        for choice in choices:
            rest = self.arrive(choice.target, now)
            if rest is not None:
                result = _combine(result, _shift(rest, choice.points, not choice.critical))
        self.fresh[key] = result
        return result

    def again(self, node_id: str, answered: int) -> _Range | None:
        """Back at an answered point: roam answered points for free, combine the ways out."""
        key = (node_id, answered)
        if key in self.revisit:
            return self.revisit[key]
        result: _Range | None = None
        seen = {(node_id, True)}
        queue = deque(seen)
        while queue:
            current, safe = queue.popleft()
            choices = self.nodes[current].choices
            self._spend(len(choices) + 1)
            for choice in choices:
                still_safe = safe and not choice.critical
                target = self.nodes.get(choice.target)
                if target is None:
                    continue
                if not target.is_ending and answered & self.bit[choice.target]:
                    state = (choice.target, still_safe)
                    if state not in seen:
                        seen.add(state)
                        queue.append(state)
                    continue
                rest = self.arrive(choice.target, answered)
                if rest is not None:
                    result = _combine(result, _shift(rest, 0, still_safe))
        self.revisit[key] = result
        return result


def score_range(scenario: Scenario, budget: int | None = None) -> ScoreRange | None:
    """Score range over all walks from the start to an ending; None if no ending is reachable.

    Raises TooComplex if more than ``budget`` (default WORK_BUDGET) units of work are needed.
    """
    if scenario.start not in scenario.nodes:
        return None
    try:
        found = _Search(scenario, WORK_BUDGET if budget is None else budget).arrive(scenario.start, 0)
    except RecursionError as exc:  # depth grows with the number of decision points
        raise TooComplex from exc
    if found is None:
        return None
    return ScoreRange(lowest=found[0], highest=found[1], highest_safe=found[2])

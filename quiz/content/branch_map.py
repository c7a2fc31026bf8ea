"""A map of a scenario's branches: what trainers see of a check at a glance.

``branch_map(scenario, pass_score, others)`` builds the map of one version of a check from what
is already known about it: its nodes and choices, and its walks (``walks.py``, worked out when
the scenario was checked; for a file on the Try page, in the bounded child process). Nothing
here walks the graph beyond a breadth-first pass over the nodes, so a map costs no more than the
file's size.

The map holds:

* decisions, each with the objective it tests and its depth (fewest choices from the start);
* choices, with their points, whether they count as correct (yes, partly, no), and whether
  they are critical;
* endings, each with the kinds of walk that reach it: passing, failing, or both. A walk passes
  when it takes no critical choice and its points, with the rest of the module at its best
  (``others``), reach the pass mark; without a pass mark (a check no module uses yet) walks are
  not told apart;
* flags: an ending that a failing walk reaches but that reads as a success (``reads_as_success``);
  a node no walk from the start reaches; a decision from which no ending can be reached.

"Reads as a success" is decided from the ending's outcome (its ``Ending:`` line, the phrase the
learner reads as the result) and nothing else, by plain word lists a trainer can check: it names
a good result (``SUCCESS_WORDS``: "protected", "safe", "kept", "right", ...; words that only say
what was done, such as "reported", are not enough) and no shortfall
(``SHORTFALL_WORDS``: "but", "not", "late", "missed", ... or a word starting with "un", as in
"unreported"). Files carry no other signal: endings are not marked success or failure, and
docs/authoring.md asks for endings that tell what happened, not a verdict.

``to_svg`` draws a map as plain SVG text (layered by depth, no script, every label escaped);
the web layer renders the same map as a nested list for phones and screen readers.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from html import escape

from ..words import ngettext
from .model import Module, Scenario

#: Words that name a good result in an ending's outcome.
SUCCESS_WORDS = frozenset(
    {
        "protected",
        "safe",
        "safely",
        "secure",
        "secured",
        "kept",
        "contained",
        "respected",
        "private",
        "intact",
        "success",
        "successful",
        "succeeded",
        "correct",
        "right",
        "good",
        "great",
        "passed",
        "resolved",
    }
)

#: Words that say a result fell short; an outcome with one of them (or a word starting with
#: "un", such as "unreported") does not read as a plain success.
SHORTFALL_WORDS = frozenset(
    {
        "but",
        "not",
        "no",
        "nobody",
        "nothing",
        "never",
        "without",
        "late",
        "later",
        "missed",
        "failed",
        "fail",
        "leaked",
        "exposed",
        "lost",
        "stolen",
        "wrong",
        "delayed",
        "waited",
        "slowed",
        "guessed",
        "posted",
        "retaliation",
        "hanging",
        "stuck",
        "spread",
        "tolerated",
        "hide",
        "too",
        "strained",
    }
)
#: Words starting with "un" that are not a shortfall.
_UN_WORDS = frozenset({"under", "until", "unit", "united", "unique", "universal", "union"})

_WORD = re.compile(r"[a-z]+")


def reads_as_success(outcome: str | None) -> bool:
    """Whether an ending's outcome names a good result and no shortfall (see the module doc)."""
    words = _WORD.findall((outcome or "").lower().replace("\u2019", "'"))
    if not any(w in SUCCESS_WORDS for w in words):
        return False
    return not any(w in SHORTFALL_WORDS or (w.startswith("un") and w not in _UN_WORDS) for w in words)


@dataclass(frozen=True)
class MapChoice:
    number: int
    label: str
    target: str
    points: int
    correct: str  # "yes", "partly" or "no"
    critical: bool
    recoverable: bool


@dataclass(frozen=True)
class MapNode:
    """A decision (``choices``, ``objective``) or an ending (``outcome``)."""

    id: str
    title: str
    depth: int | None  # fewest choices from the start; None: not reached from the start
    objective: str | None = None
    objective_text: str | None = None
    choices: tuple[MapChoice, ...] = ()
    outcome: str | None = None
    #: Endings: reached by a passing walk / by a failing walk (False when not told apart).
    passing: bool = False
    failing: bool = False
    #: Endings: points of the walks that reach it, lowest and highest; None when none does.
    points: tuple[int, int] | None = None
    #: Endings: some failing walk that reaches it took a critical choice.
    failing_critical: bool = False
    success_words: bool = False
    can_end: bool = True  # some ending can be reached from here

    @property
    def is_ending(self) -> bool:
        return self.outcome is not None

    @property
    def misleading(self) -> bool:
        """A failing walk ends here, and the ending reads as a success."""
        return self.is_ending and self.failing and self.success_words


@dataclass(frozen=True)
class Flag:
    kind: str  # "misleading-ending", "unreachable", "dead-end"
    node: str
    message: str


@dataclass(frozen=True)
class BranchMap:
    scenario_id: str
    specialty: str | None
    version: str
    title: str
    start: str
    pass_score: int | None  # None: walks are not told apart (no module uses the check)
    others: int  # the most the rest of the module's checks add
    walked: bool  # the walks were known (the scenario was checked)
    decisions: tuple[MapNode, ...]  # by depth, then as written
    endings: tuple[MapNode, ...]
    flags: tuple[Flag, ...] = field(default=())

    @property
    def tells_pass_from_fail(self) -> bool:
        return self.walked and self.pass_score is not None

    @property
    def key(self) -> str:
        return f"{self.scenario_id}-{self.specialty or 'general'}"

    def node(self, node_id: str) -> MapNode | None:
        return next((n for n in (*self.decisions, *self.endings) if n.id == node_id), None)


def _depths(scenario: Scenario) -> dict[str, int]:
    depth = {scenario.start: 0} if scenario.start in scenario.nodes else {}
    queue = deque(depth)
    while queue:
        node_id = queue.popleft()
        for choice in scenario.nodes[node_id].choices:
            if choice.target in scenario.nodes and choice.target not in depth:
                depth[choice.target] = depth[node_id] + 1
                queue.append(choice.target)
    return depth


def _can_end(scenario: Scenario) -> set[str]:
    incoming: dict[str, list[str]] = {n: [] for n in scenario.nodes}
    for node in scenario.nodes.values():
        for choice in node.choices:
            if choice.target in incoming:
                incoming[choice.target].append(node.id)
    seen = {n for n, node in scenario.nodes.items() if node.is_ending}
    queue = deque(seen)
    while queue:
        for before in incoming[queue.popleft()]:
            if before not in seen:
                seen.add(before)
                queue.append(before)
    return seen


def branch_map(
    scenario: Scenario,
    pass_score: int | None,
    others: int = 0,
    objectives: dict[str, str] | None = None,
) -> BranchMap:
    """The map of one version of a check. ``pass_score``: the module's pass mark (None when no
    module uses the check); ``others``: the most the module's other checks add (``others_best``);
    ``objectives``: the module's objectives by key, for their text. Uses ``scenario.walks``
    (filled in when the scenario was checked) and never walks the graph itself."""
    depth = _depths(scenario)
    can_end = _can_end(scenario)
    walked = bool(scenario.walks)
    order = {node_id: i for i, node_id in enumerate(scenario.nodes)}
    decisions: list[MapNode] = []
    endings: list[MapNode] = []
    flags: list[Flag] = []
    for node_id, node in scenario.nodes.items():
        if node.is_ending:
            reaching = [w for w in scenario.walks if w.ending == node_id]
            passing = failing = critical = False
            if pass_score is not None:
                for w in reaching:
                    if not w.critical and w.points + others >= pass_score:
                        passing = True
                    else:
                        failing = True
                        critical = critical or w.critical
            endings.append(
                MapNode(
                    id=node_id,
                    title=node.title,
                    depth=depth.get(node_id),
                    outcome=node.outcome or "",
                    passing=passing,
                    failing=failing,
                    points=(min(w.points for w in reaching), max(w.points for w in reaching)) if reaching else None,
                    failing_critical=critical,
                    success_words=reads_as_success(node.outcome),
                )
            )
        else:
            choices = tuple(
                MapChoice(
                    number=c.number,
                    label=c.label,
                    target=c.target,
                    points=c.points,
                    correct=("partly" if c.partly else "yes") if c.correct else "no",
                    critical=c.critical,
                    recoverable=c.recoverable,
                )
                for c in node.choices
            )
            decisions.append(
                MapNode(
                    id=node_id,
                    title=node.title,
                    depth=depth.get(node_id),
                    objective=node.objective,
                    objective_text=(objectives or {}).get(node.objective or ""),
                    choices=choices,
                    can_end=node_id in can_end,
                )
            )
    far = len(scenario.nodes) + 1
    decisions.sort(key=lambda n: (n.depth if n.depth is not None else far, order[n.id]))
    endings.sort(key=lambda n: (n.depth if n.depth is not None else far, order[n.id]))
    for n in (*decisions, *endings):
        if n.depth is None:
            flags.append(Flag("unreachable", n.id, f"No walk from the start reaches “{n.title}”."))
    for n in decisions:
        if n.depth is not None and not n.can_end:
            flags.append(Flag("dead-end", n.id, f"No ending can be reached from “{n.title}”: every path loops back."))
    for n in endings:
        if n.misleading:
            why = (
                "after a critical choice"
                if n.failing_critical
                else f"with fewer points than the pass mark {pass_score}"
            )
            flags.append(
                Flag(
                    "misleading-ending",
                    n.id,
                    f"“{n.outcome}” reads as a success, but a walk that fails ({why}) ends "
                    "here. Say in the ending what went wrong on that walk, or lead that walk elsewhere.",
                )
            )
    return BranchMap(
        scenario_id=scenario.id,
        specialty=scenario.specialty,
        version=scenario.version,
        title=scenario.title,
        start=scenario.start,
        pass_score=pass_score,
        others=others,
        walked=walked,
        decisions=tuple(decisions),
        endings=tuple(endings),
        flags=tuple(flags),
    )


def others_best(checks: list[list[Scenario]], index: int, specialty: str | None) -> int:
    """The most the module's checks other than ``checks[index]`` add without a critical choice,
    for a learner of ``specialty`` (their version of each check, else the general one): what a
    walk of this check is combined with to pass or fail, as ``walks.scoring_errors`` does."""
    total = 0
    for i, versions in enumerate(checks):
        if i == index:
            continue
        version = next((s for s in versions if s.specialty == specialty), None) or next(
            (s for s in versions if s.specialty is None), None
        )
        if version is not None:
            total += max((w.points for w in version.walks if not w.critical), default=0)
    return total


def maps_of(module: Module | None, checks: list[list[Scenario]]) -> dict[str, BranchMap]:
    """The map of every version of every check of a module (``Library.checks_of``), by
    ``BranchMap.key``; with no module (a check no module uses), walks are not told apart."""
    maps: dict[str, BranchMap] = {}
    for i, versions in enumerate(checks):
        for scenario in versions:
            if module is None:
                found = branch_map(scenario, None)
            else:
                found = branch_map(
                    scenario, module.pass_score, others_best(checks, i, scenario.specialty), module.objectives
                )
            maps[found.key] = found
    return maps


def maps_of_trial(trial) -> dict[str, BranchMap]:
    """The maps of what a tried file would be (the Try page's and a draft's ``Trial``): a
    module's checks, or a check and the first module that uses it (for its pass mark and
    objectives). From the walks the bounded child worked out (timelimit.py): nothing is walked
    here. Empty when the file did not parse."""
    content = getattr(trial, "content", None)
    if content is None:
        return {}
    if isinstance(content, Module):
        return maps_of(content, trial.library.checks_of(content))
    module = next(iter(trial.library.modules_using(content.id)), None)
    checks = trial.library.checks_of(module) if module is not None else [trial.library.versions_of(content.id)]
    return maps_of(module, checks)


# ------------------------------------------------------------------------------ drawing

_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _MARGIN, _LOOP = 200, 62, 40, 90, 20, 60
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    """Text for SVG: characters XML forbids dropped, the rest escaped."""
    return escape(_XML_BAD.sub("", str(value)), quote=True)


def _lines(text: str, width: int = 28, count: int = 2) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(word) > width:
            word = word[: width - 1] + "…"
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    if len(lines) > count:
        lines = lines[:count]
        lines[-1] = lines[-1][: width - 1] + "…"
    return lines


def choice_summary(choice: MapChoice) -> str:
    """A choice's score in words, as the drawing and the list show it."""
    points = f"{choice.points:+d}" if choice.points else "0"
    words = {"yes": "correct", "partly": "partly correct", "no": "not correct"}[choice.correct]
    return f"{points} pts, {words}" + (", CRITICAL" if choice.critical else "")


def ending_summary(node: MapNode, tells: bool) -> str:
    """Which walks reach an ending, in words."""
    if node.depth is None:
        return "never reached"
    if not tells:
        return "reached"
    if node.passing and node.failing:
        return "passing and failing walks"
    if node.passing:
        return "passing walks only"
    if node.failing:
        return "failing walks only"
    return "no walk"


def to_svg(found: BranchMap) -> str:
    """The map drawn as one ``<svg>`` element: decisions in rows by depth (left-aligned, so the
    start is in view on a narrow screen), endings in the last row. Choices are lines to their target, labeled with their number, points and whether they
    are correct; the line's pattern says it too (solid correct, dashed partly, dotted not
    correct, thick red dashes critical). No ids, so the drawing can appear twice on a page."""
    rows: list[list[MapNode]] = []
    for node in found.decisions:
        d = node.depth if node.depth is not None else (max((n.depth or 0) for n in found.decisions) + 1)
        while len(rows) <= d:
            rows.append([])
        rows[d].append(node)
    rows = [r for r in rows if r]
    rows.append(list(found.endings))
    widest = max(len(r) for r in rows)
    width = (_MARGIN + _LOOP) * 2 + widest * _BOX_W + (widest - 1) * _GAP_X  # room for loops at each side
    height = _MARGIN * 2 + len(rows) * _BOX_H + (len(rows) - 1) * _GAP_Y + 20
    place: dict[str, tuple[float, float, int]] = {}
    for r, row in enumerate(rows):
        left = _MARGIN + _LOOP  # rows start at the left: on a phone the start is in view when unfolded
        for i, node in enumerate(row):
            place[node.id] = (left + i * (_BOX_W + _GAP_X), _MARGIN + r * (_BOX_H + _GAP_Y), r)

    tells = found.tells_pass_from_fail
    misleading = sum(1 for n in found.endings if n.misleading)
    desc = (
        ngettext("%(num)d decision", "%(num)d decisions", len(found.decisions))
        + " and "
        + ngettext("%(num)d ending.", "%(num)d endings.", len(found.endings))
        + (
            " " + ngettext("%(num)d misleading ending flagged.", "%(num)d misleading endings flagged.", misleading)
            if misleading
            else ""
        )
        + " The same map is written out as a list next to this drawing."
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="branch-svg" role="img" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
        f"<title>Map of the branches: {_text(found.title)}</title>",
        f"<desc>{_text(desc)}</desc>",
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    styles = {
        "yes": ("#1b6e3a", "", 2),
        "partly": ("#8a5a00", ' stroke-dasharray="8 4"', 2),
        "no": ("#555555", ' stroke-dasharray="2 4"', 1.5),
    }
    labels: list[str] = []
    for node in found.decisions:
        if node.id not in place:
            continue
        x, y, r = place[node.id]
        count = len(node.choices)
        for k, choice in enumerate(node.choices):
            if choice.target not in place:
                continue
            tx, ty, tr = place[choice.target]
            sx = x + _BOX_W * (k + 1) / (count + 1)
            sy = y + _BOX_H
            ex, ey = tx + _BOX_W / 2, ty
            color, dash, line_width = styles[choice.correct]
            if choice.critical:
                color, dash, line_width = "#b00020", ' stroke-dasharray="10 3 2 3"', 3
            if tr > r:
                path = f"M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + _GAP_Y / 2:.1f} {ex:.1f},{ey - _GAP_Y / 2:.1f} {ex:.1f},{ey:.1f}"
                head = f"{ex - 5:.1f},{ey - 8:.1f} {ex + 5:.1f},{ey - 8:.1f} {ex:.1f},{ey:.1f}"
                # just under the box, where the curve still runs straight down: staggered by
                # choice, so the labels of one decision never overlap
                lx, ly, anchor = sx + 3, sy + 14 + 13 * k, "start"
            else:  # back to an earlier row (a "try again" loop): around the side
                side = tx - 12 if tx <= x else tx + _BOX_W + 12
                ey = ty + _BOX_H / 2
                ex = tx if tx <= x else tx + _BOX_W
                path = f"M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + 30:.1f} {side:.1f},{sy + 30:.1f} {side:.1f},{ey:.1f} L{ex:.1f},{ey:.1f}"
                sign = 1 if tx <= x else -1
                head = f"{ex - 8 * sign:.1f},{ey - 5:.1f} {ex - 8 * sign:.1f},{ey + 5:.1f} {ex:.1f},{ey:.1f}"
                lx, ly, anchor = side - 3 * sign, (sy + ey) / 2, "end" if sign > 0 else "start"
            tip = f"Choice {choice.number}: {choice.label} ({choice_summary(choice)})"
            out.append(
                f'<g class="edge edge-{choice.correct}{" edge-critical" if choice.critical else ""}">'
                f"<title>{_text(tip)}</title>"
                f'<path d="{path}" fill="none" stroke="{color}" stroke-width="{line_width}"{dash}/>'
                f'<polygon points="{head}" fill="{color}"/></g>'
            )
            mark = {"yes": "✓", "partly": "½", "no": "✗"}[choice.correct]
            text = f"{choice.number}: {choice.points:+d} {mark}" + (" CRITICAL" if choice.critical else "")
            labels.append(
                f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" fill="{color}" stroke="#ffffff" '
                f'stroke-width="3" paint-order="stroke" font-weight="bold">{_text(text)}</text>'
            )
    for node in (*found.decisions, *found.endings):
        x, y, _ = place[node.id]
        if node.is_ending:
            if node.misleading:
                fill, stroke, dash, tag = "#fff4d6", "#b00020", ' stroke-dasharray="6 3"', "⚠ MISLEADING"
            elif tells and node.passing and not node.failing:
                fill, stroke, dash, tag = "#e6f4ea", "#1b6e3a", "", "PASS"
            elif tells and node.failing and not node.passing:
                fill, stroke, dash, tag = "#fde7e9", "#b00020", ' stroke-dasharray="2 2"', "FAIL"
            elif tells and node.passing:
                fill, stroke, dash, tag = "#f3f3f3", "#444444", ' stroke-dasharray="8 2 2 2"', "PASS + FAIL"
            else:
                fill, stroke, dash, tag = "#f3f3f3", "#444444", "", "ENDING"
            heading = tag
            sub = _lines(node.outcome or "", 30, 2)
            tip = f"Ending “{node.title}”: {node.outcome}. Reached by {ending_summary(node, tells)}."
        else:
            fill, stroke, dash = "#eef2fb", "#23407a", ""
            if node.depth is None or not node.can_end:
                fill, stroke, dash = "#fde7e9", "#b00020", ' stroke-dasharray="2 2"'
            heading = ("START: " if node.id == found.start else "") + node.title
            sub = _lines(f"tests {node.objective}" if node.objective else "", 30, 1)
            tip = f"Decision “{node.title}”" + (f", tests {node.objective}" if node.objective else "")
        title_lines = _lines(heading, 30, 2 if not node.is_ending else 1)
        out.append(
            f'<g class="node {"ending" if node.is_ending else "decision"}'
            f'{" misleading" if node.misleading else ""}"><title>{_text(tip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{_BOX_W}" height="{_BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="2"{dash}/>'
        )
        ty = y + 17
        for line in title_lines:
            out.append(f'<text x="{x + 8:.1f}" y="{ty:.1f}" font-weight="bold" fill="#111111">{_text(line)}</text>')
            ty += 15
        for line in sub if not node.is_ending else sub[: 3 - len(title_lines)]:
            out.append(f'<text x="{x + 8:.1f}" y="{ty:.1f}" fill="#333333">{_text(line)}</text>')
            ty += 15
        out.append("</g>")
    out.extend(labels)
    legend_y = height - _MARGIN + 4
    out.append(
        f'<text x="{_MARGIN}" y="{legend_y:.0f}" fill="#333333">Lines: solid ✓ correct · dashed ½ partly · '
        "dotted ✗ not correct · red dash-dot CRITICAL. Labels: choice number, points.</text>"
    )
    out.append("</svg>")
    return "\n".join(out)

"""Bounded work (issue 27): how long Python-Markdown takes on pathological text as Rounds used to
render it, how long the same text takes now (refused by ``content/bounds.py`` before rendering),
and what the Try page's time limit costs (a child process per check, ``content/timelimit.py``).

    .venv/bin/python -m bench.try_time_limit [--cap 120]

No target: it prints figures (bench/README.md, "Bounded work"). A "before" figure runs in a
child process stopped at ``--cap`` seconds; a stopped one prints as "> cap".
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from pathlib import Path

from bench.common import machine_line
from quiz.content import try_file
from quiz.content.library import load_library
from quiz.content.parse import parse_scenario
from quiz.content.render import render_markdown

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
SCENARIO = (ROOT / "tests/content_fixtures/rules/clean/scenarios/s1.md").read_text(encoding="utf-8")
CASES = (
    ("2 KB of backticks", "`" * 2_000),
    ("10 KB of backticks", "`" * 10_000),
    ("2 KB of [", "[" * 2_000),
    ("10 KB of [", "[" * 10_000),
    ("8 KB of [ and ` mixed", "[`" * 4_000),
)


def _with_paragraph(text: str) -> str:
    lines = SCENARIO.split("\n")
    lines[8] = "A caller asks for a patient's visit time. " + text
    return "\n".join(lines)


def _render(text: str) -> None:
    render_markdown(text)


def _before(text: str, cap: float) -> str:
    """Seconds ``render_markdown`` takes on ``text`` alone: what parsing it cost before the lint."""
    child = multiprocessing.get_context("fork").Process(target=_render, args=(text,))
    start = time.perf_counter()
    child.start()
    child.join(cap)
    if child.is_alive():
        child.kill()
        child.join()
        return f"> {cap:g} s"
    return f"{time.perf_counter() - start:.2f} s"


def _median_ms(fn, runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=float, default=120, help="stop a 'before' render after this many seconds")
    args = parser.parse_args()
    print(machine_line())
    print("text (one paragraph of a scenario)   before: render   now: parse (content check)   now: Try page")
    load_library(CONTENT)
    try_file(CONTENT, "s1.md", SCENARIO, time_limit=10)  # the fork server starts once
    for name, text in CASES:
        source = _with_paragraph(text)
        start = time.perf_counter()
        _, errors = parse_scenario("s1.md", source)
        parsed = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        trial = try_file(CONTENT, "s1.md", source, time_limit=10)
        tried = (time.perf_counter() - start) * 1000
        assert errors and trial.errors, name
        print(
            f"{name:36s} {_before(text, args.cap):>14s}   {parsed:10.1f} ms   {tried:14.1f} ms   ({errors[0].message[:40]}...)"
        )
    module = next(CONTENT.glob("modules/*.md"))
    source = module.read_text(encoding="utf-8")
    in_worker = _median_ms(lambda: try_file(CONTENT, module.name, source))
    in_child = _median_ms(lambda: try_file(CONTENT, module.name, source, time_limit=10))
    print(
        f"Try of {module.name} (median of 20): in the worker {in_worker:.1f} ms, in a child process "
        f"{in_child:.1f} ms: the time limit costs {in_child - in_worker:.1f} ms a check"
    )


if __name__ == "__main__":
    main()

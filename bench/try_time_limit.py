"""Bounded work (issue 27): how long Markdown takes on pathological text, and what the Try page's
time limit costs. Run: python -m bench.try_time_limit (bench/README.md, "Bounded work")."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from quiz.content import try_file
from quiz.content.library import load_library
from quiz.content.render import render_markdown

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
SCENARIO = (ROOT / "tests/content_fixtures/rules/clean/scenarios/s1.md").read_text(encoding="utf-8")


def _ms(fn, runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _with_paragraph(text: str) -> str:
    lines = SCENARIO.split("\n")
    lines[8] = "A caller asks for a patient's visit time. " + text
    return "\n".join(lines)


def main() -> None:
    load_library(CONTENT)
    module = next(CONTENT.glob("modules/*.md"))
    source = module.read_text(encoding="utf-8")
    try_file(CONTENT, module.name, source, time_limit=10)  # the fork server starts once
    print(f"Try, in the worker:        {_ms(lambda: try_file(CONTENT, module.name, source)):7.1f} ms")
    print(f"Try, in a child (limit):   {_ms(lambda: try_file(CONTENT, module.name, source, time_limit=10)):7.1f} ms")
    for name, text in (("10 KB of backticks", "`" * 10_000), ("10 KB of [", "[" * 10_000)):
        start = time.perf_counter()
        trial = try_file(CONTENT, "s1.md", _with_paragraph(text), time_limit=10)
        took = (time.perf_counter() - start) * 1000
        print(f"Try {name}: {took:7.1f} ms: {trial.errors[0]}")
    for name, text in (("2 KB of backticks", "`" * 2_000), ("2 KB of [", "[" * 2_000)):
        start = time.perf_counter()
        render_markdown(text)
        print(f"render_markdown alone, {name}: {(time.perf_counter() - start):6.2f} s (what the lint refuses)")


if __name__ == "__main__":
    main()

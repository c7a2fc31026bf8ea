"""Bounded work for any input (issue 27, part 6): Markdown that would take the renderer minutes
is refused before it is rendered, with its file and line (``content/bounds.py``); the Try page
reads a file in a child process killed at a time limit (``content/timelimit.py``) and is rate
limited. Commands are run in subprocesses with a timeout: a stall fails the test, it does not
hang it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from quiz.config import PROJECT_ROOT
from quiz.content import bounds
from quiz.content.frontmatter import split_lines

from .helpers import DATA_CONTENT, close_app, make_app, page_text, signed_in_as
from .test_author import _try

CLEAN = Path(__file__).parent / "content_fixtures" / "rules" / "clean" / "scenarios" / "s1.md"
TEN_KB = 10_000
#: Each subprocess gets this long; before the lint, one of these files took minutes.
GENEROUS = 120


def _scenario(paragraph: str, scenario_id: str = "s1") -> str:
    """The clean fixture scenario with ``paragraph`` as its first node's text (line 9)."""
    lines = CLEAN.read_text(encoding="utf-8").split("\n")
    lines[1] = f"id: {scenario_id}"
    lines[8] = "A caller asks for a patient's visit time. " + paragraph
    return "\n".join(lines)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=GENEROUS)


# --- the lint ----------------------------------------------------------------------------------


def test_each_kind_of_slow_markdown_is_named_at_its_line():
    text = "\n".join(
        [
            "fine `code` and [a link](https://example.org)",  # 1
            "",
            "`" * 17,  # 3
            "",
            "[[[[[[[[[a]]]]]]]]]",  # 5: nine deep
            "",
            "a [ b " + "[ " * 9,  # 7: ten never closed
            "",
            "first line",  # 9
            " ".join(["`a` <b>"] * 100),  # 10: 300 marks, past 200 here
            "",
            "```",  # 12: fenced code is not read for patterns
            "`" * 100,
            "```",
        ]
    )
    found = bounds.problems(split_lines(text), 0, 14)
    assert [(line, message.split(":")[0]) for line, message in found] == [
        (3, "17 backticks in a row"),
        (5, "brackets nested 9 deep"),
        (7, "10 `[` in this paragraph are never closed by a `]`"),
        (10, "this paragraph has 300 backticks, `[` and `<` (at most 200)"),
    ]
    assert bounds.problems(split_lines("\\[" * 50 + " `" + "x" * 16 + "` " + "[a](b) " * 20), 0, 1) == []
    fences = split_lines("```python\nx = 1\n```\n\n" + "~~~a\ntext\n" * 9)  # one closed, nine never
    assert bounds.problems(fences, 0, len(fences)) == [
        (
            21,
            "9 code fences (``` or ~~~) here are never closed: "
            "Markdown reads to the end of the text for each one "
            "(at most 8); close each block with a line of the same fence",
        )
    ]


def test_ten_kilobytes_of_backticks_or_brackets_are_refused_without_rendering():
    """Each of these took the renderer minutes (bench/README.md); parsing must refuse it at once.
    Run in a subprocess with a timeout, so a regression fails rather than hangs."""
    script = (
        "import sys\n"
        "from quiz.content.parse import parse_scenario\n"
        "text = sys.stdin.read()\n"
        "scenario, errors = parse_scenario('s1.md', text)\n"
        "print(len(errors), *errors, sep='\\n')\n"
    )
    for paragraph, message in (
        ("`" * TEN_KB, "s1.md:9: 10,000 backticks in a row: Markdown takes minutes"),
        ("[" * TEN_KB, "s1.md:9: 10,000 `[` in this paragraph are never closed by a `]`"),
        ("[a]" * (TEN_KB // 3), "s1.md:9: this paragraph has 3,333 backticks, `[` and `<`"),
        ("\n" + "~~~a\n" * (TEN_KB // 5), "s1.md:18: 9 code fences (``` or ~~~) here are never closed"),
    ):
        result = subprocess.run(
            [sys.executable, "-c", script],
            input=_scenario(paragraph),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=GENEROUS,
        )
        lines = result.stdout.splitlines()
        assert result.returncode == 0, result.stderr
        assert lines[0] == "1"  # an authoring error: the library does not serve the file (parse.py)
        assert lines[1].startswith(message)


def test_a_slow_file_in_the_content_folder_is_reported_by_check_and_never_stalls_a_start(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(DATA_CONTENT, content)
    (content / "scenarios" / "slow-check.md").write_text(_scenario("`" * TEN_KB, "slow-check"), encoding="utf-8")
    (content / "scenarios" / "brackets-check.md").write_text(
        _scenario("[" * TEN_KB, "brackets-check"), encoding="utf-8"
    )
    env = dict(
        os.environ,
        CONTENT_DIR=str(content),
        DATABASE_URL=f"sqlite:///{tmp_path / 'rounds.sqlite3'}",
        INSTANCE_PATH=str(tmp_path / "instance"),
        SECRET_KEY="bounded-test-key",
    )
    flask = str(Path(sys.executable).parent / "flask")

    start = time.monotonic()
    check = _run([flask, "--app", "app", "content", "check"], env)
    assert check.returncode == 1
    assert "scenarios/slow-check.md:9: 10,000 backticks in a row" in check.stderr
    assert "scenarios/brackets-check.md:9: 10,000 `[` in this paragraph are never closed" in check.stderr

    # A start: the app built as gunicorn builds it, its content loaded, and `content load`.
    started = _run(
        [
            sys.executable,
            "-c",
            (
                "from app import app\n"
                "library = app.extensions['content_store'].library\n"
                "print(sorted(library.modules), *library.errors, sep='\\n')\n"
            ),
        ],
        env,
    )
    assert started.returncode == 0, started.stderr
    assert "'test-callers'" in started.stdout.splitlines()[0]  # the rest is served
    assert "slow-check.md:9: 10,000 backticks in a row" in started.stdout
    assert _run([flask, "--app", "app", "db", "upgrade"], env).returncode == 0
    load = _run([flask, "--app", "app", "content", "load"], env)
    assert load.returncode == 0, load.stderr
    assert "skipped: " in load.stderr and "brackets-check.md:9: 10,000 `[`" in load.stderr
    assert "content loaded: 2 modules" in load.stdout
    assert time.monotonic() - start < GENEROUS


# --- the Try page ------------------------------------------------------------------------------


def test_the_try_page_refuses_ten_kilobytes_of_backticks_or_brackets_with_the_line(app):
    client = signed_in_as(app, "trainer")
    for paragraph, message in (
        ("`" * TEN_KB, "line 9 10,000 backticks in a row"),
        ("[" * TEN_KB, "line 9 10,000 `[` in this paragraph are never closed by a `]`"),
    ):
        response = _try(client, text=_scenario(paragraph))
        assert response.status_code == 200
        text = page_text(response.text)
        assert "1 error: this scenario would not be served until fixed" in text
        assert message in text


def test_the_try_page_stops_reading_a_file_at_its_time_limit(tmp_path, monkeypatch, database_url):
    """Text the lint lets through (each paragraph under its limits) but long enough to take the
    parser well over the limit: the page answers with the time limit's message, in about the
    limit, not after the parse."""
    app = make_app(database_url, tmp_path, monkeypatch, TRY_TIME_LIMIT_SECONDS=0.5)
    try:
        paragraph = "\n\n".join([" ".join(["`a` <b>"] * 60)] * 600)  # ~250 KB, seconds to render
        client = signed_in_as(app, "trainer")
        start = time.monotonic()
        response = _try(client, text=_scenario(paragraph))
        took = time.monotonic() - start
        text = page_text(response.text)
        assert "reading this file took longer than 0.5 seconds, so it was stopped" in text
        assert took < 30  # generous: the parse alone takes longer than the limit
    finally:
        close_app(app)


def test_the_try_page_is_rate_limited_per_trainer(tmp_path, monkeypatch, database_url):
    app = make_app(database_url, tmp_path, monkeypatch, RATELIMIT_ENABLED=True, TRY_RATE_LIMIT="2 per minute")
    try:
        client = signed_in_as(app, "trainer")
        good = CLEAN.read_text(encoding="utf-8")
        assert [_try(client, text=good).status_code for _ in range(2)] == [200, 200]
        refused = _try(client, text=good)
        assert refused.status_code == 429
        assert "Too many attempts" in page_text(refused.text)
        assert client.get("/author/try").status_code == 200  # the form itself is not counted
        other = signed_in_as(app, "admin")  # another account has a count of its own
        assert _try(other, text=good).status_code == 200
    finally:
        close_app(app)

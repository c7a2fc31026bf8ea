"""The product is written in US English, as the content is (`content check` holds the content to
it): every page, email, message, document and line of code. quiz/content/spelling.py's list is
the one list; this test reads the rest of the repository with it."""

from __future__ import annotations

from quiz.config import PROJECT_ROOT
from quiz.content.spelling import british

#: Where the British words are on purpose: the list itself, and the tests of the content rule.
ON_PURPOSE = {"quiz/content/spelling.py", "tests/test_content_rules.py", "bench/HISTORY.md"}
KINDS = {".py", ".md", ".html", ".css", ".txt", ".yml", ".toml", ".conf", ".service", ".timer"}
FOLDERS = ("quiz", "templates", "static", "docs", "tests", "deploy", "migrations", "bench")


def _files():
    for folder in FOLDERS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if path.suffix in KINDS and relative not in ON_PURPOSE and "/vendor/" not in relative:
                if not relative.startswith(("tests/content_fixtures/", "tests/data/")):
                    yield relative, path
    for name in ("README.md", "Makefile"):
        yield name, PROJECT_ROOT / name


def test_the_product_is_written_in_us_english():
    found, read = [], 0
    for relative, path in _files():
        read += 1
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found += [f"{relative}:{number}: {word} (US: {us})" for word, us in british(line)]
    assert read > 200  # (it read the repository: it cannot pass on nothing)
    assert found == []

"""Every setting Rounds reads from the environment (quiz/config.py) is in README's configuration
table: a new setting nobody can find is one an admin cannot set."""

from __future__ import annotations

import re

from quiz.config import PROJECT_ROOT


def _settings_read() -> set[str]:
    source = (PROJECT_ROOT / "quiz" / "config.py").read_text(encoding="utf-8")
    read = set(re.findall(r'os\.environ\.get\("([A-Z][A-Z0-9_]+)"', source))
    read |= set(re.findall(r'_(?:count|flag)\("([A-Z][A-Z0-9_]+)"', source))
    return read


def _table_rows() -> set[str]:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    names: set[str] = set()
    for first_cell in re.findall(r"^\| (`[A-Z][^|]*)\|", readme, flags=re.MULTILINE):  # `A` or `A` / `B`
        names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def test_every_setting_read_is_in_the_readme_table():
    read = _settings_read()
    assert len(read) > 40  # (the scan found the settings: it cannot pass on nothing)
    assert sorted(read - _table_rows()) == []

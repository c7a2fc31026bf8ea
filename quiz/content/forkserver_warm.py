"""Imported only by the Try page's fork server (``timelimit.py``), once, when it starts: parses a
small scenario so that the regular expressions, YAML and the Markdown converter are ready in
every child forked from it. A child's first parse then takes ~10 ms instead of ~60 ms."""

from __future__ import annotations

from .library import _parse_safely

_SAMPLE = """---
id: warm
title: Warm
---

## Start {#start}
Objective: warm

Some *text* with `code`, a [link](https://example.org) and a list:

- one
- two

| a | b |
|---|---|
| 1 | 2 |

### Go on -> end
Points: 1

Right.

## End {#end}
Ending: Done

Done.
"""

_parse_safely("scenario", "warm.md", _SAMPLE)
